//! The scheduling decision of berth's scheduler: given one pending pod and a snapshot of the
//! cluster, which node it goes to and what volume work must happen first — or the exact
//! `FailedScheduling` message upstream's kube-scheduler (v1.33, default profile) would print.
//! Pure: no IO, no clock. The caller (a watch-driven loop) owns queues, retries, events and the
//! `pods/<name>/binding` call.
//!
//! # API
//!
//! ```text
//! pub struct ClusterSnapshot {
//!     pub nodes: Vec<Node>,
//!     pub pods: Vec<Pod>,                       // all pods: resources, ports and spreading
//!     pub pvcs: Vec<PersistentVolumeClaim>,
//!     pub pvs: Vec<PersistentVolume>,
//!     pub storage_classes: Vec<StorageClass>,
//! }
//! pub enum Decision {
//!     Bind { node: String, claims_to_bind: Vec<(String, String)>, claims_to_provision: Vec<String> },
//!     Unschedulable { message: String, unresolvable: bool },
//!     Skip(SkipReason),
//! }
//! pub fn schedule(pod: &Pod, snapshot: &ClusterSnapshot) -> Decision;
//! pub fn schedule_placed(pod: &Pod, snapshot: &ClusterSnapshot, placed: &Placed) -> Decision;
//! ```
//!
//! `schedule` indexes `snapshot.pods` for one decision; `schedule_placed` takes the placed pods
//! from a [`Placed`] index the caller keeps up to date per pod event (the runner does, so an
//! attempt costs in proportion to the nodes, not the pods) and ignores `snapshot.pods`.
//!
//! * `Bind`: before binding the pod, the binder sets `spec.claimRef` of each PV in
//!   `claims_to_bind` to its claim (pod's namespace) and annotates each claim in
//!   `claims_to_provision` with `volume.kubernetes.io/selected-node: <node>`; then it waits for
//!   those claims to be bound (as upstream's PreBind does) and posts the Binding.
//! * `Unschedulable`: `message` is the Warning `FailedScheduling` event message and the
//!   `PodScheduled=False` (reason `Unschedulable`) condition message, e.g.
//!   `0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.`
//!   `unresolvable` is true when no node failed for a reason that other pods leaving could fix
//!   (upstream's `UnschedulableAndUnresolvable` everywhere): retry on node/volume changes only,
//!   not on pod deletions. With no nodes at all the message is upstream's
//!   `no nodes available to schedule pods`.
//! * `Skip`: not this scheduler's pod to place now (already assigned, being deleted, finished,
//!   scheduling-gated, or for another scheduler). The caller should filter these out; this is the
//!   defensive answer if it doesn't.
//!
//! The snapshot must include pods the caller has bound but not yet seen come back through its
//! watch (upstream's "assumed" pods), or two pods may be placed on the last free slot.
//!
//! # What it decides, in upstream's order
//! PreFilter: NodeAffinity (`metadata.name` pins), VolumeBinding (claims missing, lost, being
//! deleted, unbound Immediate; local PVs pin nodes). Filter, per node, stopping at the first
//! plugin that rejects: NodeUnschedulable, TaintToleration (plus the lifecycle taint of a node
//! whose Ready condition is not True), NodeAffinity (nodeSelector + required affinity), NodePorts,
//! NodeResourcesFit, VolumeBinding, InterPodAffinity (required terms). Score: see [`score`].

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;

pub mod interpod;
pub mod node_affinity;
pub mod placed;
pub mod ports;
/// Quantities come from `berth_api`, shared with the volume controller.
pub use berth_api::quantity;
pub mod resources;
pub mod runner;
mod schedule;
pub mod score;
pub mod status;
pub mod taints;
pub mod volumes;

#[cfg(test)]
mod tests;

pub use quantity::{Quantity, QuantityError};
pub use placed::Placed;
pub use schedule::{schedule, schedule_placed};

/// Everything the decision reads. Order of `nodes` does not matter (ties break by name).
#[derive(Debug, Clone, Default)]
pub struct ClusterSnapshot {
    pub nodes: Vec<Node>,
    /// All pods; those with `spec.nodeName` set and not finished occupy their node.
    pub pods: Vec<Pod>,
    pub pvcs: Vec<PersistentVolumeClaim>,
    pub pvs: Vec<PersistentVolume>,
    pub storage_classes: Vec<StorageClass>,
}

/// The outcome for one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Bind {
        node: String,
        /// (claim name, PV name): PVs to pre-bind to the pod's WaitForFirstConsumer claims.
        claims_to_bind: Vec<(String, String)>,
        /// Claims to annotate with `volume.kubernetes.io/selected-node` so they get provisioned.
        claims_to_provision: Vec<String>,
    },
    Unschedulable {
        /// The `FailedScheduling` event message.
        message: String,
        /// No node can become feasible through other pods leaving.
        unresolvable: bool,
    },
    Skip(SkipReason),
}

/// Why a pod is not scheduled at all (upstream never queues these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// `spec.nodeName` is set: the pod is bound (or was created bound) to this node.
    AlreadyAssigned(String),
    /// `metadata.deletionTimestamp` is set.
    BeingDeleted,
    /// `status.phase` is Succeeded or Failed.
    Finished,
    /// `spec.schedulingGates` is not empty (the pod shows `SchedulingGated`).
    SchedulingGated,
    /// `spec.schedulerName` names another scheduler.
    OtherScheduler(String),
}

/// The scheduler name berth answers to (upstream's default profile).
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
