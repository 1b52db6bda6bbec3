//! The plan a sync produces and the executor performs: typed API calls with their
//! preconditions, the events each call records on success or failure, and which errors a call
//! tolerates (as upstream's `StatefulPodControl`/`history` helpers do).

use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSetStatus};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use serde_json::Value;

/// Everything one sync decided, in upstream's order. See the module docs of
/// [`crate::statefulset`] for how to execute it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncPlan {
    /// Ownership and revision bookkeeping that must succeed before anything else: adoption and
    /// release (pods and revisions) and creating / re-numbering the update revision. On the
    /// first failure the sync ends with an error (no status write, no history pruning).
    pub prelude: Vec<Step>,
    /// Pod and claim work. Performed in order; the first failure stops the list and makes the
    /// sync an error (rate-limited requeue), but `status` and `history` still run.
    pub steps: Vec<Step>,
    /// The new `.status`, present only when it differs from the observed one in a field
    /// upstream's `inconsistentStatus` compares. Write it with PUT `/status` after `steps`,
    /// even if a step failed.
    pub status: Option<StatefulSetStatus>,
    /// ControllerRevision deletions from `truncateHistory`, after the status write, even if a
    /// step failed; stop at the first failure.
    pub history: Vec<Step>,
    /// Sync again after this long if every step succeeded (`minReadySeconds` pending).
    pub requeue_after: Option<Duration>,
}

impl SyncPlan {
    /// All steps in execution order (prelude, steps, history), for tests and logging.
    pub fn all_steps(&self) -> impl Iterator<Item = &Step> {
        self.prelude.iter().chain(&self.steps).chain(&self.history)
    }
}

/// One API call plus the events upstream records around it.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub action: Action,
    /// Events to record (involved object: the StatefulSet) when the call succeeds.
    pub on_success: Vec<Event>,
    /// Events to record when the call fails; see [`FailureEvent::render`].
    pub on_failure: Vec<FailureEvent>,
    /// Error kinds after which the plan continues as if the call had succeeded (the failure
    /// events are still recorded).
    pub tolerate: Vec<ErrorKind>,
}

impl Step {
    pub fn new(action: Action) -> Step {
        Step { action, on_success: Vec::new(), on_failure: Vec::new(), tolerate: Vec::new() }
    }
    pub(crate) fn on_success(mut self, e: Event) -> Step {
        self.on_success.push(e);
        self
    }
    pub(crate) fn on_failure(mut self, e: FailureEvent) -> Step {
        self.on_failure.push(e);
        self
    }
    pub(crate) fn tolerating(mut self, kinds: &[ErrorKind]) -> Step {
        self.tolerate.extend_from_slice(kinds);
        self
    }
    /// Whether the plan goes on after a failure of `kind`.
    pub fn tolerates(&self, kind: ErrorKind) -> bool {
        self.tolerate.contains(&kind)
    }
    /// The events to record for a failure with this kind and message.
    pub fn failure_events(&self, kind: ErrorKind, message: &str) -> Vec<Event> {
        self.on_failure.iter().filter_map(|f| f.render(kind, message)).collect()
    }
}

/// An API call. Names are in the set's namespace. Objects are complete, typed and ready to
/// send; `resource_version`/`uid` fields are preconditions the executor must send.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Upstream's `canAdopt` (`RecheckDeletionTimestamp`): GET the set uncached (a quorum read)
    /// and fail unless it exists with this UID and has no deletionTimestamp. Precedes the
    /// first adoption of a plan.
    RecheckSetBeforeAdoption { name: String, uid: String },
    /// PATCH (strategic merge) the pod with `patch`, adding our controller ref; the patch carries
    /// `metadata.uid` so it only applies to that incarnation.
    AdoptPod { name: String, uid: String, patch: Value },
    /// PATCH (strategic merge) removing our ownerReference from a pod we no longer select.
    ReleasePod { name: String, uid: String, patch: Value },
    /// PATCH (strategic merge) adding our controller ref to an orphaned revision.
    AdoptControllerRevision { name: String, uid: String, patch: Value },
    /// POST the revision. On AlreadyExists: GET it; if [`super::revision_data_equal`] says the
    /// data is the same, continue as if created; otherwise it is a hash collision — stop the
    /// sync with an error and requeue: the next sync sees the existing object and moves on to
    /// the next name (`collisionCount + 1`, persisted in status).
    CreateControllerRevision { revision: ControllerRevision },
    /// PUT the revision (carries `resourceVersion`) with its `revision` number raised: a
    /// rollback to an older template re-uses its revision instead of creating one.
    UpdateControllerRevision { revision: ControllerRevision },
    /// DELETE with preconditions `{uid}`.
    DeleteControllerRevision { name: String, uid: String },
    /// POST the claim (created before its pod).
    CreateClaim { claim: PersistentVolumeClaim },
    /// PUT the claim (carries `resourceVersion`) with new ownerReferences for the retention
    /// policy.
    UpdateClaim { claim: PersistentVolumeClaim },
    /// POST the pod (name set; `generateName` is cosmetic).
    CreatePod { pod: Pod },
    /// PUT the pod (carries `resourceVersion`): identity/storage repair. Conflict fails the
    /// step; the next sync recomputes from fresh state.
    UpdatePod { pod: Pod },
    /// DELETE the pod with preconditions `{uid}` and default grace: a pod is only replaced once
    /// this incarnation is gone, never while it lingers (at most one pod per identity).
    DeletePod { name: String, uid: String, reason: DeleteReason },
    /// Record an event on the StatefulSet (no API call besides the event itself).
    RecordEvent(Event),
    /// Fail here with this error message (e.g. `pvc www-web-0 is being deleted`): the sync is an
    /// error and is retried with backoff, as upstream's returns an error at this point.
    Fail { message: String },
}

/// Why a pod is deleted (for logs; the call is the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteReason {
    /// Phase Failed or Succeeded: replaced on a later sync once gone.
    Finished,
    /// Out of the ordinal range.
    ScaleDown,
    /// Rolling update to the update revision.
    Update,
}

/// The error classes the plan distinguishes (from the API status `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    AlreadyExists,
    Conflict,
    Invalid,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// An event on the StatefulSet, source component `statefulset-controller`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub type_: EventType,
    pub reason: String,
    pub message: String,
}

impl Event {
    pub fn normal(reason: &str, message: String) -> Event {
        Event { type_: EventType::Normal, reason: reason.into(), message }
    }
    pub fn warning(reason: &str, message: String) -> Event {
        Event { type_: EventType::Warning, reason: reason.into(), message }
    }
}

/// A Warning event whose message ends with the call's error text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureEvent {
    pub reason: String,
    /// Text before the error, e.g. `create Pod web-0 in StatefulSet web failed error: `.
    pub message_prefix: String,
    /// Upstream records no event for this failure when the error is AlreadyExists.
    pub skip_if_already_exists: bool,
}

impl FailureEvent {
    pub fn render(&self, kind: ErrorKind, error: &str) -> Option<Event> {
        if self.skip_if_already_exists && kind == ErrorKind::AlreadyExists {
            return None;
        }
        Some(Event::warning(&self.reason, format!("{}{}", self.message_prefix, error)))
    }
}

/// `recordPodEvent` texts.
pub(crate) fn pod_success(verb: &str, pod: &str, set: &str) -> Event {
    Event::normal(&format!("Successful{}", title(verb)), format!("{verb} Pod {pod} in StatefulSet {set} successful"))
}

pub(crate) fn pod_failure(verb: &str, pod: &str, set: &str, inner_prefix: &str) -> FailureEvent {
    FailureEvent {
        reason: format!("Failed{}", title(verb)),
        message_prefix: format!("{verb} Pod {pod} in StatefulSet {set} failed error: {inner_prefix}"),
        skip_if_already_exists: false,
    }
}

/// `recordClaimEvent` texts (note upstream's "success", and "for Pod" only on failure).
pub(crate) fn claim_success(claim: &str, pod: &str, set: &str) -> Event {
    Event::normal("SuccessfulCreate", format!("create Claim {claim} Pod {pod} in StatefulSet {set} success"))
}

pub(crate) fn claim_failure(claim: &str, pod: &str, set: &str) -> FailureEvent {
    FailureEvent {
        reason: "FailedCreate".into(),
        message_prefix: format!("create Claim {claim} for Pod {pod} in StatefulSet {set} failed error: "),
        skip_if_already_exists: true,
    }
}

fn title(verb: &str) -> String {
    let mut c = verb.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}
