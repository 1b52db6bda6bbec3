//! Taints and tolerations (TaintToleration and NodeUnschedulable plugins, `ToleratesTaint`).

use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};

pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// Reason of the NodeUnschedulable filter.
pub const ERR_REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";

/// `Toleration.ToleratesTaint`: empty effect matches every effect, empty key (with `Exists`)
/// every key; `Equal` (or no operator) compares values.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = t.effect.as_deref().filter(|e| !e.is_empty()) {
        if effect != taint.effect {
            return false;
        }
    }
    if let Some(key) = t.key.as_deref().filter(|k| !k.is_empty()) {
        if key != taint.key {
            return false;
        }
    }
    match t.operator.as_deref().unwrap_or("") {
        "" | "Equal" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        "Exists" => true,
        _ => false,
    }
}

pub fn pod_tolerations(pod: &Pod) -> &[Toleration] {
    pod.spec.as_ref().and_then(|s| s.tolerations.as_deref()).unwrap_or(&[])
}

fn tolerated(pod: &Pod, taint: &Taint) -> bool {
    pod_tolerations(pod).iter().any(|t| tolerates(t, taint))
}

/// The node's `Ready` condition status: `Some("True" | "False" | "Unknown")`, `None` if absent.
fn ready_status(node: &Node) -> Option<&str> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.as_str())
}

/// The taints the filter sees: the node's own, plus the NoSchedule taint the node lifecycle
/// controller puts on a node whose `Ready` condition is not `True` (`not-ready` for False,
/// `unreachable` for Unknown or never posted) when it is not there yet. Upstream filters only on
/// taints; synthesising the lifecycle taint keeps its wording and lets pods that tolerate it
/// (DaemonSet-style) still schedule, while closing the window before the controller acts.
pub fn effective_taints(node: &Node) -> Vec<Taint> {
    let mut taints: Vec<Taint> = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let missing = match ready_status(node) {
        Some("True") => None,
        Some("False") => Some(TAINT_NOT_READY),
        _ => Some(TAINT_UNREACHABLE),
    };
    if let Some(key) = missing {
        if !taints.iter().any(|t| t.key == key && t.effect == "NoSchedule") {
            taints.push(Taint { key: key.to_string(), effect: "NoSchedule".to_string(), ..Taint::default() });
        }
    }
    taints
}

/// TaintToleration filter: the first NoSchedule/NoExecute taint the pod does not tolerate, as
/// `node(s) had untolerated taint {key: value}` (v1.33 wording; later releases print
/// `node(s) had untolerated taint(s)`).
pub fn untolerated_taint_reason(pod: &Pod, taints: &[Taint]) -> Option<String> {
    taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .find(|t| !tolerated(pod, t))
        .map(|t| format!("node(s) had untolerated taint {{{}: {}}}", t.key, t.value.as_deref().unwrap_or("")))
}

/// NodeUnschedulable filter: a cordoned node rejects pods that don't tolerate
/// `node.kubernetes.io/unschedulable:NoSchedule`.
pub fn cordoned_for(pod: &Pod, node: &Node) -> bool {
    let cordoned = node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false);
    cordoned && !tolerated(pod, &Taint { key: TAINT_UNSCHEDULABLE.to_string(), effect: "NoSchedule".to_string(), ..Taint::default() })
}

/// Number of PreferNoSchedule taints the pod does not tolerate (TaintToleration score: fewer is
/// better). Only tolerations with an empty or PreferNoSchedule effect count, as upstream.
pub fn intolerable_prefer_no_schedule(pod: &Pod, taints: &[Taint]) -> usize {
    let relevant: Vec<&Toleration> = pod_tolerations(pod)
        .iter()
        .filter(|t| t.effect.as_deref().is_none_or(|e| e.is_empty() || e == "PreferNoSchedule"))
        .collect();
    taints
        .iter()
        .filter(|t| t.effect == "PreferNoSchedule")
        .filter(|t| !relevant.iter().any(|tol| tolerates(tol, t)))
        .count()
}
