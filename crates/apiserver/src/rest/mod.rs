//! The REST verbs over registered resources. Handlers are generic: they work on JSON objects
//! and ask `berth_api` (defaults, validation, printers, patch) and [`crate::strategy`] for
//! anything kind-specific.

pub(crate) mod body;
mod containers;
mod delete;
mod endpoints;
mod eviction;
mod eviction_budget;
mod forward;
mod exec;
mod kubelet;
mod logs;
mod proxy;
mod reach;
mod read;
mod scale;
mod write;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Response};
use berth_api::StatusError;
use bytes::Bytes;

use crate::request::{representation, Query, ResourcePath};
use crate::state::Shared;

pub use body::{check_type_meta, parse_object as parse_body};
pub use read::{get_object, list_all};

/// Label and field selectors of a request, validated for its resource.
pub fn read_filters(info: &'static berth_api::ResourceInfo, q: &Query) -> Result<read::Filters, StatusError> {
    read::Filters::from_query(info, q)
}
pub use delete::{delete_object, DeleteOptions};

/// Subresources that stream or proxy (`log`, `exec`, `proxy`): they take the whole request,
/// body and connection included, instead of a buffered body.
pub fn is_connect(rp: &ResourcePath) -> bool {
    rp.name.is_some() && matches!(rp.subresource.as_deref(), Some("log" | "exec" | "proxy"))
}

pub async fn connect(
    state: Shared,
    rp: ResourcePath,
    query: Query,
    req: axum::http::Request<hyper::body::Incoming>,
) -> Result<Response<Body>, StatusError> {
    match (rp.info.plural, rp.subresource.as_deref()) {
        ("pods", Some("log")) => logs::serve(&state, &rp, &query, req).await,
        ("pods", Some("exec")) => exec::serve(&state, &rp, req).await,
        ("pods" | "services", Some("proxy")) => proxy::serve(&state, &rp, req).await,
        _ => Err(StatusError::path_not_found()),
    }
}

/// Dispatch one resource request to its verb.
pub async fn handle(
    state: Shared,
    method: Method,
    rp: ResourcePath,
    query: Query,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response<Body>, StatusError> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let repr = representation(accept)?;
    let sub = rp.subresource.clone();
    let has_name = rp.name.is_some();
    let watching = rp.watch_prefix || query.flag("watch");
    match (method, has_name, sub.as_deref()) {
        (Method::GET, false, None) if watching => crate::watch::serve(state, rp, query, repr).await,
        (Method::GET, true, None) if watching => crate::watch::serve(state, rp, query, repr).await,
        (Method::GET, false, None) => read::list(&state, &rp, &query, repr).await,
        (Method::GET, true, None | Some("status")) => read::get(&state, &rp, repr).await,
        (Method::GET, true, Some("scale")) => scale::get(&state, &rp).await,
        (Method::POST, false, None) => write::create(&state, &rp, &query, headers, body).await,
        (Method::POST, true, Some("token")) if rp.info.plural == "serviceaccounts" => {
            crate::satoken::create(&state, rp.namespace.as_deref().unwrap_or_default(), rp.name.as_deref().unwrap_or_default(), headers, &body).await
        }
        (Method::POST, true, Some("binding")) => write::bind(&state, &rp, &query, headers, body).await,
        (Method::POST, true, Some("eviction")) => eviction::create(&state, &rp, &query, headers, body).await,
        (Method::PUT, true, None | Some("status") | Some("finalize")) => {
            write::update(&state, &rp, &query, headers, body).await
        }
        (Method::PATCH, true, None | Some("status")) => write::patch(&state, &rp, &query, headers, body).await,
        (Method::PUT, true, Some("scale")) => scale::update(&state, &rp, &query, headers, body).await,
        (Method::PATCH, true, Some("scale")) => scale::patch(&state, &rp, &query, headers, body).await,
        (Method::DELETE, true, None) => delete::delete(&state, &rp, &query, headers, body).await,
        (Method::DELETE, false, None) => delete::delete_collection(&state, &rp, &query, headers, body).await,
        (m, _, _) => Err(StatusError::method_not_supported(rp.info.group, rp.info.plural, &m.to_string().to_lowercase())),
    }
}
