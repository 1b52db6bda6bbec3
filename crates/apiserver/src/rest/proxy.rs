//! `…/pods/{[scheme:]name[:port]}/proxy[/{path}]` and the same for services: HTTP to the
//! pod's IP (a service's: one ready pod behind its selector), any method, preserving path,
//! query, body, status and headers. Target choice is pure (`pod_target`,
//! `endpoints::service_target`);
//! `forward` does the IO.

use std::net::IpAddr;

use axum::body::Body;
use axum::http::{Request, Response, Uri};
use berth_api::registry;
use berth_api::StatusError;
use hyper::body::Incoming;
use serde_json::Value;

use super::{kubelet, read};
use crate::request::ResourcePath;
use crate::state::Shared;

/// Upstream's `SplitSchemeNamePort`: `name`, `name:port` or `scheme:name:port`.
pub fn split_scheme_name_port(id: &str) -> Option<(&str, &str, &str)> {
    let parts: Vec<&str> = id.split(':').collect();
    let (scheme, name, port) = match parts.as_slice() {
        [n] => ("", *n, ""),
        [n, p] => ("", *n, *p),
        [s, n, p] => (*s, *n, *p),
        _ => return None,
    };
    (!name.is_empty() && matches!(scheme, "" | "http" | "https")).then_some((scheme, name, port))
}

/// Where a proxied request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

pub(super) fn pod_ip(pod: &Value) -> &str {
    pod["status"]["podIPs"][0]["ip"].as_str().or_else(|| pod["status"]["podIP"].as_str()).unwrap_or("")
}

/// Upstream refuses anything but global unicast pod IPs; berth's pods may live on loopback
/// (one host, pods reachable from it), so loopback is allowed as well.
pub(super) fn proxyable(ip: &str) -> Result<IpAddr, StatusError> {
    let not_allowed = || StatusError::bad_request("address not allowed");
    let ip: IpAddr = ip.parse().map_err(|_| not_allowed())?;
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    };
    if ip.is_unspecified() || ip.is_multicast() || link_local {
        return Err(not_allowed());
    }
    Ok(ip)
}

fn parse_port(p: &str) -> Result<u16, StatusError> {
    p.parse::<u16>().map_err(|_| StatusError::bad_request(format!("invalid port {p:?}")))
}

/// The pod target; without a port, the first declared container port (none: port 80).
pub fn pod_target(pod: &Value, scheme: &str, port: &str) -> Result<Target, StatusError> {
    let port = if port.is_empty() {
        pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|c| c["ports"][0]["containerPort"].as_u64())
            .map(|p| p.to_string())
            .unwrap_or_default()
    } else {
        port.to_string()
    };
    let ip = proxyable(pod_ip(pod))?;
    let scheme = if scheme.is_empty() { "http" } else { scheme };
    let port = if port.is_empty() { if scheme == "https" { 443 } else { 80 } } else { parse_port(&port)? };
    Ok(Target { scheme: scheme.to_string(), host: ip.to_string(), port })
}

/// The path on the target: what follows `/{id}/proxy` in the request path (`path=` query
/// parameter for the form without one), `/` at least.
fn target_path(uri: &Uri, id: &str) -> String {
    let path = uri.path();
    let marker = format!("/{id}/proxy");
    let rest = path.find(&marker).map(|i| &path[i + marker.len()..]).unwrap_or("");
    if !rest.is_empty() {
        return rest.to_string();
    }
    let from_query = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).find(|(k, _)| k == "path").map(|(_, v)| v.into_owned());
    match from_query {
        Some(p) if p.starts_with('/') => p,
        Some(p) => format!("/{p}"),
        None => "/".to_string(),
    }
}

pub async fn serve(state: &Shared, rp: &ResourcePath, req: Request<Incoming>) -> Result<Response<Body>, StatusError> {
    let id = rp.name.as_deref().unwrap_or("");
    let ns = rp.namespace.as_deref().unwrap_or("default");
    let kind = if rp.info.plural == "pods" { "pod" } else { "service" };
    let (scheme, name, port) =
        split_scheme_name_port(id).ok_or_else(|| StatusError::bad_request(format!("invalid {kind} request {id:?}")))?;
    let target = if rp.info.plural == "pods" {
        let (pod, _) = read::get_object(state, rp.info, Some(ns), name).await?;
        pod_target(&pod, scheme, port)?
    } else {
        let (svc, _) = read::get_object(state, rp.info, Some(ns), name).await?;
        let pods_info = registry::lookup("", "v1", "pods").expect("pods are registered");
        let (pods, _) = super::list_all(state, pods_info, Some(ns)).await?;
        let eps_info = registry::lookup("", "v1", "endpoints").expect("endpoints are registered");
        let eps = match read::get_object(state, eps_info, Some(ns), name).await {
            Ok((eps, _)) => Some(eps),
            Err(e) if e.code == 404 => None,
            Err(e) => return Err(e),
        };
        super::endpoints::service_target(&svc, eps.as_ref(), &pods, id, scheme, port)?
    };
    let path = target_path(req.uri(), id);
    let prefix = format!("/api/v1/namespaces/{ns}/{}/{id}/proxy", rp.info.plural);
    super::forward::forward(target, path, &prefix, req).await
}

/// A redirect from the target, pointed back through the proxy as upstream's proxy transport
/// does: absolute paths and URLs on the target itself get the proxy prefix; other hosts
/// and relative paths are left alone. (Emitted host-relative, so it also works behind
/// `kubectl proxy`.)
pub fn rewrite_location(location: &str, target: &Target, prefix: &str) -> Option<String> {
    let (host_part, path) = if let Some(rest) = location.strip_prefix("http://").or_else(|| location.strip_prefix("https://")) {
        match rest.find('/') {
            Some(i) => (Some(&rest[..i]), &rest[i..]),
            None => (Some(rest), "/"),
        }
    } else {
        (None, location)
    };
    if let Some(h) = host_part {
        let port_default = if location.starts_with("https://") { 443 } else { 80 };
        let same = h == kubelet::join_host_port(&target.host, target.port)
            || (target.port == port_default && h == target.host);
        if !same {
            return None;
        }
    }
    if !path.starts_with('/') {
        return None;
    }
    Some(format!("{prefix}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_split_like_upstream() {
        assert_eq!(split_scheme_name_port("web"), Some(("", "web", "")));
        assert_eq!(split_scheme_name_port("web:8080"), Some(("", "web", "8080")));
        assert_eq!(split_scheme_name_port("https:web:443"), Some(("https", "web", "443")));
        assert_eq!(split_scheme_name_port("ftp:web:21"), None);
        assert_eq!(split_scheme_name_port(":80"), None);
        assert_eq!(split_scheme_name_port("a:b:c:d"), None);
    }

    fn pod(ip: &str, ready: bool, ports: Value) -> Value {
        json!({
            "metadata": {"name": "p", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "ports": ports}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                       "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]},
        })
    }

    #[test]
    fn pod_targets_default_to_the_first_container_port() {
        let p = pod("10.0.0.5", true, json!([{"containerPort": 8080}, {"containerPort": 9090}]));
        assert_eq!(pod_target(&p, "", "").unwrap(), Target { scheme: "http".into(), host: "10.0.0.5".into(), port: 8080 });
        assert_eq!(pod_target(&p, "", "9090").unwrap().port, 9090);
        let e = pod_target(&pod("", true, json!([])), "", "").unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (400, "address not allowed"));
        assert!(pod_target(&pod("169.254.1.1", true, json!([])), "", "").is_err());
    }

    #[test]
    fn redirects_are_pointed_back_through_the_proxy() {
        let t = Target { scheme: "http".into(), host: "10.0.0.5".into(), port: 8080 };
        let p = "/api/v1/namespaces/d/pods/p/proxy";
        assert_eq!(rewrite_location("/login?x=1", &t, p).as_deref(), Some("/api/v1/namespaces/d/pods/p/proxy/login?x=1"));
        assert_eq!(rewrite_location("http://10.0.0.5:8080/a/", &t, p).as_deref(), Some("/api/v1/namespaces/d/pods/p/proxy/a/"));
        assert_eq!(rewrite_location("http://example.com/a", &t, p), None);
        assert_eq!(rewrite_location("next", &t, p), None);
    }

    #[test]
    fn target_path_keeps_trailing_slashes() {
        let u: Uri = "/api/v1/namespaces/d/pods/p:80/proxy/a/b/?x=1".parse().unwrap();
        assert_eq!(target_path(&u, "p:80"), "/a/b/");
        let u: Uri = "/api/v1/namespaces/d/services/s/proxy".parse().unwrap();
        assert_eq!(target_path(&u, "s"), "/");
        let u: Uri = "/api/v1/namespaces/d/services/s/proxy?path=x".parse().unwrap();
        assert_eq!(target_path(&u, "s"), "/x");
    }
}
