//! The scheduler's view of the cluster: the watch caches plus what it has decided but not yet
//! seen come back through the watches (upstream's "assumed" pods and volumes). Pure.
//!
//! Pods are kept in a [`Placed`] index, updated per pod watch event and per assumption, so an
//! attempt never copies or walks every pod; volume objects are copied into each burst's
//! snapshot with the volume assumptions laid over them.
//!
//! A pod is assumed on its node from the moment the scheduler picks the node until the pod
//! watch shows `spec.nodeName` (or the binding fails, or the pod is deleted). Volume decisions
//! are assumed the same way until the PV/PVC watches show them, so the next pod in the same
//! burst neither takes the last slot of the node nor the PV just chosen for another claim.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, ObjectReference, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;

use super::changes::{is_assigned, occupies_node};
use super::queue::PodKey;
use crate::placed::Placed;
use crate::volumes::ANN_SELECTED_NODE;
use crate::ClusterSnapshot;

/// Upstream `pv.kubernetes.io/bound-by-controller`: the PV's claimRef was set by a controller
/// (here the scheduler, on the PV controller's behalf), not by the user.
pub const ANN_BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";

#[derive(Debug, Clone)]
struct AssumedPod {
    /// PVs given a claimRef and claims given a selected node for this pod.
    pvs: Vec<String>,
    claims: Vec<PodKey>,
}

#[derive(Debug, Default)]
pub struct SchedulerCache {
    assumed: HashMap<PodKey, AssumedPod>,
    /// PV name → the claimRef the scheduler set (or is setting).
    claim_refs: HashMap<String, ObjectReference>,
    /// Claim → the node the scheduler selected for provisioning.
    selected_nodes: HashMap<PodKey, String>,
    /// Pods on nodes: the watch cache's assigned pods plus the assumed ones.
    placed: Placed,
}

/// The volume work of one binding decision, resolved to objects.
#[derive(Debug, Clone, Default)]
pub struct AssumedVolumes {
    /// (PV name, claimRef to set).
    pub claim_refs: Vec<(String, ObjectReference)>,
    /// Claims to annotate with the selected node.
    pub provisions: Vec<PodKey>,
}

/// `GetReference` of a claim, as upstream's `GetBindVolumeToClaim` puts it in `claimRef`.
pub fn claim_reference(pvc: &PersistentVolumeClaim) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("PersistentVolumeClaim".into()),
        namespace: pvc.metadata.namespace.clone(),
        name: pvc.metadata.name.clone(),
        uid: pvc.metadata.uid.clone(),
        resource_version: pvc.metadata.resource_version.clone(),
        ..Default::default()
    }
}

fn pod_key(pod: &Pod) -> PodKey {
    PodKey::new(pod.metadata.namespace.as_deref().unwrap_or(""), pod.metadata.name.as_deref().unwrap_or(""))
}

fn claim_key(pvc: &PersistentVolumeClaim) -> PodKey {
    PodKey::new(pvc.metadata.namespace.as_deref().unwrap_or(""), pvc.metadata.name.as_deref().unwrap_or(""))
}

fn with_node(pod: &Pod, node: &str) -> Pod {
    let mut pod = pod.clone();
    pod.spec.get_or_insert_with(Default::default).node_name = Some(node.to_string());
    pod
}

fn has_claim_ref(pv: &PersistentVolume) -> bool {
    pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).is_some()
}

fn selected_node(pvc: &PersistentVolumeClaim) -> Option<&str> {
    pvc.metadata.annotations.as_ref()?.get(ANN_SELECTED_NODE).map(String::as_str)
}

fn put_claim_ref(snapshot: &mut ClusterSnapshot, pv: &str, claim_ref: &ObjectReference) {
    if let Some(v) = snapshot.pvs.iter_mut().find(|v| v.metadata.name.as_deref() == Some(pv)) {
        v.spec.get_or_insert_with(Default::default).claim_ref = Some(claim_ref.clone());
        v.metadata.annotations.get_or_insert_with(Default::default).insert(ANN_BOUND_BY_CONTROLLER.into(), "yes".into());
    }
}

fn put_selected_node(snapshot: &mut ClusterSnapshot, claim: &PodKey, node: &str) {
    if let Some(c) = snapshot.pvcs.iter_mut().find(|c| &claim_key(c) == claim) {
        c.metadata.annotations.get_or_insert_with(Default::default).insert(ANN_SELECTED_NODE.into(), node.to_string());
    }
}

impl SchedulerCache {
    pub fn new() -> SchedulerCache {
        SchedulerCache::default()
    }

    pub fn is_assumed(&self, key: &PodKey) -> bool {
        self.assumed.contains_key(key)
    }

    pub fn assumed_count(&self) -> usize {
        self.assumed.len()
    }

    /// The pods on nodes, for [`crate::schedule_placed`].
    pub fn placed(&self) -> &Placed {
        &self.placed
    }

    /// A pod watch event (add or update). An assigned pod is the watch cache's from now on
    /// (its assumption, if any, is confirmed); an unassigned one keeps its assumption while
    /// its binding is in flight.
    pub fn pod_applied(&mut self, pod: Arc<Pod>) {
        let key = pod_key(&pod);
        if is_assigned(&pod) {
            self.confirm(&key);
        }
        if occupies_node(&pod) || !self.assumed.contains_key(&key) {
            self.placed.set(pod);
        }
    }

    /// The pod is deleted: stop counting it and its volume choices.
    pub fn pod_gone(&mut self, key: &PodKey) {
        self.forget(key);
        self.placed.remove(&(key.namespace.clone(), key.name.clone()));
    }

    /// Count `pod` on `node` (and its volume choices) from now on, in the cache and in the
    /// snapshot the current burst of attempts reads.
    pub fn assume(&mut self, pod: &Pod, node: &str, volumes: &AssumedVolumes, snapshot: &mut ClusterSnapshot) {
        self.placed.set(Arc::new(with_node(pod, node)));
        for (pv, claim_ref) in &volumes.claim_refs {
            put_claim_ref(snapshot, pv, claim_ref);
            self.claim_refs.insert(pv.clone(), claim_ref.clone());
        }
        for claim in &volumes.provisions {
            put_selected_node(snapshot, claim, node);
            self.selected_nodes.insert(claim.clone(), node.to_string());
        }
        self.assumed.insert(
            pod_key(pod),
            AssumedPod {
                pvs: volumes.claim_refs.iter().map(|(pv, _)| pv.clone()).collect(),
                claims: volumes.provisions.clone(),
            },
        );
    }

    /// The binding failed or the pod is gone: stop counting it and its volume choices. (A
    /// pod the watch already showed assigned is no longer assumed and stays placed.)
    pub fn forget(&mut self, key: &PodKey) {
        if let Some(a) = self.assumed.remove(key) {
            self.placed.remove(&(key.namespace.clone(), key.name.clone()));
            for pv in a.pvs {
                self.claim_refs.remove(&pv);
            }
            for claim in a.claims {
                self.selected_nodes.remove(&claim);
            }
        }
    }

    /// The pod watch showed the pod assigned: the watch cache now counts it. Its volume choices
    /// stay assumed until the volume watches show them.
    pub fn confirm(&mut self, key: &PodKey) {
        self.assumed.remove(key);
    }

    /// A snapshot of the watch caches with the volume assumptions laid over them (pods are in
    /// [`SchedulerCache::placed`]; `snapshot.pods` stays empty). Volume assumptions the caches
    /// already reflect (or whose objects are gone) are dropped here.
    pub fn snapshot(
        &mut self,
        nodes: Vec<Node>,
        pvcs: Vec<PersistentVolumeClaim>,
        pvs: Vec<PersistentVolume>,
        storage_classes: Vec<StorageClass>,
    ) -> ClusterSnapshot {
        self.claim_refs.retain(|name, _| pvs.iter().any(|v| v.metadata.name.as_deref() == Some(name.as_str()) && !has_claim_ref(v)));
        self.selected_nodes.retain(|key, _| pvcs.iter().any(|c| &claim_key(c) == key && selected_node(c).is_none()));
        let mut snapshot = ClusterSnapshot { nodes, pods: Vec::new(), pvcs, pvs, storage_classes };
        for (pv, claim_ref) in &self.claim_refs {
            put_claim_ref(&mut snapshot, pv, claim_ref);
        }
        for (claim, node) in &self.selected_nodes {
            put_selected_node(&mut snapshot, claim, node);
        }
        snapshot
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
