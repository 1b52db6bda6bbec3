//! A request's authorization attributes, derived from its method, path and query purely
//! syntactically, as upstream's `RequestInfoFactory` does (so authorization happens before,
//! and independently of, routing: an unknown resource is authorized, then 404s).

use std::sync::Arc;

use crate::authn::User;

/// Upstream `authorizer.Attributes` (the parts berth uses).
#[derive(Debug, Clone)]
pub struct Attributes {
    pub user: Arc<User>,
    pub verb: String,
    pub resource_request: bool,
    /// The request path (for non-resource requests).
    pub path: String,
    pub api_group: String,
    pub api_version: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    /// The `field=value` / `field==value` terms of `?fieldSelector=` (list and watch).
    pub field_equals: Vec<(String, String)>,
}

impl Attributes {
    /// Whether the field selector requires `field` to be exactly `value`.
    pub fn field_selector_requires(&self, field: &str, value: &str) -> bool {
        self.field_equals.iter().any(|(f, v)| f == field && v == value)
    }
}

/// Go's `strconv.ParseBool` truth values, as the `watch` parameter is decoded.
fn parse_bool(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

/// Exact-match terms of a field selector (`a=b,c==d`; `!=` terms are not exact matches).
fn exact_terms(selector: &str) -> Vec<(String, String)> {
    selector
        .split(',')
        .filter_map(|term| {
            if term.contains("!=") {
                return None;
            }
            let (f, v) = term.split_once("==").or_else(|| term.split_once('='))?;
            Some((f.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// Upstream `path.IsValidPathSegmentName`.
fn valid_path_segment(name: &str) -> bool {
    name != "." && name != ".." && !name.contains('/') && !name.contains('%')
}

/// Derive the attributes of `method path?query` for `user`.
pub fn from_request(user: Arc<User>, method: &str, path: &str, query: Option<&str>) -> Attributes {
    let mut a = Attributes {
        user,
        verb: method.to_ascii_lowercase(),
        resource_request: false,
        path: path.to_string(),
        api_group: String::new(),
        api_version: String::new(),
        resource: String::new(),
        subresource: String::new(),
        namespace: String::new(),
        name: String::new(),
        field_equals: Vec::new(),
    };
    let parts: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    if parts.len() < 3 {
        return a;
    }
    let mut rest: &[&str] = match parts[0] {
        "api" => &parts[1..],
        "apis" if parts.len() >= 4 => {
            a.api_group = parts[1].to_string();
            &parts[2..]
        }
        _ => {
            a.api_group.clear();
            return a;
        }
    };
    a.resource_request = true;
    a.api_version = rest[0].to_string();
    rest = &rest[1..];
    if matches!(rest[0], "watch" | "proxy") {
        if rest.len() < 2 {
            // Upstream fails the request info here; nothing is authorized as a resource.
            a.resource_request = false;
            return a;
        }
        a.verb = rest[0].to_string();
        rest = &rest[1..];
    } else {
        a.verb = match method {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        }
        .to_string();
    }
    if rest[0] == "namespaces" && rest.len() > 1 {
        a.namespace = rest[1].to_string();
        // `namespaces/<ns>/status|finalize` are the namespace's own subresources.
        if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
            rest = &rest[2..];
        }
    }
    if rest.len() >= 3 && a.verb != "proxy" {
        a.subresource = rest[2].to_string();
    }
    if rest.len() >= 2 {
        a.name = rest[1].to_string();
    }
    a.resource = rest[0].to_string();

    let q: Vec<(String, String)> = query
        .map(|q| form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default();
    let param = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    if let Some(sel) = param("fieldSelector") {
        a.field_equals = exact_terms(sel);
    }
    if a.name.is_empty() && a.verb == "get" {
        a.verb = if param("watch").is_some_and(parse_bool) { "watch" } else { "list" }.to_string();
        // A list or watch of one object by `metadata.name` is authorized as that object.
        if let Some((_, n)) = a.field_equals.iter().find(|(f, _)| f == "metadata.name") {
            if valid_path_segment(n) {
                a.name = n.clone();
            }
        }
    }
    if a.name.is_empty() && a.verb == "delete" {
        a.verb = "deletecollection".into();
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: &str, path: &str, query: Option<&str>) -> Attributes {
        from_request(Arc::new(User::admin()), method, path, query)
    }

    #[test]
    fn derives_upstream_request_info() {
        // (method, path, query) → (verb, group, resource, subresource, namespace, name)
        type Want<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str, &'a str);
        let cases: &[(&str, &str, Option<&str>, Want)] = &[
            ("GET", "/api/v1/namespaces/default/pods", None, ("list", "", "pods", "", "default", "")),
            ("GET", "/api/v1/pods", Some("watch=true&fieldSelector=spec.nodeName%3Dn1"), ("watch", "", "pods", "", "", "")),
            ("GET", "/api/v1/watch/namespaces/default/pods", None, ("watch", "", "pods", "", "default", "")),
            ("GET", "/api/v1/nodes", Some("fieldSelector=metadata.name%3Dn1"), ("list", "", "nodes", "", "", "n1")),
            ("GET", "/api/v1/namespaces/default/pods/web-0/log", None, ("get", "", "pods", "log", "default", "web-0")),
            ("PATCH", "/api/v1/nodes/n2", None, ("patch", "", "nodes", "", "", "n2")),
            ("PUT", "/api/v1/nodes/n1/status", None, ("update", "", "nodes", "status", "", "n1")),
            ("POST", "/api/v1/namespaces/default/pods", None, ("create", "", "pods", "", "default", "")),
            ("DELETE", "/api/v1/namespaces/default/pods", None, ("deletecollection", "", "pods", "", "default", "")),
            ("DELETE", "/api/v1/namespaces/default/pods/p", None, ("delete", "", "pods", "", "default", "p")),
            ("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1", None, ("update", "coordination.k8s.io", "leases", "", "kube-node-lease", "n1")),
            ("GET", "/api/v1/namespaces/kube-system", None, ("get", "", "namespaces", "", "kube-system", "kube-system")),
            ("PUT", "/api/v1/namespaces/x/finalize", None, ("update", "", "namespaces", "finalize", "x", "x")),
            ("GET", "/api/v1/namespaces/d/pods/p/proxy/a/b", None, ("get", "", "pods", "proxy", "d", "p")),
            ("GET", "/api/v1/proxy/namespaces/d/pods/p/a", None, ("proxy", "", "pods", "", "d", "p")),
        ];
        for (m, p, q, want) in cases {
            let a = attrs(m, p, *q);
            assert!(a.resource_request, "{m} {p}");
            let got = (a.verb.as_str(), a.api_group.as_str(), a.resource.as_str(), a.subresource.as_str(), a.namespace.as_str(), a.name.as_str());
            assert_eq!(got, *want, "{m} {p} {q:?}");
        }
    }

    #[test]
    fn discovery_and_health_are_non_resource_requests() {
        for p in ["/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1", "/version", "/openapi/v3/apis/apps/v1", "/metrics"] {
            let a = attrs("GET", p, None);
            assert!(!a.resource_request, "{p}");
            assert_eq!(a.verb, "get");
        }
    }

    #[test]
    fn field_selector_terms() {
        let a = attrs("GET", "/api/v1/pods", Some("fieldSelector=spec.nodeName%3D%3Dn1%2Cstatus.phase%21%3DFailed"));
        assert!(a.field_selector_requires("spec.nodeName", "n1"));
        assert!(!a.field_selector_requires("status.phase", "Failed"));
    }
}
