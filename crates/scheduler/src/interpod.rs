//! The InterPodAffinity filter, required terms only (`interpodaffinity/filtering.go`): the
//! pod's podAffinity and podAntiAffinity, and existing pods' podAntiAffinity against it.

use std::collections::{BTreeMap, HashMap};

use berth_api::selectors::LabelSelector;
use k8s_openapi::api::core::v1::{Node, Pod, PodAffinityTerm};
use serde_json::{Map, Value};

use crate::node_affinity::node_labels;
use crate::status::Status;

pub const ERR_REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
pub const ERR_REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
pub const ERR_REASON_EXISTING_ANTI_AFFINITY: &str = "node(s) didn't satisfy existing pods anti-affinity rules";

/// A required term, resolved (upstream `framework.AffinityTerm`).
struct Term {
    /// `None` = every namespace (`namespaceSelector: {}`).
    namespaces: Option<Vec<String>>,
    selector: LabelSelector,
    topology_key: String,
}

impl Term {
    /// Namespaces default to the owning pod's when neither list nor selector is given. The
    /// snapshot carries no Namespace objects, so a non-empty `namespaceSelector` can't be
    /// evaluated: it adds no namespaces beyond the explicit list.
    fn new(owner: &Pod, t: &PodAffinityTerm) -> Term {
        let listed = t.namespaces.clone().unwrap_or_default();
        let namespaces = match &t.namespace_selector {
            Some(sel) if sel.match_labels.as_ref().is_none_or(|m| m.is_empty()) && sel.match_expressions.as_ref().is_none_or(|e| e.is_empty()) => None,
            Some(_) => Some(listed),
            None if listed.is_empty() => Some(vec![owner.metadata.namespace.clone().unwrap_or_default()]),
            None => Some(listed),
        };
        let selector = t
            .label_selector
            .as_ref()
            .and_then(|s| serde_json::to_value(s).ok())
            .and_then(|v| LabelSelector::from_label_selector(&v).ok())
            .unwrap_or_else(LabelSelector::nothing);
        Term { namespaces, selector, topology_key: t.topology_key.clone() }
    }

    fn matches(&self, pod: &Pod) -> bool {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        self.namespaces.as_ref().is_none_or(|list| list.iter().any(|n| n == ns)) && self.selector.matches(&label_map(pod))
    }
}

fn label_map(pod: &Pod) -> Map<String, Value> {
    pod.metadata.labels.iter().flatten().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()
}

fn required_terms(pod: &Pod, anti: bool) -> Vec<Term> {
    let affinity = pod.spec.as_ref().and_then(|s| s.affinity.as_ref());
    let terms = if anti {
        affinity.and_then(|a| a.pod_anti_affinity.as_ref()).and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())
    } else {
        affinity.and_then(|a| a.pod_affinity.as_ref()).and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())
    };
    terms.iter().flat_map(|ts| ts.iter()).map(|t| Term::new(pod, t)).collect()
}

type TopologyCounts = HashMap<(String, String), usize>;

/// Counts computed once per pod from the pods already placed (upstream's PreFilter state).
pub struct InterPodState {
    affinity_terms: Vec<Term>,
    anti_affinity_terms: Vec<Term>,
    affinity_counts: TopologyCounts,
    anti_affinity_counts: TopologyCounts,
    existing_anti_affinity_counts: TopologyCounts,
    pod_matches_own_affinity: bool,
}

impl InterPodState {
    /// `placed`: every (node, pods on it) the filters see.
    pub fn new<'a>(pod: &Pod, placed: impl Iterator<Item = (&'a Node, &'a [&'a Pod])>) -> InterPodState {
        let affinity_terms = required_terms(pod, false);
        let anti_affinity_terms = required_terms(pod, true);
        let mut state = InterPodState {
            pod_matches_own_affinity: affinity_terms.iter().all(|t| t.matches(pod)),
            affinity_terms,
            anti_affinity_terms,
            affinity_counts: TopologyCounts::new(),
            anti_affinity_counts: TopologyCounts::new(),
            existing_anti_affinity_counts: TopologyCounts::new(),
        };
        for (node, pods) in placed {
            let labels = node_labels(node);
            let bump = |counts: &mut TopologyCounts, key: &str| {
                if let Some(value) = labels.get(key) {
                    *counts.entry((key.to_string(), value.clone())).or_default() += 1;
                }
            };
            for existing in pods {
                // A pod counts for affinity only if it matches every term.
                if !state.affinity_terms.is_empty() && state.affinity_terms.iter().all(|t| t.matches(existing)) {
                    for t in &state.affinity_terms {
                        bump(&mut state.affinity_counts, &t.topology_key);
                    }
                }
                for t in state.anti_affinity_terms.iter().filter(|t| t.matches(existing)) {
                    bump(&mut state.anti_affinity_counts, &t.topology_key);
                }
                for t in required_terms(existing, true).iter().filter(|t| t.matches(pod)) {
                    bump(&mut state.existing_anti_affinity_counts, &t.topology_key);
                }
            }
        }
        state
    }

    fn count(counts: &TopologyCounts, labels: &BTreeMap<String, String>, key: &str) -> Option<usize> {
        labels.get(key).map(|v| counts.get(&(key.to_string(), v.clone())).copied().unwrap_or(0))
    }

    /// The filter for one node, in upstream's order.
    pub fn filter(&self, node: &Node) -> Result<(), Status> {
        let labels = node_labels(node);
        let mut pods_exist = true;
        for t in &self.affinity_terms {
            match Self::count(&self.affinity_counts, labels, &t.topology_key) {
                // Every topology key must be on the node.
                None => return Err(Status::unresolvable(ERR_REASON_AFFINITY)),
                Some(0) => pods_exist = false,
                Some(_) => {}
            }
        }
        // The first pod of a group with affinity to itself may go anywhere that has the keys.
        let first_of_group = self.affinity_counts.is_empty() && self.pod_matches_own_affinity;
        if !(pods_exist || first_of_group) {
            return Err(Status::unresolvable(ERR_REASON_AFFINITY));
        }
        if self.anti_affinity_terms.iter().any(|t| Self::count(&self.anti_affinity_counts, labels, &t.topology_key).unwrap_or(0) > 0) {
            return Err(Status::unschedulable(vec![ERR_REASON_ANTI_AFFINITY.to_string()]));
        }
        if labels.iter().any(|(k, v)| self.existing_anti_affinity_counts.get(&(k.clone(), v.clone())).copied().unwrap_or(0) > 0) {
            return Err(Status::unschedulable(vec![ERR_REASON_EXISTING_ANTI_AFFINITY.to_string()]));
        }
        Ok(())
    }
}
