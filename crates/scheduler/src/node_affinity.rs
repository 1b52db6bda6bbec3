//! Node selector matching (component-helpers `scheduling/corev1/nodeaffinity`): the pod's
//! `nodeSelector` and required node affinity, PV node affinity, and preferred-term weights.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, TopologySelectorTerm};

/// Reason of the NodeAffinity filter (`ErrReasonPod`).
pub const ERR_REASON_POD: &str = "node(s) didn't match Pod's node affinity/selector";
/// PreFilter rejection when every term pins `metadata.name` and the pins don't intersect.
pub const ERR_REASON_CONFLICT: &str = "pod affinity terms conflict";

static EMPTY: BTreeMap<String, String> = BTreeMap::new();

pub fn node_labels(node: &Node) -> &BTreeMap<String, String> {
    node.metadata.labels.as_ref().unwrap_or(&EMPTY)
}

pub fn node_name(node: &Node) -> &str {
    node.metadata.name.as_deref().unwrap_or("")
}

/// One `matchExpressions` requirement against a label set (`labels.Requirement.Matches` after
/// `nodeSelectorRequirementsAsSelector`). A malformed requirement matches nothing, as upstream
/// drops terms that fail to parse ("ignore parsing errors for backwards compatibility").
fn label_requirement_matches(r: &NodeSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let values = r.values.as_deref().unwrap_or(&[]);
    let value = labels.get(&r.key);
    match r.operator.as_str() {
        "In" => !values.is_empty() && value.is_some_and(|v| values.contains(v)),
        "NotIn" => !values.is_empty() && value.is_none_or(|v| !values.contains(v)),
        "Exists" => values.is_empty() && value.is_some(),
        "DoesNotExist" => values.is_empty() && value.is_none(),
        "Gt" | "Lt" => {
            // Exactly one integer value; the label must be an integer too.
            let [bound] = values else { return false };
            let (Ok(bound), Some(Ok(actual))) = (bound.parse::<i64>(), value.map(|v| v.parse::<i64>())) else {
                return false;
            };
            if r.operator == "Gt" {
                actual > bound
            } else {
                actual < bound
            }
        }
        _ => false,
    }
}

/// One `matchFields` requirement: only `metadata.name` with `In`/`NotIn` is valid.
fn field_requirement_matches(r: &NodeSelectorRequirement, name: &str) -> bool {
    if r.key != "metadata.name" {
        return false;
    }
    let values = r.values.as_deref().unwrap_or(&[]);
    match r.operator.as_str() {
        "In" => values.len() == 1 && values[0] == name,
        "NotIn" => values.len() == 1 && values[0] != name,
        _ => false,
    }
}

/// A term is the AND of its requirements; a term with no requirements matches nothing.
pub fn term_matches(term: &NodeSelectorTerm, labels: &BTreeMap<String, String>, name: &str) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    exprs.iter().all(|r| label_requirement_matches(r, labels)) && fields.iter().all(|r| field_requirement_matches(r, name))
}

/// Terms are ORed (`MatchNodeSelectorTerms`).
pub fn selector_matches(selector: &NodeSelector, labels: &BTreeMap<String, String>, name: &str) -> bool {
    selector.node_selector_terms.iter().any(|t| term_matches(t, labels, name))
}

fn required_affinity(pod: &Pod) -> Option<&NodeSelector> {
    pod.spec.as_ref()?.affinity.as_ref()?.node_affinity.as_ref()?.required_during_scheduling_ignored_during_execution.as_ref()
}

/// `RequiredNodeAffinity.Match`: `nodeSelector` (every pair equal) and the required affinity.
pub fn pod_matches_node(pod: &Pod, node: &Node) -> bool {
    let labels = node_labels(node);
    if let Some(selector) = pod.spec.as_ref().and_then(|s| s.node_selector.as_ref()) {
        if !selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            return false;
        }
    }
    match required_affinity(pod) {
        Some(required) => selector_matches(required, labels, node_name(node)),
        None => true,
    }
}

/// The NodeAffinity PreFilter: when every required term pins `metadata.name In [...]`, the
/// union over terms of the intersection within each term. `Ok(None)` = all nodes;
/// `Err` = the terms conflict (no node can match).
pub fn pre_filter_node_names(pod: &Pod) -> Result<Option<BTreeSet<String>>, &'static str> {
    let Some(required) = required_affinity(pod) else { return Ok(None) };
    if required.node_selector_terms.is_empty() {
        return Ok(None);
    }
    let mut union: BTreeSet<String> = BTreeSet::new();
    for term in &required.node_selector_terms {
        let mut term_names: Option<BTreeSet<String>> = None;
        for r in term.match_fields.as_deref().unwrap_or(&[]) {
            if r.key == "metadata.name" && r.operator == "In" {
                let set: BTreeSet<String> = r.values.iter().flatten().cloned().collect();
                term_names = Some(match term_names {
                    None => set,
                    Some(prev) => prev.intersection(&set).cloned().collect(),
                });
            }
        }
        // A term without a name pin admits every node, and terms are ORed.
        let Some(names) = term_names else { return Ok(None) };
        union.extend(names);
    }
    if union.is_empty() {
        Err(ERR_REASON_CONFLICT)
    } else {
        Ok(Some(union))
    }
}

/// Sum of the weights of the pod's preferred terms that the node matches (NodeAffinity score).
pub fn preferred_weight(pod: &Pod, node: &Node) -> i64 {
    let Some(preferred) = pod
        .spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| n.preferred_during_scheduling_ignored_during_execution.as_ref())
    else {
        return 0;
    };
    let labels = node_labels(node);
    preferred
        .iter()
        .filter(|p| p.weight != 0 && term_matches(&p.preference, labels, node_name(node)))
        .map(|p| i64::from(p.weight))
        .sum()
}

/// `MatchTopologySelectorTerms` (StorageClass `allowedTopologies`): no terms admit every node;
/// otherwise some non-empty term must have every label requirement satisfied.
pub fn topology_terms_match(terms: &[TopologySelectorTerm], labels: &BTreeMap<String, String>) -> bool {
    if terms.is_empty() {
        return true;
    }
    // An empty term selects nothing.
    terms.iter().any(|t| {
        let reqs = t.match_label_expressions.as_deref().unwrap_or(&[]);
        !reqs.is_empty() && reqs.iter().all(|req| labels.get(&req.key).is_some_and(|v| req.values.contains(v)))
    })
}
