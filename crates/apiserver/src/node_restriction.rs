//! upstream's NodeRestriction admission plugin: what the Node authorizer lets a node write, this
//! step narrows to its own objects — its Node (and not that Node's taints or restricted
//! labels), its Lease, the pods bound to it (status, delete), mirror pods only on create.
//! The rules are pure functions over the request's objects; the hooks at the bottom find the
//! request's user and the stored objects they need.

use berth_api::{ResourceInfo, StatusError};
use serde_json::Value;

use crate::authn::request_user;

/// The admission operation (upstream `admission.Operation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    Update,
    Delete,
}

impl Op {
    fn upstream(self) -> &'static str {
        match self {
            Op::Create => "CREATE",
            Op::Update => "UPDATE",
            Op::Delete => "DELETE",
        }
    }
}

const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn labels(v: &Value) -> serde_json::Map<String, Value> {
    v.pointer("/metadata/labels").and_then(Value::as_object).cloned().unwrap_or_default()
}

/// upstream `kubeletapis.IsKubeletLabel`: the kubernetes.io labels a kubelet may set itself.
fn is_kubelet_label(key: &str) -> bool {
    const LABELS: &[&str] = &[
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/arch",
        "kubernetes.io/os",
        "kubernetes.io/arch",
    ];
    if LABELS.contains(&key) {
        return true;
    }
    let ns = key.split_once('/').map(|(n, _)| n).unwrap_or("");
    ["kubelet.kubernetes.io", "node.kubernetes.io"].iter().any(|k| ns == *k || ns.ends_with(&format!(".{k}")))
}

/// The modified label keys a node may not touch, sorted (upstream `getForbiddenLabels`).
fn forbidden_labels(new: &Value, old: Option<&Value>) -> Vec<String> {
    let (a, b) = (labels(new), old.map(labels).unwrap_or_default());
    let mut modified: Vec<&String> = a.keys().filter(|k| a.get(*k) != b.get(*k)).chain(b.keys().filter(|k| !a.contains_key(*k))).collect();
    modified.sort();
    modified.dedup();
    let in_ns = |ns: &str, base: &str| ns == base || ns.ends_with(&format!(".{base}"));
    modified
        .into_iter()
        .filter(|k| {
            let ns = k.split_once('/').map(|(n, _)| n).unwrap_or("");
            let restricted = in_ns(ns, "node-restriction.kubernetes.io");
            let k8s = in_ns(ns, "kubernetes.io") || in_ns(ns, "k8s.io");
            restricted || (k8s && !is_kubelet_label(k))
        })
        .cloned()
        .collect()
}

/// Check a node's write. `sub` is the subresource; `new` the object as sent (after a patch is
/// applied, before the update strategy), `old` the stored one. `Err` is the reason to refuse.
pub fn admit(node: &str, info: &ResourceInfo, sub: &str, op: Op, new: Option<&Value>, old: Option<&Value>) -> Result<(), String> {
    match (info.group, info.plural) {
        ("", "pods") => match sub {
            "" => admit_pod(node, op, new, old),
            "status" => admit_pod_status(node, op, new, old),
            "eviction" => match old {
                Some(p) if s(p, "/spec/nodeName") != node => Err(format!("node {node} can only evict pods with spec.nodeName set to itself")),
                _ => Ok(()),
            },
            other => Err(format!("unexpected pod subresource {other:?}, only 'status' and 'eviction' are allowed")),
        },
        ("", "nodes") => admit_node(node, op, new, old),
        ("", "persistentvolumeclaims") if sub != "status" => Err("may only update PVC status".into()),
        ("", "persistentvolumeclaims") => admit_pvc_status(node, op, new, old),
        ("coordination.k8s.io", "leases") => {
            let lease = if op == Op::Create { new } else { old };
            let ns = lease.map(|l| s(l, "/metadata/namespace")).unwrap_or("");
            if ns != "kube-node-lease" {
                return Err("can only access leases in the \"kube-node-lease\" system namespace".into());
            }
            if lease.map(|l| s(l, "/metadata/name")) != Some(node) {
                return Err("can only access node lease with the same name as the requesting node".into());
            }
            Ok(())
        }
        ("storage.k8s.io", "csinodes") => {
            let obj = if op == Op::Create { new } else { old };
            if obj.map(|o| s(o, "/metadata/name")) != Some(node) {
                return Err("can only access CSINode with the same name as the requesting node".into());
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn admit_pod(node: &str, op: Op, new: Option<&Value>, old: Option<&Value>) -> Result<(), String> {
    match op {
        Op::Create => {
            let pod = new.ok_or("unexpected type <nil>")?;
            if pod.pointer(&format!("/metadata/annotations/{}", MIRROR_ANNOTATION.replace('/', "~1"))).is_none() {
                return Err(format!("pod does not have {MIRROR_ANNOTATION:?} annotation, node {node:?} can only create mirror pods"));
            }
            if s(pod, "/spec/nodeName") != node {
                return Err(format!("node {node:?} can only create pods with spec.nodeName set to itself"));
            }
            let owners = pod.pointer("/metadata/ownerReferences").and_then(Value::as_array).cloned().unwrap_or_default();
            match owners.as_slice() {
                [] => return Err(format!("node {node:?} can only create pods with an owner reference set to itself")),
                [o] => {
                    if s(o, "/apiVersion") != "v1" || s(o, "/kind") != "Node" || s(o, "/name") != node {
                        return Err(format!("node {node:?} can only create pods with an owner reference set to itself"));
                    }
                    if o.get("controller").and_then(Value::as_bool) != Some(true) {
                        return Err(format!("node {node:?} can only create pods with a controller owner reference set to itself"));
                    }
                    if o.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true) {
                        return Err(format!("node {node:?} must not set blockOwnerDeletion on an owner reference"));
                    }
                }
                _ => return Err(format!("node {node:?} can only create pods with a single owner reference set to itself")),
            }
            let refs = crate::authz::graph::pod_refs(pod);
            if refs.service_account.is_some() {
                return Err(format!("node {node:?} can not create pods that reference a service account"));
            }
            if !refs.secrets.is_empty() {
                return Err(format!("node {node:?} can not create pods that reference secrets"));
            }
            if !refs.configmaps.is_empty() {
                return Err(format!("node {node:?} can not create pods that reference configmaps"));
            }
            let has_claim = pod.pointer("/spec/volumes").and_then(Value::as_array).into_iter().flatten().any(|v| v.get("persistentVolumeClaim").is_some());
            if has_claim {
                return Err(format!("node {node:?} can not create pods that reference persistentvolumeclaims"));
            }
            Ok(())
        }
        Op::Delete => match old {
            Some(p) if s(p, "/spec/nodeName") != node => Err(format!("node {node:?} can only delete pods with spec.nodeName set to itself")),
            _ => Ok(()),
        },
        Op::Update => Err(format!("unexpected operation {:?}, node {node:?} can only create and delete mirror pods", op.upstream())),
    }
}

fn admit_pod_status(node: &str, op: Op, new: Option<&Value>, old: Option<&Value>) -> Result<(), String> {
    if op != Op::Update {
        return Err(format!("unexpected operation {:?}", op.upstream()));
    }
    let (Some(new), Some(old)) = (new, old) else { return Err("unexpected type <nil>".into()) };
    if s(old, "/spec/nodeName") != node {
        return Err(format!("node {node:?} can only update pod status for pods with spec.nodeName set to itself"));
    }
    if labels(new) != labels(old) {
        return Err(format!("node {node:?} cannot update labels through pod status"));
    }
    let claims = |p: &Value| p.pointer("/status/resourceClaimStatuses").cloned().filter(|v| !v.is_null());
    if claims(new) != claims(old) {
        return Err(format!("node {node:?} cannot update resource claim statues"));
    }
    Ok(())
}

fn admit_node(node: &str, op: Op, new: Option<&Value>, old: Option<&Value>) -> Result<(), String> {
    let requested = match (op, new, old) {
        (Op::Create, Some(n), _) => s(n, "/metadata/name"),
        (_, _, Some(o)) => s(o, "/metadata/name"),
        (_, Some(n), None) => s(n, "/metadata/name"),
        _ => "",
    };
    if requested != node {
        return Err(format!("node {node:?} is not allowed to modify node {requested:?}"));
    }
    let Some(new) = new else { return Ok(()) };
    let config_source = |v: &Value| v.pointer("/spec/configSource").cloned().filter(|c| !c.is_null());
    if op == Op::Create {
        if config_source(new).is_some() {
            return Err(format!("node {node:?} is not allowed to create pods with a non-nil configSource"));
        }
        let bad = forbidden_labels(new, None);
        if !bad.is_empty() {
            return Err(format!("node {node:?} is not allowed to set the following labels: {}", bad.join(", ")));
        }
    }
    if let (Op::Update, Some(old)) = (op, old) {
        if config_source(new).is_some() && config_source(new) != config_source(old) {
            return Err(format!("node {node:?} is not allowed to update configSource to a new non-nil configSource"));
        }
        let taints = |v: &Value| v.pointer("/spec/taints").cloned().filter(|t| !t.is_null() && t.as_array().is_none_or(|a| !a.is_empty()));
        if taints(new) != taints(old) {
            return Err(format!("node {node:?} is not allowed to modify taints"));
        }
        let bad = forbidden_labels(new, Some(old));
        if !bad.is_empty() {
            return Err(format!("is not allowed to modify labels: {}", bad.join(", ")));
        }
    }
    Ok(())
}

fn admit_pvc_status(node: &str, op: Op, new: Option<&Value>, old: Option<&Value>) -> Result<(), String> {
    if op != Op::Update {
        return Err(format!("unexpected operation {:?}", op.upstream()));
    }
    let (Some(new), Some(old)) = (new, old) else { return Err("unexpected type <nil>".into()) };
    // Everything but the status fields a kubelet reports on resize must stay as stored.
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            m.remove("managedFields");
        }
        if let Some(st) = v.get_mut("status").and_then(Value::as_object_mut) {
            for f in ["capacity", "conditions", "allocatedResourceStatuses", "allocatedResources"] {
                st.remove(f);
            }
        }
        v
    };
    let (a, b) = (strip(old), strip(new));
    if a != b {
        let changed: Vec<&str> = ["metadata", "spec", "status"].into_iter().filter(|k| a.get(*k) != b.get(*k)).collect();
        return Err(format!("node {node:?} is not allowed to update fields other than status.capacity and status.conditions: {}", changed.join(", ")));
    }
    Ok(())
}

/// The hook the write handlers call: refuse a node's write that upstream's NodeRestriction
/// refuses. No-op for non-node users and the server's internal calls.
pub fn check(info: &ResourceInfo, sub: &str, op: Op, new: Option<&Value>, old: Option<&Value>) -> Result<(), StatusError> {
    let Some(user) = request_user() else { return Ok(()) };
    let Some(node) = user.node_name() else { return Ok(()) };
    let name = match (op, new, old) {
        (Op::Create, Some(n), _) => s(n, "/metadata/name"),
        (_, _, Some(o)) => s(o, "/metadata/name"),
        _ => "",
    };
    if node.is_empty() {
        return Err(StatusError::forbidden(info.group, info.plural, name, &format!("could not determine node from user {:?}", user.name)));
    }
    admit(node, info, sub, op, new, old).map_err(|why| StatusError::forbidden(info.group, info.plural, name, &why))
}

/// The delete hook: a node's delete is checked against the stored object.
pub async fn check_delete(state: &crate::state::Shared, rp: &crate::request::ResourcePath) -> Result<(), StatusError> {
    if request_user().and_then(|u| u.node_name().map(|_| ())).is_none() {
        return Ok(());
    }
    let name = rp.name.as_deref().unwrap_or("");
    let (old, _) = crate::rest::get_object(state, rp.info, rp.namespace.as_deref(), name).await?;
    check(rp.info, rp.subresource.as_deref().unwrap_or(""), Op::Delete, None, Some(&old))
}

#[cfg(test)]
#[path = "node_restriction_tests.rs"]
mod tests;
