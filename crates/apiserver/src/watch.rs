//! Watch: a chunked stream of `{"type":…,"object":…}` lines, fed from the store's watch.
//! Semantics as upstream's `watch.go` / cacher: resourceVersion unset or "0" starts with
//! synthetic ADDED events for the current state; a compacted revision yields an ERROR event
//! with a 410 `Expired` Status; objects moving in or out of the selectors appear as ADDED or
//! DELETED; BOOKMARK events when asked for.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Response, StatusCode};
use berth_api::{ResourceInfo, StatusError};
use berth_store::{EventKind, Revision, StoreError};
use bytes::Bytes;
use futures::StreamExt;
use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::decoded::{Decoded, DecodedCache};
use crate::objects::{self, list_prefix};
use crate::request::{Query, Representation, ResourcePath};
use crate::rest::list_all;
use crate::state::{store_error, Shared};
use crate::table::{self, IncludeObject};

/// How often a BOOKMARK is sent when the client allows them.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

struct Encoder {
    info: &'static ResourceInfo,
    repr: Representation,
    include: IncludeObject,
    sent_columns: bool,
}

impl Encoder {
    fn frame(&mut self, kind: &str, obj: &Value) -> Bytes {
        let object = match self.repr {
            Representation::Object => obj.clone(),
            Representation::PartialObjectMetadata => table::partial_metadata(obj),
            Representation::Table if kind == "BOOKMARK" || kind == "ERROR" => obj.clone(),
            Representation::Table => {
                let rv = objects::meta_str(obj, "resourceVersion").unwrap_or("").to_string();
                let t = table::table(self.info, std::slice::from_ref(obj), self.include, !self.sent_columns, json!({"resourceVersion": rv}));
                self.sent_columns = true;
                t
            }
        };
        let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).expect("JSON values always serialize");
        line.push(b'\n');
        Bytes::from(line)
    }

    /// [`Encoder::frame`] for a shared decoded object: a plain-object watch splices the
    /// object's cached serialization into the event line (same bytes as `frame`).
    fn frame_decoded(&mut self, kind: &str, obj: &Decoded) -> Bytes {
        if !matches!(self.repr, Representation::Object) {
            return self.frame(kind, &obj.value);
        }
        Bytes::from(object_line(kind, obj.json()))
    }

    fn bookmark(&mut self, rev: Revision, initial_events_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rev.to_string()});
        if initial_events_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": self.info.kind, "apiVersion": self.info.api_version(), "metadata": meta});
        self.frame("BOOKMARK", &obj)
    }
}

pub async fn serve(state: Shared, rp: ResourcePath, q: Query, repr: Representation) -> Result<Response<Body>, StatusError> {
    let info = rp.info;
    let filters = crate::rest::read_filters(info, &q)?;
    let name_filter = rp.name.clone();
    let matches = move |obj: &Value| -> bool {
        name_filter.as_deref().is_none_or(|n| objects::name_of(obj) == n) && filters.matches(info, obj)
    };
    let send_initial = q.get("sendInitialEvents").map(|v| v == "true");
    let bookmarks = q.flag("allowWatchBookmarks");
    let timeout = match q.int("timeoutSeconds")? {
        Some(s) if s > 0 => Duration::from_secs(s as u64),
        // upstream: a random duration between min-request-timeout (1800 s) and twice that.
        _ => Duration::from_secs(rand::rng().random_range(1800..3600)),
    };
    let rv = q.get("resourceVersion");
    let start_from_state = rv.is_none() || rv == Some("0") || send_initial == Some(true);
    let (initial, start_rev): (Vec<Value>, Revision) = if start_from_state {
        let (items, rev) = list_all(&state, info, rp.namespace.as_deref()).await?;
        (items.into_iter().filter(|o| matches(o)).collect(), rev)
    } else {
        let rv = rv.unwrap_or("0");
        let rev = rv
            .parse::<Revision>()
            .map_err(|_| StatusError::bad_request(format!("invalid resource version: {rv:?}")))?;
        (Vec::new(), rev)
    };
    let prefix = list_prefix(info, rp.namespace.as_deref());
    let watch = state.store.watch(&prefix, start_rev).await;
    let mut enc = Encoder {
        info,
        repr,
        include: IncludeObject::from_query(q.get("includeObject")),
        sent_columns: false,
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(256);
    let stream = match watch {
        Ok(s) => Some(s),
        Err(e @ StoreError::Compacted { .. }) => {
            let status = store_error(e, info.group, info.plural, "").to_status();
            let _ = tx.try_send(Ok(enc.frame("ERROR", &status)));
            None
        }
        Err(e) => return Err(store_error(e, info.group, info.plural, "")),
    };
    if let Some(mut stream) = stream {
        tokio::spawn(async move {
            for obj in &initial {
                if tx.send(Ok(enc.frame("ADDED", obj))).await.is_err() {
                    return;
                }
            }
            let mut last_rev = start_rev;
            if send_initial == Some(true) && bookmarks && tx.send(Ok(enc.bookmark(last_rev, true))).await.is_err() {
                return;
            }
            let deadline = tokio::time::sleep(timeout);
            tokio::pin!(deadline);
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + BOOKMARK_INTERVAL, BOOKMARK_INTERVAL);
            loop {
                let frame = tokio::select! {
                    ev = stream.next() => match ev {
                        Some(Ok(ev)) => {
                            last_rev = ev.revision();
                            match translate(&state.decoded, &ev, &matches) {
                                Ok(Some((kind, obj))) => enc.frame_decoded(kind, &obj),
                                Ok(None) => continue,
                                Err(e) => enc.frame("ERROR", &StatusError::internal(e).to_status()),
                            }
                        }
                        Some(Err(e)) => {
                            let status = store_error(e, info.group, info.plural, "").to_status();
                            let _ = tx.send(Ok(enc.frame("ERROR", &status))).await;
                            return;
                        }
                        None => return,
                    },
                    _ = &mut deadline => return,
                    _ = tick.tick(), if bookmarks => enc.bookmark(last_rev, false),
                    _ = tx.closed() => return,
                };
                if tx.send(Ok(frame)).await.is_err() {
                    return;
                }
            }
        });
    }
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from_stream(ReceiverStream::new(rx)))
        .expect("static response parts are valid"))
}

/// `{"type":<kind>,"object":<object>}` and a newline, from the serialized object.
fn object_line(kind: &str, object: &[u8]) -> Vec<u8> {
    let mut line = Vec::with_capacity(object.len() + 32);
    line.extend_from_slice(b"{\"type\":");
    line.extend_from_slice(&serde_json::to_vec(kind).expect("strings serialize"));
    line.extend_from_slice(b",\"object\":");
    line.extend_from_slice(object);
    line.extend_from_slice(b"}\n");
    line
}

/// The event a watcher with `matches` sees for one store event, if any. Objects are decoded
/// through the shared cache.
fn translate(
    cache: &DecodedCache,
    ev: &berth_store::WatchEvent,
    matches: &impl Fn(&Value) -> bool,
) -> Result<Option<(&'static str, Arc<Decoded>)>, String> {
    let cur = cache.get(&ev.kv)?;
    Ok(match ev.kind {
        EventKind::Created => matches(&cur.value).then_some(("ADDED", cur)),
        EventKind::Deleted => matches(&cur.value).then_some(("DELETED", cur)),
        EventKind::Updated => {
            let prev_matched = match &ev.prev {
                Some(p) => matches(&cache.get(p)?.value),
                None => true,
            };
            match (prev_matched, matches(&cur.value)) {
                (true, true) => Some(("MODIFIED", cur)),
                (false, true) => Some(("ADDED", cur)),
                (true, false) => Some(("DELETED", cur)),
                (false, false) => None,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_store::{KeyValue, WatchEvent};

    fn kv(rev: i64, labels: Value) -> KeyValue {
        let v = json!({"metadata": {"name": "a", "labels": labels}});
        KeyValue { key: "/k".into(), value: Bytes::from(v.to_string()), create_revision: 1, mod_revision: rev }
    }

    #[test]
    fn spliced_event_lines_are_the_encoded_ones() {
        let obj = json!({"kind": "Pod", "metadata": {"name": "a", "resourceVersion": "7"}, "spec": {"x": [1, "é\n"]}});
        let mut want = serde_json::to_vec(&json!({"type": "MODIFIED", "object": obj})).unwrap();
        want.push(b'\n');
        assert_eq!(object_line("MODIFIED", &serde_json::to_vec(&obj).unwrap()), want);
    }

    #[test]
    fn objects_leaving_the_selector_are_deleted_for_the_watcher() {
        let matches = |o: &Value| o.pointer("/metadata/labels/app") == Some(&json!("web"));
        let ev = WatchEvent { kind: EventKind::Updated, kv: kv(3, json!({"app": "db"})), prev: Some(kv(2, json!({"app": "web"}))) };
        let cache = DecodedCache::default();
        assert_eq!(translate(&cache, &ev, &matches).unwrap().unwrap().0, "DELETED");
        let ev = WatchEvent { kind: EventKind::Updated, kv: kv(4, json!({"app": "web"})), prev: Some(kv(3, json!({"app": "db"}))) };
        let (kind, obj) = translate(&cache, &ev, &matches).unwrap().unwrap();
        assert_eq!(kind, "ADDED");
        assert_eq!(obj.value["metadata"]["resourceVersion"], "4");
        let ev = WatchEvent { kind: EventKind::Created, kv: kv(5, json!({"app": "db"})), prev: None };
        assert!(translate(&cache, &ev, &matches).unwrap().is_none());
    }
}
