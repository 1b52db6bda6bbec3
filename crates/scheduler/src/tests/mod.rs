//! Unit tests. Objects are built from JSON so each test reads like the manifests it models.

mod filter_tests;
mod interpod_tests;
mod message_tests;
mod quantity_tests;
mod score_tests;
mod volume_tests;

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod, Taint};
use k8s_openapi::api::storage::v1::StorageClass;
use serde_json::{json, Value};

use crate::{schedule, ClusterSnapshot, Decision};

pub fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("test object deserializes")
}

/// A Ready node with 2 CPUs, 4Gi memory, 110 pods and the hostname label.
pub fn node(name: &str) -> Node {
    from(json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {
            "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110", "ephemeral-storage": "10Gi"},
            "conditions": [{"type": "Ready", "status": "True"}]
        }
    }))
}

pub fn with_taint(mut n: Node, key: &str, value: &str, effect: &str) -> Node {
    let spec = n.spec.get_or_insert_with(Default::default);
    spec.taints.get_or_insert_with(Vec::new).push(Taint {
        key: key.into(),
        value: (!value.is_empty()).then(|| value.into()),
        effect: effect.into(),
        ..Taint::default()
    });
    n
}

pub fn with_label(mut n: Node, key: &str, value: &str) -> Node {
    n.metadata.labels.get_or_insert_with(Default::default).insert(key.into(), value.into());
    n
}

pub fn with_ready(mut n: Node, status: Option<&str>) -> Node {
    let conditions = n.status.as_mut().unwrap().conditions.as_mut().unwrap();
    conditions.clear();
    if let Some(s) = status {
        conditions.push(from(json!({"type": "Ready", "status": s})));
    }
    n
}

pub fn cordoned(mut n: Node) -> Node {
    n.spec.get_or_insert_with(Default::default).unschedulable = Some(true);
    n
}

/// A pending pod in `default` with one container requesting `cpu`/`memory` (empty = none).
pub fn pod(name: &str, cpu: &str, memory: &str) -> Pod {
    let mut requests = serde_json::Map::new();
    if !cpu.is_empty() {
        requests.insert("cpu".into(), json!(cpu));
    }
    if !memory.is_empty() {
        requests.insert("memory".into(), json!(memory));
    }
    from(json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
        "spec": {"containers": [{"name": "c", "image": "i", "resources": {"requests": requests}}]}
    }))
}

/// Patch a pod's spec with a JSON merge of top-level spec fields.
pub fn with_spec(p: Pod, fields: Value) -> Pod {
    let mut v = serde_json::to_value(&p).unwrap();
    for (k, val) in fields.as_object().unwrap() {
        v["spec"][k] = val.clone();
    }
    from(v)
}

pub fn owned_by(mut p: Pod, owner_uid: &str) -> Pod {
    p.metadata.owner_references = Some(vec![from(json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": owner_uid, "controller": true
    }))]);
    p
}

pub fn on_node(mut p: Pod, node: &str) -> Pod {
    p.spec.as_mut().unwrap().node_name = Some(node.into());
    p
}

pub fn with_claim(p: Pod, volume: &str, claim: &str) -> Pod {
    let mut v = serde_json::to_value(&p).unwrap();
    let vols = v["spec"].as_object_mut().unwrap().entry("volumes").or_insert(json!([]));
    vols.as_array_mut().unwrap().push(json!({"name": volume, "persistentVolumeClaim": {"claimName": claim}}));
    from(v)
}

pub fn pvc(name: &str, class: Option<&str>, request: &str) -> PersistentVolumeClaim {
    let mut spec = json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": request}}});
    if let Some(c) = class {
        spec["storageClassName"] = json!(c);
    }
    from(json!({"metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")}, "spec": spec, "status": {"phase": "Pending"}}))
}

pub fn bound_pvc(name: &str, class: &str, pv: &str) -> PersistentVolumeClaim {
    let mut c = pvc(name, Some(class), "1Gi");
    c.spec.as_mut().unwrap().volume_name = Some(pv.into());
    c.metadata.annotations = Some([("pv.kubernetes.io/bind-completed".to_string(), "yes".to_string())].into());
    c.status.as_mut().unwrap().phase = Some("Bound".into());
    c
}

/// An Available PV of `class` and `capacity`, pinned to `node` by hostname when given.
pub fn pv(name: &str, class: &str, capacity: &str, node: Option<&str>) -> PersistentVolume {
    let mut spec = json!({
        "capacity": {"storage": capacity}, "accessModes": ["ReadWriteOnce"], "storageClassName": class,
        "hostPath": {"path": format!("/tmp/{name}")}
    });
    if let Some(n) = node {
        spec["nodeAffinity"] = json!({"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [n]}
        ]}]}});
    }
    from(json!({"metadata": {"name": name}, "spec": spec, "status": {"phase": "Available"}}))
}

pub fn class(name: &str, provisioner: &str, mode: &str) -> StorageClass {
    from(json!({"metadata": {"name": name}, "provisioner": provisioner, "volumeBindingMode": mode}))
}

pub fn snapshot(nodes: Vec<Node>) -> ClusterSnapshot {
    ClusterSnapshot { nodes, ..ClusterSnapshot::default() }
}

/// The node a pod was bound to, panicking with the decision otherwise.
pub fn bound_node(d: &Decision) -> &str {
    match d {
        Decision::Bind { node, .. } => node,
        other => panic!("expected Bind, got {other:?}"),
    }
}

pub fn message(d: &Decision) -> &str {
    match d {
        Decision::Unschedulable { message, .. } => message,
        other => panic!("expected Unschedulable, got {other:?}"),
    }
}

pub fn decide(p: &Pod, s: &ClusterSnapshot) -> Decision {
    schedule(p, s)
}
