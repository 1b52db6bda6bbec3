//! get and list.

use axum::body::Body;
use axum::http::{Response, StatusCode};
use base64::Engine;
use berth_api::selectors::{FieldSelector, LabelSelector};
use berth_api::{ResourceInfo, StatusError};
use berth_store::{ListOptions, Revision};
use serde_json::{json, Value};

use crate::objects::{self, decode, list_prefix, object_key};
use crate::request::{Query, Representation, ResourcePath};
use crate::state::{json_response, store_error, Shared};
use crate::table;

pub async fn get(state: &Shared, rp: &ResourcePath, repr: Representation) -> Result<Response<Body>, StatusError> {
    let info = rp.info;
    let name = rp.name.as_deref().unwrap_or("");
    let obj = get_object(state, info, rp.namespace.as_deref(), name).await?.0;
    let body = match repr {
        Representation::Object => obj,
        Representation::PartialObjectMetadata => table::partial_metadata(&obj),
        Representation::Table => table::table(info, &[obj], table::IncludeObject::Metadata, true, json!({})),
    };
    Ok(json_response(StatusCode::OK, &body, &[]))
}

/// The stored object and its revision, or 404.
pub async fn get_object(state: &Shared, info: &ResourceInfo, ns: Option<&str>, name: &str) -> Result<(Value, Revision), StatusError> {
    let key = object_key(info, ns, name);
    let kv = state
        .store
        .get(&key)
        .await
        .map_err(|e| store_error(e, info.group, info.plural, name))?
        .ok_or_else(|| StatusError::not_found(info.group, info.plural, name))?;
    let obj = decode(&kv).map_err(StatusError::internal)?;
    Ok((obj, kv.mod_revision))
}

/// Selectors from the query, validated for the resource.
pub struct Filters {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filters {
    pub fn from_query(info: &ResourceInfo, q: &Query) -> Result<Filters, StatusError> {
        let labels = LabelSelector::parse(q.get("labelSelector").unwrap_or("")).map_err(StatusError::bad_request)?;
        let fields = FieldSelector::parse(q.get("fieldSelector").unwrap_or("")).map_err(StatusError::bad_request)?;
        fields.validate_for(info.group, info.plural).map_err(StatusError::bad_request)?;
        Ok(Filters { labels, fields })
    }
    pub fn matches(&self, info: &ResourceInfo, obj: &Value) -> bool {
        (self.labels.is_empty() || self.labels.matches(&objects::labels(obj)))
            && (self.fields.is_empty() || self.fields.matches(info.group, info.plural, obj))
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }
}

/// Opaque continue token: the revision the list is pinned to and the last key returned.
fn encode_continue(rev: Revision, last_key: &str) -> String {
    let t = json!({"v": "meta.k8s.io/v1", "rv": rev, "start": last_key});
    base64::engine::general_purpose::STANDARD.encode(t.to_string())
}

fn decode_continue(token: &str) -> Result<(Revision, String), StatusError> {
    let bad = || StatusError::bad_request(format!("continue key is not valid: {token}"));
    let raw = base64::engine::general_purpose::STANDARD.decode(token).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rev = v["rv"].as_i64().ok_or_else(bad)?;
    let start = v["start"].as_str().ok_or_else(bad)?.to_string();
    Ok((rev, start))
}

pub struct ListPage {
    pub items: Vec<Value>,
    pub revision: Revision,
    pub continue_token: Option<String>,
    pub remaining: Option<u64>,
}

/// List with selectors, `limit`/`continue` and `resourceVersion` semantics.
pub async fn list_page(state: &Shared, rp: &ResourcePath, q: &Query) -> Result<ListPage, StatusError> {
    let info = rp.info;
    let filters = Filters::from_query(info, q)?;
    let limit = q.int("limit")?.filter(|l| *l > 0).map(|l| l as usize);
    let (mut revision, mut start_after) = match q.get("continue") {
        Some(tok) => {
            let (rev, start) = decode_continue(tok)?;
            (Some(rev), Some(start))
        }
        None => (None, None),
    };
    if revision.is_none() && q.get("resourceVersionMatch") == Some("Exact") {
        revision = q.int("resourceVersion")?;
    }
    let prefix = list_prefix(info, rp.namespace.as_deref());
    let mut items = Vec::new();
    loop {
        let want = limit.map(|l| l - items.len());
        let page = state
            .store
            .list(&prefix, ListOptions { revision, limit: want, start_after: start_after.clone() })
            .await
            .map_err(|e| match e {
                berth_store::StoreError::Compacted { .. } if q.get("continue").is_some() => StatusError::expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                ),
                other => store_error(other, info.group, info.plural, ""),
            })?;
        revision = Some(page.revision);
        let last_key = page.items.last().map(|kv| kv.key.clone());
        for kv in &page.items {
            let obj = decode(kv).map_err(StatusError::internal)?;
            if filters.matches(info, &obj) {
                items.push(obj);
            }
        }
        let full = limit.is_some_and(|l| items.len() >= l);
        if !page.more {
            return Ok(ListPage { items, revision: page.revision, continue_token: None, remaining: None });
        }
        if full || last_key.is_none() {
            let token = last_key.map(|k| encode_continue(page.revision, &k));
            let remaining = if filters.is_empty() { page.remaining } else { None };
            return Ok(ListPage { items, revision: page.revision, continue_token: token, remaining });
        }
        start_after = last_key;
    }
}

/// Every object of a resource (in one namespace or all) matching nothing but `keep`.
pub async fn list_all(state: &Shared, info: &'static ResourceInfo, ns: Option<&str>) -> Result<(Vec<Value>, Revision), StatusError> {
    let prefix = list_prefix(info, ns);
    let page = state
        .store
        .list(&prefix, ListOptions::default())
        .await
        .map_err(|e| store_error(e, info.group, info.plural, ""))?;
    let items = page.items.iter().map(|kv| decode(kv).map_err(StatusError::internal)).collect::<Result<_, _>>()?;
    Ok((items, page.revision))
}

pub async fn list(state: &Shared, rp: &ResourcePath, q: &Query, repr: Representation) -> Result<Response<Body>, StatusError> {
    let info = rp.info;
    let page = list_page(state, rp, q).await?;
    let mut meta = json!({"resourceVersion": page.revision.to_string()});
    if let Some(t) = &page.continue_token {
        meta["continue"] = json!(t);
    }
    if let Some(r) = page.remaining {
        meta["remainingItemCount"] = json!(r);
    }
    let body = match repr {
        Representation::Object => json!({
            "kind": info.list_kind(),
            "apiVersion": info.api_version(),
            "metadata": meta,
            "items": page.items,
        }),
        Representation::PartialObjectMetadata => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": meta,
            "items": page.items.iter().map(table::partial_metadata).collect::<Vec<_>>(),
        }),
        Representation::Table => {
            let include = table::IncludeObject::from_query(q.get("includeObject"));
            table::table(info, &page.items, include, true, meta)
        }
    };
    Ok(json_response(StatusCode::OK, &body, &[]))
}
