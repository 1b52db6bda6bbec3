//! Stale `DisruptionTarget` conditions (upstream `nonTerminatingPodHasStaleDisruptionCondition`):
//! an eviction or taint manager marks a pod before deleting it; if the delete never happened
//! (a conflict, a crash in between), the disruption controller sets the condition back to
//! False after [`STALE_POD_DISRUPTION_TIMEOUT`], so the pod is not reported as disrupted forever.

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Pod, PodCondition};

use crate::statefulset::podstate::{from_chrono, to_chrono};

/// Upstream's `stalePodDisruptionTimeout`.
pub const STALE_POD_DISRUPTION_TIMEOUT: Duration = Duration::from_secs(120);
const DISRUPTION_TARGET: &str = "DisruptionTarget";
/// Conditions the kubelet adds may precede termination by any time: never stale.
const TERMINATION_BY_KUBELET: &str = "TerminationByKubelet";

fn condition(pod: &Pod) -> Option<&PodCondition> {
    pod.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == DISRUPTION_TARGET)
}

/// How long until the pod's `DisruptionTarget=True` condition is stale (zero: now), or `None`
/// when it has none that can go stale (deleting or terminal pods, kubelet's own).
pub fn stale_after(pod: &Pod, now: DateTime<Utc>) -> Option<Duration> {
    if pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("");
    let c = condition(pod)?;
    if c.status != "True" || c.reason.as_deref() == Some(TERMINATION_BY_KUBELET) || matches!(phase, "Succeeded" | "Failed") {
        return None;
    }
    let since = c.last_transition_time.as_ref().map(to_chrono).unwrap_or(now);
    let elapsed = (now - since).to_std().unwrap_or(Duration::ZERO);
    Some(STALE_POD_DISRUPTION_TIMEOUT.saturating_sub(elapsed))
}

/// The pod's conditions with `DisruptionTarget` set back to False (`UpdatePodCondition` with
/// only type and status: reason and message go, the transition time is now).
pub fn reset(pod: &Pod, now: DateTime<Utc>) -> Vec<PodCondition> {
    let mut conditions = pod.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    for c in conditions.iter_mut().filter(|c| c.type_ == DISRUPTION_TARGET) {
        *c = PodCondition { type_: DISRUPTION_TARGET.into(), status: "False".into(), last_transition_time: Some(from_chrono(now)), ..Default::default() };
    }
    conditions
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(reason: &str, at: &str, extra: serde_json::Value) -> Pod {
        let mut p = json!({"metadata": {"name": "web-0"}, "status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "DisruptionTarget", "status": "True", "reason": reason, "lastTransitionTime": at}]}});
        if let Some(m) = extra.as_object() {
            for (k, v) in m {
                p["metadata"][k] = v.clone();
            }
        }
        serde_json::from_value(p).unwrap()
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn an_eviction_mark_goes_stale_after_two_minutes() {
        let p = pod("EvictionByEvictionAPI", "2026-01-01T11:59:00Z", json!({}));
        assert_eq!(stale_after(&p, now()), Some(Duration::from_secs(60)));
        let old = pod("EvictionByEvictionAPI", "2026-01-01T11:50:00Z", json!({}));
        assert_eq!(stale_after(&old, now()), Some(Duration::ZERO));
        let cs = reset(&old, now());
        assert_eq!(cs[0].type_, "Ready");
        assert_eq!((cs[1].status.as_str(), cs[1].reason.as_deref()), ("False", None));
    }

    #[test]
    fn deleting_pods_and_kubelet_marks_are_left_alone() {
        assert_eq!(stale_after(&pod("TerminationByKubelet", "2026-01-01T11:00:00Z", json!({})), now()), None);
        let deleting = pod("EvictionByEvictionAPI", "2026-01-01T11:00:00Z", json!({"deletionTimestamp": "2026-01-01T11:00:01Z"}));
        assert_eq!(stale_after(&deleting, now()), None);
    }
}
