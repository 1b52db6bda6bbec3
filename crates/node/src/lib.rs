//! berth's node agent.
//!
//! # `simulated` — a kubelet without containers
//!
//! Pure functions (no IO, no clock of their own) that produce exactly what a real kubelet
//! writes, so the control plane cannot tell a simulated node from a real one:
//!
//! ```text
//! simulated::node_object(cfg: &SimNodeConfig, now: DateTime<Utc>) -> Node
//! simulated::node_status_heartbeat(node: &Node, now: DateTime<Utc>) -> NodeStatus
//! simulated::lease(node_name: &str, holder_identity: &str, now: DateTime<Utc>) -> Lease
//! simulated::lease_owner_reference(node: &Node) -> Option<OwnerReference>
//! simulated::next_step(pod: &Pod, node_name: &str, now: DateTime<Utc>, behaviour: &Behaviour) -> Step
//!
//! enum Step { Nothing, UpdateStatus(PodStatus), RequeueAfter(Duration), FinalDelete { uid: String } }
//! struct Behaviour<'a> { node: &'a SimNodeConfig, pods: &'a [Pod] }   // pods: all pods bound to the node
//! ```
//!
//! Driving a pod: call `next_step` whenever the pod changes (watch event) or a requested
//! `RequeueAfter` elapses. `UpdateStatus` → PUT `pods/<name>/status`; its watch event brings the
//! next step. `FinalDelete` → DELETE with `gracePeriodSeconds: 0`, `preconditions.uid`.
//! A step never returns a status equal to the pod's current one.
//!
//! Lifecycle: bound → Pending (`ContainerCreating`, IPs, startTime) → after the startup delay
//! Running (Ready per `sim.berth.dev/ready`) → exits per `fail-after`/`complete-after` with
//! restartPolicy semantics (restarts with CrashLoopBackOff back-off, or Failed/Succeeded) →
//! on deletion: terminal status when the containers stop, then the final DELETE.
//! Host-port conflicts are rejected at admission (`Failed`, reason `NodePorts`).
//! Annotations: see [`simulated::annotations`].

pub mod agent;
pub mod kubelet_api;
pub mod process;
pub mod simulated;
