//! upstream's Node authorizer (`plugin/pkg/auth/authorizer/node`, with v1.33's default
//! `AuthorizeNodeWithSelectors`), as a pure decision: a node may read its own Node, the pods
//! bound to it (by `spec.nodeName` field selector), and the secrets, config maps, claims and
//! volumes those pods use; write its own Node, Lease and pod statuses (the NodeRestriction
//! admission step then checks the objects); and whatever the static `system:node` rules allow.
//! Relationship checks ("is this secret used by a pod on this node?") are returned as
//! [`NodeRule::IfRelated`] for the caller to resolve against the store.

use super::Attributes;

/// What a related-object check starts from (upstream's graph vertex types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vertex {
    Pod,
    Secret,
    ConfigMap,
    PersistentVolumeClaim,
    PersistentVolume,
    ServiceAccount,
}

#[derive(Debug, PartialEq, Eq)]
pub enum NodeRule {
    Allow,
    /// No opinion, with upstream's reason (empty for none).
    NoOpinion(String),
    /// Allowed if the named object is related to the node.
    IfRelated(Vertex),
}

fn no(reason: &str) -> NodeRule {
    NodeRule::NoOpinion(reason.to_string())
}

/// The reason when no relationship is found.
pub fn unrelated_reason(node: &str) -> String {
    format!("no relationship found between node '{node}' and this object")
}

/// upstream's `NodeRules()` (the `system:node` role) for the resources the Node authorizer does
/// not subdivide: (group, resource[/subresource], verbs).
const STATIC_RULES: &[(&str, &str, &[&str])] = &[
    ("authentication.k8s.io", "tokenreviews", &["create"]),
    ("authorization.k8s.io", "subjectaccessreviews", &["create"]),
    ("authorization.k8s.io", "localsubjectaccessreviews", &["create"]),
    ("", "services", &["get", "list", "watch"]),
    ("", "events", &["create", "update", "patch"]),
    ("events.k8s.io", "events", &["create", "update", "patch"]),
    ("", "endpoints", &["get"]),
    ("certificates.k8s.io", "certificatesigningrequests", &["create", "get", "list", "watch"]),
    ("storage.k8s.io", "volumeattachments", &["get"]),
    ("storage.k8s.io", "csidrivers", &["get", "list", "watch"]),
    ("node.k8s.io", "runtimeclasses", &["get", "list", "watch"]),
];

fn static_rules_allow(a: &Attributes) -> bool {
    let resource = if a.subresource.is_empty() { a.resource.clone() } else { format!("{}/{}", a.resource, a.subresource) };
    STATIC_RULES.iter().any(|(g, r, verbs)| *g == a.api_group && *r == resource && verbs.contains(&a.verb.as_str()))
}

/// Decide a node's request (upstream `NodeAuthorizer.Authorize` after the identity check).
pub fn decide(node: &str, a: &Attributes) -> NodeRule {
    if node.is_empty() {
        return NodeRule::NoOpinion(format!("unknown node for user {:?}", a.user.name));
    }
    if a.resource_request {
        match (a.api_group.as_str(), a.resource.as_str()) {
            ("", "secrets") => return read_namespaced(a, Vertex::Secret),
            ("", "configmaps") => return read_namespaced(a, Vertex::ConfigMap),
            ("", "persistentvolumeclaims") if a.subresource == "status" => {
                return match a.verb.as_str() {
                    "update" | "patch" => related(a, Vertex::PersistentVolumeClaim),
                    _ => no("can only get/update/patch this type"),
                };
            }
            ("", "persistentvolumeclaims") => return get_related(a, Vertex::PersistentVolumeClaim),
            ("", "persistentvolumes") => return get_related(a, Vertex::PersistentVolume),
            ("", "serviceaccounts") => {
                if a.verb != "create" || a.name.is_empty() {
                    return no("can only create tokens for individual service accounts");
                }
                if a.subresource != "token" {
                    return no("can only create token subresource of serviceaccount");
                }
                return related(a, Vertex::ServiceAccount);
            }
            ("coordination.k8s.io", "leases") => return own_named(node, a, "a node lease", "node lease"),
            ("storage.k8s.io", "csinodes") => {
                if !a.subresource.is_empty() && matches!(a.verb.as_str(), "get" | "create" | "update" | "patch" | "delete") {
                    return no("cannot authorize CSINode subresources");
                }
                return own_named(node, a, "a CSINode", "CSINode");
            }
            ("", "nodes") => return nodes(node, a),
            ("", "pods") => return pods(node, a),
            _ => {}
        }
    }
    if a.resource_request && static_rules_allow(a) {
        NodeRule::Allow
    } else {
        no("")
    }
}

fn related(a: &Attributes, v: Vertex) -> NodeRule {
    if a.name.is_empty() {
        return no("No Object name found");
    }
    NodeRule::IfRelated(v)
}

fn get_related(a: &Attributes, v: Vertex) -> NodeRule {
    if a.verb != "get" {
        return no("can only get individual resources of this type");
    }
    if !a.subresource.is_empty() {
        return no("cannot get subresource");
    }
    related(a, v)
}

fn read_namespaced(a: &Attributes, v: Vertex) -> NodeRule {
    if !matches!(a.verb.as_str(), "get" | "list" | "watch") {
        return no("can only read resources of this type");
    }
    if !a.subresource.is_empty() {
        return no("cannot read subresource");
    }
    if a.namespace.is_empty() {
        return no("can only read namespaced object of this type");
    }
    related(a, v)
}

/// Leases and CSINodes: get/create/update/patch/delete of the object named after the node.
fn own_named(node: &str, a: &Attributes, what: &str, short: &str) -> NodeRule {
    if !matches!(a.verb.as_str(), "get" | "create" | "update" | "patch" | "delete") {
        return NodeRule::NoOpinion(format!("can only get, create, update, patch, or delete {what}"));
    }
    if short == "node lease" && a.namespace != "kube-node-lease" {
        return no("can only access leases in the \"kube-node-lease\" system namespace");
    }
    // Create carries the name in the body: the NodeRestriction admission step checks it.
    if a.verb != "create" && a.name != node {
        return NodeRule::NoOpinion(format!("can only access {short} with the same name as the requesting node"));
    }
    NodeRule::Allow
}

fn nodes(node: &str, a: &Attributes) -> NodeRule {
    match (a.subresource.as_str(), a.verb.as_str()) {
        // Which node is written is checked by NodeRestriction.
        ("", "create" | "update" | "patch") | ("status", "update" | "patch") => NodeRule::Allow,
        ("", "get" | "list" | "watch") => {
            if a.name == node {
                NodeRule::Allow
            } else if a.name.is_empty() {
                NodeRule::NoOpinion(format!("node '{node}' cannot read all nodes, only its own Node object"))
            } else {
                NodeRule::NoOpinion(format!("node '{node}' cannot read '{}', only its own Node object", a.name))
            }
        }
        _ => no(""),
    }
}

fn pods(node: &str, a: &Attributes) -> NodeRule {
    match (a.subresource.as_str(), a.verb.as_str()) {
        ("", "get") => get_related(a, Vertex::Pod),
        ("", "list" | "watch") => {
            if a.field_selector_requires("spec.nodeName", node) {
                NodeRule::Allow
            } else if !a.name.is_empty() {
                related(a, Vertex::Pod)
            } else {
                no("can only list/watch pods with spec.nodeName field selector")
            }
        }
        // Mirror pods, and deleting pods bound to the node: NodeRestriction checks which.
        ("", "create" | "delete") | ("status", "update" | "patch") | ("eviction", "create") => NodeRule::Allow,
        _ => no(""),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::authn::{User, NODES_GROUP};
    use crate::authz::attributes::from_request;

    fn decide_for(method: &str, path: &str, query: Option<&str>) -> NodeRule {
        let u = User { name: "system:node:n1".into(), uid: String::new(), groups: vec![NODES_GROUP.into()] };
        decide("n1", &from_request(Arc::new(u), method, path, query))
    }

    #[test]
    fn node_rules() {
        use NodeRule::*;
        let unrelated = |r: &str| NoOpinion(r.to_string());
        let cases: Vec<(&str, &str, Option<&str>, NodeRule)> = vec![
            ("GET", "/api/v1/nodes/n1", None, Allow),
            ("GET", "/api/v1/nodes", Some("fieldSelector=metadata.name%3Dn1"), Allow),
            ("GET", "/api/v1/nodes", None, unrelated("node 'n1' cannot read all nodes, only its own Node object")),
            ("GET", "/api/v1/nodes/n2", None, unrelated("node 'n1' cannot read 'n2', only its own Node object")),
            ("PATCH", "/api/v1/nodes/n2", None, Allow), // NodeRestriction refuses it
            ("PUT", "/api/v1/nodes/n1/status", None, Allow),
            ("DELETE", "/api/v1/nodes/n1", None, unrelated("")),
            ("GET", "/api/v1/pods", Some("fieldSelector=spec.nodeName%3Dn1"), Allow),
            ("GET", "/api/v1/pods", Some("watch=1&fieldSelector=spec.nodeName%3Dn1"), Allow),
            ("GET", "/api/v1/pods", Some("fieldSelector=spec.nodeName%3Dn2"), unrelated("can only list/watch pods with spec.nodeName field selector")),
            ("GET", "/api/v1/namespaces/default/pods", None, unrelated("can only list/watch pods with spec.nodeName field selector")),
            ("GET", "/api/v1/namespaces/default/pods/p", None, IfRelated(Vertex::Pod)),
            ("PUT", "/api/v1/namespaces/default/pods/p", None, unrelated("")),
            ("PATCH", "/api/v1/namespaces/default/pods/p/status", None, Allow),
            ("POST", "/api/v1/namespaces/default/pods", None, Allow), // NodeRestriction: mirror pods only
            ("DELETE", "/api/v1/namespaces/default/pods/p", None, Allow),
            ("GET", "/api/v1/namespaces/default/pods/p/log", None, unrelated("")),
            ("GET", "/api/v1/namespaces/default/secrets/s", None, IfRelated(Vertex::Secret)),
            ("GET", "/api/v1/namespaces/default/secrets", None, unrelated("No Object name found")),
            ("GET", "/api/v1/secrets", Some("fieldSelector=metadata.name%3Ds"), unrelated("can only read namespaced object of this type")),
            ("PUT", "/api/v1/namespaces/default/secrets/s", None, unrelated("can only read resources of this type")),
            ("GET", "/api/v1/namespaces/default/configmaps/c", None, IfRelated(Vertex::ConfigMap)),
            ("GET", "/api/v1/namespaces/default/persistentvolumeclaims/c", None, IfRelated(Vertex::PersistentVolumeClaim)),
            ("GET", "/api/v1/namespaces/default/persistentvolumeclaims", None, unrelated("can only get individual resources of this type")),
            ("PATCH", "/api/v1/namespaces/default/persistentvolumeclaims/c/status", None, IfRelated(Vertex::PersistentVolumeClaim)),
            ("GET", "/api/v1/persistentvolumes/pv", None, IfRelated(Vertex::PersistentVolume)),
            ("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1", None, Allow),
            ("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", None, Allow),
            ("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n2", None, unrelated("can only access node lease with the same name as the requesting node")),
            ("GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/n1", None, unrelated("can only access leases in the \"kube-node-lease\" system namespace")),
            ("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", None, unrelated("can only get, create, update, patch, or delete a node lease")),
            ("POST", "/api/v1/namespaces/default/events", None, Allow),
            ("PATCH", "/apis/events.k8s.io/v1/namespaces/default/events/e", None, Allow),
            ("GET", "/api/v1/services", None, Allow),
            ("GET", "/api/v1/namespaces/default/endpoints/kubernetes", None, Allow),
            ("GET", "/api/v1/namespaces", None, unrelated("")),
            ("GET", "/apis/apps/v1/statefulsets", None, unrelated("")),
            ("GET", "/metrics", None, unrelated("")),
        ];
        for (m, p, q, want) in cases {
            assert_eq!(decide_for(m, p, q), want, "{m} {p} {q:?}");
        }
    }
}
