//! Volume sync (`syncVolume`), reclaiming (`reclaimVolume`, the recycle and delete
//! operations) and `unbindVolume`.

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::ResourceExt;

use super::claim::{claim_object_ref, with_volume_phase};
use super::helpers::*;
use super::hostpath::{tmp_path_allowed, RECYCLER_TMP_ONLY, DELETER_TMP_ONLY};
use super::{event, Action, EventType};
use super::{ANN_BOUND_BY_CONTROLLER, ANN_DYNAMICALLY_PROVISIONED, ANN_MIGRATED_TO, LOCAL_PATH_PROVISIONER};

/// Decide one sync of one volume; `claim` is the claim its claimRef names, any UID.
pub fn sync_volume(volume: &PersistentVolume, claim: Option<&PersistentVolumeClaim>, pods: &[Pod]) -> Vec<Action> {
    let Some(r) = claim_ref(volume) else {
        return update_volume_phase(volume, "Available", "");
    };
    let ref_uid = r.uid.as_deref().unwrap_or("");
    if ref_uid.is_empty() {
        // Pre-bound by the user to a claim not bound yet: the claim sync finishes it.
        return update_volume_phase(volume, "Available", "");
    }
    // A claim with the same name but another UID is a new claim: ours is gone.
    let claim_cached = claim.is_some();
    let claim = claim.filter(|c| c.metadata.uid.as_deref() == Some(ref_uid));
    let Some(claim) = claim else {
        return release_and_reclaim(volume, claim_cached, pods);
    };
    let bound_to = claim_volume_name(claim);
    if bound_to.is_empty() {
        if volume_mode_mismatch(claim, volume) {
            // The claim sync will never pick this volume; say why on both objects.
            return vec![
                event(
                    volume_reference(volume),
                    EventType::Warning,
                    "VolumeMismatch",
                    format!("Cannot bind PersistentVolume to requested PersistentVolumeClaim {:?} due to incompatible volumeMode.", claim.name_any()),
                ),
                event(
                    claim_object_ref(claim),
                    EventType::Warning,
                    "VolumeMismatch",
                    format!("Cannot bind PersistentVolume {:?} to requested PersistentVolumeClaim due to incompatible volumeMode.", volume.name_any()),
                ),
            ];
        }
        // Half-bound (by us, or dangling after a user edit): the claim sync fixes it.
        return vec![Action::EnqueueClaim { namespace: claim.namespace().unwrap_or_default(), name: claim.name_any() }];
    }
    if bound_to == volume.name_any() {
        return update_volume_phase(volume, "Bound", "");
    }
    // The claim is bound to another volume.
    if has_annotation(&volume.metadata, ANN_DYNAMICALLY_PROVISIONED) && reclaim_policy(volume) == "Delete" {
        // Provisioned for this claim but not needed: delete it.
        return release_and_reclaim(volume, claim_cached, pods);
    }
    unbind_volume(volume)
}

/// Mark the volume Released (keeping an earlier Failed) and apply its reclaim policy.
fn release_and_reclaim(volume: &PersistentVolume, claim_cached: bool, pods: &[Pod]) -> Vec<Action> {
    let mut out = Vec::new();
    let mut v = volume.clone();
    if !matches!(volume_phase(volume), "Released" | "Failed") {
        if let Some(released) = with_volume_phase(volume, "Released", "") {
            v = released;
            out.push(Action::UpdateVolumeStatus(v.clone()));
        }
    }
    out.extend(reclaim_volume(&v, claim_cached, pods));
    out
}

/// `reclaimVolume`.
fn reclaim_volume(volume: &PersistentVolume, claim_cached: bool, pods: &[Pod]) -> Vec<Action> {
    if volume.metadata.annotations.as_ref().and_then(|a| a.get(ANN_MIGRATED_TO)).is_some_and(|m| !m.is_empty()) {
        return Vec::new();
    }
    match reclaim_policy(volume) {
        // The volume keeps its stale claimRef until an admin clears it.
        "Retain" => Vec::new(),
        "Recycle" => recycle(volume, claim_cached, pods),
        "Delete" => delete(volume),
        _ => update_volume_phase_with_event(
            volume,
            "Failed",
            EventType::Warning,
            "VolumeUnknownReclaimPolicy",
            "Volume has unrecognized PersistentVolumeReclaimPolicy",
        ),
    }
}

/// `recycleVolumeOperation` up to calling the recycler.
fn recycle(volume: &PersistentVolume, claim_cached: bool, pods: &[Pod]) -> Vec<Action> {
    let r = claim_ref(volume).cloned().unwrap_or_default();
    let mut users: Vec<String> = pods_using_claim(r.namespace.as_deref().unwrap_or(""), r.name.as_deref().unwrap_or(""), pods)
        .into_iter()
        .filter(|p| !pod_terminated(p))
        .map(|p| format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any()))
        .collect();
    users.sort();
    users.dedup();
    // A cached claim of that name is a new claim (ours is released), whose pods are not ours.
    if !users.is_empty() && !claim_cached {
        return vec![event(
            volume_reference(volume),
            EventType::Normal,
            "VolumeFailedRecycle",
            format!("Volume is used by pods: {}", users.join(",")),
        )];
    }
    let Some(path) = volume.spec.as_ref().and_then(|s| s.host_path.as_ref()).map(|h| h.path.clone()) else {
        return update_volume_phase_with_event(volume, "Failed", EventType::Warning, "VolumeFailedRecycle", "No recycler plugin found for the volume!");
    };
    if !tmp_path_allowed(&path) {
        return recycle_failed(volume, &format!("{RECYCLER_TMP_ONLY} {path}"));
    }
    vec![Action::RecycleHostPath { volume: volume.clone(), path }]
}

/// After a successful scrub: event, then the volume is unbound and Available again.
pub fn recycle_succeeded(volume: &PersistentVolume) -> Vec<Action> {
    let mut out = vec![event(volume_reference(volume), EventType::Normal, "VolumeRecycled", "Volume recycled")];
    out.extend(unbind_volume(volume));
    out
}

/// After a failed scrub (or a refused path): Failed with the error. Later syncs retry.
pub fn recycle_failed(volume: &PersistentVolume, error: &str) -> Vec<Action> {
    update_volume_phase_with_event(volume, "Failed", EventType::Warning, "VolumeFailedRecycle", &format!("Recycle failed: {error}"))
}

/// `deleteVolumeOperation` up to calling the deleter (`findDeletablePlugin`).
fn delete(volume: &PersistentVolume) -> Vec<Action> {
    let name = volume.name_any();
    let provisioned_by = volume.metadata.annotations.as_ref().and_then(|a| a.get(ANN_DYNAMICALLY_PROVISIONED)).cloned().unwrap_or_default();
    let spec = volume.spec.clone().unwrap_or_default();
    if provisioned_by == LOCAL_PATH_PROVISIONER {
        // berth's own provisioner deletes what it made (its executor checks the path).
        return match spec.host_path {
            Some(h) => vec![Action::DeleteLocalPath { volume: volume.clone(), path: h.path }],
            None => delete_failed(volume, "local-path volume without a hostPath"),
        };
    }
    if !provisioned_by.is_empty() && !provisioned_by.starts_with("kubernetes.io/") {
        // External deleter: not ours to delete.
        return Vec::new();
    }
    if !provisioned_by.is_empty() && provisioned_by != "kubernetes.io/host-path" {
        return delete_failed(volume, &format!("no volume plugin matched name: {provisioned_by}"));
    }
    if spec.csi.is_some() {
        return Vec::new();
    }
    match spec.host_path {
        Some(h) if tmp_path_allowed(&h.path) => vec![Action::DeleteHostPath { volume: volume.clone(), path: h.path }],
        Some(h) => delete_failed(volume, &format!("{DELETER_TMP_ONLY} {}", h.path)),
        None => delete_failed(volume, &format!("error getting deleter volume plugin for volume {name:?}: no deletable volume plugin matched")),
    }
}

/// After the directory is gone: delete the volume object.
pub fn delete_succeeded(volume: &PersistentVolume) -> Vec<Action> {
    vec![Action::DeleteVolume { name: volume.name_any(), uid: volume.metadata.uid.clone().unwrap_or_default() }]
}

/// The deleter failed: Failed with the error as message and Warning event.
pub fn delete_failed(volume: &PersistentVolume, error: &str) -> Vec<Action> {
    update_volume_phase_with_event(volume, "Failed", EventType::Warning, "VolumeFailedDelete", error)
}

/// `unbindVolume`: undo our binding (claimRef and annotation) or, for a user's pre-bound
/// volume, only the claim UID; then phase Available.
fn unbind_volume(volume: &PersistentVolume) -> Vec<Action> {
    let mut v = volume.clone();
    if has_annotation(&volume.metadata, ANN_BOUND_BY_CONTROLLER) {
        v.spec.get_or_insert_with(Default::default).claim_ref = None;
        if let Some(a) = v.metadata.annotations.as_mut() {
            a.remove(ANN_BOUND_BY_CONTROLLER);
            if a.is_empty() {
                v.metadata.annotations = None;
            }
        }
    } else if let Some(r) = v.spec.as_mut().and_then(|s| s.claim_ref.as_mut()) {
        r.uid = None;
    }
    let mut out = vec![Action::UpdateVolume(v.clone())];
    out.extend(update_volume_phase(&v, "Available", ""));
    out
}

fn update_volume_phase(volume: &PersistentVolume, phase: &str, message: &str) -> Vec<Action> {
    with_volume_phase(volume, phase, message).map(Action::UpdateVolumeStatus).into_iter().collect()
}

/// `updateVolumePhaseWithEvent`: the event only accompanies an actual phase change.
fn update_volume_phase_with_event(volume: &PersistentVolume, phase: &str, type_: EventType, reason: &str, message: &str) -> Vec<Action> {
    match with_volume_phase(volume, phase, message) {
        Some(v) => vec![Action::UpdateVolumeStatus(v), event(volume_reference(volume), type_, reason, message)],
        None => Vec::new(),
    }
}
