//! The pod's `PodScheduled` condition after a failed attempt (upstream `updatePod` in
//! `schedule_one.go` with `podutil.UpdatePodCondition`). Pure.

use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

/// `v1.PodReasonUnschedulable`: no node fits.
pub const REASON_UNSCHEDULABLE: &str = "Unschedulable";
/// `v1.PodReasonSchedulerError`: the attempt or the binding failed with an error.
pub const REASON_SCHEDULER_ERROR: &str = "SchedulerError";

/// The strategic merge patch for `pods/<name>/status` that sets `PodScheduled=False` with
/// `reason` and `message`, or `None` if the pod already shows exactly that (so repeated
/// failures for the same reason write nothing). `lastTransitionTime` moves only when the
/// status changes, as `UpdatePodCondition` does.
pub fn pod_scheduled_false_patch(pod: &Pod, reason: &str, message: &str, now: &str) -> Option<Value> {
    let current = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"));
    if let Some(c) = current {
        if c.status == "False" && c.reason.as_deref() == Some(reason) && c.message.as_deref() == Some(message) {
            return None;
        }
    }
    let mut condition = json!({
        "type": "PodScheduled",
        "status": "False",
        "reason": reason,
        "message": message,
        "lastProbeTime": null,
    });
    if current.is_none_or(|c| c.status != "False") {
        condition["lastTransitionTime"] = json!(now);
    }
    Some(json!({"status": {"conditions": [condition]}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(conditions: Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "status": {"conditions": conditions}})).unwrap()
    }

    const NOW: &str = "2025-01-02T03:04:05Z";

    #[test]
    fn first_failure_sets_the_condition_with_a_transition_time() {
        let patch = pod_scheduled_false_patch(&pod(json!([])), REASON_UNSCHEDULABLE, "0/1 nodes", NOW).unwrap();
        assert_eq!(
            patch,
            json!({"status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/1 nodes", "lastProbeTime": null, "lastTransitionTime": NOW}]}})
        );
    }

    #[test]
    fn the_same_failure_again_writes_nothing() {
        let p = pod(json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes",
            "lastTransitionTime": "2025-01-01T00:00:00Z"}]));
        assert_eq!(pod_scheduled_false_patch(&p, REASON_UNSCHEDULABLE, "0/1 nodes", NOW), None);
    }

    #[test]
    fn a_new_message_keeps_the_transition_time() {
        let p = pod(json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes",
            "lastTransitionTime": "2025-01-01T00:00:00Z"}]));
        let patch = pod_scheduled_false_patch(&p, REASON_UNSCHEDULABLE, "0/2 nodes", NOW).unwrap();
        let c = &patch["status"]["conditions"][0];
        assert_eq!(c["message"], "0/2 nodes");
        assert!(c.get("lastTransitionTime").is_none(), "{patch}");
    }

    #[test]
    fn a_status_change_moves_the_transition_time() {
        let p = pod(json!([{"type": "PodScheduled", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"}]));
        let patch = pod_scheduled_false_patch(&p, REASON_SCHEDULER_ERROR, "boom", NOW).unwrap();
        assert_eq!(patch["status"]["conditions"][0]["lastTransitionTime"], NOW);
        assert_eq!(patch["status"]["conditions"][0]["reason"], "SchedulerError");
    }
}
