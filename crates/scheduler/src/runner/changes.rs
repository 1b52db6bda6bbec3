//! Which watch events matter to the scheduler (upstream's event handlers in
//! `scheduler/eventhandlers.go` and the queueing hints, coarsened). Pure.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use k8s_openapi::api::core::v1::{Node, Pod};
use serde::Serialize;

use super::queue::PodKey;
use crate::DEFAULT_SCHEDULER_NAME;

pub fn pod_key(pod: &Pod) -> PodKey {
    PodKey::new(pod.metadata.namespace.as_deref().unwrap_or(""), pod.metadata.name.as_deref().unwrap_or(""))
}

/// `spec.nodeName` is set.
pub fn is_assigned(pod: &Pod) -> bool {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_some_and(|n| !n.is_empty())
}

/// `status.phase` is Succeeded or Failed: the pod holds no resources any more.
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

/// The pod is this scheduler's to place now: unassigned, not being deleted, not finished, for
/// `default-scheduler` (or no scheduler name), and not held by scheduling gates (a gate's
/// removal is a pod update, which queues it then).
pub fn is_pending(pod: &Pod) -> bool {
    let spec = pod.spec.as_ref();
    !is_assigned(pod)
        && pod.metadata.deletion_timestamp.is_none()
        && !is_terminal(pod)
        && spec.and_then(|s| s.scheduling_gates.as_ref()).is_none_or(|g| g.is_empty())
        && spec.and_then(|s| s.scheduler_name.as_deref()).is_none_or(|n| n.is_empty() || n == DEFAULT_SCHEDULER_NAME)
}

/// The pod counts against its node's resources.
pub fn occupies_node(pod: &Pod) -> bool {
    is_assigned(pod) && !is_terminal(pod)
}

/// `spec.priority` (set by the Priority admission plugin; 0 without one).
pub fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// The pod has required pod-affinity terms: a pod newly placed somewhere may satisfy them.
pub fn wants_assigned_pods(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.pod_affinity.as_ref())
        .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())
        .is_some_and(|terms| !terms.is_empty())
}

fn fingerprint<T: Serialize>(value: &T) -> u64 {
    let mut h = DefaultHasher::new();
    serde_json::to_string(value).unwrap_or_default().hash(&mut h);
    h.finish()
}

/// What scheduling reads of a pending pod: labels, annotations and spec. Status-only updates
/// (including the scheduler's own `PodScheduled` condition) don't change it, so they don't
/// requeue the pod — upstream's `isPodUpdated` check.
pub fn pod_fingerprint(pod: &Pod) -> u64 {
    fingerprint(&(&pod.metadata.labels, &pod.metadata.annotations, &pod.spec))
}

/// What the filters read of a node: labels, cordon, taints, allocatable, and the condition
/// statuses (Ready gates the not-ready taint). Heartbeat timestamps don't count, so a node
/// agent's status updates don't wake every unschedulable pod.
pub fn node_fingerprint(node: &Node) -> u64 {
    let spec = node.spec.as_ref();
    let status = node.status.as_ref();
    let conditions: Vec<(&str, &str)> = status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .map(|c| (c.type_.as_str(), c.status.as_str()))
        .collect();
    fingerprint(&(
        &node.metadata.labels,
        spec.and_then(|s| s.unschedulable),
        spec.and_then(|s| s.taints.as_ref()),
        status.and_then(|s| s.allocatable.as_ref()),
        conditions,
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn pending_pods_are_the_default_schedulers_unassigned_live_ones() {
        let with = |patch: serde_json::Value| {
            let mut v = json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"containers": []}});
            for (section, fields) in patch.as_object().unwrap() {
                for (k, val) in fields.as_object().unwrap() {
                    v[section][k] = val.clone();
                }
            }
            pod(v)
        };
        assert!(is_pending(&with(json!({}))));
        assert!(is_pending(&with(json!({"spec": {"schedulerName": "default-scheduler"}}))));
        for patch in [
            json!({"spec": {"nodeName": "n1"}}),
            json!({"spec": {"schedulerName": "other"}}),
            json!({"spec": {"schedulingGates": [{"name": "g"}]}}),
            json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}}),
            json!({"status": {"phase": "Failed"}}),
            json!({"status": {"phase": "Succeeded"}}),
        ] {
            assert!(!is_pending(&with(patch.clone())), "{patch}");
        }
    }

    #[test]
    fn status_changes_do_not_change_the_pod_fingerprint() {
        let a = pod(json!({"metadata": {"name": "p", "labels": {"a": "1"}}, "spec": {"containers": []}}));
        let mut b = a.clone();
        b.status = Some(serde_json::from_value(json!({"conditions": [{"type": "PodScheduled", "status": "False"}]})).unwrap());
        b.metadata.resource_version = Some("9".into());
        assert_eq!(pod_fingerprint(&a), pod_fingerprint(&b));
        b.metadata.labels = Some([("a".to_string(), "2".to_string())].into());
        assert_ne!(pod_fingerprint(&a), pod_fingerprint(&b));
    }

    #[test]
    fn heartbeats_do_not_change_the_node_fingerprint() {
        let node = |beat: &str, cpu: &str, ready: &str| -> Node {
            serde_json::from_value(json!({
                "metadata": {"name": "n"},
                "status": {"allocatable": {"cpu": cpu},
                           "conditions": [{"type": "Ready", "status": ready, "lastHeartbeatTime": beat}]}
            }))
            .unwrap()
        };
        let a = node("2024-01-01T00:00:00Z", "1", "True");
        assert_eq!(node_fingerprint(&a), node_fingerprint(&node("2024-01-01T00:00:10Z", "1", "True")));
        assert_ne!(node_fingerprint(&a), node_fingerprint(&node("2024-01-01T00:00:00Z", "2", "True")));
        assert_ne!(node_fingerprint(&a), node_fingerprint(&node("2024-01-01T00:00:00Z", "1", "False")));
        let mut cordoned = a.clone();
        cordoned.spec = Some(serde_json::from_value(json!({"unschedulable": true})).unwrap());
        assert_ne!(node_fingerprint(&a), node_fingerprint(&cordoned));
    }
}
