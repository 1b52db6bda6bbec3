//! The steps of upstream's `StatefulPodControl`: creating a pod with its claims, repairing a
//! pod's identity and storage, deleting a pod, and keeping claim ownerRefs in line with the
//! retention policy — each with the events upstream records.

use std::collections::HashSet;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};

use super::claims::{claim_name_of, claims_for, has_unexpected_controller, is_claim_owner_up_to_date, update_claim_owner_refs};
use super::identity::{
    identity_matches, ordinal, pod_name_of, set_name, storage_matches, update_identity, update_storage,
};
use super::plan::{claim_failure, claim_success, pod_failure, pod_success, Action, DeleteReason, ErrorKind, Event, Step};

/// The claims the controller observes, plus the names of claims this plan already creates or
/// updates. Upstream reads claims from its informer cache, which does not see its own writes
/// of the same sync: a claim touched earlier in a plan is treated as not yet observable, so no
/// second (stale, conflicting) update of it is planned.
pub struct ClaimView<'a> {
    observed: &'a [PersistentVolumeClaim],
    touched: HashSet<String>,
}

impl<'a> ClaimView<'a> {
    pub fn new(observed: &'a [PersistentVolumeClaim]) -> Self {
        ClaimView { observed, touched: HashSet::new() }
    }

    /// The observed claim, unless this plan already wrote it.
    fn get(&self, name: &str) -> Option<&'a PersistentVolumeClaim> {
        if self.touched.contains(name) {
            return None;
        }
        self.observed.iter().find(|c| claim_name_of(c) == name)
    }

    pub fn observed(&self) -> &'a [PersistentVolumeClaim] {
        self.observed
    }
}

/// Result of planning a pod-control call: the steps, and the error upstream's call would return
/// at plan time (a claim being deleted), already appended as a `Fail` step.
pub struct Planned {
    pub steps: Vec<Step>,
    pub failed: bool,
}

/// Go's `utilerrors.NewAggregate(errs).Error()`.
fn aggregate(errs: &[String]) -> String {
    if errs.len() == 1 {
        errs[0].clone()
    } else {
        format!("[{}]", errs.join(", "))
    }
}

/// `createPersistentVolumeClaims`: create the pod's missing claims; a claim that is being
/// deleted is an error (`pvc <name> is being deleted`) after the others were attempted.
/// `pod_verb` is the verb of the pod event upstream records when this fails, if any.
fn create_claims(set: &StatefulSet, pod: &Pod, view: &mut ClaimView, pod_verb: Option<&str>) -> Planned {
    let (sname, pname) = (set_name(set), pod_name_of(pod));
    let mut steps = Vec::new();
    let mut errs = Vec::new();
    for claim in claims_for(set, ordinal(pod)) {
        let cname = claim_name_of(&claim).to_string();
        match view.get(&cname) {
            None if view.touched.contains(&cname) => {}
            None => {
                let mut step = Step::new(Action::CreateClaim { claim: claim.clone() })
                    .on_success(claim_success(&cname, pname, sname))
                    .on_failure(claim_failure(&cname, pname, sname));
                if let Some(verb) = pod_verb {
                    step = step.on_failure(pod_failure(verb, pname, sname, &format!("failed to create PVC {cname}: ")));
                }
                steps.push(step);
                view.touched.insert(cname);
            }
            Some(existing) if existing.metadata.deletion_timestamp.is_some() => {
                errs.push(format!("pvc {cname} is being deleted"));
            }
            Some(_) => {}
        }
    }
    if errs.is_empty() {
        return Planned { steps, failed: false };
    }
    let message = aggregate(&errs);
    if let Some(verb) = pod_verb {
        if let Some(e) = pod_failure(verb, pname, sname, "").render(ErrorKind::Other, &message) {
            steps.push(Step::new(Action::RecordEvent(e)));
        }
    }
    steps.push(Step::new(Action::Fail { message }));
    Planned { steps, failed: true }
}

/// `ClaimsMatchRetentionPolicy`: every observed claim of the pod carries the ownerRefs the
/// policy wants (missing claims count as matching).
pub fn claims_match_retention_policy(set: &StatefulSet, pod: &Pod, view: &ClaimView) -> bool {
    claims_for(set, ordinal(pod))
        .iter()
        .filter_map(|c| view.get(claim_name_of(c)))
        .all(|c| is_claim_owner_up_to_date(c, set, pod))
}

/// `UpdatePodClaimForRetentionPolicy`: warn about a conflicting controller, and update the
/// ownerRefs of claims that are not up to date. `pod_verb`: the pod event on failure, if any.
pub fn update_pod_claims_for_retention(
    set: &StatefulSet,
    pod: &Pod,
    view: &mut ClaimView,
    pod_verb: Option<&str>,
) -> Vec<Step> {
    let mut steps = Vec::new();
    for wanted in claims_for(set, ordinal(pod)) {
        let cname = claim_name_of(&wanted).to_string();
        let Some(existing) = view.get(&cname) else { continue };
        if has_unexpected_controller(existing, set, pod) {
            steps.push(Step::new(Action::RecordEvent(Event::warning(
                "ConflictingController",
                format!(
                    "PersistentVolumeClaim {cname} has a conflicting OwnerReference that acts as a manging controller, the retention policy is ignored for this claim"
                ),
            ))));
        }
        if !is_claim_owner_up_to_date(existing, set, pod) {
            let mut claim = existing.clone();
            update_claim_owner_refs(&mut claim, set, pod);
            let mut step = Step::new(Action::UpdateClaim { claim });
            if let Some(verb) = pod_verb {
                step = step.on_failure(pod_failure(
                    verb,
                    pod_name_of(pod),
                    set_name(set),
                    &format!("could not update claim {cname} for delete policy ownerRefs: "),
                ));
            }
            steps.push(step);
            view.touched.insert(cname);
        }
    }
    steps
}

/// `CreateStatefulPod`: claims first, then the pod (AlreadyExists fails silently), then the
/// retention ownerRefs of claims that already existed.
pub fn create_stateful_pod(set: &StatefulSet, pod: &Pod, view: &mut ClaimView) -> Planned {
    let (sname, pname) = (set_name(set), pod_name_of(pod));
    let mut planned = create_claims(set, pod, view, Some("create"));
    if planned.failed {
        return planned;
    }
    let mut fail = pod_failure("create", pname, sname, "");
    fail.skip_if_already_exists = true;
    planned.steps.push(
        Step::new(Action::CreatePod { pod: pod.clone() }).on_success(pod_success("create", pname, sname)).on_failure(fail),
    );
    planned.steps.extend(update_pod_claims_for_retention(set, pod, view, Some("update")));
    planned
}

/// `createMissingPersistentVolumeClaims` (for Pending pods): no pod event when claim creation
/// fails; a pod `update` event when the retention update fails.
pub fn create_missing_claims(set: &StatefulSet, pod: &Pod, view: &mut ClaimView) -> Planned {
    let mut planned = create_claims(set, pod, view, None);
    if planned.failed {
        return planned;
    }
    planned.steps.extend(update_pod_claims_for_retention(set, pod, view, Some("update")));
    planned
}

/// `UpdateStatefulPod`: repair identity and storage (creating missing claims), fix claim
/// ownerRefs, and PUT the pod if anything was off. Upstream PUTs the pod even when only the
/// claims needed fixing, so `SuccessfulUpdate` is recorded then too.
pub fn update_stateful_pod(set: &StatefulSet, pod: &Pod, view: &mut ClaimView) -> Planned {
    let (sname, pname) = (set_name(set), pod_name_of(pod).to_string());
    let mut pod = pod.clone();
    let mut consistent = true;
    let mut steps = Vec::new();
    if !identity_matches(set, &pod) {
        update_identity(set, &mut pod);
        consistent = false;
    }
    if !storage_matches(set, &pod) {
        update_storage(set, &mut pod);
        consistent = false;
        let planned = create_claims(set, &pod, view, Some("update"));
        steps.extend(planned.steps);
        if planned.failed {
            return Planned { steps, failed: true };
        }
    }
    if !claims_match_retention_policy(set, &pod, view) {
        steps.extend(update_pod_claims_for_retention(set, &pod, view, Some("update")));
        consistent = false;
    }
    if !consistent {
        steps.push(
            Step::new(Action::UpdatePod { pod })
                .on_success(pod_success("update", &pname, sname))
                .on_failure(pod_failure("update", &pname, sname, "")),
        );
    }
    Planned { steps, failed: false }
}

/// `DeleteStatefulPod` with the pod's UID as precondition.
pub fn delete_stateful_pod(set: &StatefulSet, pod: &Pod, reason: DeleteReason) -> Step {
    let (sname, pname) = (set_name(set), pod_name_of(pod));
    Step::new(Action::DeletePod { name: pname.to_string(), uid: pod.metadata.uid.clone().unwrap_or_default(), reason })
        .on_success(pod_success("delete", pname, sname))
        .on_failure(pod_failure("delete", pname, sname, ""))
}
