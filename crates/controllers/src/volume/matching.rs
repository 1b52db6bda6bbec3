//! Choosing a volume for a claim: upstream's access-mode index (`index.go`
//! `findByClaim`/`allPossibleMatchingAccessModes`) and `FindMatchingVolume`
//! (`pv_helpers.go`), plus `checkVolumeSatisfyClaim` for claims that name their volume.

use std::cmp::Ordering;

use berth_api::selectors::LabelSelector;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::ResourceExt;

use super::helpers::*;
use super::quantity;

/// `findBestMatchForClaim`: try the access-mode groups that cover the claim's modes, fewest
/// modes first; the first group that yields a volume wins, so an exact RWO volume beats a
/// smaller RWO+ROX one. Err: the claim's selector cannot be parsed.
pub(crate) fn find_best_match<'a>(
    claim: &PersistentVolumeClaim,
    volumes: &'a [PersistentVolume],
    delay_binding: bool,
) -> Result<Option<&'a PersistentVolume>, String> {
    let requested = claim_access_modes(claim);
    let mut groups: Vec<Vec<&'static str>> = Vec::new();
    for v in volumes {
        let key = access_mode_key(volume_access_modes(v));
        if !groups.contains(&key) {
            groups.push(key);
        }
    }
    groups.retain(|g| requested.iter().all(|m| g.contains(&m.as_str())));
    // Upstream's sort is by size only (ties in index order); ties here go by the key so the
    // choice is deterministic.
    groups.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    // Within a group, upstream walks its cache in no defined order; name order here.
    let mut sorted: Vec<&PersistentVolume> = volumes.iter().collect();
    sorted.sort_by_key(|v| v.name_any());
    for group in groups {
        let members: Vec<&PersistentVolume> =
            sorted.iter().copied().filter(|v| access_mode_key(volume_access_modes(v)) == group).collect();
        if let Some(v) = find_matching_volume(claim, &members, delay_binding)? {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// `FindMatchingVolume` on the controller path (no node, nothing excluded): a volume
/// pre-bound to this claim is returned at once; otherwise the smallest Available volume
/// of the claim's class whose labels match its selector (first of equals).
pub(crate) fn find_matching_volume<'a>(
    claim: &PersistentVolumeClaim,
    volumes: &[&'a PersistentVolume],
    delay_binding: bool,
) -> Result<Option<&'a PersistentVolume>, String> {
    let requested = claim_request(claim);
    let requested_class = claim_class(claim);
    let selector = match claim.spec.as_ref().and_then(|s| s.selector.as_ref()) {
        Some(sel) => {
            let v = serde_json::to_value(sel).map_err(|e| e.to_string())?;
            Some(LabelSelector::from_label_selector(&v).map_err(|e| {
                format!("error creating internal label selector for claim: {}/{}: {e}", claim.namespace().unwrap_or_default(), claim.name_any())
            })?)
        }
        None => None,
    };
    let claim_vac = claim.spec.as_ref().and_then(|s| s.volume_attributes_class_name.clone()).unwrap_or_default();

    let mut smallest: Option<&'a PersistentVolume> = None;
    for &volume in volumes {
        if claim_ref(volume).is_some() && !is_volume_bound_to_claim(volume, claim) {
            continue;
        }
        let capacity = volume_capacity(volume);
        if quantity::cmp(capacity, requested) == Ordering::Less {
            continue;
        }
        if volume_mode_mismatch(claim, volume) {
            continue;
        }
        let volume_vac = volume.spec.as_ref().and_then(|s| s.volume_attributes_class_name.clone()).unwrap_or_default();
        if claim_vac != volume_vac {
            continue;
        }
        if volume.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if is_volume_bound_to_claim(volume, claim) {
            return Ok(Some(volume));
        }
        if delay_binding {
            // The scheduler binds unbound volumes of WaitForFirstConsumer claims.
            continue;
        }
        if volume_phase(volume) != "Available" {
            continue;
        }
        if let Some(sel) = &selector {
            let labels: serde_json::Map<String, serde_json::Value> =
                volume.labels().iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
            if !sel.matches(&labels) {
                continue;
            }
        }
        if volume_class(volume) != requested_class {
            continue;
        }
        if smallest.is_none_or(|s| quantity::cmp(volume_capacity(s), capacity) == Ordering::Greater) {
            smallest = Some(volume);
        }
    }
    Ok(smallest)
}

/// `checkVolumeSatisfyClaim`, for a claim that names an unbound volume.
pub(crate) fn check_volume_satisfy_claim(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> Result<(), String> {
    if volume.metadata.deletion_timestamp.is_some() {
        return Err(format!("the volume is marked for deletion {:?}", volume.name_any()));
    }
    if quantity::cmp(volume_capacity(volume), claim_request(claim)) == Ordering::Less {
        return Err("requested PV is too small".into());
    }
    if volume_class(volume) != claim_class(claim) {
        return Err("storageClassName does not match".into());
    }
    if volume_mode_mismatch(claim, volume) {
        return Err("incompatible volumeMode".into());
    }
    if !access_modes_satisfied(claim, volume) {
        return Err("incompatible accessMode".into());
    }
    Ok(())
}
