//! A simulated node: a pure model of what a kubelet writes to the API, with no containers.
//!
//! The caller (the node agent's simulated runtime) owns all IO: it registers
//! [`node_object`], renews [`lease`] every ~10 s, PUTs [`node_status_heartbeat`] periodically,
//! and runs [`next_step`] for each pod bound to the node whenever the pod changes or a
//! requested requeue time arrives, performing the returned [`Step`].
//!
//! Pod behaviour is controlled by annotations; see [`annotations`].

pub mod admission;
pub mod annotations;
pub mod conditions;
pub mod config;
pub mod containers;
pub mod ids;
mod lifecycle;
pub mod node;
pub mod runner;
mod time;
/// Time conversions shared with the real node agent.
pub mod time_public {
    pub use super::time::{from_time, k8s_time};
}

#[cfg(test)]
mod tests;

use std::time::Duration;

use k8s_openapi::api::core::v1::PodStatus;

pub use annotations::{BehaviourError, PodBehaviour};
pub use config::{Behaviour, ConfigError, PodCidr, SelfFence, SimNodeConfig};
pub use lifecycle::next_step;
pub use node::{lease, lease_owner_reference, node_object, node_status_heartbeat};

/// What the simulated kubelet does next for one pod.
// One Step exists per pod per pass and is consumed at once; boxing the status would only
// make matching on it clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Nothing will change by itself; step again when the pod changes.
    Nothing,
    /// PUT this full status to `pods/<name>/status` (with the pod's resourceVersion; on
    /// conflict re-read and step again). The write's watch event triggers the next step.
    UpdateStatus(PodStatus),
    /// Nothing to write now; step again after this long (or earlier if the pod changes).
    RequeueAfter(Duration),
    /// DELETE the pod with `gracePeriodSeconds: 0` and `preconditions.uid`. Returned on every
    /// step once the pod is finished; the caller should remember uids it already deleted.
    FinalDelete { uid: String },
}
