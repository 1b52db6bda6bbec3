//! The taint eviction controller (upstream `pkg/controller/tainteviction`, component
//! `taint-eviction-controller`, the NoExecute taint manager): a pod on a node with NoExecute
//! taints it does not tolerate is deleted at once; one that tolerates them all for a limited
//! `tolerationSeconds` is deleted that long after the controller first saw it there (the
//! smallest of the tolerations used); one that tolerates them forever stays. Deletion is
//! upstream's: event `TaintManagerEviction` `Marking for deletion Pod <ns>/<name>`, the
//! `DisruptionTarget` condition (reason `DeletionByTaintManager`), then an ordinary graceful
//! DELETE — so the pod turns `Terminating` and stays so until its kubelet finishes it.
//! Pure; [`runner`] does the IO.

pub mod runner;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Pod, PodCondition, Taint, Toleration};

use crate::statefulset::podstate::from_chrono;

pub const COMPONENT: &str = "taint-eviction-controller";
pub const REASON_EVICTION: &str = "TaintManagerEviction";
pub const CONDITION_DISRUPTION_TARGET: &str = "DisruptionTarget";
pub const REASON_DELETION_BY_TAINT_MANAGER: &str = "DeletionByTaintManager";
pub const MESSAGE_DELETION: &str = "Taint manager: deleting due to NoExecute taint";

/// `Toleration.ToleratesTaint`: empty effect matches every effect, empty key (with `Exists`)
/// every key; `Equal` (or no operator) compares values.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if t.effect.as_deref().is_some_and(|e| !e.is_empty() && e != taint.effect) {
        return false;
    }
    if t.key.as_deref().is_some_and(|k| !k.is_empty() && k != taint.key) {
        return false;
    }
    match t.operator.as_deref().unwrap_or("") {
        "" | "Equal" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        "Exists" => true,
        _ => false,
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No NoExecute taint, or all tolerated forever.
    Keep,
    EvictNow,
    EvictAt(DateTime<Utc>),
}

/// The fate of `pod` on a node with `taints`, first seen under them at `since`.
pub fn verdict(pod: &Pod, taints: &[Taint], since: DateTime<Utc>) -> Verdict {
    let no_execute: Vec<&Taint> = taints.iter().filter(|t| t.effect == "NoExecute").collect();
    if no_execute.is_empty() {
        return Verdict::Keep;
    }
    let tolerations: &[Toleration] = pod.spec.as_ref().and_then(|s| s.tolerations.as_deref()).unwrap_or(&[]);
    let mut used: Vec<&Toleration> = Vec::new();
    for taint in no_execute {
        let matching: Vec<&Toleration> = tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Verdict::EvictNow;
        }
        used.extend(matching);
    }
    // Upstream getMinTolerationTime: any non-positive seconds means now; none set, forever.
    let mut min: Option<i64> = None;
    for t in used {
        if let Some(s) = t.toleration_seconds {
            if s <= 0 {
                return Verdict::EvictNow;
            }
            min = Some(min.map_or(s, |m| m.min(s)));
        }
    }
    match min {
        None => Verdict::Keep,
        Some(s) => Verdict::EvictAt(since + chrono::Duration::seconds(s)),
    }
}

/// The pod's conditions with `DisruptionTarget=True` (reason `DeletionByTaintManager`), or
/// `None` if it has it already.
pub fn with_disruption_target(pod: &Pod, reason: &str, message: &str, now: DateTime<Utc>) -> Option<Vec<PodCondition>> {
    let mut conditions = pod.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    let wanted = PodCondition {
        type_: CONDITION_DISRUPTION_TARGET.into(),
        status: "True".into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_transition_time: Some(from_chrono(now)),
        ..Default::default()
    };
    match conditions.iter_mut().find(|c| c.type_ == CONDITION_DISRUPTION_TARGET) {
        Some(c) if c.status == "True" && c.reason.as_deref() == Some(reason) => return None,
        Some(c) => *c = wanted,
        None => conditions.push(wanted),
    }
    Some(conditions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn pod(tolerations: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "web-0"}, "spec": {"containers": [], "tolerations": tolerations}})).unwrap()
    }

    fn taint(key: &str, effect: &str) -> Taint {
        Taint { key: key.into(), effect: effect.into(), ..Default::default() }
    }

    const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

    #[test]
    fn untolerated_no_execute_taints_evict_at_once() {
        assert_eq!(verdict(&pod(json!([])), &[taint(UNREACHABLE, "NoExecute")], at(0)), Verdict::EvictNow);
        assert_eq!(verdict(&pod(json!([])), &[taint(UNREACHABLE, "NoSchedule")], at(0)), Verdict::Keep);
        assert_eq!(verdict(&pod(json!([])), &[], at(0)), Verdict::Keep);
    }

    #[test]
    fn toleration_seconds_delay_the_eviction_by_the_smallest_used() {
        let p = pod(json!([
            {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "other", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 20},
            {"operator": "Exists", "effect": "NoSchedule"},
        ]));
        assert_eq!(verdict(&p, &[taint(UNREACHABLE, "NoExecute")], at(10)), Verdict::EvictAt(at(310)));
        assert_eq!(verdict(&p, &[taint(UNREACHABLE, "NoExecute"), taint("other", "NoExecute")], at(10)), Verdict::EvictAt(at(30)));
        // One taint of two not tolerated: now.
        assert_eq!(verdict(&p, &[taint(UNREACHABLE, "NoExecute"), taint("third", "NoExecute")], at(10)), Verdict::EvictNow);
    }

    #[test]
    fn tolerating_forever_keeps_and_non_positive_seconds_evict_now() {
        let forever = pod(json!([{"operator": "Exists"}]));
        assert_eq!(verdict(&forever, &[taint(UNREACHABLE, "NoExecute")], at(0)), Verdict::Keep);
        let zero = pod(json!([{"key": UNREACHABLE, "operator": "Exists", "tolerationSeconds": 0}]));
        assert_eq!(verdict(&zero, &[taint(UNREACHABLE, "NoExecute")], at(0)), Verdict::EvictNow);
        let value = pod(json!([{"key": "k", "operator": "Equal", "value": "a", "effect": "NoExecute"}]));
        let mut t = taint("k", "NoExecute");
        t.value = Some("b".into());
        assert_eq!(verdict(&value, &[t], at(0)), Verdict::EvictNow);
    }

    #[test]
    fn the_disruption_target_condition_is_added_once() {
        let p = pod(json!([]));
        let cs = with_disruption_target(&p, REASON_DELETION_BY_TAINT_MANAGER, MESSAGE_DELETION, at(0)).unwrap();
        assert_eq!(cs[0].type_, "DisruptionTarget");
        assert_eq!(cs[0].message.as_deref(), Some(MESSAGE_DELETION));
        let mut p2 = p.clone();
        p2.status = Some(k8s_openapi::api::core::v1::PodStatus { conditions: Some(cs), ..Default::default() });
        assert!(with_disruption_target(&p2, REASON_DELETION_BY_TAINT_MANAGER, MESSAGE_DELETION, at(1)).is_none());
    }
}
