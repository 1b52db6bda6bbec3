//! The PodDisruptionBudget decisions of the eviction subresource (upstream
//! `pkg/registry/core/pod/storage/eviction.go`), pure over the pod and the budgets: which
//! pods skip the budget check, which budget covers a pod, and the verify-and-decrement of
//! the budget's status.

use berth_api::pdb;
use berth_api::StatusError;
use serde_json::{json, Value};

/// `MaxDisruptedPodSize`: approved evictions the controller has not confirmed yet.
const MAX_DISRUPTED_POD_SIZE: usize = 2000;
const VIOLATION: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

/// `canIgnorePDB`: terminal, pending or already deleting pods are deleted without a budget check.
pub fn can_ignore_pdb(pod: &Value) -> bool {
    let phase = pod.pointer("/status/phase").and_then(Value::as_str).unwrap_or("");
    matches!(phase, "Succeeded" | "Failed" | "Pending") || pod.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null())
}

/// Succeeded or Failed.
pub fn is_terminal(pod: &Value) -> bool {
    matches!(pod.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed"))
}

/// The budgets whose selector matches the pod. A null or empty selector matches nothing here
/// (upstream: "it should match nothing, not everything"); an unconvertible one is skipped.
pub fn matching<'a>(pdbs: &'a [Value], pod: &Value) -> Vec<&'a Value> {
    let labels = pdb::pod_labels(pod);
    pdbs.iter()
        .filter(|b| pdb::selector(b).is_some_and(|s| !s.is_empty() && s.matches(&labels)))
        .collect()
}

/// Whether an unready pod may go without spending the budget: always with
/// `unhealthyPodEvictionPolicy: AlwaysAllow`, and with the default `IfHealthyBudget` while
/// the budget is met (`currentHealthy >= desiredHealthy > 0`).
pub fn unhealthy_pod_may_go(pod: &Value, budget: &Value) -> bool {
    if pdb::is_pod_ready(pod) {
        return false;
    }
    if budget.pointer("/spec/unhealthyPodEvictionPolicy").and_then(Value::as_str) == Some("AlwaysAllow") {
        return true;
    }
    let current = budget.pointer("/status/currentHealthy").and_then(Value::as_i64).unwrap_or(0);
    let desired = budget.pointer("/status/desiredHealthy").and_then(Value::as_i64).unwrap_or(0);
    current >= desired && desired > 0
}

/// `errors.NewTooManyRequests` with a `DisruptionBudget` cause.
fn too_many_requests(retry_after: i64, cause: String) -> StatusError {
    let mut details = json!({"causes": [{"reason": "DisruptionBudget", "message": cause}]});
    if retry_after > 0 {
        details["retryAfterSeconds"] = json!(retry_after);
    }
    StatusError { code: 429, reason: "TooManyRequests", message: VIOLATION.to_string(), details: Some(details) }
}

/// `createTooManyRequestsError`: the budget's status is behind its spec, or the pod changed
/// under a conditional delete.
pub fn still_processing(name: &str) -> StatusError {
    too_many_requests(10, format!("The disruption budget {name} is still being processed by the server."))
}

fn forbidden(name: &str, why: &str) -> StatusError {
    StatusError {
        code: 403,
        reason: "Forbidden",
        message: format!("poddisruptionbudget.policy \"{name}\" is forbidden: {why}"),
        details: Some(json!({"name": name, "group": "policy", "kind": "poddisruptionbudget"})),
    }
}

/// `checkAndDecrement`: refuse (429/403) or return the budget with one disruption spent and
/// the pod recorded in `disruptedPods` at `now` (not recorded on dry run, as upstream).
pub fn check_and_decrement(budget: &Value, pod_name: &str, now: &str, dry_run: bool) -> Result<Value, StatusError> {
    let name = budget.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let status_i64 = |f: &str| budget.pointer(&format!("/status/{f}")).and_then(Value::as_i64).unwrap_or(0);
    let generation = budget.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
    if status_i64("observedGeneration") < generation {
        return Err(still_processing(name));
    }
    let allowed = status_i64("disruptionsAllowed");
    if allowed < 0 {
        return Err(forbidden(name, "pdb disruptions allowed is negative"));
    }
    let disrupted = budget.pointer("/status/disruptedPods").and_then(Value::as_object).map_or(0, |m| m.len());
    if disrupted > MAX_DISRUPTED_POD_SIZE {
        return Err(forbidden(name, "DisruptedPods map too big - too many evictions not confirmed by PDB controller"));
    }
    if allowed == 0 {
        let cause = format!(
            "The disruption budget {name} needs {} healthy pods and has {} currently",
            status_i64("desiredHealthy"),
            status_i64("currentHealthy")
        );
        return Err(too_many_requests(0, cause));
    }
    let mut out = budget.clone();
    out["status"]["disruptionsAllowed"] = json!(allowed - 1);
    if allowed - 1 == 0 {
        pdb::update_disruption_allowed_condition(&mut out, now);
    }
    if !dry_run {
        let status = out["status"].as_object_mut().expect("status is an object");
        let map = status.entry("disruptedPods").or_insert_with(|| json!({}));
        if !map.is_object() {
            *map = json!({});
        }
        map[pod_name] = json!(now);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(allowed: i64, generation: i64, observed: i64) -> Value {
        json!({"metadata": {"name": "web", "generation": generation},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"observedGeneration": observed, "disruptionsAllowed": allowed, "currentHealthy": 2, "desiredHealthy": 2}})
    }

    #[test]
    fn exhausted_budget_refuses_with_429_and_cause() {
        let e = check_and_decrement(&budget(0, 1, 1), "web-0", "t", false).unwrap_err();
        assert_eq!((e.code, e.reason, e.message.as_str()), (429, "TooManyRequests", VIOLATION));
        let d = e.details.unwrap();
        assert_eq!(d["causes"][0]["reason"], "DisruptionBudget");
        assert_eq!(d["causes"][0]["message"], "The disruption budget web needs 2 healthy pods and has 2 currently");
        assert!(d.get("retryAfterSeconds").is_none());
    }

    #[test]
    fn stale_status_refuses_with_retry_after() {
        let e = check_and_decrement(&budget(1, 2, 1), "web-0", "t", false).unwrap_err();
        assert_eq!(e.code, 429);
        assert_eq!(crate::state::error_response(&e).headers()["retry-after"], "10");
        assert_eq!(e.details.unwrap()["retryAfterSeconds"], 10);
        let exhausted = check_and_decrement(&budget(0, 1, 1), "web-0", "t", false).unwrap_err();
        assert!(crate::state::error_response(&exhausted).headers().get("retry-after").is_none());
    }

    #[test]
    fn allowed_eviction_spends_one_and_records_the_pod() {
        let out = check_and_decrement(&budget(1, 1, 1), "web-0", "2026-01-01T00:00:00Z", false).unwrap();
        assert_eq!(out["status"]["disruptionsAllowed"], 0);
        assert_eq!(out["status"]["disruptedPods"]["web-0"], "2026-01-01T00:00:00Z");
        assert_eq!(out["status"]["conditions"][0]["reason"], "InsufficientPods");
        let dry = check_and_decrement(&budget(2, 1, 1), "web-0", "t", true).unwrap();
        assert_eq!(dry["status"]["disruptionsAllowed"], 1);
        assert!(dry["status"].get("disruptedPods").is_none());
    }

    #[test]
    fn selection_and_skips() {
        let pod = json!({"metadata": {"labels": {"app": "web"}}, "status": {"phase": "Running"}});
        let other = json!({"metadata": {"name": "all"}, "spec": {"selector": {}}});
        let pdbs = vec![budget(1, 1, 1), other];
        assert_eq!(matching(&pdbs, &pod).len(), 1);
        assert!(!can_ignore_pdb(&pod));
        assert!(can_ignore_pdb(&json!({"status": {"phase": "Pending"}})));
        // Unready pod, budget met: may go; budget not met: may not.
        assert!(unhealthy_pod_may_go(&pod, &budget(0, 1, 1)));
        let mut short = budget(0, 1, 1);
        short["status"]["currentHealthy"] = json!(1);
        assert!(!unhealthy_pod_may_go(&pod, &short));
        short["spec"]["unhealthyPodEvictionPolicy"] = json!("AlwaysAllow");
        assert!(unhealthy_pod_may_go(&pod, &short));
    }
}
