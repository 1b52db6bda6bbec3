//! Legacy discovery documents (`/api`, `/apis`, `/api/v1`, `/apis/<group>[/<version>]`) and
//! `/version`, generated from the resource registry. kubectl asks for aggregated discovery
//! first and falls back to these.

use berth_api::registry::REGISTRY;
use berth_api::StatusError;
use serde_json::{json, Value};

/// The Kubernetes minor version whose API berth implements; kubectl's version dispatcher
/// picks the matching kubectl from it.
pub const KUBE_MAJOR: &str = "1";
pub const KUBE_MINOR: &str = "33";

pub fn version() -> Value {
    json!({
        "major": KUBE_MAJOR,
        "minor": KUBE_MINOR,
        "gitVersion": format!("v{KUBE_MAJOR}.{KUBE_MINOR}.0-berth.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else if cfg!(target_arch = "aarch64") { "arm64" } else { std::env::consts::ARCH }),
    })
}

pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

/// The registry's group versions plus those of the create-only access reviews.
fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out = berth_api::registry::group_versions();
    for (g, ..) in crate::rbac::reviews::RESOURCES {
        if !out.contains(&(g, "v1")) {
            out.push((g, "v1"));
        }
    }
    out
}

fn group_entry(group: &str) -> Value {
    let versions: Vec<Value> = group_versions()
        .into_iter()
        .filter(|(g, _)| *g == group)
        .map(|(g, v)| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": versions.clone(), "preferredVersion": versions[0].clone()})
}

pub fn groups() -> Value {
    let mut names: Vec<&str> = Vec::new();
    for (g, _) in group_versions() {
        if !g.is_empty() && !names.contains(&g) {
            names.push(g);
        }
    }
    json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": names.iter().map(|g| group_entry(g)).collect::<Vec<_>>(),
    })
}

pub fn group(name: &str) -> Result<Value, StatusError> {
    if name.is_empty() || !group_versions().iter().any(|(g, _)| *g == name) {
        return Err(StatusError::path_not_found());
    }
    let mut g = group_entry(name);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    Ok(g)
}

/// The options kind upstream names for a resource's proxy subresource.
fn proxy_options_kind(kind: &str) -> &'static str {
    match kind {
        "Pod" => "PodProxyOptions",
        "Service" => "ServiceProxyOptions",
        _ => "NodeProxyOptions",
    }
}

pub fn resource_list(group: &str, version: &str) -> Result<Value, StatusError> {
    let mut resources = Vec::new();
    for r in REGISTRY.iter().filter(|r| r.group == group && r.version == version) {
        let mut entry = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced(),
            "kind": r.kind,
            "verbs": r.verbs(),
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        resources.push(entry);
        for sub in r.subresources {
            let (kind, sub_group, sub_version, verbs): (&str, &str, &str, &[&str]) = match *sub {
                "status" => (r.kind, "", "", &["get", "patch", "update"]),
                "scale" => ("Scale", "autoscaling", "v1", &["get", "patch", "update"]),
                "binding" => ("Binding", "", "", &["create"]),
                "token" => ("TokenRequest", "authentication.k8s.io", "v1", &["create"]),
                "eviction" => ("Eviction", "policy", "v1", &["create"]),
                "finalize" => (r.kind, "", "", &["update"]),
                "log" => (r.kind, "", "", &["get"]),
                "exec" => ("PodExecOptions", "", "", &["create", "get"]),
                "proxy" => (proxy_options_kind(r.kind), "", "", &["create", "delete", "get", "patch", "update"]),
                _ => continue,
            };
            let mut e = json!({
                "name": format!("{}/{sub}", r.plural),
                "singularName": "",
                "namespaced": r.namespaced(),
                "kind": kind,
                "verbs": verbs,
            });
            if !sub_group.is_empty() {
                e["group"] = json!(sub_group);
                e["version"] = json!(sub_version);
            }
            resources.push(e);
        }
    }
    if version == "v1" {
        for (_, plural, kind, _, namespaced) in crate::rbac::reviews::RESOURCES.iter().filter(|r| r.0 == group) {
            resources.push(json!({"name": plural, "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": ["create"]}));
        }
    }
    if resources.is_empty() {
        return Err(StatusError::path_not_found());
    }
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    Ok(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statefulsets_are_discoverable_with_short_name_and_scale() {
        let l = resource_list("apps", "v1").unwrap();
        let res = l["resources"].as_array().unwrap();
        let sts = res.iter().find(|r| r["name"] == "statefulsets").unwrap();
        assert_eq!(sts["shortNames"], json!(["sts"]));
        assert_eq!(sts["categories"], json!(["all"]));
        let scale = res.iter().find(|r| r["name"] == "statefulsets/scale").unwrap();
        assert_eq!(scale["kind"], "Scale");
        assert_eq!(scale["group"], "autoscaling");
        assert!(resource_list("apps", "v2").is_err());
        let core = resource_list("", "v1").unwrap();
        let res = core["resources"].as_array().unwrap();
        let find = |n: &str| res.iter().find(|r| r["name"] == n).unwrap_or_else(|| panic!("{n}")).clone();
        assert_eq!(find("pods/exec")["kind"], "PodExecOptions");
        assert_eq!(find("pods/exec")["verbs"], json!(["create", "get"]));
        assert_eq!(find("pods/log")["kind"], "Pod");
        assert_eq!(find("services/proxy")["kind"], "ServiceProxyOptions");
    }

    #[test]
    fn groups_list_every_served_group() {
        let g = groups();
        let names: Vec<&str> = g["groups"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
        for want in ["apps", "policy", "storage.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io"] {
            assert!(names.contains(&want), "{want}");
        }
        assert_eq!(version()["minor"], "33");
    }

    #[test]
    fn pod_disruption_budgets_are_discoverable_with_status() {
        let l = resource_list("policy", "v1").unwrap();
        let res = l["resources"].as_array().unwrap();
        let pdb = res.iter().find(|r| r["name"] == "poddisruptionbudgets").unwrap();
        assert_eq!((pdb["shortNames"].clone(), pdb["namespaced"].clone(), pdb["kind"].clone()), (json!(["pdb"]), json!(true), json!("PodDisruptionBudget")));
        assert!(res.iter().any(|r| r["name"] == "poddisruptionbudgets/status"));
    }
}
