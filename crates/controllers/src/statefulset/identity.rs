//! Pod identity (`stateful_set_utils.go`): ordinal names, identity labels, hostname/subdomain,
//! the controller ownerReference and the claim volumes every member pod carries.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaimVolumeSource, Pod, PodSpec, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::claims;

/// `apps.StatefulSetPodNameLabel`.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// `apps.PodIndexLabel` (gate PodIndexLabel, GA in 1.32).
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// `apps.StatefulSetRevisionLabel`: the ControllerRevision name a pod was built from.
pub const REVISION_LABEL: &str = "controller-revision-hash";

pub fn set_name(set: &StatefulSet) -> &str {
    set.metadata.name.as_deref().unwrap_or("")
}

pub fn set_namespace(set: &StatefulSet) -> &str {
    set.metadata.namespace.as_deref().unwrap_or("")
}

pub fn set_uid(set: &StatefulSet) -> &str {
    set.metadata.uid.as_deref().unwrap_or("")
}

pub fn replicas(set: &StatefulSet) -> i32 {
    set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// `getStartOrdinal`: `spec.ordinals.start`, else 0.
pub fn start_ordinal(set: &StatefulSet) -> i32 {
    set.spec.as_ref().and_then(|s| s.ordinals.as_ref()).and_then(|o| o.start).unwrap_or(0)
}

/// `getEndOrdinal` (inclusive).
pub fn end_ordinal(set: &StatefulSet) -> i32 {
    start_ordinal(set) + replicas(set) - 1
}

/// `getParentNameAndOrdinal`: the name split by `(.*)-([0-9]+)$`; the ordinal is -1 when the
/// name does not match or the digits do not fit an int32 (then the parent is still reported,
/// as upstream does).
pub fn parent_and_ordinal(name: &str) -> (&str, i32) {
    let digits = name.bytes().rev().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits >= name.len() || name.as_bytes()[name.len() - digits - 1] != b'-' {
        return ("", -1);
    }
    let parent = &name[..name.len() - digits - 1];
    let ordinal = name[name.len() - digits..].parse::<i32>().unwrap_or(-1);
    (parent, ordinal)
}

pub fn pod_name_of(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or("")
}

pub fn ordinal(pod: &Pod) -> i32 {
    parent_and_ordinal(pod_name_of(pod)).1
}

pub fn pod_name(set: &StatefulSet, ordinal: i32) -> String {
    format!("{}-{}", set_name(set), ordinal)
}

/// `isMemberOf`: the name's parent part is the set's name.
pub fn is_member_of(set: &StatefulSet, pod: &Pod) -> bool {
    parent_and_ordinal(pod_name_of(pod)).0 == set_name(set)
}

pub fn in_ordinal_range(set: &StatefulSet, pod: &Pod) -> bool {
    let ord = ordinal(pod);
    ord >= start_ordinal(set) && ord <= end_ordinal(set)
}

pub fn label<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.labels.as_ref()?.get(key).map(String::as_str)
}

/// `getPodRevision`: the `controller-revision-hash` label, empty when absent.
pub fn pod_revision(pod: &Pod) -> &str {
    label(&pod.metadata, REVISION_LABEL).unwrap_or("")
}

/// `metav1.NewControllerRef(set, apps/v1 StatefulSet)`.
pub fn controller_ref(set: &StatefulSet) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: "StatefulSet".into(),
        name: set_name(set).into(),
        uid: set_uid(set).into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// `metav1.GetControllerOf`: the first ownerReference with `controller: true`.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references.as_ref()?.iter().find(|r| r.controller == Some(true))
}

/// `identityMatches`: valid ordinal, right parent, canonical name, same namespace, and the
/// pod-name label. (The pod-index label is set on repair but not checked, as upstream.)
pub fn identity_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let (parent, ord) = parent_and_ordinal(pod_name_of(pod));
    ord >= 0
        && parent == set_name(set)
        && pod_name_of(pod) == pod_name(set, ord)
        && pod.metadata.namespace.as_deref().unwrap_or("") == set_namespace(set)
        && label(&pod.metadata, POD_NAME_LABEL) == Some(pod_name_of(pod))
}

/// `storageMatches`: for every volumeClaimTemplate a pod volume of the same name that mounts
/// the ordinal's claim.
pub fn storage_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let ord = ordinal(pod);
    if ord < 0 {
        return false;
    }
    let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_deref()).unwrap_or(&[]);
    claims::templates(set).iter().all(|t| {
        let tname = t.metadata.name.as_deref().unwrap_or("");
        // Upstream builds a name → volume map, so the last volume of a name wins.
        volumes.iter().rev().find(|v| v.name == tname).is_some_and(|v| {
            v.persistent_volume_claim.as_ref().is_some_and(|p| p.claim_name == claims::claim_name(set, tname, ord))
        })
    })
}

/// `updateIdentity`: canonical name and namespace, pod-name and pod-index labels.
pub fn update_identity(set: &StatefulSet, pod: &mut Pod) {
    let ord = ordinal(pod);
    let name = pod_name(set, ord);
    pod.metadata.name = Some(name.clone());
    pod.metadata.namespace = Some(set_namespace(set).to_string());
    let labels = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
    labels.insert(POD_NAME_LABEL.into(), name);
    labels.insert(POD_INDEX_LABEL.into(), ord.to_string());
}

/// `updateStorage`: one volume per claim template (replacing a same-named volume), followed by
/// the pod's other volumes. Upstream's order of the claim volumes is Go map order (random);
/// berth uses template order so repeated syncs produce identical pods.
pub fn update_storage(set: &StatefulSet, pod: &mut Pod) {
    let ord = ordinal(pod);
    let templates = claims::templates(set);
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    let current = spec.volumes.take().unwrap_or_default();
    let mut volumes: Vec<Volume> = templates
        .iter()
        .map(|t| {
            let tname = t.metadata.name.clone().unwrap_or_default();
            Volume {
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: claims::claim_name(set, &tname, ord),
                    read_only: Some(false),
                }),
                name: tname,
                ..Volume::default()
            }
        })
        .collect();
    let is_template = |name: &str| templates.iter().any(|t| t.metadata.name.as_deref() == Some(name));
    volumes.extend(current.into_iter().filter(|v| !is_template(&v.name)));
    spec.volumes = if volumes.is_empty() { None } else { Some(volumes) };
}

/// `getPodsPrefix`: `<set>-` unless that is not a valid generateName (too long).
fn generate_name(set: &StatefulSet) -> String {
    let prefix = format!("{}-", set_name(set));
    if prefix.len() > 253 {
        set_name(set).to_string()
    } else {
        prefix
    }
}

/// `newStatefulSetPod`: the template's labels, annotations, finalizers and spec, generateName,
/// the controller ref, identity (incl. the immutable hostname/subdomain) and claim volumes.
pub fn new_statefulset_pod(set: &StatefulSet, ordinal: i32) -> Pod {
    let spec = set.spec.as_ref();
    let template = spec.map(|s| &s.template);
    let tmeta = template.and_then(|t| t.metadata.as_ref());
    let mut pod = Pod {
        metadata: ObjectMeta {
            name: Some(pod_name(set, ordinal)),
            generate_name: Some(generate_name(set)),
            labels: tmeta.and_then(|m| m.labels.clone()),
            annotations: tmeta.and_then(|m| m.annotations.clone()),
            finalizers: tmeta.and_then(|m| m.finalizers.clone()),
            owner_references: Some(vec![controller_ref(set)]),
            ..ObjectMeta::default()
        },
        spec: Some(template.and_then(|t| t.spec.clone()).unwrap_or_default()),
        status: None,
    };
    update_identity(set, &mut pod);
    let pod_spec = pod.spec.as_mut().expect("set above");
    pod_spec.hostname = pod.metadata.name.clone();
    pod_spec.subdomain = spec.and_then(|s| s.service_name.clone()).filter(|s| !s.is_empty());
    update_storage(set, &mut pod);
    pod
}

/// `setPodRevision`.
pub fn set_pod_revision(pod: &mut Pod, revision: &str) {
    pod.metadata.labels.get_or_insert_with(BTreeMap::new).insert(REVISION_LABEL.into(), revision.into());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_parent_and_ordinal_like_the_upstream_regex() {
        assert_eq!(parent_and_ordinal("web-0"), ("web", 0));
        assert_eq!(parent_and_ordinal("my-web-12"), ("my-web", 12));
        assert_eq!(parent_and_ordinal("web-01"), ("web", 1));
        assert_eq!(parent_and_ordinal("web"), ("", -1));
        assert_eq!(parent_and_ordinal("web-"), ("", -1));
        assert_eq!(parent_and_ordinal("web-x1"), ("", -1));
        assert_eq!(parent_and_ordinal("-3"), ("", 3));
        assert_eq!(parent_and_ordinal("web-99999999999"), ("web", -1));
    }
}
