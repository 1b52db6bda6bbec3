//! PersistentVolumeClaims from volumeClaimTemplates and the retention policy's ownerReferences
//! (`stateful_set_utils.go`: getPersistentVolumeClaims, isClaimOwnerUpToDate,
//! updateClaimOwnerRefForSetAndPod, hasStaleOwnerRef, hasUnexpectedController …).
//!
//! | whenScaled / whenDeleted | ownerRefs the claim should carry                          |
//! |--------------------------|-----------------------------------------------------------|
//! | Retain / Retain          | none of ours                                              |
//! | Retain / Delete          | the set                                                   |
//! | Delete / Retain          | the pod, once the pod is out of the ordinal range         |
//! | Delete / Delete          | the set while in range; the pod (not the set) once out    |
//!
//! A claim with a stale ref (our set's or pod's name and kind, another UID) is left alone; a
//! claim with another controller loses our refs and gets no new ones.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::identity::{self, controller_ref, ordinal, pod_name_of, set_name, set_namespace, set_uid};

pub fn templates(set: &StatefulSet) -> &[PersistentVolumeClaim] {
    set.spec.as_ref().and_then(|s| s.volume_claim_templates.as_deref()).unwrap_or(&[])
}

/// `getPersistentVolumeClaimName`: `<template>-<set>-<ordinal>`.
pub fn claim_name(set: &StatefulSet, template_name: &str, ordinal: i32) -> String {
    format!("{}-{}-{}", template_name, set_name(set), ordinal)
}

/// `getPersistentVolumeClaims`: the claims `pod` needs, in template order, each a copy of its
/// template with the ordinal's name, the set's namespace and the template labels overlaid with
/// the selector's matchLabels. Status is dropped (the API server resets it on create anyway).
pub fn claims_for(set: &StatefulSet, ordinal: i32) -> Vec<PersistentVolumeClaim> {
    let match_labels = set.spec.as_ref().and_then(|s| s.selector.match_labels.clone());
    templates(set)
        .iter()
        .map(|t| {
            let mut claim = t.clone();
            let tname = t.metadata.name.clone().unwrap_or_default();
            claim.metadata.name = Some(claim_name(set, &tname, ordinal));
            claim.metadata.namespace = Some(set_namespace(set).to_string());
            claim.metadata.labels = match (claim.metadata.labels.take(), &match_labels) {
                (Some(mut labels), Some(ml)) => {
                    labels.extend(ml.iter().map(|(k, v)| (k.clone(), v.clone())));
                    Some(labels)
                }
                (Some(labels), None) => Some(labels),
                (None, ml) => ml.clone(),
            };
            claim.status = None;
            claim
        })
        .collect()
}

pub fn claim_name_of(claim: &PersistentVolumeClaim) -> &str {
    claim.metadata.name.as_deref().unwrap_or("")
}

/// The retention policy, `Retain`/`Retain` when unset.
pub fn retention_policy(set: &StatefulSet) -> (Policy, Policy) {
    let p = set.spec.as_ref().and_then(|s| s.persistent_volume_claim_retention_policy.as_ref());
    let parse = |v: Option<&String>| match v.map(String::as_str) {
        Some("Delete") => Policy::Delete,
        Some("Retain") | None => Policy::Retain,
        // Upstream logs "Unknown policy, treating as Retain".
        Some(_) => Policy::Retain,
    };
    (parse(p.and_then(|p| p.when_scaled.as_ref())), parse(p.and_then(|p| p.when_deleted.as_ref())))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Retain,
    Delete,
}

/// An owner as the claim helpers see it: group-version, kind, name, uid.
struct Owner<'a> {
    api_version: &'a str,
    kind: &'a str,
    name: &'a str,
    uid: &'a str,
}

fn set_owner(set: &StatefulSet) -> Owner<'_> {
    Owner { api_version: "apps/v1", kind: "StatefulSet", name: set_name(set), uid: set_uid(set) }
}

fn pod_owner(pod: &Pod) -> Owner<'_> {
    Owner { api_version: "v1", kind: "Pod", name: pod_name_of(pod), uid: pod.metadata.uid.as_deref().unwrap_or("") }
}

fn refs(claim: &PersistentVolumeClaim) -> &[OwnerReference] {
    claim.metadata.owner_references.as_deref().unwrap_or(&[])
}

/// `matchesRef`: same apiVersion, kind and name (the UID is not compared).
fn matches_ref(r: &OwnerReference, o: &Owner) -> bool {
    r.api_version == o.api_version && r.kind == o.kind && r.name == o.name
}

/// `hasOwnerRef`: a ref with the owner's UID.
fn has_owner_ref(claim: &PersistentVolumeClaim, o: &Owner) -> bool {
    refs(claim).iter().any(|r| r.uid == o.uid)
}

/// `hasStaleOwnerRef`: the first ref naming the owner carries another UID.
fn has_stale_owner_ref(claim: &PersistentVolumeClaim, o: &Owner) -> bool {
    refs(claim).iter().find(|r| matches_ref(r, o)).is_some_and(|r| r.uid != o.uid)
}

/// `hasUnexpectedController`: under a non-Retain/Retain policy, a controller ref that is
/// neither our set nor our pod, or a ref to our set/pod's name with another UID.
pub fn has_unexpected_controller(claim: &PersistentVolumeClaim, set: &StatefulSet, pod: &Pod) -> bool {
    if retention_policy(set) == (Policy::Retain, Policy::Retain) {
        return false;
    }
    let (so, po) = (set_owner(set), pod_owner(pod));
    for r in refs(claim) {
        if matches_ref(r, &so) {
            if r.uid != so.uid {
                return true;
            }
            continue;
        }
        if matches_ref(r, &po) {
            if r.uid != po.uid {
                return true;
            }
            continue;
        }
        if r.controller == Some(true) {
            return true;
        }
    }
    false
}

/// `hasNonControllerOwner`: our set or pod owns the claim without `controller: true`.
fn has_non_controller_owner(claim: &PersistentVolumeClaim, set: &StatefulSet, pod: &Pod) -> bool {
    let (set_uid, pod_uid) = (set_uid(set), pod.metadata.uid.as_deref().unwrap_or(""));
    refs(claim).iter().any(|r| (r.uid == set_uid || r.uid == pod_uid) && r.controller != Some(true))
}

/// `isClaimOwnerUpToDate`.
pub fn is_claim_owner_up_to_date(claim: &PersistentVolumeClaim, set: &StatefulSet, pod: &Pod) -> bool {
    let (so, po) = (set_owner(set), pod_owner(pod));
    if has_stale_owner_ref(claim, &so) || has_stale_owner_ref(claim, &po) {
        // Managed by a previous incarnation of the set or pod: not ours to touch.
        return true;
    }
    if has_unexpected_controller(claim, set, pod) {
        // Only our own refs need cleaning up; never add ours next to another controller.
        return !(has_owner_ref(claim, &so) || has_owner_ref(claim, &po));
    }
    if has_non_controller_owner(claim, set, pod) {
        return false;
    }
    let (has_set, has_pod) = (has_owner_ref(claim, &so), has_owner_ref(claim, &po));
    let scaled_down = !identity::in_ordinal_range(set, pod);
    match retention_policy(set) {
        (Policy::Retain, Policy::Retain) => !has_set && !has_pod,
        (Policy::Retain, Policy::Delete) => has_set && !has_pod,
        (Policy::Delete, Policy::Retain) => !has_set && scaled_down == has_pod,
        (Policy::Delete, Policy::Delete) => scaled_down != has_set && scaled_down == has_pod,
    }
}

/// `updateClaimOwnerRefForSetAndPod`: scrub our set's and pod's refs (matched by name and
/// kind), then, unless another controller owns the claim, add the controller refs the policy
/// asks for. Other owners' refs keep their order.
pub fn update_claim_owner_refs(claim: &mut PersistentVolumeClaim, set: &StatefulSet, pod: &Pod) {
    let unexpected = has_unexpected_controller(claim, set, pod);
    let (so, po) = (set_owner(set), pod_owner(pod));
    let mut refs: Vec<OwnerReference> = refs(claim)
        .iter()
        .filter(|r| !matches_ref(r, &so) && !matches_ref(r, &po))
        .cloned()
        .collect();
    if !unexpected {
        let scaled_down = !identity::in_ordinal_range(set, pod);
        let (with_set, with_pod) = match retention_policy(set) {
            (Policy::Retain, Policy::Retain) => (false, false),
            (Policy::Retain, Policy::Delete) => (true, false),
            (Policy::Delete, Policy::Retain) => (false, scaled_down),
            (Policy::Delete, Policy::Delete) => (!scaled_down, scaled_down),
        };
        if with_pod {
            add_controller_ref(&mut refs, pod_controller_ref(pod));
        }
        if with_set {
            add_controller_ref(&mut refs, controller_ref(set));
        }
    }
    claim.metadata.owner_references = Some(refs);
}

/// `addControllerRef`: append unless a ref with that UID is already there.
fn add_controller_ref(refs: &mut Vec<OwnerReference>, owner: OwnerReference) {
    if !refs.iter().any(|r| r.uid == owner.uid) {
        refs.push(owner);
    }
}

fn pod_controller_ref(pod: &Pod) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Pod".into(),
        name: pod_name_of(pod).into(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// `PodClaimIsStale`: with `whenScaled: Delete`, an existing claim of the pod's ordinal that
/// names the pod with another UID (a previous incarnation) blocks creating the pod until the
/// garbage collector has removed the claim.
pub fn pod_claim_is_stale(set: &StatefulSet, pod: &Pod, existing: &[PersistentVolumeClaim]) -> bool {
    if retention_policy(set).0 == Policy::Retain {
        return false;
    }
    let po = pod_owner(pod);
    claims_for(set, ordinal(pod))
        .iter()
        .filter_map(|c| existing.iter().find(|e| e.metadata.name == c.metadata.name))
        .any(|e| has_stale_owner_ref(e, &po))
}
