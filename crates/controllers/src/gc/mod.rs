//! The garbage collector (upstream `pkg/controller/garbagecollector`): deletes objects whose
//! owners are gone, and carries out `Orphan` and `Foreground` deletion of owners.
//!
//! # API
//!
//! ```text
//! pub async fn run(client: kube::Client, shutdown: impl Future<Output = ()> + Send);
//! pub async fn run_with(client, Options { workers, resync_period, ignored_resources }, shutdown);
//! pub fn plan(snapshot: &[Object]) -> Vec<Action>;          // the rules on a full snapshot
//! ```
//!
//! # Rules (each checked against upstream `garbagecollector.go` / `graph_builder.go`)
//! - A dependent none of whose owners exists (an owner exists when a GET by kind and name in
//!   the dependent's namespace returns the referenced uid) is deleted with
//!   `preconditions: {uid, resourceVersion}` and propagation Background — or Orphan /
//!   Foreground if the dependent itself carries that finalizer already.
//! - A dependent with at least one existing owner that is not deleting in the foreground
//!   keeps living; refs to absent owners and to owners waiting for their dependents are
//!   removed from it (strategic-merge `$patch: delete` by uid, guarded by resourceVersion).
//! - If its only existing owners are waiting for their dependents (`foregroundDeletion`) and
//!   it has dependents of its own, it is deleted with Foreground (after unblocking its own
//!   ownerReferences if one of its dependents is also deleting in the foreground, to break
//!   cycles); without dependents it is deleted like any orphaned dependent.
//! - An owner being deleted with `foregroundDeletion` loses that finalizer once no observed
//!   dependent has an ownerReference to it with `blockOwnerDeletion: true`.
//! - An owner being deleted with `orphan` is removed from every observed dependent's
//!   ownerReferences, then loses the `orphan` finalizer.
//!
//! Objects being deleted are left alone until they are gone. Core `events` are not watched
//! (upstream's default ignored resources).

mod graph;
mod model;
mod ops;
mod plan;
mod queue;
mod runner;

pub use graph::{Graph, Work};
pub use model::{split_api_version, Object, ObjectRef, OwnerRef, FINALIZER_FOREGROUND, FINALIZER_ORPHAN};
pub use ops::GcError;
pub use plan::{
    actions_for, decide_dependent, foreground_step, orphan_steps, plan, snapshot_owner_state, Action, Decision,
    ForegroundStep, OwnerState, Propagation,
};
pub use runner::{run, run_with, Options};
