//! The node lifecycle controller (upstream `pkg/controller/nodelifecycle`, component
//! `node-controller`): decides from a node's heartbeats whether it is still alive, and what
//! follows when it is not. Pure: the runner ([`runner`]) feeds it the Node, the node's Lease
//! and the clock, and carries out what it returns.
//!
//! - **Heartbeats**: the Ready condition's `lastHeartbeatTime` or the Lease's `renewTime`
//!   changing. Like upstream, the controller times them with its own clock (`probe`, when it
//!   *saw* the change), so clock skew between node and control plane does not matter, and a
//!   node first seen (e.g. after a control-plane restart) gets a full grace period.
//! - **Grace expired** (`now > probe + node-monitor-grace-period`): Ready, MemoryPressure,
//!   DiskPressure and PIDPressure go `Unknown`, reason `NodeStatusUnknown`, message
//!   `Kubelet stopped posting node status.` (`NodeStatusNeverUpdated` / `Kubelet never posted
//!   node status.` for a condition never posted).
//! - **Taints** follow the Ready condition: False → `node.kubernetes.io/not-ready`, Unknown →
//!   `node.kubernetes.io/unreachable`, each with NoSchedule and NoExecute (NoExecute carries
//!   `timeAdded`); a cordoned node gets `node.kubernetes.io/unschedulable:NoSchedule`. Ready
//!   True removes them. Unlike upstream, NoExecute taints are not rate-limited per zone and
//!   there is no "full disruption" mode: berth clusters are small and single-zone.
//! - **Ready True → Unknown** (the controller's own change): Node event `NodeNotReady`, and
//!   every pod on the node gets Ready=False (upstream `MarkPodsNotReady`, with a Warning
//!   `NodeNotReady` `Node is not ready` event per pod), retried until it succeeds while the
//!   node stays not Ready. `NodeReady` is the node agent's event, as the kubelet's.

mod failover;
pub mod runner;
#[cfg(test)]
mod tests;

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, PodCondition, Taint};

use crate::statefulset::podstate::{from_chrono, to_chrono};

pub const COMPONENT: &str = "node-controller";
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// Upstream's non-graceful node shutdown taint, put by an operator (pod GC acts on it).
pub const TAINT_OUT_OF_SERVICE: &str = "node.kubernetes.io/out-of-service";

pub const REASON_UNKNOWN: &str = "NodeStatusUnknown";
pub const MESSAGE_UNKNOWN: &str = "Kubelet stopped posting node status.";
pub const REASON_NEVER_UPDATED: &str = "NodeStatusNeverUpdated";
pub const MESSAGE_NEVER_UPDATED: &str = "Kubelet never posted node status.";

/// The conditions the controller turns Unknown (not NetworkUnavailable, as upstream).
const MONITORED: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// The controller's settings (kube-controller-manager flag names).
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// `--node-monitor-grace-period` (50 s since v1.32).
    pub grace_period: Duration,
    /// `--node-monitor-period`: how often every node is checked.
    pub monitor_period: Duration,
    /// berth's automatic failover: (`--auto-failover-after`, `--auto-failover-margin`).
    pub auto_failover: Option<(Duration, Duration)>,
}

impl Default for Config {
    fn default() -> Self {
        Config { grace_period: Duration::from_secs(50), monitor_period: Duration::from_secs(5), auto_failover: None }
    }
}

/// The Lease annotation that fences a node (written with the Lease's resourceVersion, so it
/// fails if the node renewed meanwhile); the node agent takes the Lease back only once its
/// pods are dead. Same name as the node agent's `FENCED_ANNOTATION`.
pub const FENCED_ANNOTATION: &str = "node.berth.dev/fenced-at";
pub const REASON_FAILOVER: &str = "DeletionByAutoFailover";

/// Automatic failover is due: the node has been silent for the fencing period plus the
/// margin (by the controller's own clock, from when it saw the last heartbeat).
pub fn failover_due(health: &Health, cfg: &Config, now: DateTime<Utc>) -> bool {
    let Some((after, margin)) = cfg.auto_failover else { return false };
    let silent = chrono::Duration::from_std(after + margin).unwrap_or(chrono::Duration::MAX);
    health.lease_renew.is_some() && now > health.probe + silent
}

/// The pods failover force-deletes: those on `node` controlled by a StatefulSet (their
/// identity is what must not run twice; the StatefulSet controller recreates them).
pub fn failover_pods<'a>(pods: impl IntoIterator<Item = &'a Pod>, node: &str) -> Vec<&'a Pod> {
    pods.into_iter()
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
        .filter(|p| p.metadata.owner_references.iter().flatten().any(|o| o.controller == Some(true) && o.kind == "StatefulSet"))
        .collect()
}

/// What the controller remembers about one node between checks (upstream `nodeHealthData`).
#[derive(Clone, Debug, PartialEq)]
pub struct Health {
    /// When the controller last saw a heartbeat.
    pub probe: DateTime<Utc>,
    /// The heartbeats last seen: Ready's `lastHeartbeatTime`, the Lease's `renewTime`.
    pub heartbeat: Option<String>,
    pub lease_renew: Option<String>,
    /// Whether the node was seen before (`RegisteredNode` is recorded once).
    pub registered: bool,
    /// Marking the node's pods not ready failed; retried while the node is not Ready
    /// (upstream `nodesToRetry`).
    pub mark_retry: bool,
}

fn ready_condition(node: &Node) -> Option<&NodeCondition> {
    node.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready")
}

/// The node's Ready status (`True`, `False`, `Unknown`); `Unknown` when never posted.
pub fn ready_status(node: &Node) -> &str {
    ready_condition(node).map(|c| c.status.as_str()).unwrap_or("Unknown")
}

/// Update `prev` with what is observed now: a changed heartbeat moves `probe` to `now`.
pub fn observe(prev: Option<&Health>, node: &Node, lease: Option<&Lease>, now: DateTime<Utc>) -> Health {
    let heartbeat = ready_condition(node).and_then(|c| c.last_heartbeat_time.as_ref()).map(|t| t.0.to_string());
    let lease_renew = lease.and_then(|l| l.spec.as_ref()?.renew_time.as_ref()).map(|t| t.0.to_string());
    match prev {
        None => Health { probe: now, heartbeat, lease_renew, registered: false, mark_retry: false },
        Some(p) => {
            let beat = heartbeat != p.heartbeat || (lease_renew.is_some() && lease_renew != p.lease_renew);
            Health { probe: if beat { now } else { p.probe }, heartbeat, lease_renew, ..p.clone() }
        }
    }
}

/// What to do about one node.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    /// New status conditions to write through `nodes/<n>/status` (grace expired).
    pub conditions: Option<Vec<NodeCondition>>,
    /// New `spec.taints` to write, when they differ from the node's.
    pub taints: Option<Vec<Taint>>,
    /// The Ready status as decided.
    pub ready: String,
    /// The controller turns Ready from True (as the node shows it) to not True: `NodeNotReady`
    /// event, pods marked not ready.
    pub became_not_ready: bool,
    /// Mark the node's pods not ready (on the transition, or retrying a failed attempt).
    pub mark_pods: bool,
}

/// Conditions after the grace period without heartbeats: the monitored ones `Unknown`.
fn unknown_conditions(node: &Node, now: DateTime<Utc>) -> Option<Vec<NodeCondition>> {
    let mut conditions = node.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    let mut changed = false;
    for ty in MONITORED {
        match conditions.iter_mut().find(|c| c.type_ == ty) {
            Some(c) if c.status != "Unknown" => {
                c.status = "Unknown".into();
                c.reason = Some(REASON_UNKNOWN.into());
                c.message = Some(MESSAGE_UNKNOWN.into());
                c.last_transition_time = Some(from_chrono(now));
                changed = true;
            }
            Some(_) => {}
            None => {
                conditions.push(NodeCondition {
                    type_: ty.into(),
                    status: "Unknown".into(),
                    reason: Some(REASON_NEVER_UPDATED.into()),
                    message: Some(MESSAGE_NEVER_UPDATED.into()),
                    last_heartbeat_time: Some(from_chrono(now)),
                    last_transition_time: Some(from_chrono(now)),
                });
                changed = true;
            }
        }
    }
    changed.then_some(conditions)
}

fn is_lifecycle_taint(t: &Taint) -> bool {
    matches!(t.key.as_str(), TAINT_NOT_READY | TAINT_UNREACHABLE)
        || (t.key == TAINT_UNSCHEDULABLE && t.effect == "NoSchedule")
}

/// The node's taints with the lifecycle ones set for `ready` and `unschedulable`; taints that
/// stay keep their `timeAdded`, others (an operator's) are left alone.
pub fn desired_taints(node: &Node, ready: &str, now: DateTime<Utc>) -> Vec<Taint> {
    let current: Vec<Taint> = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let mut wanted: Vec<(&str, &str)> = match ready {
        "True" => vec![],
        "False" => vec![(TAINT_NOT_READY, "NoSchedule"), (TAINT_NOT_READY, "NoExecute")],
        _ => vec![(TAINT_UNREACHABLE, "NoSchedule"), (TAINT_UNREACHABLE, "NoExecute")],
    };
    if node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false) {
        wanted.push((TAINT_UNSCHEDULABLE, "NoSchedule"));
    }
    let mut out: Vec<Taint> = current
        .iter()
        .filter(|t| !is_lifecycle_taint(t) || wanted.contains(&(t.key.as_str(), t.effect.as_str())))
        .cloned()
        .collect();
    for (key, effect) in wanted {
        if !out.iter().any(|t| t.key == key && t.effect == effect) {
            // Upstream stamps timeAdded on the NoExecute taints (the eviction clock) and on
            // the NoSchedule ones it adds alike.
            out.push(Taint { key: key.into(), effect: effect.into(), time_added: Some(from_chrono(now)), value: None });
        }
    }
    out
}

/// Decide about `node`, given what the controller remembers (`health`, already updated with
/// [`observe`]).
pub fn decide(node: &Node, health: &Health, cfg: &Config, now: DateTime<Utc>) -> Decision {
    let grace = chrono::Duration::from_std(cfg.grace_period).unwrap_or(chrono::Duration::MAX);
    let conditions = if now > health.probe + grace { unknown_conditions(node, now) } else { None };
    let ready = match &conditions {
        Some(cs) => cs.iter().find(|c| c.type_ == "Ready").map(|c| c.status.clone()).unwrap_or_else(|| "Unknown".into()),
        None => ready_status(node).to_string(),
    };
    let taints = desired_taints(node, &ready, now);
    let current = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    // Upstream compares the Ready condition as observed with the one after its own update:
    // a node that posts NotReady itself gets its event from its kubelet.
    let became_not_ready = ready_status(node) == "True" && ready != "True";
    Decision {
        conditions,
        taints: (taints != current).then_some(taints),
        became_not_ready,
        mark_pods: became_not_ready || (health.mark_retry && ready != "True"),
        ready,
    }
}

/// Upstream `MarkPodsNotReady` for one pod: its Ready condition turned False, or `None` if it
/// is not on `node` or not Ready.
pub fn pod_marked_not_ready(pod: &Pod, node: &str, now: DateTime<Utc>) -> Option<Vec<PodCondition>> {
    if pod.spec.as_ref()?.node_name.as_deref() != Some(node) {
        return None;
    }
    let mut conditions = pod.status.as_ref()?.conditions.clone()?;
    let ready = conditions.iter_mut().find(|c| c.type_ == "Ready" && c.status == "True")?;
    ready.status = "False".into();
    ready.last_transition_time = Some(from_chrono(now));
    Some(conditions)
}

/// When the grace period of `health` runs out, for the runner to check again then.
pub fn grace_ends(health: &Health, cfg: &Config) -> DateTime<Utc> {
    health.probe + chrono::Duration::from_std(cfg.grace_period).unwrap_or(chrono::Duration::MAX)
}

/// `timeAdded` of a taint as chrono time.
pub fn taint_added(t: &Taint) -> Option<DateTime<Utc>> {
    t.time_added.as_ref().map(to_chrono)
}
