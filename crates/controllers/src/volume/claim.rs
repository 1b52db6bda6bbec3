//! Claim sync (`syncClaim` → `syncUnboundClaim` / `syncBoundClaim`), binding (`bind`) and
//! the claim-status and volume-phase writes they share with the volume sync.

use std::cmp::Ordering;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, PersistentVolumeStatus, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::ResourceExt;

use super::helpers::*;
use super::matching::{check_volume_satisfy_claim, find_best_match};
use super::{event, quantity, Action, EventType};
use super::{
    ANN_BETA_STORAGE_PROVISIONER, ANN_BIND_COMPLETED, ANN_BOUND_BY_CONTROLLER, ANN_SELECTED_NODE, ANN_STORAGE_PROVISIONER,
    LOCAL_PATH_PROVISIONER,
};

fn claim_key(claim: &PersistentVolumeClaim) -> String {
    format!("{}/{}", claim.namespace().unwrap_or_default(), claim.name_any())
}

/// Decide one sync of one claim (see the module docs for the inputs).
pub fn sync_claim(claim: &PersistentVolumeClaim, volumes: &[PersistentVolume], classes: &[StorageClass], pods: &[Pod]) -> Vec<Action> {
    if !has_annotation(&claim.metadata, ANN_BIND_COMPLETED) {
        sync_unbound_claim(claim, volumes, classes, pods)
    } else {
        sync_bound_claim(claim, volumes)
    }
}

fn sync_unbound_claim(claim: &PersistentVolumeClaim, volumes: &[PersistentVolume], classes: &[StorageClass], pods: &[Pod]) -> Vec<Action> {
    let about_claim = claim_object_ref(claim);
    let wanted = claim_volume_name(claim);
    if wanted.is_empty() {
        let delay_binding = match is_delay_binding_mode(claim, classes) {
            Ok(d) => d,
            Err(message) => return vec![Action::Fail { message }],
        };
        let found = match find_best_match(claim, volumes, delay_binding) {
            Ok(v) => v,
            Err(e) => return vec![Action::Fail { message: format!("error finding PV for claim {:?}: {e}", claim_key(claim)) }],
        };
        if let Some(volume) = found {
            return bind(volume, claim);
        }
        if let Some(assign) = assign_default_class(claim, classes) {
            // The update brings the claim back with its class; that sync continues.
            return vec![assign];
        }
        let mut out = Vec::new();
        if delay_binding && !has_annotation(&claim.metadata, ANN_SELECTED_NODE) {
            out.push(delay_binding_event(claim, pods));
        } else if !claim_class(claim).is_empty() {
            return provision_claim(claim, classes);
        } else {
            out.push(event(
                about_claim,
                EventType::Normal,
                "FailedBinding",
                "no persistent volumes available for this claim and no storage class is set",
            ));
        }
        out.extend(update_claim_status(claim, "Pending", None));
        return out;
    }

    // The user asked for a specific volume.
    let Some(volume) = volumes.iter().find(|v| v.name_any() == wanted) else {
        return update_claim_status(claim, "Pending", None);
    };
    if claim_ref(volume).is_none() {
        if let Err(reason) = check_volume_satisfy_claim(volume, claim) {
            let mut out = vec![event(
                about_claim,
                EventType::Warning,
                "VolumeMismatch",
                format!("Cannot bind to requested volume {:?}: {reason}", volume.name_any()),
            )];
            out.extend(update_claim_status(claim, "Pending", None));
            return out;
        }
        return bind(volume, claim);
    }
    if is_volume_bound_to_claim(volume, claim) {
        // Pre-bound both ways (or half-bound by us): finish by adding the claim's UID.
        return bind(volume, claim);
    }
    let mut out = vec![event(
        about_claim,
        EventType::Warning,
        "FailedBinding",
        format!("volume {:?} already bound to a different claim.", volume.name_any()),
    )];
    if !has_annotation(&claim.metadata, ANN_BOUND_BY_CONTROLLER) {
        // The user asked for a volume someone else holds: wait for it.
        out.extend(update_claim_status(claim, "Pending", None));
    } else {
        let r = claim_ref(volume).cloned().unwrap_or_default();
        out.push(Action::Fail {
            message: format!(
                "invalid binding of claim {:?} to volume {:?}: volume already claimed by {:?}",
                claim_key(claim),
                wanted,
                format!("{}/{}", r.namespace.clone().unwrap_or_default(), r.name.clone().unwrap_or_default())
            ),
        });
    }
    out
}

fn sync_bound_claim(claim: &PersistentVolumeClaim, volumes: &[PersistentVolume]) -> Vec<Action> {
    let wanted = claim_volume_name(claim);
    if wanted.is_empty() {
        return update_claim_status_with_event(
            claim,
            "Lost",
            EventType::Warning,
            "ClaimLost",
            "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!",
        );
    }
    let Some(volume) = volumes.iter().find(|v| v.name_any() == wanted) else {
        return update_claim_status_with_event(
            claim,
            "Lost",
            EventType::Warning,
            "ClaimLost",
            "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
        );
    };
    match claim_ref(volume) {
        // Unbound volume, or our own claimRef write not seen yet: bind (again).
        None => bind(volume, claim),
        Some(r) if r.uid.as_deref().unwrap_or("") == claim.metadata.uid.as_deref().unwrap_or("") => {
            let out = bind(volume, claim);
            // Fully bound: a larger request is an expansion.
            if out.is_empty() {
                super::expand::expand(claim, volume)
            } else {
                out
            }
        }
        Some(_) => update_claim_status_with_event(
            claim,
            "Lost",
            EventType::Warning,
            "ClaimMisbound",
            "Two claims are bound to the same volume, this one is bound incorrectly",
        ),
    }
}

/// `bind`: volume claimRef (PUT), volume phase Bound (PUT /status), claim volumeName and
/// annotations (PUT), claim phase/accessModes/capacity (PUT /status) — each only if needed.
pub(crate) fn bind(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> Vec<Action> {
    let mut out = Vec::new();
    // 1. GetBindVolumeToClaim
    let mut v = volume.clone();
    let mut dirty = false;
    let set_bound_by_controller = !is_volume_bound_to_claim(volume, claim);
    let points_here = claim_ref(volume).is_some_and(|r| {
        r.name.as_deref() == Some(claim.name_any().as_str())
            && r.namespace.as_deref().unwrap_or("") == claim.namespace().unwrap_or_default()
            && r.uid.as_deref().unwrap_or("") == claim.metadata.uid.as_deref().unwrap_or("")
    });
    if !points_here {
        v.spec.get_or_insert_with(Default::default).claim_ref = Some(claim_reference(claim));
        dirty = true;
    }
    if set_bound_by_controller && !has_annotation(&v.metadata, ANN_BOUND_BY_CONTROLLER) {
        set_annotation(&mut v.metadata, ANN_BOUND_BY_CONTROLLER, "yes");
        dirty = true;
    }
    if dirty {
        out.push(Action::UpdateVolume(v.clone()));
    }
    // 2. updateVolumePhase(Bound)
    if let Some(bound) = with_volume_phase(&v, "Bound", "") {
        v = bound;
        out.push(Action::UpdateVolumeStatus(v.clone()));
    }
    // 3. bindClaimToVolume
    let mut c = claim.clone();
    let mut dirty = false;
    if claim_volume_name(claim) != v.name_any() {
        c.spec.get_or_insert_with(Default::default).volume_name = Some(v.name_any());
        if !has_annotation(&c.metadata, ANN_BOUND_BY_CONTROLLER) {
            set_annotation(&mut c.metadata, ANN_BOUND_BY_CONTROLLER, "yes");
        }
        dirty = true;
    }
    if !has_annotation(&c.metadata, ANN_BIND_COMPLETED) {
        set_annotation(&mut c.metadata, ANN_BIND_COMPLETED, "yes");
        dirty = true;
    }
    if dirty {
        out.push(Action::UpdateClaim(c.clone()));
    }
    // 4. updateClaimStatus(Bound, volume)
    out.extend(update_claim_status(&c, "Bound", Some(&v)));
    out
}

/// `updateClaimStatus`: set the phase; with a volume, copy its access modes (and its
/// capacity when the claim is just becoming `phase`); without one, clear both.
pub(crate) fn update_claim_status(claim: &PersistentVolumeClaim, phase: &str, volume: Option<&PersistentVolume>) -> Vec<Action> {
    let mut c = claim.clone();
    let old_phase = claim_phase(claim).to_string();
    let status = c.status.get_or_insert_with(Default::default);
    let mut dirty = false;
    if old_phase != phase {
        status.phase = Some(phase.to_string());
        dirty = true;
    }
    match volume {
        None => {
            if status.access_modes.is_some() {
                status.access_modes = None;
                dirty = true;
            }
            if status.capacity.is_some() {
                status.capacity = None;
                dirty = true;
            }
        }
        Some(v) => {
            let modes = v.spec.as_ref().and_then(|s| s.access_modes.clone());
            if status.access_modes != modes {
                status.access_modes = modes;
                dirty = true;
            }
            // A claim already in the phase keeps its capacity: a difference can be a
            // deliberate filesystem-vs-device size.
            if old_phase != phase {
                let Some(volume_cap) = volume_capacity(v) else {
                    return vec![Action::Fail { message: format!("PersistentVolume {:?} is without a storage capacity", v.name_any()) }];
                };
                let claim_cap = status.capacity.as_ref().and_then(|c| c.get("storage")).map(|q| q.0.as_str());
                if claim_cap.is_none() || quantity::cmp(Some(volume_cap), claim_cap) != Ordering::Equal {
                    status.capacity = v.spec.as_ref().and_then(|s| s.capacity.clone());
                    dirty = true;
                }
            }
        }
    }
    if dirty {
        vec![Action::UpdateClaimStatus(c)]
    } else {
        Vec::new()
    }
}

/// `updateClaimStatusWithEvent`: only a phase change writes, and only then the event.
fn update_claim_status_with_event(claim: &PersistentVolumeClaim, phase: &str, type_: EventType, reason: &str, message: &str) -> Vec<Action> {
    if claim_phase(claim) == phase {
        return Vec::new();
    }
    let mut out = update_claim_status(claim, phase, None);
    if out.iter().any(|a| matches!(a, Action::Fail { .. })) {
        return out;
    }
    out.push(event(claim_object_ref(claim), type_, reason, message));
    out
}

/// The volume with `phase` and `message` (upstream's `updateVolumePhase` clone), or None
/// when it already has that phase.
pub(crate) fn with_volume_phase(volume: &PersistentVolume, phase: &str, message: &str) -> Option<PersistentVolume> {
    if volume_phase(volume) == phase {
        return None;
    }
    let mut v = volume.clone();
    let status = v.status.get_or_insert_with(PersistentVolumeStatus::default);
    status.phase = Some(phase.to_string());
    status.message = (!message.is_empty()).then(|| message.to_string());
    Some(v)
}

/// The involved-object reference for events about a claim.
pub(crate) fn claim_object_ref(claim: &PersistentVolumeClaim) -> k8s_openapi::api::core::v1::ObjectReference {
    claim_reference(claim)
}

/// `IsDelayBindingMode`: the claim's class exists and waits for the first consumer.
fn is_delay_binding_mode(claim: &PersistentVolumeClaim, classes: &[StorageClass]) -> Result<bool, String> {
    let name = claim_class(claim);
    if name.is_empty() {
        return Ok(false);
    }
    let Some(class) = classes.iter().find(|c| c.name_any() == name) else { return Ok(false) };
    match class.volume_binding_mode.as_deref() {
        None => Err(format!("VolumeBindingMode not set for StorageClass {name:?}")),
        Some(mode) => Ok(mode == "WaitForFirstConsumer"),
    }
}

/// `assignDefaultStorageClass`: a claim with no class at all gets the default one.
fn assign_default_class(claim: &PersistentVolumeClaim, classes: &[StorageClass]) -> Option<Action> {
    if claim_has_class(claim) {
        return None;
    }
    let class = default_class(classes)?;
    let mut c = claim.clone();
    c.spec.get_or_insert_with(Default::default).storage_class_name = Some(class.name_any());
    Some(Action::UpdateClaim(c))
}

/// `emitEventForUnboundDelayBindingClaim`.
fn delay_binding_event(claim: &PersistentVolumeClaim, pods: &[Pod]) -> Action {
    let waiting: Vec<String> = pods_using_claim(&claim.namespace().unwrap_or_default(), &claim.name_any(), pods)
        .into_iter()
        .filter(|p| !pod_terminated(p) && p.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or("").is_empty())
        .map(|p| p.name_any())
        .collect();
    let (reason, message) = match waiting.len() {
        0 => ("WaitForFirstConsumer", "waiting for first consumer to be created before binding".to_string()),
        1 => ("WaitForPodScheduled", format!("waiting for pod {} to be scheduled", waiting[0])),
        _ => ("WaitForPodScheduled", format!("waiting for pods {} to be scheduled", waiting.join(","))),
    };
    event(claim_object_ref(claim), EventType::Normal, reason, message)
}

/// `provisionClaim` for a claim with a class and no volume.
fn provision_claim(claim: &PersistentVolumeClaim, classes: &[StorageClass]) -> Vec<Action> {
    let name = claim_class(claim);
    let claim_ref = claim_object_ref(claim);
    let Some(class) = classes.iter().find(|c| c.name_any() == name) else {
        return vec![event(claim_ref, EventType::Warning, "ProvisioningFailed", format!("storageclass.storage.k8s.io {name:?} not found"))];
    };
    let provisioner = class.provisioner.as_str();
    if provisioner.starts_with("kubernetes.io/") {
        // berth has no in-tree volume plugins.
        return vec![event(claim_ref, EventType::Warning, "ProvisioningFailed", format!("no volume plugin matched name: {provisioner}"))];
    }
    // provisionClaimOperationExternal: tell the external provisioner (annotation), then wait.
    let mut out = Vec::new();
    let annotated = claim.metadata.annotations.as_ref().and_then(|a| a.get(ANN_STORAGE_PROVISIONER)).is_some_and(|p| p == provisioner);
    if !annotated {
        let mut c = claim.clone();
        set_annotation(&mut c.metadata, ANN_BETA_STORAGE_PROVISIONER, provisioner);
        set_annotation(&mut c.metadata, ANN_STORAGE_PROVISIONER, provisioner);
        out.push(Action::UpdateClaim(c));
    }
    out.push(event(
        claim_ref,
        EventType::Normal,
        "ExternalProvisioning",
        format!(
            "Waiting for a volume to be created either by the external provisioner '{provisioner}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered."
        ),
    ));
    if provisioner == LOCAL_PATH_PROVISIONER {
        // berth's own provisioner runs beside this controller: hand it the claim.
        out.push(Action::ProvisionLocalPath { claim: claim.clone(), class: class.clone() });
    }
    out
}
