//! Expansion of local-path volumes, the part of upstream's external-resizer berth plays for
//! its own provisioner: when a bound claim asks for more than its `status.capacity` (the
//! `PersistentVolumeClaimResize` admission has already checked the class allows it), grow
//! the volume's capacity, then record the new size in the claim's status. A directory has no
//! filesystem to grow, so there is no `FileSystemResizePending` step.

use std::cmp::Ordering;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::ResourceExt;

use super::helpers::*;
use super::{event_from, quantity, Action, EventType, ANN_DYNAMICALLY_PROVISIONED, LOCAL_PATH_PROVISIONER};

/// Event source of the resizer's events (upstream: `external-resizer <driver>`).
pub const RESIZER_COMPONENT: &str = "external-resizer berth.dev/local-path";

fn claim_capacity(claim: &PersistentVolumeClaim) -> Option<&str> {
    claim.status.as_ref()?.capacity.as_ref()?.get("storage").map(|q| q.0.as_str())
}

/// The actions that bring a bound local-path claim's volume and status up to its request.
pub(crate) fn expand(claim: &PersistentVolumeClaim, volume: &PersistentVolume) -> Vec<Action> {
    if claim_phase(claim) != "Bound"
        || volume.annotations().get(ANN_DYNAMICALLY_PROVISIONED).map(String::as_str) != Some(LOCAL_PATH_PROVISIONER)
    {
        return Vec::new();
    }
    let Some(request) = claim.spec.as_ref().and_then(|s| s.resources.as_ref()).and_then(|r| r.requests.as_ref()).and_then(|r| r.get("storage")).cloned()
    else {
        return Vec::new();
    };
    if quantity::cmp(Some(&request.0), claim_capacity(claim)) != Ordering::Greater {
        return Vec::new();
    }
    let about = claim_reference(claim);
    let mut out = Vec::new();
    if quantity::cmp(volume_capacity(volume), Some(&request.0)) == Ordering::Less {
        out.push(event_from(RESIZER_COMPONENT, about.clone(), EventType::Normal, "Resizing", format!("External resizer is resizing volume {}", volume.name_any())));
        let mut v = volume.clone();
        v.spec.get_or_insert_with(Default::default).capacity.get_or_insert_with(Default::default).insert("storage".into(), request.clone());
        out.push(Action::UpdateVolume(v));
    }
    let mut c = claim.clone();
    let status = c.status.get_or_insert_with(Default::default);
    status.capacity.get_or_insert_with(Default::default).insert("storage".into(), request.clone());
    status.allocated_resources.get_or_insert_with(Default::default).insert("storage".into(), request);
    out.push(Action::UpdateClaimStatus(c));
    out.push(event_from(RESIZER_COMPONENT, about, EventType::Normal, "VolumeResizeSuccessful", "Resize volume succeeded"));
    out
}
