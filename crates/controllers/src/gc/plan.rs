//! The garbage collector's decisions, with upstream semantics
//! (`pkg/controller/garbagecollector/garbagecollector.go`: `attemptToDeleteItem`,
//! `classifyReferences`, `processDeletingDependentsItem`, `attemptToOrphanWorker`). Pure.
//!
//! The runner classifies an item's owners with live GETs and calls [`decide_dependent`],
//! [`foreground_step`] and [`orphan_steps`]; [`plan`] applies the same rules to a complete
//! snapshot of objects (owner present ⇔ in the snapshot), which is how the rules are tested.

use super::model::{split_api_version, Object, ObjectRef, OwnerRef, FINALIZER_FOREGROUND, FINALIZER_ORPHAN};

/// What an ownerReference points at (upstream `classifyReferences`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerState {
    /// The owner does not exist: not found by name, or found with another uid.
    Dangling,
    /// The owner exists and is not waiting for its dependents' deletion.
    Solid,
    /// The owner exists, is being deleted and has the `foregroundDeletion` finalizer.
    WaitingForDependentsDeletion,
}

/// `DeleteOptions.propagationPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

impl Propagation {
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::Background => "Background",
            Propagation::Foreground => "Foreground",
            Propagation::Orphan => "Orphan",
        }
    }
}

/// What to do with one dependent after its owners were classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Leave it alone.
    Keep,
    /// It keeps a solid owner: drop the refs to these (dangling or waiting) owners.
    RemoveOwnerRefs(Vec<String>),
    /// Delete it. With `unblock_first`, first set `blockOwnerDeletion: false` on all its
    /// ownerReferences (upstream breaks foreground cycles this way).
    Delete { propagation: Propagation, unblock_first: bool },
}

/// One API call the garbage collector makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// DELETE with `preconditions: {uid, resourceVersion}`.
    Delete { target: ObjectRef, resource_version: String, propagation: Propagation },
    /// Remove the ownerReferences with these uids (patch guarded by resourceVersion).
    RemoveOwnerRefs { target: ObjectRef, owner_uids: Vec<String> },
    /// Set `blockOwnerDeletion: false` on every ownerReference.
    UnblockOwnerRefs { target: ObjectRef },
    /// Remove one finalizer (patch guarded by resourceVersion).
    RemoveFinalizer { target: ObjectRef, finalizer: &'static str },
}

/// `attemptToDeleteItem` once the item is known to exist and not to be deleting its own
/// dependents. `owners` pairs each of the item's latest ownerReferences with its state;
/// `has_dependents` says whether anything references the item; `dependent_deleting_dependents`
/// whether one of those dependents is itself deleting in the foreground.
pub fn decide_dependent(
    item: &Object,
    owners: &[(OwnerRef, OwnerState)],
    has_dependents: bool,
    dependent_deleting_dependents: bool,
) -> Decision {
    if owners.is_empty() {
        return Decision::Keep;
    }
    let uids_in = |s: OwnerState| owners.iter().filter(move |(_, st)| *st == s).map(|(r, _)| r.uid.clone());
    let solid = uids_in(OwnerState::Solid).count();
    let dangling: Vec<String> = uids_in(OwnerState::Dangling).collect();
    let waiting: Vec<String> = uids_in(OwnerState::WaitingForDependentsDeletion).collect();
    if solid > 0 {
        // A live owner keeps the item; refs to owners that are gone or waiting for their
        // dependents are dropped, or a foreground owner would wait for this item forever.
        if dangling.is_empty() && waiting.is_empty() {
            return Decision::Keep;
        }
        return Decision::RemoveOwnerRefs(dangling.into_iter().chain(waiting).collect());
    }
    if !waiting.is_empty() && has_dependents {
        // An owner waits for us and we have dependents of our own: delete in the foreground so
        // the owner keeps waiting until our dependents are gone too.
        return Decision::Delete { propagation: Propagation::Foreground, unblock_first: dependent_deleting_dependents };
    }
    // No solid owner: collect it, honouring a deletion policy already recorded on the item.
    let propagation = if item.has_finalizer(FINALIZER_ORPHAN) {
        Propagation::Orphan
    } else if item.has_finalizer(FINALIZER_FOREGROUND) {
        Propagation::Foreground
    } else {
        Propagation::Background
    };
    Decision::Delete { propagation, unblock_first: false }
}

/// The actions for a decision about `item` (read at `item.resource_version`).
pub fn actions_for(item: &Object, decision: Decision) -> Vec<Action> {
    match decision {
        Decision::Keep => vec![],
        Decision::RemoveOwnerRefs(owner_uids) => vec![Action::RemoveOwnerRefs { target: item.id.clone(), owner_uids }],
        Decision::Delete { propagation, unblock_first } => {
            let mut out = Vec::new();
            if unblock_first {
                out.push(Action::UnblockOwnerRefs { target: item.id.clone() });
            }
            out.push(Action::Delete { target: item.id.clone(), resource_version: item.resource_version.clone(), propagation });
            out
        }
    }
}

/// `processDeletingDependentsItem` for an owner deleting in the foreground.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForegroundStep {
    /// No dependent blocks the owner any more: remove `foregroundDeletion`.
    RemoveFinalizer,
    /// These blocking dependents must be (re)considered for deletion first.
    AttemptToDelete(Vec<ObjectRef>),
}

/// Only dependents whose ownerReference to `owner` has `blockOwnerDeletion: true` hold it.
pub fn foreground_step(owner: &Object, dependents: &[&Object]) -> ForegroundStep {
    let blocking: Vec<&&Object> = dependents
        .iter()
        .filter(|d| d.owners.iter().any(|r| r.uid == owner.id.uid && r.block_owner_deletion))
        .collect();
    if blocking.is_empty() {
        return ForegroundStep::RemoveFinalizer;
    }
    // A blocking dependent that is itself deleting in the foreground progresses on its own.
    ForegroundStep::AttemptToDelete(blocking.iter().filter(|d| !d.deleting_dependents()).map(|d| d.id.clone()).collect())
}

/// `attemptToOrphanWorker`: drop the owner from every dependent, then drop `orphan` from the
/// owner. The finalizer goes last so the owner cannot disappear with dependents still
/// pointing at it.
pub fn orphan_steps(owner: &Object, dependents: &[&Object]) -> Vec<Action> {
    let mut out: Vec<Action> = dependents
        .iter()
        .filter(|d| d.owner_ref(&owner.id.uid).is_some())
        .map(|d| Action::RemoveOwnerRefs { target: d.id.clone(), owner_uids: vec![owner.id.uid.clone()] })
        .collect();
    out.push(Action::RemoveFinalizer { target: owner.id.clone(), finalizer: FINALIZER_ORPHAN });
    out
}

/// How [`plan`] sees an owner in a snapshot, mirroring upstream's live GET: the owner is looked
/// up by kind and name in the dependent's namespace (cluster-scoped owners anywhere) and must
/// carry the referenced uid.
pub fn snapshot_owner_state(dependent: &Object, r: &OwnerRef, snapshot: &[Object]) -> OwnerState {
    let (group, _) = split_api_version(&r.api_version);
    let found = snapshot.iter().find(|o| {
        split_api_version(&o.id.api_version).0 == group
            && o.id.kind == r.kind
            && o.id.name == r.name
            && (o.id.namespace.is_none() || o.id.namespace == dependent.id.namespace)
    });
    match found {
        Some(o) if o.id.uid == r.uid => {
            if o.deleting_dependents() {
                OwnerState::WaitingForDependentsDeletion
            } else {
                OwnerState::Solid
            }
        }
        _ => OwnerState::Dangling,
    }
}

/// Every action the garbage collector would take on a complete, consistent snapshot.
pub fn plan(snapshot: &[Object]) -> Vec<Action> {
    let dependents_of =
        |uid: &str| -> Vec<&Object> { snapshot.iter().filter(|d| d.owners.iter().any(|r| r.uid == uid)).collect() };
    let mut out = Vec::new();
    for item in snapshot {
        let dependents = dependents_of(&item.id.uid);
        if item.orphaning_dependents() {
            out.extend(orphan_steps(item, &dependents));
        }
        if item.deleting_dependents() {
            if foreground_step(item, &dependents) == ForegroundStep::RemoveFinalizer {
                out.push(Action::RemoveFinalizer { target: item.id.clone(), finalizer: FINALIZER_FOREGROUND });
            }
            continue;
        }
        if item.being_deleted {
            // Deletion is a one-way trip: wait for it to finish, then handle the dependents.
            continue;
        }
        let owners: Vec<(OwnerRef, OwnerState)> =
            item.owners.iter().map(|r| (r.clone(), snapshot_owner_state(item, r, snapshot))).collect();
        let decision = decide_dependent(
            item,
            &owners,
            !dependents.is_empty(),
            dependents.iter().any(|d| d.deleting_dependents()),
        );
        out.extend(actions_for(item, decision));
    }
    out
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
