//! Turning an HTTP request line into what it asks for: which resource, namespace, name,
//! subresource and verb, plus the query parameters the REST handlers understand.

use std::collections::HashMap;

use berth_api::registry::{self, ResourceInfo};
use berth_api::StatusError;

/// The target of a resource request, e.g. `/apis/apps/v1/namespaces/default/statefulsets/web/scale`.
#[derive(Debug, Clone)]
pub struct ResourcePath {
    pub info: &'static ResourceInfo,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// The deprecated `/watch/` path prefix was used.
    pub watch_prefix: bool,
}

/// What a path names, before the verb is known.
#[derive(Debug)]
pub enum Route {
    Resource(ResourcePath),
    /// `/api`, `/apis`, `/api/v1`, `/apis/<group>`, `/apis/<group>/<version>`.
    Discovery(DiscoveryPath),
    Other,
}

#[derive(Debug)]
pub enum DiscoveryPath {
    CoreVersions,
    Groups,
    Group(String),
    GroupVersion(String, String),
}

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// Parse a request path; `None` from the resource parser means "no such resource" (404).
pub fn route(path: &str) -> Result<Route, StatusError> {
    let segs = segments(path);
    match segs.as_slice() {
        ["api"] => Ok(Route::Discovery(DiscoveryPath::CoreVersions)),
        ["apis"] => Ok(Route::Discovery(DiscoveryPath::Groups)),
        ["api", v] => Ok(Route::Discovery(DiscoveryPath::GroupVersion(String::new(), v.to_string()))),
        ["apis", g] => Ok(Route::Discovery(DiscoveryPath::Group(g.to_string()))),
        ["apis", g, v] => Ok(Route::Discovery(DiscoveryPath::GroupVersion(g.to_string(), v.to_string()))),
        ["api", v, rest @ ..] => resource_path("", v, rest).map(Route::Resource),
        ["apis", g, v, rest @ ..] => resource_path(g, v, rest).map(Route::Resource),
        _ => Ok(Route::Other),
    }
}

fn resource_path(group: &str, version: &str, rest: &[&str]) -> Result<ResourcePath, StatusError> {
    let (watch_prefix, rest) = match rest {
        ["watch", tail @ ..] => (true, tail),
        _ => (false, rest),
    };
    let find = |plural: &str| registry::lookup(group, version, plural).ok_or_else(StatusError::path_not_found);
    let (info, namespace, name, sub) = match rest {
        // namespaces/<ns>/<plural>[/<name>[/<sub>]] unless <plural> is a namespace subresource.
        ["namespaces", ns, plural, tail @ ..] if registry::lookup(group, version, plural).is_some_and(|r| r.namespaced()) => {
            let info = find(plural)?;
            match tail {
                [] => (info, Some(*ns), None, None),
                [name] => (info, Some(*ns), Some(*name), None),
                [name, sub] => (info, Some(*ns), Some(*name), Some(*sub)),
                // `…/{name}/proxy/{path…}`: the rest is the path on the target.
                [name, "proxy", ..] => (info, Some(*ns), Some(*name), Some("proxy")),
                _ => return Err(StatusError::path_not_found()),
            }
        }
        [plural] => (find(plural)?, None, None, None),
        [plural, name] => (find(plural)?, None, Some(*name), None),
        [plural, name, sub] => (find(plural)?, None, Some(*name), Some(*sub)),
        [plural, name, "proxy", ..] => (find(plural)?, None, Some(*name), Some("proxy")),
        _ => return Err(StatusError::path_not_found()),
    };
    // A cluster-scoped resource never has a namespace; a namespaced one addressed by name needs one.
    if !info.namespaced() && namespace.is_some() {
        return Err(StatusError::path_not_found());
    }
    if info.namespaced() && namespace.is_none() && name.is_some() {
        return Err(StatusError::path_not_found());
    }
    if let Some(s) = sub {
        if !info.has_subresource(s) {
            return Err(StatusError::path_not_found());
        }
    }
    Ok(ResourcePath {
        info,
        namespace: namespace.map(str::to_string),
        name: name.map(str::to_string),
        subresource: sub.map(str::to_string),
        watch_prefix,
    })
}

/// Query parameters, last value wins (as Go's `url.Values.Get` returns the first; kubectl never repeats them).
#[derive(Debug, Default, Clone)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(q: Option<&str>) -> Query {
        let mut m = HashMap::new();
        if let Some(q) = q {
            for (k, v) in form_urlencoded::parse(q.as_bytes()) {
                m.entry(k.into_owned()).or_insert_with(|| v.into_owned());
            }
        }
        Query(m)
    }
    pub fn remove(&mut self, k: &str) {
        self.0.remove(k);
    }
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|s| !s.is_empty())
    }
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true") | Some("1"))
    }
    pub fn int(&self, k: &str) -> Result<Option<i64>, StatusError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| StatusError::bad_request(format!("invalid value for {k}: {v:?}"))),
        }
    }
    pub fn dry_run(&self) -> Result<bool, StatusError> {
        match self.get("dryRun") {
            None => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(StatusError::bad_request(format!(
                "Invalid dry run value: {other:?}: supported values: \"All\""
            ))),
        }
    }
}

/// How unknown and duplicate fields in a request body are treated (`?fieldValidation=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn from_query(q: &Query) -> Result<FieldValidation, StatusError> {
        match q.get("fieldValidation") {
            None | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(StatusError::bad_request(format!(
                "fieldValidation parameter unsupported: {other:?}; supported values: \"Ignore\", \"Warn\", \"Strict\""
            ))),
        }
    }
}

/// What representation the client asked for in `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    Object,
    Table,
    PartialObjectMetadata,
}

pub fn representation(accept: Option<&str>) -> Result<Representation, StatusError> {
    let Some(accept) = accept else { return Ok(Representation::Object) };
    // Clients list alternatives in preference order; take the first one we can serve.
    for part in accept.split(',') {
        let part = part.trim();
        let mut params = part.split(';').map(str::trim);
        let media = params.next().unwrap_or("");
        let mut as_ = None;
        let mut group = None;
        for p in params {
            if let Some(v) = p.strip_prefix("as=") {
                as_ = Some(v);
            } else if let Some(v) = p.strip_prefix("g=") {
                group = Some(v);
            }
        }
        if !(media == "application/json" || media == "*/*" || media == "application/*" || media == "application/yaml") {
            continue;
        }
        match (as_, group) {
            (None, _) => return Ok(Representation::Object),
            (Some("Table"), Some("meta.k8s.io")) => return Ok(Representation::Table),
            (Some("PartialObjectMetadata") | Some("PartialObjectMetadataList"), Some("meta.k8s.io")) => {
                return Ok(Representation::PartialObjectMetadata)
            }
            _ => continue,
        }
    }
    if accept.trim().is_empty() {
        return Ok(Representation::Object);
    }
    Err(StatusError::not_acceptable())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourcePath {
        match route(path).unwrap() {
            Route::Resource(r) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn parses_resource_paths() {
        let r = res("/apis/apps/v1/namespaces/default/statefulsets/web/scale");
        assert_eq!(r.info.plural, "statefulsets");
        assert_eq!(r.namespace.as_deref(), Some("default"));
        assert_eq!(r.name.as_deref(), Some("web"));
        assert_eq!(r.subresource.as_deref(), Some("scale"));
        let r = res("/api/v1/pods");
        assert!(r.namespace.is_none() && r.name.is_none());
        let r = res("/api/v1/namespaces/kube-system");
        assert_eq!(r.info.plural, "namespaces");
        assert_eq!(r.name.as_deref(), Some("kube-system"));
        let r = res("/api/v1/namespaces/x/status");
        assert_eq!(r.subresource.as_deref(), Some("status"));
        let r = res("/api/v1/watch/namespaces/default/pods");
        assert!(r.watch_prefix);
        assert!(route("/api/v1/namespaces/default/persistentvolumes/pv-1").is_err());
        assert!(route("/api/v1/pods/web-0").is_err());
        assert!(route("/api/v1/namespaces/default/pods/web-0/nonsense").is_err());
        let r = res("/api/v1/namespaces/default/pods/http:web-0:8080/proxy/a/b/");
        assert_eq!((r.name.as_deref(), r.subresource.as_deref()), (Some("http:web-0:8080"), Some("proxy")));
        assert!(route("/api/v1/namespaces/default/pods/web-0/status/x").is_err());
        assert!(route("/api/v1/frobs").is_err());
    }

    #[test]
    fn picks_table_from_kubectl_accept() {
        let a = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(representation(Some(a)).unwrap(), Representation::Table);
        assert_eq!(representation(Some("application/json")).unwrap(), Representation::Object);
        assert_eq!(representation(None).unwrap(), Representation::Object);
        assert!(representation(Some("application/vnd.kubernetes.protobuf")).is_err());
    }
}
