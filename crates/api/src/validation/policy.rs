//! policy/v1 PodDisruptionBudget (`pkg/apis/policy/validation/validation.go`,
//! `ValidatePodDisruptionBudgetSpec`; the int-or-percent rules are apps' helpers).

use serde_json::{json, Value};

use super::meta::*;
use super::names::NameRule;
use super::util::*;

const PERCENT_MSG: &str =
    "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";
const UNHEALTHY_POLICIES: &[&str] = &["AlwaysAllow", "IfHealthyBudget"];

pub fn validate_pdb(obj: &Value) -> Errs {
    let mut errs = validate_object_meta(obj, true, NameRule::Subdomain);
    errs.extend(validate_pdb_spec(get(obj, "spec").unwrap_or(&Value::Null)));
    errs
}

pub fn validate_pdb_update(new: &Value, old: &Value) -> Errs {
    // The spec is mutable (since v1.15); only the metadata rules of an update apply on top.
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_pdb_spec(get(new, "spec").unwrap_or(&Value::Null)));
    errs.extend(validate_pdb_status(get(new, "status").unwrap_or(&Value::Null)));
    errs
}

fn validate_pdb_spec(spec: &Value) -> Errs {
    let p = Path::new("spec");
    let mut errs = Errs::new();
    let min = get(spec, "minAvailable").filter(|v| !v.is_null());
    let max = get(spec, "maxUnavailable").filter(|v| !v.is_null());
    if min.is_some() && max.is_some() {
        errs.push(invalid(&p, internal_spec_json(spec), "minAvailable and maxUnavailable cannot be both set"));
    }
    for (field, v) in [("minAvailable", min), ("maxUnavailable", max)] {
        if let Some(v) = v {
            errs.extend(int_or_percent(v, &p.child(field)));
        }
    }
    if let Some(policy) = opt_s(spec, "unhealthyPodEvictionPolicy") {
        if !UNHEALTHY_POLICIES.contains(&policy) {
            errs.push(not_supported(&p.child("unhealthyPodEvictionPolicy"), policy, UNHEALTHY_POLICIES));
        }
    }
    if let Some(sel) = get(spec, "selector").filter(|v| !v.is_null()) {
        errs.extend(validate_label_selector(sel, &p.child("selector")));
    }
    errs
}

/// `ValidatePodDisruptionBudgetStatusUpdate` (v1): the counters are non-negative.
fn validate_pdb_status(status: &Value) -> Errs {
    let p = Path::new("status");
    ["disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"]
        .iter()
        .filter_map(|f| nonnegative(i64_or(status, f, 0), &p.child(f)))
        .collect()
}

/// apps' `ValidatePositiveIntOrPercent` and `IsNotMoreThan100Percent`.
fn int_or_percent(v: &Value, p: &Path) -> Errs {
    let mut errs = Errs::new();
    match v {
        Value::String(s) => match percent_value(s) {
            None => errs.push(invalid(p, s.as_str(), PERCENT_MSG)),
            Some(n) if n > 100 => errs.push(invalid(p, s.as_str(), "must not be greater than 100%")),
            Some(_) => {}
        },
        Value::Number(n) => errs.extend(nonnegative(n.as_i64().unwrap_or(-1), p)),
        other => errs.push(invalid(p, other.clone(), "must be an integer or percentage (e.g '5%')")),
    }
    errs
}

/// The number of a `[0-9]+%` string.
pub(crate) fn percent_value(s: &str) -> Option<u64> {
    let digits = s.strip_suffix('%')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse().unwrap_or(u64::MAX))
}

/// `json.Marshal` of the internal `PodDisruptionBudgetSpec` (no json tags), the bad value
/// upstream prints for "cannot be both set".
fn internal_spec_json(spec: &Value) -> Value {
    let f = |k: &str| get(spec, k).cloned().unwrap_or(Value::Null);
    json!({"MinAvailable": f("minAvailable"), "Selector": f("selector"), "MaxUnavailable": f("maxUnavailable"),
        "UnhealthyPodEvictionPolicy": f("unhealthyPodEvictionPolicy")})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(spec: Value) -> Vec<String> {
        let obj = json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec});
        validate_pdb(&obj).iter().map(|e| format!("{}: {}", e.field, e.detail)).collect()
    }

    #[test]
    fn exactly_one_of_min_and_max() {
        let sel = json!({"matchLabels": {"app": "web"}});
        assert!(errs(json!({"maxUnavailable": 1, "selector": sel})).is_empty());
        assert!(errs(json!({"minAvailable": "50%", "selector": sel})).is_empty());
        assert_eq!(
            errs(json!({"minAvailable": 1, "maxUnavailable": 1, "selector": sel})),
            vec!["spec: minAvailable and maxUnavailable cannot be both set"]
        );
    }

    #[test]
    fn int_or_percent_rules() {
        assert_eq!(errs(json!({"maxUnavailable": -1})), vec!["spec.maxUnavailable: must be greater than or equal to 0"]);
        assert_eq!(errs(json!({"minAvailable": "120%"})), vec!["spec.minAvailable: must not be greater than 100%"]);
        assert_eq!(errs(json!({"minAvailable": "x"})), vec![format!("spec.minAvailable: {PERCENT_MSG}")]);
        assert_eq!(percent_value("100%"), Some(100));
        assert_eq!(percent_value("%"), None);
    }

    #[test]
    fn selector_and_policy_are_checked() {
        let bad = errs(json!({"maxUnavailable": 1, "selector": {"matchExpressions": [{"key": "a", "operator": "Foo"}]}}));
        assert_eq!(bad, vec!["spec.selector.matchExpressions[0].operator: not a valid selector operator"]);
        let bad = errs(json!({"maxUnavailable": 1, "unhealthyPodEvictionPolicy": "Never"}));
        assert_eq!(bad.len(), 1);
    }
}
