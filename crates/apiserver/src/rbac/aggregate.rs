//! ClusterRole aggregation, pure: upstream's clusterrole-aggregation controller fills the
//! `rules` of every ClusterRole with an `aggregationRule` with the rules of the ClusterRoles
//! its selectors match (by name order, without duplicates, never itself).

use std::collections::BTreeMap;

use berth_api::selectors::LabelSelector;
use serde_json::Value;

use super::rules::Rule;

/// The ClusterRoles (by name) whose `rules` must change, with their new rules.
pub fn changes(roles: &BTreeMap<String, Value>) -> Vec<(String, Vec<Value>)> {
    let mut out = Vec::new();
    for (name, role) in roles {
        let Some(selectors) = role["aggregationRule"]["clusterRoleSelectors"].as_array() else { continue };
        let mut seen: Vec<Rule> = Vec::new();
        let mut rules: Vec<Value> = Vec::new();
        for sel in selectors {
            let Ok(sel) = LabelSelector::from_label_selector(sel) else { continue };
            for (other_name, other) in roles {
                let labels = other["metadata"]["labels"].as_object().cloned().unwrap_or_default();
                if other_name == name || !sel.matches(&labels) {
                    continue;
                }
                for r in other["rules"].as_array().into_iter().flatten() {
                    let parsed = Rule::from_json(r);
                    if !seen.contains(&parsed) {
                        seen.push(parsed);
                        rules.push(r.clone());
                    }
                }
            }
        }
        if Rule::list(role) != seen {
            out.push((name.clone(), rules));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn role(name: &str, labels: Value, rules: Value, agg: Option<&str>) -> (String, Value) {
        let mut r = json!({"metadata": {"name": name, "labels": labels}, "rules": rules});
        if let Some(label) = agg {
            r["aggregationRule"] = json!({"clusterRoleSelectors": [{"matchLabels": {label: "true"}}]});
        }
        (name.to_string(), r)
    }

    #[test]
    fn aggregates_matching_roles_without_duplicates() {
        let pods = json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]});
        let cms = json!({"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"]});
        let mut roles: BTreeMap<String, Value> = [
            role("view", json!({"agg-edit": "true"}), json!([]), Some("agg-view")),
            role("b-extra", json!({"agg-view": "true"}), json!([cms.clone(), pods.clone()]), None),
            role("a-base", json!({"agg-view": "true"}), json!([pods.clone()]), None),
            role("unrelated", json!({}), json!([json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})]), None),
            role("edit", json!({}), json!(null), Some("agg-edit")),
        ]
        .into_iter()
        .collect();
        let mut got = changes(&roles);
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(got, vec![("view".to_string(), vec![pods.clone(), cms.clone()])]);
        // Once applied, the controller converges: view's rules flow on into edit, then nothing.
        for _ in 0..3 {
            for (n, r) in changes(&roles) {
                roles.get_mut(&n).unwrap()["rules"] = Value::Array(r);
            }
        }
        assert!(changes(&roles).is_empty());
        assert_eq!(roles["edit"]["rules"], json!([pods, cms]));
    }
}
