//! `GET|POST …/pods/{name}/exec` with a WebSocket upgrade: validate, open the same upgrade
//! on the kubelet's `/exec/…` (stdin/stdout/stderr/tty become input/output/error/tty), and
//! once both sides have switched protocols, splice the two connections byte for byte — the
//! `channel.k8s.io` framing passes through untouched.

use axum::body::Body;
use axum::http::{header, HeaderName, Method, Request, Response, StatusCode};
use berth_api::StatusError;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use super::{containers, kubelet, read};
use crate::request::ResourcePath;
use crate::state::Shared;

/// Handshake headers a WebSocket upgrade carries to the kubelet and back.
const REQUEST_HEADERS: &[HeaderName] = &[
    header::UPGRADE,
    header::CONNECTION,
    header::SEC_WEBSOCKET_KEY,
    header::SEC_WEBSOCKET_VERSION,
    header::SEC_WEBSOCKET_PROTOCOL,
];
const RESPONSE_HEADERS: &[HeaderName] =
    &[header::UPGRADE, header::CONNECTION, header::SEC_WEBSOCKET_ACCEPT, header::SEC_WEBSOCKET_PROTOCOL];

/// PodExecOptions from the query (`command` repeats).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ExecOptions {
    pub container: Option<String>,
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

pub fn parse_options(raw: Option<&str>) -> ExecOptions {
    let mut o = ExecOptions::default();
    let flag = |v: &str| matches!(v, "true" | "1" | "True" | "TRUE");
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "container" if !v.is_empty() => o.container = Some(v.into_owned()),
            "command" => o.command.push(v.into_owned()),
            "stdin" => o.stdin = flag(&v),
            "stdout" => o.stdout = flag(&v),
            "stderr" => o.stderr = flag(&v),
            "tty" => o.tty = flag(&v),
            _ => {}
        }
    }
    o
}

/// The kubelet's query: upstream's `streamParams`.
pub fn kubelet_query(o: &ExecOptions) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (on, key) in [(o.stdin, "input"), (o.stdout, "output"), (o.stderr, "error"), (o.tty, "tty")] {
        if on {
            s.append_pair(key, "1");
        }
    }
    for c in &o.command {
        s.append_pair("command", c);
    }
    s.finish()
}

pub async fn serve(state: &Shared, rp: &ResourcePath, mut req: Request<Incoming>) -> Result<Response<Body>, StatusError> {
    if req.method() != Method::GET && req.method() != Method::POST {
        return Err(StatusError::method_not_supported("", "pods/exec", &req.method().to_string().to_lowercase()));
    }
    let name = rp.name.as_deref().unwrap_or("");
    let ns = rp.namespace.as_deref().unwrap_or("default");
    let o = parse_options(req.uri().query());
    let (pod, _) = read::get_object(state, rp.info, Some(ns), name).await?;
    let container = containers::resolve(&pod, o.container.as_deref())?;
    let node = pod["spec"]["nodeName"].as_str().unwrap_or("");
    if node.is_empty() {
        return Err(StatusError::bad_request(format!("pod {name} does not have a host assigned")));
    }
    let (host, port) = kubelet::locate(state, node).await?;
    let mut kreq = Request::get(format!("/exec/{ns}/{name}/{container}?{}", kubelet_query(&o)))
        .body(Body::empty())
        .map_err(|e| StatusError::internal(e.to_string()))?;
    for h in REQUEST_HEADERS {
        if let Some(v) = req.headers().get(h) {
            kreq.headers_mut().insert(h.clone(), v.clone());
        }
    }
    let mut kresp = kubelet::send(state, &host, port, kreq).await?;
    if kresp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Err(kubelet::error_from(kresp, name).await);
    }
    let mut resp = Response::builder().status(StatusCode::SWITCHING_PROTOCOLS);
    for h in RESPONSE_HEADERS {
        if let Some(v) = kresp.headers().get(h) {
            resp = resp.header(h.clone(), v.clone());
        }
    }
    let client_side = hyper::upgrade::on(&mut req);
    let kubelet_side = hyper::upgrade::on(&mut kresp);
    tokio::spawn(async move {
        let (client, kubelet) = match tokio::try_join!(client_side, kubelet_side) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(error = %e, "exec upgrade failed");
                return;
            }
        };
        let (mut a, mut b) = (TokioIo::new(client), TokioIo::new(kubelet));
        let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
    });
    resp.body(Body::empty()).map_err(|e| StatusError::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_translate_to_the_kubelet_names() {
        let o = parse_options(Some("command=sh&command=-c&command=exit+3&container=c&stdin=true&stdout=true&stderr=true"));
        assert_eq!(o.command, vec!["sh", "-c", "exit 3"]);
        assert_eq!(o.container.as_deref(), Some("c"));
        assert_eq!(kubelet_query(&o), "input=1&output=1&error=1&command=sh&command=-c&command=exit+3");
        let o = parse_options(Some("command=ls&stdout=1&tty=true"));
        assert_eq!(kubelet_query(&o), "output=1&tty=1&command=ls");
    }
}
