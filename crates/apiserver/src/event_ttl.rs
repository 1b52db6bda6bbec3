//! Events expire (kube-apiserver's `--event-ttl`, default 1 h). Upstream writes every Event
//! under an etcd lease of that TTL, renewed by each write, so an Event goes an hour after it was
//! last recorded. berth sweeps instead, the same on every store: every tenth of the TTL (between
//! 1 s and 1 min) it deletes the Events (core/v1 and events.k8s.io/v1) whose last recording is
//! older than the TTL. Watchers see DELETED, as they do when an etcd lease expires.

use std::time::Duration;

use berth_store::ListOptions;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::objects::decode;
use crate::state::Shared;

/// Where both Event resources live (see `objects::resource_prefix`).
const PREFIXES: [&str; 2] = ["/registry/core/events/", "/registry/events.k8s.io/events/"];
const PAGE: usize = 500;

fn time_at(ev: &Value, pointer: &str) -> Option<DateTime<Utc>> {
    let t = ev.pointer(pointer)?.as_str()?;
    DateTime::parse_from_rfc3339(t).ok().map(|t| t.with_timezone(&Utc))
}

/// When the Event was last recorded: the latest of its timestamps (a repeat updates
/// `lastTimestamp`/`count` or the series, as client-go's recorders do).
pub fn last_recorded(ev: &Value) -> Option<DateTime<Utc>> {
    ["/metadata/creationTimestamp", "/lastTimestamp", "/eventTime", "/series/lastObservedTime", "/deprecatedLastTimestamp"]
        .iter()
        .filter_map(|p| time_at(ev, p))
        .max()
}

pub fn expired(ev: &Value, now: DateTime<Utc>, ttl: Duration) -> bool {
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    last_recorded(ev).is_some_and(|t| now - t > ttl)
}

/// Delete the expired Events once; returns how many went.
pub async fn sweep(state: &Shared, ttl: Duration) -> usize {
    let mut deleted = 0;
    for prefix in PREFIXES {
        let mut start_after = None;
        loop {
            let opts = ListOptions { limit: Some(PAGE), start_after: start_after.take(), ..Default::default() };
            let Ok(page) = state.store.list(prefix, opts).await else { break };
            let now = Utc::now();
            for kv in &page.items {
                if decode(kv).is_ok_and(|ev| expired(&ev, now, ttl))
                    // Only the version we judged: a new recording meanwhile keeps it.
                    && state.store.delete(&kv.key, Some(kv.mod_revision)).await.is_ok()
                {
                    deleted += 1;
                }
            }
            match (page.more, page.items.last()) {
                (true, Some(last)) => start_after = Some(last.key.clone()),
                _ => break,
            }
        }
    }
    deleted
}

pub async fn run(state: Shared, ttl: Duration) {
    let every = (ttl / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        tokio::time::sleep(every).await;
        let n = sweep(&state, ttl).await;
        if n > 0 {
            tracing::debug!(deleted = n, "expired events");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_event_expires_a_ttl_after_its_last_recording() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z").unwrap().with_timezone(&Utc);
        let ttl = Duration::from_secs(3600);
        let core = |first: &str, last: &str| json!({"metadata": {"creationTimestamp": first}, "firstTimestamp": first, "lastTimestamp": last});
        assert!(expired(&core("2026-11-27T08:00:00Z", "2026-11-27T08:30:00Z"), now, ttl));
        // Recorded again recently (count bumped): kept, however old the first recording.
        assert!(!expired(&core("2026-11-27T08:00:00Z", "2026-11-27T09:30:00Z"), now, ttl));
        // events.k8s.io: eventTime and the series.
        let series = json!({"metadata": {"creationTimestamp": "2026-11-27T07:00:00Z"}, "eventTime": "2026-11-27T07:00:00.000000Z",
            "series": {"count": 4, "lastObservedTime": "2026-11-27T09:59:00.000000Z"}});
        assert!(!expired(&series, now, ttl));
        assert!(expired(&series, now, Duration::from_secs(30)));
        // No timestamp at all: never judged expired.
        assert!(!expired(&json!({"metadata": {}}), now, Duration::ZERO));
    }
}
