//! The pod garbage collector's node-related passes (upstream `pkg/controller/podgc`): pods
//! that no kubelet will ever finish are force-deleted (grace 0), after being marked `Failed`
//! when they were not terminal yet:
//!
//! - **orphaned**: bound to a node that no longer exists (after a quarantine of 40 s and a
//!   live re-check of the node, as upstream), with `DisruptionTarget` reason
//!   `DeletionByPodGC`, message `PodGC: node no longer exists`;
//! - **terminating on an out-of-service node** (non-graceful node shutdown): the pod is
//!   being deleted and its node is not Ready and carries `node.kubernetes.io/out-of-service`,
//!   with `DisruptionTarget` message `PodGC: node is out-of-service`;
//! - **unscheduled and terminating**: a pod being deleted that was never bound.
//!
//! The terminated-pod threshold pass (`--terminated-pod-gc-threshold`, 12 500) is left out.
//! Pure; [`runner`] does the IO.

pub mod runner;

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::nodelifecycle::{ready_status, TAINT_OUT_OF_SERVICE};

pub const REASON_DELETION_BY_POD_GC: &str = "DeletionByPodGC";
pub const MESSAGE_NODE_GONE: &str = "PodGC: node no longer exists";
pub const MESSAGE_OUT_OF_SERVICE: &str = "PodGC: node is out-of-service";
/// How long a pod's node must be missing before its pods are collected (upstream
/// `quarantineTime`), so that a node still registering is not mistaken for a deleted one.
pub const QUARANTINE: std::time::Duration = std::time::Duration::from_secs(40);

/// Why a pod is collected: the `DisruptionTarget` message, if upstream sets one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Collect {
    /// Its node is missing; collected once missing for [`QUARANTINE`] (rechecked live).
    Orphaned,
    OutOfService,
    UnscheduledTerminating,
}

impl Collect {
    pub fn message(&self) -> Option<&'static str> {
        match self {
            Collect::Orphaned => Some(MESSAGE_NODE_GONE),
            Collect::OutOfService => Some(MESSAGE_OUT_OF_SERVICE),
            Collect::UnscheduledTerminating => None,
        }
    }
}

fn node_out_of_service(node: &Node) -> bool {
    ready_status(node) != "True"
        && node.spec.as_ref().and_then(|s| s.taints.as_ref()).is_some_and(|ts| ts.iter().any(|t| t.key == TAINT_OUT_OF_SERVICE))
}

/// Whether and why `pod` is to be collected, given the nodes that exist.
pub fn classify(pod: &Pod, nodes: &HashMap<String, &Node>) -> Option<Collect> {
    let terminating = pod.metadata.deletion_timestamp.is_some();
    match pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty()) {
        None => terminating.then_some(Collect::UnscheduledTerminating),
        Some(n) => match nodes.get(n) {
            None => Some(Collect::Orphaned),
            Some(node) if terminating && node_out_of_service(node) => Some(Collect::OutOfService),
            Some(_) => None,
        },
    }
}

/// Whether the pod's phase is terminal; otherwise pod GC marks it `Failed` first.
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(node: Option<&str>, deleting: bool) -> Pod {
        let mut p = json!({"metadata": {"name": "web-0"}, "spec": {"containers": []}, "status": {"phase": "Running"}});
        if let Some(n) = node {
            p["spec"]["nodeName"] = json!(n);
        }
        if deleting {
            p["metadata"]["deletionTimestamp"] = json!("2027-01-15T08:00:00Z");
        }
        serde_json::from_value(p).unwrap()
    }

    fn node(ready: &str, out_of_service: bool) -> Node {
        let taints = if out_of_service { json!([{"key": TAINT_OUT_OF_SERVICE, "value": "nodeshutdown", "effect": "NoExecute"}]) } else { json!([]) };
        serde_json::from_value(json!({"metadata": {"name": "node-2"}, "spec": {"taints": taints},
            "status": {"conditions": [{"type": "Ready", "status": ready}]}}))
        .unwrap()
    }

    #[test]
    fn pods_of_missing_nodes_and_terminating_pods_of_out_of_service_nodes_are_collected() {
        let down = node("Unknown", true);
        let nodes: HashMap<String, &Node> = [("node-2".to_string(), &down)].into();
        assert_eq!(classify(&pod(Some("node-9"), false), &nodes), Some(Collect::Orphaned));
        assert_eq!(classify(&pod(Some("node-2"), true), &nodes), Some(Collect::OutOfService));
        assert_eq!(classify(&pod(Some("node-2"), false), &nodes), None, "not terminating");
        assert_eq!(classify(&pod(None, true), &nodes), Some(Collect::UnscheduledTerminating));
        assert_eq!(classify(&pod(None, false), &nodes), None);
        // The taint on a Ready node, or a not-Ready node without the taint: nothing.
        let ready = node("True", true);
        let nodes: HashMap<String, &Node> = [("node-2".to_string(), &ready)].into();
        assert_eq!(classify(&pod(Some("node-2"), true), &nodes), None);
        let plain = node("Unknown", false);
        let nodes: HashMap<String, &Node> = [("node-2".to_string(), &plain)].into();
        assert_eq!(classify(&pod(Some("node-2"), true), &nodes), None);
    }
}
