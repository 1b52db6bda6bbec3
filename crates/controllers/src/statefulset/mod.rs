//! The StatefulSet controller's decision logic, with upstream semantics
//! (`pkg/controller/statefulset`, Kubernetes v1.33). Pure: no IO, no clock of its own.
//!
//! # API
//!
//! ```text
//! pub fn sync(input: &SyncInput) -> SyncPlan;
//!
//! pub struct SyncInput<'a> {
//!     pub set: &'a StatefulSet,                        // from the informer cache
//!     pub pods: &'a [Arc<Pod>],                        // the namespace's pods (shared with the cache)
//!     pub claims: &'a [PersistentVolumeClaim],         // every claim of the namespace
//!     pub revisions: &'a [ControllerRevision],         // every revision of the namespace
//!     pub now: DateTime<Utc>,
//! }
//! ```
//!
//! The caller passes everything of the namespace; `sync` does the selector and ownership work
//! itself (adopting matching orphans, releasing owned pods that no longer match, ignoring what
//! another controller owns).
//!
//! # Executing a [`SyncPlan`]
//!
//! 1. `prelude`: perform each [`Step`] in order. On a failure whose [`ErrorKind`] the step does
//!    not [tolerate](Step::tolerates), record [`Step::failure_events`] and end the sync with that
//!    error (rate-limited requeue). Nothing else of the plan runs.
//! 2. `steps`: the same, but a failure only stops this list; remember the error.
//! 3. `status`: if `Some`, PUT it to `/status` — even when a step failed. Replace the whole
//!    status; on Conflict re-read the set and retry with the fresh object (upstream's
//!    `RetryOnConflict`), keeping the fresh object's `status.conditions`.
//! 4. `history`: perform these deletions (stop at the first failure), even when a step failed.
//! 5. Return the remembered error, if any; otherwise, if `requeue_after` is set, enqueue the
//!    set again after that delay.
//!
//! After each successful call record [`Step::on_success`]; after a failed one (tolerated or
//! not) [`Step::failure_events`]. Events: involved object the StatefulSet, source component
//! `statefulset-controller`, with the type, reason and message given. Preconditions travel in
//! the actions: DELETEs carry the UID to send as `preconditions.uid`; PUTs carry the object's
//! `resourceVersion`; adoption patches carry `metadata.uid`. A [`Action::Fail`] step fails with
//! its message. [`Action::CreateControllerRevision`] answered AlreadyExists: GET the existing
//! object and compare with [`revision_data_equal`]; equal counts as success, different is a hash
//! collision — fail the sync (requeue): the next sync sees the existing revision among its
//! inputs and picks the next name (`collisionCount + 1`, written to status).
//!
//! Requeue triggers the executor owns (upstream's event handlers): set add/update/delete; pod
//! add/update/delete resolved through the controller ref (orphans enqueue every set whose
//! selector matches); a pod turning Ready with `minReadySeconds > 0` enqueues after
//! `minReadySeconds + 1s`.
//!
//! # Deliberate differences from upstream
//! - Upstream performs calls while deciding and re-reads nothing in between; a plan is decided
//!   up front from the same cached view, so the outcome is the same call sequence. A
//!   Parallel set's creations and scale-down deletions are listed in sequence; the executor
//!   runs them in upstream's concurrent slow-start batches (see `batches`).
//! - The current and update revision names are computed before creating the revision, and
//!   name collisions with observed revisions are resolved up front.
//! - `status.conditions` are carried over (upstream writes a fresh status that drops them).
//! - `SuccessfulCreate` for a pod is recorded right after the pod's POST; upstream records it
//!   after also updating claim ownerRefs (and records `FailedUpdate` instead if that fails).
//! - Claim volumes are added in template order (upstream: Go map order).
//! - A pod adopted by a plan is not also PUT (identity repair) by it: the cached copy predates
//!   the adoption patch; the adoption's watch event brings the sync that repairs it.
//! - A claim written earlier in a plan is not written again by it (upstream's cache would not
//!   show the first write, and the second PUT would conflict).
//! - A pod the plan only creates is never also a rolling-update deletion target.
//! - `rollingUpdate.maxUnavailable` is honoured when present (upstream: only with the alpha
//!   gate; berth's API server drops the field on create as upstream does with the gate off).

mod batches;
mod claims;
mod control;
mod gojson;
mod history;
mod identity;
mod ownership;
mod plan;
mod podcontrol;
pub(crate) mod podstate;
mod revision;
pub mod runner;
mod status;
mod update;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};

use berth_api::selectors::LabelSelector;

pub use identity::{parent_and_ordinal, POD_INDEX_LABEL, POD_NAME_LABEL, REVISION_LABEL};
pub use plan::{Action, DeleteReason, ErrorKind, Event, EventType, FailureEvent, Step, SyncPlan};
pub use podstate::{from_chrono, to_chrono};
pub use revision::HASH_LABEL as CONTROLLER_REVISION_HASH_LABEL;

/// What one sync of one StatefulSet observes.
#[derive(Debug, Clone)]
pub struct SyncInput<'a> {
    pub set: &'a StatefulSet,
    /// All pods of the set's namespace (or at least every pod the set owns and every orphan),
    /// shared with the informer cache rather than copied: a sync runs on every pod event.
    pub pods: &'a [Arc<Pod>],
    /// All PersistentVolumeClaims of the set's namespace.
    pub claims: &'a [PersistentVolumeClaim],
    /// All ControllerRevisions of the set's namespace.
    pub revisions: &'a [ControllerRevision],
    pub now: DateTime<Utc>,
}

/// Whether two revisions hold the same data (upstream's `bytes.Equal` on `data.Raw`): for the
/// executor's AlreadyExists check on [`Action::CreateControllerRevision`].
pub fn revision_data_equal(a: &ControllerRevision, b: &ControllerRevision) -> bool {
    revision::data_bytes(a) == revision::data_bytes(b)
}

/// The set as upstream's controller sees it: with API defaults applied (idempotent for sets
/// the API server stored), but keeping `rollingUpdate.maxUnavailable` when present.
fn defaulted(set: &StatefulSet) -> StatefulSet {
    let Ok(mut v) = serde_json::to_value(set) else { return set.clone() };
    berth_api::defaults::apply_defaults("apps", "StatefulSet", &mut v);
    let mut out: StatefulSet = serde_json::from_value(v).unwrap_or_else(|_| set.clone());
    let max = set
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.max_unavailable.clone());
    if let Some(ru) = out.spec.as_mut().and_then(|s| s.update_strategy.as_mut()).and_then(|u| u.rolling_update.as_mut()) {
        ru.max_unavailable = max;
    }
    out
}

fn fail(message: String) -> Step {
    Step::new(Action::Fail { message })
}

/// Decide one sync of `input.set` (upstream `StatefulSetController.sync` →
/// `UpdateStatefulSet`).
pub fn sync(input: &SyncInput) -> SyncPlan {
    let set = defaulted(input.set);
    let mut plan = SyncPlan::default();
    let spec = set.spec.clone().unwrap_or_default();
    let selector_json = serde_json::to_value(&spec.selector).unwrap_or_default();
    let selector = match LabelSelector::from_label_selector(&selector_json) {
        Ok(s) => s,
        Err(e) => {
            // Upstream: a non-transient error, not retried.
            tracing::warn!(set = identity::set_name(&set), error = %e, "error converting StatefulSet selector");
            return plan;
        }
    };

    let listed = ownership::list_revisions(&set, &selector, input.revisions);
    let adopt_revisions = ownership::adopt_orphan_revisions(&set, &listed);
    if !adopt_revisions.is_empty() {
        if let Some(ts) = &set.metadata.deletion_timestamp {
            plan.prelude.push(fail(format!(
                "can't adopt ControllerRevisions: {}/{} has just been deleted at {}",
                identity::set_namespace(&set),
                identity::set_name(&set),
                podstate::to_chrono(ts).to_rfc3339()
            )));
            return plan;
        }
    }
    let claimed = ownership::claim_pods(&set, &selector, input.pods);
    let adopting = !adopt_revisions.is_empty() || claimed.steps.iter().any(|s| matches!(s.action, Action::AdoptPod { .. }));
    if adopting {
        plan.prelude.push(Step::new(Action::RecheckSetBeforeAdoption {
            name: identity::set_name(&set).into(),
            uid: identity::set_uid(&set).into(),
        }));
    }
    plan.prelude.extend(adopt_revisions);
    plan.prelude.extend(claimed.steps);

    let mut sorted: Vec<ControllerRevision> = listed.into_iter().cloned().collect();
    revision::sort_revisions(&mut sorted);
    let revs = history::get_statefulset_revisions(&set, &sorted, input.revisions);
    plan.prelude.extend(revs.steps);

    let (current_set, update_set) = match (
        revision::apply_revision(&set, &revs.current),
        revision::apply_revision(&set, &revs.update),
    ) {
        (Ok(c), Ok(u)) => (c, u),
        (Err(e), _) | (_, Err(e)) => {
            plan.prelude.push(fail(format!("applying revision: {e}")));
            return plan;
        }
    };
    let min_ready_seconds = spec.min_ready_seconds.unwrap_or(0);
    let control = control::Control {
        set: &set,
        current_set,
        update_set,
        current: &revs.current,
        update: &revs.update,
        now: input.now,
        min_ready_seconds,
        monotonic: spec.pod_management_policy.as_deref() != Some("Parallel"),
        collision_count: revs.collision_count,
        adopted: &claimed.adopted,
    };
    let mut view = podcontrol::ClaimView::new(input.claims);
    let (steps, mut new_status) = control.update_statefulset(&claimed.pods, &mut view);
    plan.steps = steps;

    status::complete_rolling_update(&set, &mut new_status);
    if min_ready_seconds > 0 && new_status.available_replicas.unwrap_or(0) != identity::replicas(&set) {
        plan.requeue_after = Some(Duration::from_secs(min_ready_seconds as u64));
    }
    if status::inconsistent(&set, &new_status) {
        plan.status = Some(new_status);
    }
    let (current, update) = (revs.current.metadata.name.as_deref().unwrap_or(""), revs.update.metadata.name.as_deref().unwrap_or(""));
    plan.history = history::truncate_history(&set, &claimed.pods, &sorted, current, update);
    plan
}
