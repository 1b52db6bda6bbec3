//! Shared server state and response helpers.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use berth_api::StatusError;
use berth_store::{Store, StoreError};
use serde_json::Value;

pub struct ApiState {
    pub store: Arc<dyn Store>,
    pub admin_token: String,
    /// Bearer tokens → users (the admin token and `pki/tokens.csv`).
    pub authn: crate::authn::TokenAuthenticator,
    /// The authorizer chain every non-public request goes through.
    pub authz: Vec<Box<dyn crate::authz::Authorizer>>,
    /// Roles and bindings in memory, kept current from the store's watch.
    pub rbac: crate::rbac::Cache,
    /// Set once bootstrap (default namespaces) has finished; `/readyz` reports it.
    pub ready: AtomicBool,
    /// Serializes cluster-IP allocation so two creates never pick the same address.
    pub ip_alloc: tokio::sync::Mutex<()>,
    /// Watch events' objects, decoded once for all watch streams.
    pub decoded: crate::decoded::DecodedCache,
    /// TLS towards kubelets (logs, exec): the cluster CA and the kubelet client certificate.
    pub kubelet_tls: Arc<rustls::ClientConfig>,
    /// Signs and verifies service-account tokens (`pki/sa.key`).
    pub sa_key: crate::satoken::jwt::SigningKey,
    /// DefaultTolerationSeconds admission settings.
    pub toleration_defaults: crate::toleration_admission::TolerationDefaults,
    /// Where pods reach this server, when set by [`crate::RunningServer::advertise`]: the
    /// `kubernetes` Service's endpoint.
    pub advertised: tokio::sync::watch::Sender<Option<std::net::SocketAddr>>,
}

pub type Shared = Arc<ApiState>;

pub fn json_response(code: StatusCode, body: &Value, warnings: &[String]) -> Response<Body> {
    let bytes = serde_json::to_vec(body).expect("JSON values always serialize");
    let mut r = Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(bytes))
        .expect("static response parts are valid");
    for w in warnings {
        // RFC 7234 warning header as upstream sends it: `299 - "<text>"`.
        let text = w.replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{text}\"")) {
            r.headers_mut().append(header::WARNING, v);
        }
    }
    r
}

pub fn error_response(e: &StatusError) -> Response<Body> {
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = json_response(code, &e.to_status(), &[]);
    // As upstream's responsewriters: a 429 or 5xx whose Status suggests a retry delay says so
    // in `Retry-After` too (client-go waits that long and retries on its own).
    let retry_after = e.details.as_ref().and_then(|d| d["retryAfterSeconds"].as_i64()).filter(|s| *s > 0);
    if let (true, Some(s)) = (e.code == 429 || e.code >= 500, retry_after) {
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    r
}

pub fn text_response(code: StatusCode, text: &str) -> Response<Body> {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(text.to_string()))
        .expect("static response parts are valid")
}

/// Map a store error that is not about one object: an unreachable store (etcd down or
/// leaderless) is a 503 — the request may succeed later — anything else a 500.
pub fn storage_failure(e: StoreError) -> StatusError {
    match e {
        StoreError::Unavailable(m) => StatusError::new(503, "ServiceUnavailable", format!("storage unavailable: {m}")),
        other => StatusError::internal(other.to_string()),
    }
}

/// Map a store error about one object to the API error a client expects.
pub fn store_error(e: StoreError, group: &str, plural: &str, name: &str) -> StatusError {
    match e {
        StoreError::AlreadyExists(_) => StatusError::already_exists(group, plural, name),
        StoreError::NotFound(_) => StatusError::not_found(group, plural, name),
        StoreError::Conflict { .. } => StatusError::conflict(group, plural, name, StatusError::OPTIMISTIC_LOCK),
        StoreError::Compacted { requested, compacted } => {
            StatusError::expired(format!("too old resource version: {requested} ({compacted})"))
        }
        StoreError::FutureRevision { requested, current } => StatusError::new(
            504,
            "Timeout",
            format!("Timeout: Too large resource version: {requested}, current: {current}"),
        ),
        StoreError::WatcherTooSlow => StatusError::new(500, "InternalError", "watch closed: client too slow"),
        StoreError::Internal(m) => StatusError::internal(m),
        e @ StoreError::Unavailable(_) => storage_failure(e),
    }
}
