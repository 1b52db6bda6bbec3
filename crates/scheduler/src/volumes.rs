//! The VolumeBinding plugin (`volumebinding/volume_binding.go`, `binder.go`, component-helpers
//! `storage/volume` `FindMatchingVolume`): which claims are ready, which nodes their volumes
//! allow, and for WaitForFirstConsumer claims which PV to bind or whether to provision.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::node_affinity::{node_labels, node_name, selector_matches, topology_terms_match};
use crate::quantity::{parse_or_zero, Quantity};
use crate::status::Status;
use crate::ClusterSnapshot;

pub const ANN_BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
pub const ANN_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
const ANN_STORAGE_CLASS_BETA: &str = "volume.beta.kubernetes.io/storage-class";
const NOT_SUPPORTED_PROVISIONER: &str = "kubernetes.io/no-provisioner";
const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";

pub const ERR_REASON_UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";
/// `ErrReasonNodeConflict`
pub const ERR_REASON_NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";
/// `ErrReasonBindConflict`
pub const ERR_REASON_BIND_CONFLICT: &str = "node(s) didn't find available persistent volumes to bind";
/// `ErrReasonPVNotExist`
pub const ERR_REASON_PV_NOT_EXIST: &str = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";

/// The pod's claims that reached the Filter stage, sorted the way upstream's binder sorts them.
#[derive(Debug, Default)]
pub struct PodVolumeClaims<'a> {
    pub bound: Vec<&'a PersistentVolumeClaim>,
    /// Unbound claims of a WaitForFirstConsumer class with no `spec.volumeName`.
    pub unbound_delay_binding: Vec<&'a PersistentVolumeClaim>,
}

/// What the binder must do for a feasible node before binding the pod.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NodeVolumes {
    /// (claim name, PV name): set the PV's `claimRef` to the claim.
    pub bindings: Vec<(String, String)>,
    /// Claims to annotate with `volume.kubernetes.io/selected-node: <node>`.
    pub provisions: Vec<String>,
}

fn name(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or("")
}

fn annotation<'m>(meta: &'m ObjectMeta, key: &str) -> Option<&'m str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// `GetPersistentVolumeClaimClass`: the beta annotation wins over `spec.storageClassName`.
pub fn claim_class(pvc: &PersistentVolumeClaim) -> &str {
    annotation(&pvc.metadata, ANN_STORAGE_CLASS_BETA)
        .or_else(|| pvc.spec.as_ref()?.storage_class_name.as_deref())
        .unwrap_or("")
}

/// `GetPersistentVolumeClass`.
fn volume_class(pv: &PersistentVolume) -> &str {
    annotation(&pv.metadata, ANN_STORAGE_CLASS_BETA)
        .or_else(|| pv.spec.as_ref()?.storage_class_name.as_deref())
        .unwrap_or("")
}

fn volume_name(pvc: &PersistentVolumeClaim) -> &str {
    pvc.spec.as_ref().and_then(|s| s.volume_name.as_deref()).unwrap_or("")
}

/// `isPVCFullyBound`: a volume name *and* the PV controller's bind-completed annotation.
fn fully_bound(pvc: &PersistentVolumeClaim) -> bool {
    !volume_name(pvc).is_empty() && annotation(&pvc.metadata, ANN_BIND_COMPLETED).is_some()
}

/// `IsDelayBindingMode`: the class exists and says WaitForFirstConsumer. A missing class means
/// Immediate (the PV controller provisions or reports the missing class itself).
fn is_delay_binding(pvc: &PersistentVolumeClaim, snapshot: &ClusterSnapshot) -> bool {
    let class = claim_class(pvc);
    !class.is_empty()
        && snapshot
            .storage_classes
            .iter()
            .find(|c| name(&c.metadata) == class)
            .is_some_and(|c| c.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer"))
}

fn find_claim<'a>(snapshot: &'a ClusterSnapshot, namespace: &str, claim: &str) -> Option<&'a PersistentVolumeClaim> {
    snapshot
        .pvcs
        .iter()
        .find(|c| name(&c.metadata) == claim && c.metadata.namespace.as_deref().unwrap_or("") == namespace)
}

fn find_pv<'a>(snapshot: &'a ClusterSnapshot, pv: &str) -> Option<&'a PersistentVolume> {
    snapshot.pvs.iter().find(|v| name(&v.metadata) == pv)
}

/// PreFilter (`podHasPVCs` + `GetPodVolumeClaims`). `Ok(None)`: the pod uses no claim.
/// `Err`: the pod cannot be scheduled anywhere until a claim changes (missing, lost, being
/// deleted, not this pod's ephemeral claim, or an unbound Immediate claim).
pub fn pre_filter<'a>(pod: &Pod, snapshot: &'a ClusterSnapshot) -> Result<Option<PodVolumeClaims<'a>>, Status> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("");
    let pod_name = name(&pod.metadata);
    let mut claims = Vec::new();
    for vol in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        let (claim_name, ephemeral) = if let Some(src) = vol.persistent_volume_claim.as_ref() {
            (src.claim_name.clone(), false)
        } else if vol.ephemeral.is_some() {
            // Generic ephemeral volumes: the ephemeral controller creates `<pod>-<volume>`.
            (format!("{pod_name}-{}", vol.name), true)
        } else {
            continue;
        };
        let Some(pvc) = find_claim(snapshot, namespace, &claim_name) else {
            return Err(Status::unresolvable(if ephemeral {
                format!("waiting for ephemeral volume controller to create the persistentvolumeclaim \"{claim_name}\"")
            } else {
                format!("persistentvolumeclaim \"{claim_name}\" not found")
            }));
        };
        if pvc.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Lost") {
            return Err(Status::unresolvable(format!(
                "persistentvolumeclaim \"{claim_name}\" bound to non-existent persistentvolume \"{}\"",
                volume_name(pvc)
            )));
        }
        if pvc.metadata.deletion_timestamp.is_some() {
            return Err(Status::unresolvable(format!("persistentvolumeclaim \"{claim_name}\" is being deleted")));
        }
        if ephemeral && !controlled_by(&pvc.metadata, pod) {
            return Err(Status::unresolvable(format!(
                "PVC {namespace}/{claim_name} was not created for pod {namespace}/{pod_name} (pod is not owner)"
            )));
        }
        claims.push(pvc);
    }
    if claims.is_empty() {
        return Ok(None);
    }
    let mut out = PodVolumeClaims::default();
    let mut immediate = false;
    for pvc in claims {
        if fully_bound(pvc) {
            out.bound.push(pvc);
        } else if is_delay_binding(pvc, snapshot) && volume_name(pvc).is_empty() {
            out.unbound_delay_binding.push(pvc);
        } else {
            // Immediate claims are the PV controller's to bind; so is a claim pre-bound with
            // `spec.volumeName` whose binding has not completed yet.
            immediate = true;
        }
    }
    if immediate {
        return Err(Status::unresolvable(ERR_REASON_UNBOUND_IMMEDIATE));
    }
    Ok(Some(out))
}

fn controlled_by(meta: &ObjectMeta, pod: &Pod) -> bool {
    let uid = pod.metadata.uid.as_deref().unwrap_or("");
    meta.owner_references.iter().flatten().any(|r| r.controller == Some(true) && r.uid == uid)
}

/// `GetLocalPersistentVolumeNodeNames`: node names a PV is pinned to through
/// `kubernetes.io/hostname In [...]` (intersected within a term, united across terms).
fn local_pv_node_names(pv: &PersistentVolume) -> BTreeSet<String> {
    let mut result = BTreeSet::new();
    let Some(required) = pv.spec.as_ref().and_then(|s| s.node_affinity.as_ref()).and_then(|a| a.required.as_ref()) else {
        return result;
    };
    for term in &required.node_selector_terms {
        let mut nodes: Option<BTreeSet<String>> = None;
        for expr in term.match_expressions.iter().flatten() {
            if expr.key == LABEL_HOSTNAME && expr.operator == "In" {
                let set: BTreeSet<String> = expr.values.iter().flatten().cloned().collect();
                nodes = Some(match nodes {
                    None => set,
                    Some(prev) => prev.intersection(&set).cloned().collect(),
                });
            }
        }
        result.extend(nodes.unwrap_or_default());
    }
    result
}

/// `GetEligibleNodes`: the nodes every bound local PV allows (hostname labels taken as node
/// names, as upstream does). `None` = no restriction.
pub fn eligible_nodes(claims: &PodVolumeClaims<'_>, snapshot: &ClusterSnapshot) -> Option<BTreeSet<String>> {
    let mut eligible: Option<BTreeSet<String>> = None;
    for pvc in &claims.bound {
        let Some(pv) = find_pv(snapshot, volume_name(pvc)) else { continue };
        let names = local_pv_node_names(pv);
        if names.is_empty() {
            continue;
        }
        eligible = Some(match eligible {
            None => names,
            Some(prev) => prev.intersection(&names).cloned().collect(),
        });
    }
    eligible
}

/// `CheckNodeAffinity`: the PV's required node affinity against the node's labels. Upstream
/// builds a node with labels only, so a `matchFields` term never matches; the same here.
fn pv_fits_node(pv: &PersistentVolume, node: &Node) -> bool {
    match pv.spec.as_ref().and_then(|s| s.node_affinity.as_ref()).and_then(|a| a.required.as_ref()) {
        Some(required) => selector_matches(required, node_labels(node), ""),
        None => true,
    }
}

fn storage(list: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>) -> Quantity {
    list.and_then(|l| l.get("storage")).map(parse_or_zero).unwrap_or(Quantity::ZERO)
}

fn claim_request(pvc: &PersistentVolumeClaim) -> Quantity {
    storage(pvc.spec.as_ref().and_then(|s| s.resources.as_ref()).and_then(|r| r.requests.as_ref()))
}

/// `IsVolumeBoundToClaim`: the PV's claimRef names this claim (and its UID, if set).
fn pv_bound_to_claim(pv: &PersistentVolume, pvc: &PersistentVolumeClaim) -> bool {
    let Some(r) = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else { return false };
    r.name.as_deref() == pvc.metadata.name.as_deref()
        && r.namespace.as_deref() == pvc.metadata.namespace.as_deref()
        && r.uid.as_deref().is_none_or(|uid| uid.is_empty() || Some(uid) == pvc.metadata.uid.as_deref())
}

/// `FindMatchingVolume` on the scheduler path: a PV pre-bound to the claim wins outright (if the
/// node suits it); otherwise the smallest Available PV of the claim's class with enough
/// capacity, the same volume mode and attributes class, the claim's selector, access modes ⊇
/// the claim's, and node affinity admitting the node. PVs already chosen for another claim of
/// this pod are skipped.
fn find_matching_volume<'a>(
    pvc: &PersistentVolumeClaim,
    candidates: &[&'a PersistentVolume],
    node: &Node,
    chosen: &BTreeSet<&str>,
) -> Option<&'a PersistentVolume> {
    let spec = pvc.spec.as_ref();
    let requested = claim_request(pvc);
    let claim_mode = spec.and_then(|s| s.volume_mode.as_deref()).unwrap_or("Filesystem");
    let claim_vac = spec.and_then(|s| s.volume_attributes_class_name.as_deref()).unwrap_or("");
    let claim_modes = spec.and_then(|s| s.access_modes.as_deref()).unwrap_or(&[]);
    let selector = spec.and_then(|s| s.selector.as_ref()).map(|sel| {
        serde_json::to_value(sel)
            .ok()
            .and_then(|v| berth_api::selectors::LabelSelector::from_label_selector(&v).ok())
            // A selector the API server accepted always converts; if it somehow doesn't,
            // it selects nothing rather than everything.
            .unwrap_or_else(berth_api::selectors::LabelSelector::nothing)
    });

    let mut smallest: Option<(&PersistentVolume, Quantity)> = None;
    for &pv in candidates {
        let pv_name = name(&pv.metadata);
        if chosen.contains(pv_name) {
            continue;
        }
        let pv_spec = pv.spec.as_ref();
        if pv_spec.and_then(|s| s.claim_ref.as_ref()).is_some() && !pv_bound_to_claim(pv, pvc) {
            continue;
        }
        let capacity = storage(pv_spec.and_then(|s| s.capacity.as_ref()));
        if capacity < requested {
            continue;
        }
        if pv_spec.and_then(|s| s.volume_mode.as_deref()).unwrap_or("Filesystem") != claim_mode {
            continue;
        }
        if pv_spec.and_then(|s| s.volume_attributes_class_name.as_deref()).unwrap_or("") != claim_vac {
            continue;
        }
        if pv.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let affinity_ok = pv_fits_node(pv, node);
        if pv_bound_to_claim(pv, pvc) {
            // A PV pre-bound to this claim decides alone: on a node it doesn't admit, no PV fits.
            return affinity_ok.then_some(pv);
        }
        if pv.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Available") {
            continue;
        }
        if let Some(sel) = &selector {
            let labels: serde_json::Map<String, serde_json::Value> = pv
                .metadata
                .labels
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            if !sel.matches(&labels) {
                continue;
            }
        }
        if volume_class(pv) != claim_class(pvc) || !affinity_ok {
            continue;
        }
        let pv_modes = pv_spec.and_then(|s| s.access_modes.as_deref()).unwrap_or(&[]);
        if !claim_modes.iter().all(|m| pv_modes.contains(m)) {
            continue;
        }
        if smallest.is_none_or(|(_, q)| capacity < q) {
            smallest = Some((pv, capacity));
        }
    }
    smallest.map(|(pv, _)| pv)
}

/// Filter (`FindPodVolumes`) for one node: `Ok` with the volume work if the node fits, else
/// the reasons, in upstream's order (node conflict, bind conflict, missing PV).
pub fn filter(claims: &PodVolumeClaims<'_>, node: &Node, snapshot: &ClusterSnapshot) -> Result<NodeVolumes, Status> {
    let mut bound_satisfied = true;
    let mut bound_pvs_found = true;
    for pvc in &claims.bound {
        match find_pv(snapshot, volume_name(pvc)) {
            None => {
                bound_pvs_found = false;
                break;
            }
            Some(pv) if !pv_fits_node(pv, node) => {
                bound_satisfied = false;
                break;
            }
            Some(_) => {}
        }
    }
    let (unbound_satisfied, volumes) = match_unbound(claims, node, snapshot);

    let mut reasons = Vec::new();
    if !bound_satisfied {
        reasons.push(ERR_REASON_NODE_CONFLICT.to_string());
    }
    if !unbound_satisfied {
        reasons.push(ERR_REASON_BIND_CONFLICT.to_string());
    }
    if !bound_pvs_found {
        reasons.push(ERR_REASON_PV_NOT_EXIST.to_string());
    }
    if reasons.is_empty() {
        Ok(volumes)
    } else {
        Err(Status::unresolvable_many(reasons))
    }
}

/// The unbound WaitForFirstConsumer claims on one node: static bindings first (smallest claims
/// first, so small claims don't take big PVs), the rest provisioned if their class can.
fn match_unbound(claims: &PodVolumeClaims<'_>, node: &Node, snapshot: &ClusterSnapshot) -> (bool, NodeVolumes) {
    let mut volumes = NodeVolumes::default();
    if claims.unbound_delay_binding.is_empty() {
        return (true, volumes);
    }
    let mut to_match = Vec::new();
    let mut to_provision = Vec::new();
    for &pvc in &claims.unbound_delay_binding {
        match annotation(&pvc.metadata, ANN_SELECTED_NODE) {
            // Provisioning already started for another node: only that node can fit.
            Some(selected) if selected != node_name(node) => return (false, volumes),
            Some(_) => to_provision.push(pvc),
            None => to_match.push(pvc),
        }
    }
    to_match.sort_by_key(|pvc| claim_request(pvc));
    let mut chosen: BTreeSet<&str> = BTreeSet::new();
    for pvc in to_match {
        let class = claim_class(pvc);
        let candidates: Vec<&PersistentVolume> = snapshot.pvs.iter().filter(|pv| volume_class(pv) == class).collect();
        match find_matching_volume(pvc, &candidates, node, &chosen) {
            Some(pv) => {
                chosen.insert(name(&pv.metadata));
                volumes.bindings.push((name(&pvc.metadata).to_string(), name(&pv.metadata).to_string()));
            }
            None => to_provision.push(pvc),
        }
    }
    for pvc in to_provision {
        let class = claim_class(pvc);
        let Some(sc) = snapshot.storage_classes.iter().find(|c| name(&c.metadata) == class) else {
            // Upstream fails the attempt with `failed to find storage class`; the class vanished
            // after PreFilter saw it, so this node simply can't get the volume now.
            return (false, volumes);
        };
        if sc.provisioner.is_empty() || sc.provisioner == NOT_SUPPORTED_PROVISIONER {
            return (false, volumes);
        }
        if !topology_terms_match(sc.allowed_topologies.as_deref().unwrap_or(&[]), node_labels(node)) {
            return (false, volumes);
        }
        volumes.provisions.push(name(&pvc.metadata).to_string());
    }
    (true, volumes)
}
