//! Talking to a node's kubelet API (logs, exec): where it listens (the Node's address and
//! `status.daemonEndpoints.kubeletEndpoint.Port`), HTTPS with the kubelet client certificate,
//! and turning its plain-text errors into Status objects as upstream's response checker does.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response};
use berth_api::registry;
use berth_api::StatusError;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::state::Shared;

/// Upstream's default kubelet port, used when a Node does not publish one.
const DEFAULT_KUBELET_PORT: i64 = 10250;

/// Address types tried in order. berth's agents publish their loopback listener as
/// InternalIP and the node name as Hostname (which need not resolve), so IPs come first.
const ADDRESS_PREFERENCE: &[&str] = &["InternalIP", "ExternalIP", "InternalDNS", "Hostname", "ExternalDNS"];

/// The label of berth's simulated nodes (`berth_node::simulated::SIMULATED_LABEL`).
const SIMULATED_LABEL: &str = "node.berth.dev/simulated";

/// `(host, port)` of the node's kubelet API.
pub fn endpoint(node: &Value) -> Result<(String, u16), StatusError> {
    let addrs = node["status"]["addresses"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let host = ADDRESS_PREFERENCE
        .iter()
        .find_map(|t| addrs.iter().find(|a| a["type"] == *t).and_then(|a| a["address"].as_str()))
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            let known: Vec<String> =
                addrs.iter().map(|a| format!("{{{} {}}}", a["type"].as_str().unwrap_or(""), a["address"].as_str().unwrap_or(""))).collect();
            StatusError::new(500, "", format!("no preferred addresses found; known addresses: [{}]", known.join(" ")))
        })?;
    let port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"].as_i64().filter(|p| *p > 0).unwrap_or(DEFAULT_KUBELET_PORT);
    let port = u16::try_from(port).map_err(|_| StatusError::internal(format!("invalid kubelet port {port}")))?;
    Ok((host.to_string(), port))
}

/// The kubelet endpoint of `node_name`, read from its Node object.
pub async fn locate(state: &Shared, node_name: &str) -> Result<(String, u16), StatusError> {
    let info = registry::lookup("", "v1", "nodes").expect("nodes are registered");
    let (node, _) = super::read::get_object(state, info, None, node_name).await?;
    if node["metadata"]["labels"][SIMULATED_LABEL] == "true" {
        return Err(StatusError::bad_request(format!("node {node_name:?} is simulated: it runs no containers and serves no kubelet API")));
    }
    endpoint(&node)
}

/// Send `req` (path and query only) to the kubelet at `host:port` over HTTPS and return its
/// response head; the body streams. The connection supports upgrades (exec).
pub async fn send(state: &Shared, host: &str, port: u16, mut req: Request<Body>) -> Result<Response<Incoming>, StatusError> {
    let url = format!("https://{}{}", join_host_port(host, port), req.uri());
    let fail = |e: String| StatusError::new(500, "", format!("Get \"{url}\": {e}"));
    let ip: std::net::IpAddr = match host {
        "localhost" => std::net::Ipv4Addr::LOCALHOST.into(),
        h => h.parse().map_err(|_| fail(format!("berth dials kubelets by IP address only, not {h:?}")))?,
    };
    super::reach::check(ip).map_err(fail)?;
    let tcp = tokio::net::TcpStream::connect((ip, port))
        .await
        .map_err(|e| fail(format!("dial tcp {}: connect: {}", join_host_port(host, port), os_error_text(&e))))?;
    let _ = tcp.set_nodelay(true);
    let server_name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| fail(e.to_string()))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::clone(&state.kubelet_tls))
        .connect(server_name, tcp)
        .await
        .map_err(|e| fail(format!("tls: {e}")))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(tls))
        .await
        .map_err(|e| fail(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "kubelet connection ended with an error");
        }
    });
    req.headers_mut().insert(
        hyper::header::HOST,
        join_host_port(host, port).parse().map_err(|_| fail("bad host".into()))?,
    );
    sender.send_request(req).await.map_err(|e| fail(e.to_string()))
}

pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Go-like text for a connection error ("connection refused").
pub fn os_error_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        _ => e.to_string(),
    }
}

/// A kubelet's non-success answer as the Status the client sees.
pub async fn error_from(resp: Response<Incoming>, pod: &str) -> StatusError {
    let code = resp.status().as_u16();
    // Upstream reads at most this much of an error body.
    let body = match axum::body::to_bytes(Body::new(resp.into_body()), 4096).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(e) => e.to_string(),
    };
    match code {
        400 => StatusError::bad_request(body),
        404 => StatusError::not_found("", "pods", pod),
        500 => StatusError::internal(body),
        _ => StatusError::new(code, "", body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoint_prefers_ips_and_the_published_port() {
        let node = json!({"status": {
            "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 4321}}}});
        assert_eq!(endpoint(&node).unwrap(), ("127.0.0.1".to_string(), 4321));
        let node = json!({"status": {"addresses": [{"type": "Hostname", "address": "n1"}]}});
        assert_eq!(endpoint(&node).unwrap(), ("n1".to_string(), 10250));
        let e = endpoint(&json!({"status": {}})).unwrap_err();
        assert_eq!(e.message, "no preferred addresses found; known addresses: []");
    }
}
