//! Small facts about claims, volumes and classes, as `component-helpers/storage/volume`
//! (`pv_helpers.go`, `helpers.go`) and `pkg/volume/util` state them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ObjectReference, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::ResourceExt;

use super::{ANN_BETA_STORAGE_CLASS, ANN_BETA_IS_DEFAULT_CLASS, ANN_IS_DEFAULT_CLASS};

pub(crate) fn has_annotation(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta, key: &str) -> bool {
    meta.annotations.as_ref().is_some_and(|a| a.contains_key(key))
}

pub(crate) fn set_annotation(meta: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta, key: &str, value: &str) {
    meta.annotations.get_or_insert_with(BTreeMap::new).insert(key.to_string(), value.to_string());
}

/// `GetPersistentVolumeClaimClass`: the beta annotation wins over the field; "" means none.
pub(crate) fn claim_class(claim: &PersistentVolumeClaim) -> String {
    if let Some(c) = claim.metadata.annotations.as_ref().and_then(|a| a.get(ANN_BETA_STORAGE_CLASS)) {
        return c.clone();
    }
    claim.spec.as_ref().and_then(|s| s.storage_class_name.clone()).unwrap_or_default()
}

/// `PersistentVolumeClaimHasClass`: the field is set (even to "") or the beta annotation is.
pub(crate) fn claim_has_class(claim: &PersistentVolumeClaim) -> bool {
    has_annotation(&claim.metadata, ANN_BETA_STORAGE_CLASS) || claim.spec.as_ref().is_some_and(|s| s.storage_class_name.is_some())
}

/// `GetPersistentVolumeClass`.
pub(crate) fn volume_class(volume: &PersistentVolume) -> String {
    if let Some(c) = volume.metadata.annotations.as_ref().and_then(|a| a.get(ANN_BETA_STORAGE_CLASS)) {
        return c.clone();
    }
    volume.spec.as_ref().and_then(|s| s.storage_class_name.clone()).unwrap_or_default()
}

pub(crate) fn claim_volume_name(claim: &PersistentVolumeClaim) -> &str {
    claim.spec.as_ref().and_then(|s| s.volume_name.as_deref()).unwrap_or("")
}

pub(crate) fn claim_access_modes(claim: &PersistentVolumeClaim) -> &[String] {
    claim.spec.as_ref().and_then(|s| s.access_modes.as_deref()).unwrap_or(&[])
}

pub(crate) fn volume_access_modes(volume: &PersistentVolume) -> &[String] {
    volume.spec.as_ref().and_then(|s| s.access_modes.as_deref()).unwrap_or(&[])
}

pub(crate) fn claim_request(claim: &PersistentVolumeClaim) -> Option<&str> {
    claim.spec.as_ref()?.resources.as_ref()?.requests.as_ref()?.get("storage").map(|q| q.0.as_str())
}

pub(crate) fn volume_capacity(volume: &PersistentVolume) -> Option<&str> {
    volume.spec.as_ref()?.capacity.as_ref()?.get("storage").map(|q| q.0.as_str())
}

pub(crate) fn claim_ref(volume: &PersistentVolume) -> Option<&ObjectReference> {
    volume.spec.as_ref()?.claim_ref.as_ref()
}

pub(crate) fn volume_phase(volume: &PersistentVolume) -> &str {
    volume.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

pub(crate) fn claim_phase(claim: &PersistentVolumeClaim) -> &str {
    claim.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

pub(crate) fn reclaim_policy(volume: &PersistentVolume) -> &str {
    volume.spec.as_ref().and_then(|s| s.persistent_volume_reclaim_policy.as_deref()).unwrap_or("")
}

/// `CheckVolumeModeMismatches`: nil on either side means `Filesystem`.
pub(crate) fn volume_mode_mismatch(claim: &PersistentVolumeClaim, volume: &PersistentVolume) -> bool {
    let c = claim.spec.as_ref().and_then(|s| s.volume_mode.as_deref()).unwrap_or("Filesystem");
    let v = volume.spec.as_ref().and_then(|s| s.volume_mode.as_deref()).unwrap_or("Filesystem");
    c != v
}

/// `CheckAccessModes`: the volume offers every mode the claim asks for.
pub(crate) fn access_modes_satisfied(claim: &PersistentVolumeClaim, volume: &PersistentVolume) -> bool {
    let offered = volume_access_modes(volume);
    claim_access_modes(claim).iter().all(|m| offered.contains(m))
}

/// `IsVolumeBoundToClaim`: claimRef names the claim, and its UID (when set) is the claim's.
pub(crate) fn is_volume_bound_to_claim(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let Some(r) = claim_ref(volume) else { return false };
    if r.name.as_deref() != Some(claim.name_any().as_str()) || r.namespace.as_deref().unwrap_or("") != claim.namespace().unwrap_or_default() {
        return false;
    }
    let ref_uid = r.uid.as_deref().unwrap_or("");
    ref_uid.is_empty() || claim.metadata.uid.as_deref() == Some(ref_uid)
}

/// `reference.GetReference` for a claim: what binding writes into `spec.claimRef`.
pub(crate) fn claim_reference(claim: &PersistentVolumeClaim) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("PersistentVolumeClaim".into()),
        namespace: claim.namespace(),
        name: Some(claim.name_any()),
        uid: claim.metadata.uid.clone(),
        resource_version: claim.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// The involved-object reference for events about a volume.
pub(crate) fn volume_reference(volume: &PersistentVolume) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("PersistentVolume".into()),
        namespace: None,
        name: Some(volume.name_any()),
        uid: volume.metadata.uid.clone(),
        resource_version: volume.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// The access modes in upstream's fixed order (`GetAccessModesAsString`), deduplicated:
/// the key of the binder's access-mode index.
pub(crate) fn access_mode_key(modes: &[String]) -> Vec<&'static str> {
    ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]
        .into_iter()
        .filter(|m| modes.iter().any(|x| x == m))
        .collect()
}

/// `util.IsPodTerminated` as far as the phase tells.
pub(crate) fn pod_terminated(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded") | Some("Failed"))
}

/// Pods of the claim's namespace whose volumes reference the claim (upstream's `PodPVCIndex`).
pub fn pods_using_claim<'a>(namespace: &str, claim_name: &str, pods: &'a [Pod]) -> Vec<&'a Pod> {
    pods.iter()
        .filter(|p| p.namespace().as_deref() == Some(namespace))
        .filter(|p| {
            p.spec.as_ref().and_then(|s| s.volumes.as_ref()).is_some_and(|vs| {
                vs.iter().any(|v| v.persistent_volume_claim.as_ref().is_some_and(|c| c.claim_name == claim_name))
            })
        })
        .collect()
}

fn is_default_class(class: &StorageClass) -> bool {
    let a = class.metadata.annotations.as_ref();
    [ANN_IS_DEFAULT_CLASS, ANN_BETA_IS_DEFAULT_CLASS].iter().any(|k| a.and_then(|a| a.get(*k)).is_some_and(|v| v == "true"))
}

/// `util.GetDefaultClass`: among classes annotated as default, the newest; ties by name.
pub(crate) fn default_class(classes: &[StorageClass]) -> Option<&StorageClass> {
    let created = |c: &StorageClass| c.metadata.creation_timestamp.as_ref().map(|t| t.0.as_nanosecond()).unwrap_or(0);
    classes.iter().filter(|c| is_default_class(c)).min_by(|a, b| created(b).cmp(&created(a)).then_with(|| a.name_any().cmp(&b.name_any())))
}
