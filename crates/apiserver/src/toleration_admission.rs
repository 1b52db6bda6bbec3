//! Upstream's `DefaultTolerationSeconds` admission plugin: every pod created without a
//! NoExecute toleration for `node.kubernetes.io/not-ready` / `node.kubernetes.io/unreachable`
//! gets one with `tolerationSeconds` (300 by default, the kube-apiserver flags
//! `--default-not-ready-toleration-seconds` / `--default-unreachable-toleration-seconds`). The
//! taint eviction controller then evicts the pod that long after its node went away.

use serde_json::{json, Value};

pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// The seconds the plugin puts into the tolerations it adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TolerationDefaults {
    pub not_ready_seconds: i64,
    pub unreachable_seconds: i64,
}

impl Default for TolerationDefaults {
    fn default() -> Self {
        TolerationDefaults { not_ready_seconds: 300, unreachable_seconds: 300 }
    }
}

/// A toleration already covers `key` for NoExecute when its key is `key` or empty (a wildcard)
/// and its effect is NoExecute or empty (every effect) — upstream's test, which ignores the
/// operator and value.
fn covers(t: &Value, key: &str) -> bool {
    let k = t.get("key").and_then(Value::as_str).unwrap_or("");
    let e = t.get("effect").and_then(Value::as_str).unwrap_or("");
    (k == key || k.is_empty()) && (e == "NoExecute" || e.is_empty())
}

/// Add the missing default tolerations to the pod `obj` (JSON as received), in upstream's
/// order (not-ready, then unreachable).
pub fn admit_pod(obj: &mut Value, d: TolerationDefaults) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else { return };
    let existing: Vec<Value> = spec.get("tolerations").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut add = Vec::new();
    for (key, seconds) in [(TAINT_NOT_READY, d.not_ready_seconds), (TAINT_UNREACHABLE, d.unreachable_seconds)] {
        if !existing.iter().any(|t| covers(t, key)) {
            add.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds}));
        }
    }
    if add.is_empty() {
        return;
    }
    let mut all = existing;
    all.extend(add);
    spec.insert("tolerations".into(), Value::Array(all));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_both_tolerations_with_the_configured_seconds() {
        let mut pod = json!({"spec": {"containers": [{"name": "c"}]}});
        admit_pod(&mut pod, TolerationDefaults { not_ready_seconds: 2, unreachable_seconds: 3 });
        assert_eq!(
            pod["spec"]["tolerations"],
            json!([
                {"key": TAINT_NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2},
                {"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 3},
            ])
        );
    }

    #[test]
    fn keeps_existing_tolerations_and_adds_only_what_is_missing() {
        let own = json!({"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 6000});
        let mut pod = json!({"spec": {"tolerations": [own.clone()]}});
        admit_pod(&mut pod, TolerationDefaults::default());
        let t = pod["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0], own);
        assert_eq!(t[1]["key"], TAINT_NOT_READY);
        assert_eq!(t[1]["tolerationSeconds"], 300);
    }

    #[test]
    fn a_wildcard_toleration_covers_both() {
        let mut pod = json!({"spec": {"tolerations": [{"operator": "Exists"}]}});
        admit_pod(&mut pod, TolerationDefaults::default());
        assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().len(), 1);
        // A NoSchedule-only toleration does not cover NoExecute.
        let mut pod = json!({"spec": {"tolerations": [{"key": TAINT_NOT_READY, "operator": "Exists", "effect": "NoSchedule"}]}});
        admit_pod(&mut pod, TolerationDefaults::default());
        assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().len(), 3);
    }
}
