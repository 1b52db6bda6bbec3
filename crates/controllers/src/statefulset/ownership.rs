//! Which pods and revisions a set manages (`getPodsForStatefulSet` with
//! `PodControllerRefManager.ClaimPods`, `ListControllerRevisions`, `adoptOrphanRevisions`):
//! matching orphans are adopted, owned pods that no longer match are released, everything
//! controlled by someone else is ignored.

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Map, Value};

use berth_api::selectors::LabelSelector;

use super::identity::{controller_of, is_member_of, pod_name_of, set_name, set_uid};
use super::plan::{Action, ErrorKind, Step};

/// The pods the set owns after this sync's adoptions and releases, plus the steps doing them.
pub struct ClaimedPods<'a> {
    pub pods: Vec<&'a Pod>,
    pub steps: Vec<Step>,
    /// Names of the pods adopted by this plan. Their cached copies predate the adoption patch
    /// (stale resourceVersion, no ownerRef of ours), so they must not be PUT in the same plan.
    pub adopted: HashSet<String>,
}

fn labels_map(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Map<String, Value> {
    meta.labels.iter().flatten().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()
}

/// The strategic-merge patch upstream sends to adopt (`AdoptPod`, `AdoptControllerRevision`).
fn adopt_patch(set: &StatefulSet, uid: &str) -> Value {
    json!({"metadata": {"ownerReferences": [{
        "apiVersion": "apps/v1", "kind": "StatefulSet", "name": set_name(set), "uid": set_uid(set),
        "controller": true, "blockOwnerDeletion": true
    }], "uid": uid}})
}

/// `claimObject` for every pod of the namespace, with the filter `isMemberOf`.
pub fn claim_pods<'a>(set: &StatefulSet, selector: &LabelSelector, pods: &'a [Arc<Pod>]) -> ClaimedPods<'a> {
    let deleting = set.metadata.deletion_timestamp.is_some();
    let matches = |p: &Pod| selector.matches(&labels_map(&p.metadata)) && is_member_of(set, p);
    let mut claimed = ClaimedPods { pods: Vec::new(), steps: Vec::new(), adopted: HashSet::new() };
    for pod in pods.iter().map(|p| p.as_ref()) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let name = pod_name_of(pod).to_string();
        match controller_of(&pod.metadata) {
            Some(r) if r.uid != set_uid(set) => {}
            Some(_) if matches(pod) => claimed.pods.push(pod),
            Some(_) if deleting => {}
            Some(_) => {
                let patch = json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": set_uid(set)}], "uid": uid}});
                // 404 and 422 mean the pod is gone or already released.
                claimed.steps.push(
                    Step::new(Action::ReleasePod { name, uid, patch })
                        .tolerating(&[ErrorKind::NotFound, ErrorKind::Invalid]),
                );
            }
            None if deleting || !matches(pod) || pod.metadata.deletion_timestamp.is_some() => {}
            None => {
                let patch = adopt_patch(set, &uid);
                // A pod deleted meanwhile is simply not claimed; the rest of the plan fails on
                // it with NotFound and the next sync starts over.
                claimed.adopted.insert(name.clone());
                claimed.steps.push(Step::new(Action::AdoptPod { name, uid, patch }).tolerating(&[ErrorKind::NotFound]));
                claimed.pods.push(pod);
            }
        }
    }
    claimed
}

/// `ListControllerRevisions`: revisions matching the selector that we control or nobody does.
pub fn list_revisions<'a>(
    set: &StatefulSet,
    selector: &LabelSelector,
    revisions: &'a [ControllerRevision],
) -> Vec<&'a ControllerRevision> {
    revisions
        .iter()
        .filter(|r| selector.matches(&labels_map(&r.metadata)))
        .filter(|r| controller_of(&r.metadata).is_none_or(|c| c.uid == set_uid(set)))
        .collect()
}

/// `adoptOrphanRevisions`: adopt listed revisions without a controller.
pub fn adopt_orphan_revisions(set: &StatefulSet, listed: &[&ControllerRevision]) -> Vec<Step> {
    listed
        .iter()
        .filter(|r| controller_of(&r.metadata).is_none())
        .map(|r| {
            let uid = r.metadata.uid.clone().unwrap_or_default();
            let name = r.metadata.name.clone().unwrap_or_default();
            Step::new(Action::AdoptControllerRevision { name, patch: adopt_patch(set, &uid), uid })
        })
        .collect()
}
