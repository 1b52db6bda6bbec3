//! The HTTP leg of `pods/proxy` and `services/proxy`: one request (or upgrade) to the
//! target over TCP or TLS, bodies streamed both ways, hop-by-hop headers and the client's
//! credentials dropped, redirects pointed back through the proxy.
//!
//! TLS to pods is not verified, as upstream's proxy transport (`InsecureSkipVerify`): pods are
//! addressed by IP and their certificates rarely name it. Handshake signatures are still
//! checked, so the session is with the holder of the presented key.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, Request, Response, StatusCode};
use berth_api::StatusError;
use bytes::Bytes;
use hyper_util::rt::TokioIo;

use super::kubelet;
use super::proxy::{rewrite_location, Target};

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

fn insecure_tls() -> Arc<rustls::ClientConfig> {
    static CFG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CFG.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(crate::kubelet_server_cert::AnyServerCert(provider.clone()));
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(cfg)
    })
    .clone()
}

/// Headers that belong to one connection and are not passed on (RFC 7230 §6.1), plus the
/// credentials the API server consumed.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "proxy-connection" | "proxy-authenticate" | "proxy-authorization" | "te" | "trailer"
            | "transfer-encoding" | "upgrade" | "authorization" | "host"
    )
}

fn is_upgrade(h: &HeaderMap) -> bool {
    h.contains_key(header::UPGRADE)
        && h.get_all(header::CONNECTION).iter().any(|v| v.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade"))))
}

fn copy_upgrade_headers(from: &HeaderMap, to: &mut HeaderMap) {
    to.insert(header::CONNECTION, header::HeaderValue::from_static("Upgrade"));
    if let Some(u) = from.get(header::UPGRADE) {
        to.insert(header::UPGRADE, u.clone());
    }
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (k, v) in from {
        if !hop_by_hop(k) {
            to.append(k.clone(), v.clone());
        }
    }
}

/// Send `req` to the target at `path` (plus the request's query) and answer with its
/// response, streaming both bodies. `prefix` is the proxy path, for redirects.
pub async fn forward<B>(t: Target, path: String, prefix: &str, mut req: Request<B>) -> Result<Response<Body>, StatusError>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let addr = kubelet::join_host_port(&t.host, t.port);
    // An upgrade (e.g. a WebSocket to the pod) is passed on; once the target switches
    // protocols the two connections are spliced.
    let client_upgrade = is_upgrade(req.headers()).then(|| hyper::upgrade::on(&mut req));
    let unreachable = |e: String| StatusError::new(503, "ServiceUnavailable", format!("error trying to reach service: {e}"));
    let ip: IpAddr = t.host.parse().map_err(|_| StatusError::internal(format!("target {:?} is not an IP address", t.host)))?;
    super::reach::check(ip).map_err(unreachable)?;
    let tcp = tokio::net::TcpStream::connect((ip, t.port))
        .await
        .map_err(|e| unreachable(format!("dial tcp {addr}: connect: {}", kubelet::os_error_text(&e))))?;
    let io: Box<dyn Io> = if t.scheme == "https" {
        let name = rustls::pki_types::ServerName::IpAddress(ip.into());
        let tls = tokio_rustls::TlsConnector::from(insecure_tls()).connect(name, tcp).await.map_err(|e| unreachable(e.to_string()))?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, B>(TokioIo::new(io)).await.map_err(|e| unreachable(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let (parts, body) = req.into_parts();
    let uri = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let mut out = Request::builder().method(parts.method.clone()).uri(uri);
    let headers = out.headers_mut().expect("a fresh builder has headers");
    copy_headers(&parts.headers, headers);
    headers.insert(header::HOST, addr.parse().map_err(|_| StatusError::internal("bad target address"))?);
    if let Some(h) = parts.headers.get(header::HOST) {
        headers.insert("x-forwarded-host", h.clone());
    }
    headers.insert("x-forwarded-proto", header::HeaderValue::from_static("https"));
    if client_upgrade.is_some() {
        copy_upgrade_headers(&parts.headers, headers);
    }
    let out = out.body(body).map_err(|e| StatusError::internal(e.to_string()))?;
    let mut resp = sender.send_request(out).await.map_err(|e| unreachable(e.to_string()))?;
    let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
    let splice = match client_upgrade {
        Some(client) if switching => Some((client, hyper::upgrade::on(&mut resp))),
        _ => None,
    };
    let (rparts, rbody) = resp.into_parts();
    let mut builder = Response::builder().status(rparts.status);
    let headers = builder.headers_mut().expect("a fresh builder has headers");
    copy_headers(&rparts.headers, headers);
    if let Some((client, target)) = splice {
        copy_upgrade_headers(&rparts.headers, headers);
        tokio::spawn(async move {
            if let Ok((a, b)) = tokio::try_join!(client, target) {
                let (mut a, mut b) = (TokioIo::new(a), TokioIo::new(b));
                let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
            }
        });
        return builder.body(Body::empty()).map_err(|e| StatusError::internal(e.to_string()));
    }
    if let Some(loc) = rparts.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()) {
        if let Some(new) = rewrite_location(loc, &t, prefix).and_then(|l| header::HeaderValue::from_str(&l).ok()) {
            headers.insert(header::LOCATION, new);
        }
    }
    builder.body(Body::new(rbody)).map_err(|e| StatusError::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An HTTPS server with a self-signed certificate answering one request.
    async fn tls_server() -> (u16, tokio::task::JoinHandle<String>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["pod.invalid".to_string()]).unwrap().self_signed(&key).unwrap();
        let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key_der)
            .unwrap();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            let mut s = tokio_rustls::TlsAcceptor::from(Arc::new(cfg)).accept(tcp).await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut head = String::new();
            while !head.contains("\r\n\r\nbody!") {
                let n = s.read(&mut buf).await.unwrap();
                head.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            s.write_all(b"HTTP/1.1 302 Found\r\nLocation: /next\r\nX-Pod: yes\r\nContent-Length: 2\r\n\r\nok").await.unwrap();
            s.shutdown().await.unwrap();
            head
        });
        (port, task)
    }

    #[tokio::test]
    async fn https_targets_are_proxied_without_verification() {
        let (port, server) = tls_server().await;
        let t = Target { scheme: "https".into(), host: "127.0.0.1".into(), port };
        let req = Request::post("/api/v1/namespaces/d/pods/https:p:1/proxy/a?b=c")
            .header("authorization", "Bearer secret")
            .header("content-length", "5")
            .body(Body::from("body!"))
            .unwrap();
        let resp = forward(t, "/a".into(), "/api/v1/namespaces/d/pods/https:p:1/proxy", req).await.unwrap();
        assert_eq!(resp.status().as_u16(), 302);
        assert_eq!(resp.headers()["location"], "/api/v1/namespaces/d/pods/https:p:1/proxy/next");
        assert_eq!(resp.headers()["x-pod"], "yes");
        let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"ok");
        let head = server.await.unwrap();
        assert!(head.starts_with("POST /a?b=c HTTP/1.1\r\n"), "{head}");
        assert!(!head.to_lowercase().contains("authorization"), "{head}");
    }

    #[tokio::test]
    async fn upgrades_are_spliced_to_the_target() {
        // The target: switches to an echo protocol.
        let backend = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let backend_port = backend.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = backend.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut head = String::new();
            while !head.contains("\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                head.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            assert!(head.to_lowercase().contains("upgrade: echo"), "{head}");
            s.write_all(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n").await.unwrap();
            let n = s.read(&mut buf).await.unwrap();
            s.write_all(&buf[..n]).await.unwrap();
        });
        // The proxy: a hyper server whose only route is `forward`.
        let front = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front_port = front.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (tcp, _) = front.accept().await.unwrap();
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| async move {
                let t = Target { scheme: "http".into(), host: "127.0.0.1".into(), port: backend_port };
                Ok::<_, std::convert::Infallible>(forward(t, "/ws".into(), "/p", req).await.unwrap())
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), svc).with_upgrades().await;
        });
        let mut c = tokio::net::TcpStream::connect(("127.0.0.1", front_port)).await.unwrap();
        c.write_all(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n").await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut head = String::new();
        while !head.contains("\r\n\r\n") {
            let n = c.read(&mut buf).await.unwrap();
            head.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        c.write_all(b"ping").await.unwrap();
        let n = c.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"ping");
    }

    #[tokio::test]
    async fn unreachable_targets_are_503() {
        let port = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
        let t = Target { scheme: "http".into(), host: "127.0.0.1".into(), port };
        let e = forward(t, "/".into(), "/p", Request::get("/").body(Body::empty()).unwrap()).await.unwrap_err();
        assert_eq!(e.code, 503);
        assert_eq!(e.message, format!("error trying to reach service: dial tcp 127.0.0.1:{port}: connect: connection refused"));
    }
}
