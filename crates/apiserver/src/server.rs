//! The HTTPS listener: TLS, authentication, and dispatch of each request to discovery,
//! OpenAPI, health or the REST handlers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, Response, StatusCode};
use berth_api::StatusError;
use berth_store::Store;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::discovery;
use crate::pki::Pki;
use crate::request::{route, DiscoveryPath, Query, Route};
use crate::state::{error_response, json_response, text_response, ApiState, Shared};

/// Largest request body accepted (upstream's limit is 3 MiB per object plus overhead).
const MAX_BODY: usize = 16 << 20;

pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Where `pki/` lives.
    pub data_dir: PathBuf,
    pub store: Arc<dyn Store>,
    /// Seconds of the tolerations the DefaultTolerationSeconds admission adds to pods.
    pub toleration_defaults: crate::toleration_admission::TolerationDefaults,
    /// How long Events are kept after their last recording (`--event-ttl`).
    pub event_ttl: std::time::Duration,
}

pub struct RunningServer {
    pub local_addr: SocketAddr,
    pub pki: Pki,
    pub state: Shared,
    stop: watch::Sender<bool>,
    tls: TlsAcceptor,
}

impl RunningServer {
    /// `https://<addr>` as clients should address it.
    pub fn url(&self) -> String {
        let host = match self.local_addr.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        format!("https://{host}:{}", self.local_addr.port())
    }

    /// Bootstrap finished; `/readyz` answers 200.
    pub fn state_ready(&self) -> bool {
        self.state.ready.load(Ordering::SeqCst)
    }

    /// Serve on one more address too (same TLS, state and authentication), until
    /// [`RunningServer::shutdown`]; returns the bound address.
    pub async fn serve_also(&self, addr: SocketAddr) -> Result<SocketAddr, String> {
        let listener = TcpListener::bind(addr).await.map_err(|e| format!("listen on {addr}: {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        spawn_accept_loop(listener, local, self.tls.clone(), self.state.clone(), self.stop.subscribe());
        Ok(local)
    }

    /// Make `addr` the address the `kubernetes` Service's endpoints point at (where pods reach
    /// this server), instead of the one derived from the listen address.
    pub fn advertise(&self, addr: SocketAddr) {
        self.state.advertised.send_replace(Some(addr));
    }

    /// Stop accepting connections.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }
}

/// Bind, bootstrap the system namespaces and serve in background tasks.
pub async fn start(cfg: ServerConfig) -> Result<RunningServer, String> {
    let extra = vec![cfg.listen.ip().to_string()];
    let pki = Pki::load_or_create(&cfg.data_dir.join("pki"), &extra).map_err(|e| e.to_string())?;
    let tls = TlsAcceptor::from(Arc::new(pki.server_tls_config()?));
    let listener = TcpListener::bind(cfg.listen).await.map_err(|e| format!("listen on {}: {e}", cfg.listen))?;
    let local_addr = listener.local_addr().map_err(|e| e.to_string())?;
    let state: Shared = Arc::new(ApiState {
        store: cfg.store,
        admin_token: pki.admin_token.clone(),
        authn: crate::authn::TokenAuthenticator::new(pki.admin_token.clone(), &cfg.data_dir.join("pki")),
        authz: crate::authz::default_chain(),
        rbac: Default::default(),
        ready: Default::default(),
        ip_alloc: Default::default(),
        decoded: Default::default(),
        kubelet_tls: Arc::new(pki.kubelet_client_tls_config()?),
        sa_key: crate::satoken::jwt::SigningKey::load_or_create(&cfg.data_dir.join("pki"))?,
        toleration_defaults: cfg.toleration_defaults,
        advertised: watch::Sender::new(None),
    });
    crate::namespaces::bootstrap(&state).await.map_err(|e| e.to_string())?;
    crate::rbac::start(&state).await.map_err(|e| e.to_string())?;
    state.ready.store(true, Ordering::SeqCst);
    tokio::spawn(crate::namespaces::run_lifecycle(state.clone()));
    tokio::spawn(crate::kubernetes_service::run(state.clone(), local_addr));
    tokio::spawn(crate::event_ttl::run(state.clone(), cfg.event_ttl));

    let (stop, stopped) = watch::channel(false);
    spawn_accept_loop(listener, local_addr, tls.clone(), state.clone(), stopped);
    Ok(RunningServer { local_addr, pki, state, stop, tls })
}


/// Accept TLS connections on `listener` and serve them until `stopped` turns true.
fn spawn_accept_loop(listener: TcpListener, local_addr: SocketAddr, tls: TlsAcceptor, state: Shared, mut stopped: watch::Receiver<bool>) {
    tokio::spawn(async move {
        loop {
            let conn = tokio::select! {
                c = listener.accept() => c,
                _ = stopped.changed() => return,
            };
            let (tcp, peer) = match conn {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let tls = tls.clone();
            let state = state.clone();
            tokio::spawn(async move {
                let stream = match tokio::time::timeout(Duration::from_secs(10), tls.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let state = state.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(state, local_addr, req).await) }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                if let Err(e) = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
    });
}

/// Paths anyone may read, as upstream's `system:public-info-viewer` allows.
fn is_public(path: &str) -> bool {
    matches!(path, "/healthz" | "/livez" | "/readyz" | "/version" | "/version/")
        || path.starts_with("/healthz/")
        || path.starts_with("/livez/")
        || path.starts_with("/readyz/")
}

/// The request's user from its bearer token, `None` when missing or unknown (401): the admin
/// token and token file first, then service-account JWTs.
async fn authenticate(state: &Shared, req: &Request<Incoming>) -> Option<crate::authn::User> {
    let token = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")?.trim();
    if let Some(u) = state.authn.authenticate(token) {
        return Some(u);
    }
    if crate::satoken::jwt::looks_like_jwt(token) {
        return crate::satoken::authenticate(state, token).await;
    }
    None
}

async fn handle(state: Shared, local_addr: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let resp = match serve_authorized(state, local_addr, req).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    tracing::debug!(%method, %path, status = resp.status().as_u16(), elapsed_us = started.elapsed().as_micros() as u64, "request");
    resp
}

/// Authenticate, authorize, then dispatch with the user in scope for admission.
async fn serve_authorized(state: Shared, local_addr: SocketAddr, req: Request<Incoming>) -> Result<Response<Body>, StatusError> {
    let path = req.uri().path().to_string();
    if is_public(&path) {
        return dispatch(state, local_addr, req).await;
    }
    let user = Arc::new(authenticate(&state, &req).await.ok_or_else(StatusError::unauthorized)?);
    let user = crate::rbac::impersonate::apply(&state, user, req.headers()).await?;
    let attrs = crate::authz::from_request(user.clone(), req.method().as_str(), &path, req.uri().query());
    crate::authz::authorize(&state.authz, &state, &attrs).await?;
    if crate::rbac::reviews::review_of(&path).is_some() {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(Body::new(body), MAX_BODY).await.map_err(|e| StatusError::bad_request(e.to_string()))?;
        return crate::rbac::reviews::handle(&state, user, &path, &parts.method, &parts.headers, &body).await;
    }
    crate::authn::REQUEST_USER.scope(user, dispatch(state, local_addr, req)).await
}

async fn dispatch(state: Shared, local_addr: SocketAddr, req: Request<Incoming>) -> Result<Response<Body>, StatusError> {
    let path = req.uri().path().to_string();
    let query = Query::parse(req.uri().query());
    match path.as_str() {
        "/healthz" | "/livez" | "/healthz/ping" | "/livez/ping" => return Ok(text_response(StatusCode::OK, "ok")),
        "/readyz" | "/readyz/ping" => {
            return Ok(if state.ready.load(Ordering::SeqCst) {
                text_response(StatusCode::OK, "ok")
            } else {
                text_response(StatusCode::INTERNAL_SERVER_ERROR, "[-]bootstrap not finished\nreadyz check failed")
            })
        }
        "/version" | "/version/" => return Ok(json_response(StatusCode::OK, &discovery::version(), &[])),
        "/metrics" => return Ok(text_response(StatusCode::OK, &metrics(&state))),
        "/openapi/v2" => {
            // kubectl asks for the v2 document as protobuf only; other clients take JSON.
            let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
            if accept.contains("protobuf") && !accept.contains("json") {
                return Ok(Response::builder()
                    .status(StatusCode::OK)
                    .header(header::CONTENT_TYPE, berth_api::openapi::V2_PROTOBUF_MEDIA_TYPE)
                    .body(Body::from(berth_api::openapi::v2_protobuf()))
                    .expect("static response parts are valid"));
            }
            return Ok(raw_json(berth_api::openapi::v2_document()));
        }
        "/openapi/v3" | "/openapi/v3/" => return Ok(raw_json(berth_api::openapi::v3_root())),
        _ => {}
    }
    if let Some(rest) = path.strip_prefix("/openapi/v3/") {
        return berth_api::openapi::v3_document(rest).map(raw_json).ok_or_else(StatusError::path_not_found);
    }
    match route(&path)? {
        Route::Discovery(d) => {
            if req.method() != Method::GET {
                return Err(StatusError::method_not_supported("", "", req.method().as_ref()));
            }
            let body = match d {
                DiscoveryPath::CoreVersions => discovery::core_versions(&local_addr.to_string()),
                DiscoveryPath::Groups => discovery::groups(),
                DiscoveryPath::Group(g) => discovery::group(&g)?,
                DiscoveryPath::GroupVersion(g, v) => discovery::resource_list(&g, &v)?,
            };
            Ok(json_response(StatusCode::OK, &body, &[]))
        }
        // Streams and proxies: the request body and connection are handed on, not buffered.
        Route::Resource(rp) if crate::rest::is_connect(&rp) => crate::rest::connect(state, rp, query, req).await,
        Route::Resource(rp) => {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(Body::new(body), MAX_BODY)
                .await
                .map_err(|e| StatusError::new(413, "RequestEntityTooLarge", format!("reading request body: {e}")))?;
            crate::rest::handle(state, parts.method, rp, query, &parts.headers, body).await
        }
        Route::Other => Err(StatusError::path_not_found()),
    }
}

fn raw_json(bytes: &'static [u8]) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(bytes))
        .expect("static response parts are valid")
}

/// Prometheus text exposition of the store's figures, so a stalled compaction is visible.
fn metrics(state: &ApiState) -> String {
    let s = state.store.stats();
    format!(
        "# TYPE berth_store_revision gauge\nberth_store_revision {}\n# TYPE berth_store_compacted_revision gauge\nberth_store_compacted_revision {}\n# TYPE berth_store_compaction_lag gauge\nberth_store_compaction_lag {}\n# TYPE berth_store_writes_total counter\nberth_store_writes_total {}\n# TYPE berth_store_commit_batches_total counter\nberth_store_commit_batches_total {}\n# TYPE berth_store_watchers gauge\nberth_store_watchers {}\n",
        s.current_revision, s.compacted_revision, s.compaction_lag, s.writes, s.batches, s.watchers
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_health_and_version_are_public() {
        assert!(is_public("/readyz"));
        assert!(is_public("/version"));
        assert!(!is_public("/api"));
        assert!(!is_public("/openapi/v3"));
        assert!(!is_public("/metrics"));
    }
}
