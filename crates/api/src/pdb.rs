//! PodDisruptionBudget helpers shared by the eviction subresource and the disruption
//! controller, so both read a budget the same way (upstream keeps these in
//! `component-helpers/apps/poddisruptionbudget` and `apimachinery/pkg/util/intstr`).

use serde_json::{json, Map, Value};

use crate::selectors::LabelSelector;

/// How long an eviction the API server approved may take to show up as a deleting pod before
/// the disruption controller stops counting it as disrupted (upstream `DeletionTimeout`).
pub const DELETION_TIMEOUT_SECS: i64 = 120;

pub const DISRUPTION_ALLOWED: &str = "DisruptionAllowed";
pub const SUFFICIENT_PODS: &str = "SufficientPods";
pub const INSUFFICIENT_PODS: &str = "InsufficientPods";
pub const SYNC_FAILED: &str = "SyncFailed";

/// `podutil.IsPodReady`: the `Ready` condition is `True`.
pub fn is_pod_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// The budget's selector (`metav1.LabelSelectorAsSelector`): a null selector selects
/// nothing, an empty one everything; `None` when it does not convert.
pub fn selector(pdb: &Value) -> Option<LabelSelector> {
    LabelSelector::from_label_selector(pdb.pointer("/spec/selector").unwrap_or(&Value::Null)).ok()
}

pub fn pod_labels(pod: &Value) -> Map<String, Value> {
    pod.pointer("/metadata/labels").and_then(Value::as_object).cloned().unwrap_or_default()
}

/// `intstr.GetScaledValueFromIntOrPercent`: an int as is, `N%` of `total` rounded up or down.
pub fn scaled_value(v: &Value, total: i64, round_up: bool) -> Result<i64, String> {
    match v {
        Value::Number(n) => n.as_i64().ok_or_else(|| format!("invalid value for IntOrString: {n}")),
        Value::String(s) => {
            let pct: i64 = s
                .strip_suffix('%')
                .and_then(|d| d.parse().ok())
                .ok_or_else(|| "invalid value for IntOrString: invalid type: string is not a percentage".to_string())?;
            let scaled = pct * total;
            Ok(if round_up { (scaled + 99).div_euclid(100) } else { scaled.div_euclid(100) })
        }
        _ => Err("invalid value for IntOrString: invalid type: neither int nor percentage".to_string()),
    }
}

fn i64_at(v: &Value, p: &str) -> i64 {
    v.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

/// `UpdateDisruptionAllowedCondition` with `meta.SetStatusCondition`: `DisruptionAllowed`
/// True/`SufficientPods` while disruptions are allowed, else False/`InsufficientPods`;
/// `lastTransitionTime` moves only when the status flips.
pub fn update_disruption_allowed_condition(pdb: &mut Value, now: &str) {
    let allowed = i64_at(pdb, "/status/disruptionsAllowed") > 0;
    let (status, reason) = if allowed { ("True", SUFFICIENT_PODS) } else { ("False", INSUFFICIENT_PODS) };
    set_condition(pdb, status, reason, "", now);
}

/// `meta.SetStatusCondition` of the `DisruptionAllowed` condition.
pub fn set_condition(pdb: &mut Value, status: &str, reason: &str, message: &str, now: &str) {
    let observed = i64_at(pdb, "/status/observedGeneration");
    let Some(obj) = pdb.as_object_mut() else { return };
    let st = obj.entry("status").or_insert_with(|| json!({}));
    let Some(st) = st.as_object_mut() else { return };
    let conds = st.entry("conditions").or_insert_with(|| json!([]));
    if !conds.is_array() {
        *conds = json!([]);
    }
    let conds = conds.as_array_mut().expect("just made an array");
    match conds.iter_mut().find(|c| c["type"] == DISRUPTION_ALLOWED) {
        Some(c) => {
            if c["status"] != status {
                c["status"] = json!(status);
                c["lastTransitionTime"] = json!(now);
            }
            c["reason"] = json!(reason);
            c["message"] = json!(message);
            c["observedGeneration"] = json!(observed);
        }
        None => conds.push(json!({"type": DISRUPTION_ALLOWED, "status": status, "observedGeneration": observed,
            "lastTransitionTime": now, "reason": reason, "message": message})),
    }
}

/// `ConditionsAreUpToDate`: the condition exists, status is current and agrees with
/// `disruptionsAllowed`.
pub fn conditions_up_to_date(pdb: &Value) -> bool {
    let Some(c) = pdb
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == DISRUPTION_ALLOWED))
    else {
        return false;
    };
    if i64_at(pdb, "/status/observedGeneration") != i64_at(pdb, "/metadata/generation") {
        return false;
    }
    if i64_at(pdb, "/status/disruptionsAllowed") > 0 {
        c["status"] == "True" && c["reason"] == SUFFICIENT_PODS
    } else {
        c["status"] == "False" && c["reason"] == INSUFFICIENT_PODS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_scale_like_intstr() {
        assert_eq!(scaled_value(&json!("50%"), 3, true), Ok(2));
        assert_eq!(scaled_value(&json!("50%"), 3, false), Ok(1));
        assert_eq!(scaled_value(&json!(2), 3, true), Ok(2));
        assert!(scaled_value(&json!("x"), 3, true).is_err());
    }

    #[test]
    fn condition_tracks_disruptions_allowed() {
        let mut pdb = json!({"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "disruptionsAllowed": 1}});
        update_disruption_allowed_condition(&mut pdb, "t1");
        assert!(conditions_up_to_date(&pdb));
        assert_eq!(pdb["status"]["conditions"][0]["reason"], SUFFICIENT_PODS);
        pdb["status"]["disruptionsAllowed"] = json!(0);
        assert!(!conditions_up_to_date(&pdb));
        update_disruption_allowed_condition(&mut pdb, "t2");
        let c = &pdb["status"]["conditions"][0];
        assert_eq!((c["status"].as_str(), c["reason"].as_str(), c["lastTransitionTime"].as_str()), (Some("False"), Some(INSUFFICIENT_PODS), Some("t2")));
        assert_eq!(pdb["status"]["conditions"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn readiness_is_the_ready_condition() {
        assert!(is_pod_ready(&json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})));
        assert!(!is_pod_ready(&json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})));
        assert!(!is_pod_ready(&json!({})));
    }
}
