//! A minimal HTTPS client for the benchmarks: one TLS connection per logical client, HTTP/1.1
//! keep-alive via hyper's low-level connection API. No pooling, no retries, so that what we
//! time is one request on one connection and nothing else.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::{header, Method, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

pub type Result<T> = std::result::Result<T, String>;

/// Everything needed to open authenticated connections to one server.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    token: Arc<str>,
    connector: TlsConnector,
}

/// A TLS client configuration trusting exactly `ca_pem`, offering HTTP/1.1 only (the benchmarks
/// want one request per connection at a time, which is what HTTP/1.1 keep-alive gives).
pub fn tls_connector(ca_pem: &str) -> Result<TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    let mut found = 0;
    for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
        roots.add(cert.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        found += 1;
    }
    if found == 0 {
        return Err("no certificate in CA file".into());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn tls_stream(connector: &TlsConnector, addr: SocketAddr) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
    // Small request/response pairs: Nagle would add up to 40 ms of delay to every one.
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    connector.connect(name, tcp).await.map_err(|e| format!("TLS handshake: {e}"))
}

/// One-shot `GET path` on a fresh connection; returns the status code. Used by the cold-start
/// poller, where each attempt must be a brand-new TCP+TLS connection like a real client's first.
pub async fn probe_status(connector: &TlsConnector, addr: SocketAddr, path: &str) -> Result<u16> {
    let mut tls = tls_stream(connector, addr).await?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tls.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    tls.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
    let head = String::from_utf8_lossy(&buf[..buf.len().min(64)]).to_string();
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("unexpected response: {head:?}"))
}

impl Endpoint {
    pub fn new(addr: SocketAddr, ca_pem: &str, token: &str) -> Result<Self> {
        Ok(Endpoint { addr, token: token.trim().into(), connector: tls_connector(ca_pem)? })
    }

    /// Open one keep-alive connection. The connection driver runs as its own task and ends
    /// when the returned handle is dropped.
    pub async fn connect(&self) -> Result<Conn> {
        let tls = tls_stream(&self.connector, self.addr).await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            // Errors here surface on the request side as well; nothing more to do with them.
            let _ = conn.await;
        });
        Ok(Conn { sender, endpoint: self.clone() })
    }
}

pub struct Conn {
    sender: SendRequest<String>,
    endpoint: Endpoint,
}

impl Conn {
    fn request(&self, method: Method, path: &str, body: String) -> Result<Request<String>> {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.endpoint.addr.to_string())
            .header(header::AUTHORIZATION, format!("Bearer {}", self.endpoint.token))
            .header(header::ACCEPT, "application/json");
        if !body.is_empty() {
            b = b.header(header::CONTENT_TYPE, "application/json");
        }
        b.body(body).map_err(|e| e.to_string())
    }

    /// Send a request and return the response head with its body still streaming
    /// (used for watches).
    pub async fn send_streaming(&mut self, method: Method, path: &str, body: String) -> Result<Response<Incoming>> {
        let req = self.request(method, path, body)?;
        poll_fn(|cx| self.sender.poll_ready(cx)).await.map_err(|e| e.to_string())?;
        self.sender.send_request(req).await.map_err(|e| e.to_string())
    }

    /// PATCH `path` with a strategic merge patch; returns status and body.
    pub async fn send_patch(&mut self, path: &str, patch: String) -> Result<(u16, Bytes)> {
        let mut req = self.request(Method::PATCH, path, patch)?;
        req.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/strategic-merge-patch+json"));
        poll_fn(|cx| self.sender.poll_ready(cx)).await.map_err(|e| e.to_string())?;
        let resp = self.sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        Ok((status, read_body(resp.into_body()).await?))
    }

    /// Send a request and read the whole response body (which also frees the connection for
    /// the next request).
    pub async fn send(&mut self, method: Method, path: &str, body: String) -> Result<(u16, Bytes)> {
        let resp = self.send_streaming(method, path, body).await?;
        let status = resp.status().as_u16();
        let body = read_body(resp.into_body()).await?;
        Ok((status, body))
    }
}

/// Next data chunk of a streaming body, `None` at its end.
pub async fn next_chunk(body: &mut Incoming) -> Result<Option<Bytes>> {
    loop {
        match poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await {
            None => return Ok(None),
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
                // Trailers: not data; keep reading until the end.
            }
        }
    }
}

pub async fn read_body(mut body: Incoming) -> Result<Bytes> {
    let mut out = BytesMut::new();
    while let Some(chunk) = next_chunk(&mut body).await? {
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

/// The JSON body of a ConfigMap called `name` (small, like the example).
pub fn configmap_body(name: &str) -> String {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"k": "v"},
    })
    .to_string()
}

/// Create a namespace (idempotent for the benchmarks: 409 means it is already there).
pub async fn ensure_namespace(conn: &mut Conn, name: &str) -> Result<()> {
    let body = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}).to_string();
    let (status, resp) = conn.send(Method::POST, "/api/v1/namespaces", body).await?;
    match status {
        201 | 409 => Ok(()),
        s => Err(format!("creating namespace {name}: HTTP {s}: {}", String::from_utf8_lossy(&resp))),
    }
}
