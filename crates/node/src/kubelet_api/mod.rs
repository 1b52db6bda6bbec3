//! The kubelet's HTTPS API, as the API server uses it for `kubectl logs` and `kubectl exec`
//! (see NODE-CONTRACT.md). It reads the node agent's state directory and needs nothing else:
//!
//! ```text
//! kubelet_api::serve(listener: TcpListener, tls: Arc<rustls::ServerConfig>, state_dir: PathBuf, shutdown: impl Future)
//! kubelet_api::tls::server_config(pki_dir: &Path, node_name: &str) -> Result<rustls::ServerConfig, String>
//! ```
//!
//! Paths, as upstream's kubelet serves them:
//! - `GET /healthz` → `ok`
//! - `GET /containerLogs/{namespace}/{pod}/{container}?follow&previous&timestamps&tailLines&sinceSeconds&sinceTime&limitBytes`
//! - `GET /exec/{namespace}/{pod}/{container}?command=…&input&output&error&tty` (WebSocket,
//!   `v5.channel.k8s.io` / `v4.channel.k8s.io`)
//!
//! Errors are plain text with the kubelet's status codes and wording; the API server turns
//! them into Status objects.

mod exec;
pub mod logfmt;
mod logs;
pub mod spawn;
mod state;
pub mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;


type Resp = Response<BoxBody<Bytes, Infallible>>;

fn empty() -> BoxBody<Bytes, Infallible> {
    Empty::new().boxed()
}

fn full(code: u16, content_type: &str, body: Vec<u8>) -> Resp {
    Response::builder()
        .status(code)
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)).boxed())
        .expect("static response parts are valid")
}

fn text(code: u16, msg: &str) -> Resp {
    full(code, "text/plain; charset=utf-8", msg.as_bytes().to_vec())
}

/// A 200 response whose body is fed through the returned sender; dropping the body (the
/// client went away) makes sends fail.
fn stream_body() -> (futures::channel::mpsc::Sender<Result<Frame<Bytes>, Infallible>>, Resp) {
    let (tx, rx) = futures::channel::mpsc::channel(8);
    let resp = Response::builder()
        .status(StatusCode::OK)
        .header(hyper::header::CONTENT_TYPE, "text/plain")
        .body(StreamBody::new(rx).boxed())
        .expect("static response parts are valid");
    (tx, resp)
}

/// Serve the kubelet API on `listener` until `shutdown` completes. Connections already
/// established (a followed log, an exec session) are left to finish on their own.
pub async fn serve(listener: TcpListener, tls: Arc<rustls::ServerConfig>, state_dir: PathBuf, shutdown: impl Future) {
    let acceptor = TlsAcceptor::from(tls);
    let state_dir = Arc::new(state_dir);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            c = listener.accept() => match c {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "kubelet API: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let state_dir = state_dir.clone();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "kubelet API: TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let state_dir = state_dir.clone();
                async move { Ok::<_, Infallible>(route(&state_dir, req).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).await {
                tracing::debug!(%peer, error = %e, "kubelet API: connection ended with an error");
            }
        });
    }
}

/// Percent-decode one path segment (names never contain '/', but may be escaped).
fn decode(seg: &str) -> String {
    form_urlencoded::parse(format!("x={}", seg.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn route(state_dir: &std::path::Path, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_string();
    let segs: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(decode).collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let get = matches!(*req.method(), Method::GET | Method::HEAD);
    match segs.as_slice() {
        ["healthz"] if get => text(200, "ok"),
        ["containerLogs", ns, pod, container] if get => {
            logs::serve(state_dir, ns, pod, container, req.uri().query()).await
        }
        // Upstream also accepts POST (SPDY); WebSocket upgrades are always GET.
        ["exec", ns, pod, container] if get || *req.method() == Method::POST => {
            let (ns, pod, container) = (ns.to_string(), pod.to_string(), container.to_string());
            exec::serve(state_dir, &ns, &pod, &container, req).await
        }
        ["healthz"] | ["containerLogs", ..] | ["exec", ..] => text(405, "405: Method Not Allowed"),
        _ => text(404, "404 page not found"),
    }
}
