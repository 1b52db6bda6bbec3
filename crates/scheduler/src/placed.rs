//! What is placed on each node, kept up to date one pod at a time (upstream's `NodeInfo`s in
//! the scheduler cache): the pods on each node with their summed requests and host ports. A
//! scheduling attempt reads these per-node totals instead of walking (and re-parsing the
//! requests of) every pod in the cluster, so its cost grows with the number of nodes, not pods.
//!
//! A pod is placed while it is assigned (`spec.nodeName`) and not finished
//! (`Succeeded`/`Failed`): exactly the pods that hold resources on a node.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::ports::{self, HostPort};
use crate::resources::{self, Resource};

/// (namespace, name).
pub type PodName = (String, String);

/// One node's pods and what they hold.
#[derive(Debug, Clone, Default)]
pub struct NodeUsage {
    /// Ordered by name so that everything derived from the list is deterministic.
    pub pods: BTreeMap<PodName, Arc<Pod>>,
    pub requested: Resource,
    /// Requests with scoring's defaults for containers that ask for nothing.
    pub non_zero_requested: Resource,
    pub used_ports: Vec<HostPort>,
}

/// A placed pod's contribution, remembered to take it back off its node.
#[derive(Debug, Clone)]
struct Entry {
    node: String,
    anti_affinity: bool,
    requests: Resource,
    non_zero: Resource,
    ports: Vec<HostPort>,
}

#[derive(Debug, Clone, Default)]
pub struct Placed {
    entries: HashMap<PodName, Entry>,
    nodes: HashMap<String, NodeUsage>,
    /// Placed pods with required pod anti-affinity terms (upstream's
    /// `HavePodsWithRequiredAntiAffinityList`): while there are none, a pod without affinity
    /// terms of its own needs no look at the other pods.
    with_required_anti_affinity: usize,
}

pub fn pod_name(pod: &Pod) -> PodName {
    (pod.metadata.namespace.clone().unwrap_or_default(), pod.metadata.name.clone().unwrap_or_default())
}

fn assigned_node(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty())
}

/// The pod has required pod anti-affinity terms.
pub fn has_required_anti_affinity(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())
        .is_some_and(|t| !t.is_empty())
}

fn is_finished(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

impl Placed {
    pub fn new() -> Placed {
        Placed::default()
    }

    /// Index a list of pods (e.g. a test's snapshot).
    pub fn from_pods<'a>(pods: impl IntoIterator<Item = &'a Pod>) -> Placed {
        let mut placed = Placed::new();
        for p in pods {
            placed.set(Arc::new(p.clone()));
        }
        placed
    }

    /// Record the pod's current state: placed on its node if assigned and unfinished,
    /// otherwise not placed anywhere.
    pub fn set(&mut self, pod: Arc<Pod>) {
        let key = pod_name(&pod);
        let node = match assigned_node(&pod) {
            Some(n) if !is_finished(&pod) => n.to_string(),
            _ => {
                self.remove(&key);
                return;
            }
        };
        match self.entries.get(&key) {
            // Same node: only the object changes (status updates); requests and ports are
            // immutable for a bound pod, so the totals stay.
            Some(e) if e.node == node => {
                if let Some(usage) = self.nodes.get_mut(&node) {
                    usage.pods.insert(key, pod);
                }
                return;
            }
            Some(_) => self.remove(&key),
            None => {}
        }
        let entry = Entry {
            node: node.clone(),
            anti_affinity: has_required_anti_affinity(&pod),
            requests: resources::pod_requests(&pod),
            non_zero: resources::pod_non_zero_requests(&pod),
            ports: ports::host_ports(&pod),
        };
        let usage = self.nodes.entry(node).or_default();
        usage.requested.add(&entry.requests);
        usage.non_zero_requested.add(&entry.non_zero);
        usage.used_ports.extend(entry.ports.iter().cloned());
        usage.pods.insert(key.clone(), pod);
        self.with_required_anti_affinity += entry.anti_affinity as usize;
        self.entries.insert(key, entry);
    }

    /// The pod is gone (or no longer holds anything).
    pub fn remove(&mut self, key: &PodName) {
        let Some(entry) = self.entries.remove(key) else { return };
        self.with_required_anti_affinity -= entry.anti_affinity as usize;
        let Some(usage) = self.nodes.get_mut(&entry.node) else { return };
        usage.pods.remove(key);
        if usage.pods.is_empty() {
            self.nodes.remove(&entry.node);
            return;
        }
        usage.requested.sub(&entry.requests);
        usage.non_zero_requested.sub(&entry.non_zero);
        for p in &entry.ports {
            if let Some(i) = usage.used_ports.iter().position(|u| u == p) {
                usage.used_ports.swap_remove(i);
            }
        }
    }

    pub fn node(&self, name: &str) -> Option<&NodeUsage> {
        self.nodes.get(name)
    }

    /// The node the pod is placed on, if any.
    pub fn node_of(&self, key: &PodName) -> Option<&str> {
        self.entries.get(key).map(|e| e.node.as_str())
    }

    /// Placed pods with required pod anti-affinity terms.
    pub fn with_required_anti_affinity(&self) -> usize {
        self.with_required_anti_affinity
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, node: Option<&str>, cpu: &str, phase: &str) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i",
                    "resources": {"requests": {"cpu": cpu}}, "ports": [{"containerPort": 80, "hostPort": 8080}]}]},
                "status": {"phase": phase}
            }))
            .unwrap(),
        )
    }

    fn key(name: &str) -> PodName {
        ("default".into(), name.into())
    }

    /// The totals always equal a recount from scratch.
    fn assert_consistent(p: &Placed) {
        for (name, usage) in &p.nodes {
            let mut fresh = Placed::new();
            for pod in usage.pods.values() {
                fresh.set(pod.clone());
            }
            let f = fresh.node(name).unwrap();
            assert_eq!((&f.requested, &f.non_zero_requested, f.used_ports.len()), (&usage.requested, &usage.non_zero_requested, usage.used_ports.len()));
        }
    }

    #[test]
    fn totals_follow_binding_moves_finishing_and_deletion() {
        let mut p = Placed::new();
        p.set(pod("a", None, "100m", "Pending"));
        assert!(p.is_empty(), "unassigned pods hold nothing");
        p.set(pod("a", Some("n1"), "100m", "Pending"));
        p.set(pod("b", Some("n1"), "250m", "Running"));
        assert_eq!(p.node("n1").unwrap().requested.milli_cpu, 350);
        assert_eq!(p.node("n1").unwrap().used_ports.len(), 2);
        // A status update on the same node changes the object, not the totals.
        p.set(pod("a", Some("n1"), "100m", "Running"));
        assert_eq!(p.node("n1").unwrap().requested.milli_cpu, 350);
        assert_eq!(p.node("n1").unwrap().pods[&key("a")].status.as_ref().unwrap().phase.as_deref(), Some("Running"));
        assert_consistent(&p);
        // Moved (an assumption replaced by another binding): off n1, onto n2.
        p.set(pod("a", Some("n2"), "100m", "Running"));
        assert_eq!((p.node("n1").unwrap().requested.milli_cpu, p.node("n2").unwrap().requested.milli_cpu), (250, 100));
        assert_eq!(p.node_of(&key("a")), Some("n2"));
        assert_consistent(&p);
        // Finished pods hold nothing; deleted ones neither.
        p.set(pod("b", Some("n1"), "250m", "Succeeded"));
        assert!(p.node("n1").is_none());
        p.remove(&key("a"));
        assert!(p.is_empty());
    }
}
