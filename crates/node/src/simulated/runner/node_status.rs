//! Registering the Node and keeping its status fresh, as the kubelet's
//! `registerWithAPIServer` and `updateNodeStatus` do (`pkg/kubelet/kubelet_node_status.go`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Node, NodeCondition, NodeStatus};
use kube::api::{Api, PostParams};
use tokio::time::Instant;

use super::Backoff;
use crate::simulated::{node_object, node_status_heartbeat, SimNodeConfig};

/// How often the kubelet computes its node status (`nodeStatusUpdateFrequency`, default 10 s).
pub const NODE_STATUS_UPDATE_FREQUENCY: Duration = Duration::from_secs(10);
/// How often an unchanged status is written anyway (`nodeStatusReportFrequency`, default
/// 5 min once node leases carry liveness). A change — e.g. the node lifecycle controller
/// having set Ready to Unknown — is written at the next update tick.
pub const NODE_STATUS_REPORT_FREQUENCY: Duration = Duration::from_secs(5 * 60);
/// Attempts per update tick (upstream `nodeStatusUpdateRetry`).
const NODE_STATUS_UPDATE_RETRY: usize = 5;

/// Create the Node, or take over the existing one (after a restart), then write its status
/// through `nodes/<name>/status`. Retries with back-off until it succeeds; returns the Node as
/// stored (with its uid, which the Lease's owner reference needs).
pub(super) async fn register(nodes: &Api<Node>, cfg: &SimNodeConfig) -> Node {
    // Upstream: 100 ms doubling to 7 s between registration attempts.
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(7));
    loop {
        match try_register(nodes, cfg).await {
            Ok(node) => {
                tracing::info!(node = %cfg.name, uid = ?node.metadata.uid, "simulated node registered");
                return node;
            }
            Err(e) => {
                let wait = backoff.next();
                tracing::warn!(node = %cfg.name, error = %e, ?wait, "registering simulated node failed; retrying");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

async fn try_register(nodes: &Api<Node>, cfg: &SimNodeConfig) -> Result<Node, kube::Error> {
    let pp = PostParams::default();
    let desired = node_object(cfg, Utc::now());
    let stored = match nodes.create(&pp, &desired).await {
        Ok(created) => created,
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let existing = nodes.get(&cfg.name).await?;
            match reconcile_existing(&existing, &desired) {
                Some(updated) => nodes.replace(&cfg.name, &pp, &updated).await?,
                None => existing,
            }
        }
        Err(e) => return Err(e),
    };
    // Status always goes through the subresource: a create may drop it (an API server resets
    // status on create for kinds with a status subresource), and an existing node's status is
    // whatever the previous run or the node lifecycle controller left there.
    let mut with_status = stored;
    with_status.status = Some(registration_status(&with_status, &desired, Utc::now()));
    nodes.replace_status(&cfg.name, &pp, &with_status).await
}

/// The existing Node updated with what this node registers (labels, the attach/detach
/// annotation, a missing podCIDR), or `None` if nothing changes. The uid, taints and anything
/// else users or controllers set are kept, as the kubelet keeps them when it re-registers.
pub(super) fn reconcile_existing(existing: &Node, desired: &Node) -> Option<Node> {
    let mut updated = existing.clone();
    let labels = updated.metadata.labels.get_or_insert_with(Default::default);
    for (k, v) in desired.metadata.labels.iter().flatten() {
        labels.insert(k.clone(), v.clone());
    }
    let annotations = updated.metadata.annotations.get_or_insert_with(Default::default);
    for (k, v) in desired.metadata.annotations.iter().flatten() {
        annotations.insert(k.clone(), v.clone());
    }
    let spec = updated.spec.get_or_insert_with(Default::default);
    let desired_spec = desired.spec.clone().unwrap_or_default();
    // podCIDR may only go from unset to set; a different existing range is kept (and pods
    // then get addresses outside it, which we can only warn about).
    if spec.pod_cidr.as_deref().unwrap_or_default().is_empty() {
        spec.pod_cidr = desired_spec.pod_cidr;
        spec.pod_cidrs = desired_spec.pod_cidrs;
    } else if spec.pod_cidr != desired_spec.pod_cidr {
        tracing::warn!(
            node = ?existing.metadata.name, existing = ?spec.pod_cidr, configured = ?desired_spec.pod_cidr,
            "node already has a different podCIDR; keeping it"
        );
    }
    (updated != *existing).then_some(updated)
}

/// The status written right after registering: everything the node reports afresh
/// (addresses, capacity, nodeInfo, …) with the conditions refreshed as a heartbeat would —
/// transition times kept where a condition's status did not change, other owners' conditions
/// kept.
pub(super) fn registration_status(stored: &Node, desired: &Node, now: DateTime<Utc>) -> NodeStatus {
    let mut status = desired.status.clone().unwrap_or_default();
    status.conditions = stored.status.as_ref().and_then(|s| s.conditions.clone());
    let merged = Node { status: Some(status), ..stored.clone() };
    node_status_heartbeat(&merged, now)
}

/// Whether a computed status must be written: it differs from the stored one in more than
/// heartbeat times, or the last report is `NODE_STATUS_REPORT_FREQUENCY` old.
pub(super) fn needs_report(stored: Option<&NodeStatus>, next: &NodeStatus, since_last_report: Duration) -> bool {
    if since_last_report >= NODE_STATUS_REPORT_FREQUENCY {
        return true;
    }
    let Some(stored) = stored else { return true };
    let strip = |s: &NodeStatus| -> NodeStatus {
        let mut s = s.clone();
        s.conditions = s.conditions.map(|cs| {
            cs.into_iter().map(|c| NodeCondition { last_heartbeat_time: None, ..c }).collect()
        });
        s
    };
    strip(stored) != strip(next)
}

/// Every `NODE_STATUS_UPDATE_FREQUENCY`: read the Node, compute the heartbeat status, and
/// write it if [`needs_report`] says so. Never returns.
pub(super) async fn keep_status_fresh(nodes: &Api<Node>, name: &str, recorder: &berth_runtime::EventRecorder) {
    let mut last_report = Instant::now();
    let mut tick = tokio::time::interval(NODE_STATUS_UPDATE_FREQUENCY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate; registration just wrote the status
    loop {
        tick.tick().await;
        for attempt in 1..=NODE_STATUS_UPDATE_RETRY {
            match try_update(nodes, name, &mut last_report).await {
                Ok(became_ready) => {
                    if became_ready {
                        // The kubelet's `recordNodeStatusEvent` (the node controller records
                        // only NodeNotReady); node events use the node name as uid.
                        let r = k8s_openapi::api::core::v1::ObjectReference {
                            api_version: Some("v1".into()),
                            kind: Some("Node".into()),
                            name: Some(name.into()),
                            uid: Some(name.into()),
                            ..Default::default()
                        };
                        recorder.record(r, berth_runtime::EventType::Normal, "NodeReady", &format!("Node {name} status is now: NodeReady"));
                    }
                    break;
                }
                Err(e) => tracing::warn!(node = %name, attempt, error = %e, "updating node status failed"),
            }
        }
    }
}

/// One status update; returns whether it turned Ready from not True to True.
async fn try_update(nodes: &Api<Node>, name: &str, last_report: &mut Instant) -> Result<bool, kube::Error> {
    let mut node = nodes.get(name).await?;
    let next = node_status_heartbeat(&node, Utc::now());
    if !needs_report(node.status.as_ref(), &next, last_report.elapsed()) {
        return Ok(false);
    }
    let ready = |s: Option<&NodeStatus>| s.and_then(|s| s.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready").map(|c| c.status == "True")).unwrap_or(false);
    let became_ready = !ready(node.status.as_ref()) && ready(Some(&next));
    node.status = Some(next);
    nodes.replace_status(name, &PostParams::default(), &node).await?;
    *last_report = Instant::now();
    Ok(became_ready)
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::simulated::PodCidr;

    fn cfg() -> SimNodeConfig {
        SimNodeConfig::new("sim-1", IpAddr::V4(Ipv4Addr::new(10, 250, 0, 1)), PodCidr::parse("10.244.1.0/24").unwrap())
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn stored(mut n: Node) -> Node {
        n.metadata.uid = Some("uid-1".into());
        n.metadata.resource_version = Some("7".into());
        n
    }

    #[test]
    fn reconcile_keeps_uid_taints_and_foreign_labels() {
        let desired = node_object(&cfg(), at("2025-01-01T00:00:00Z"));
        let mut existing = stored(desired.clone());
        existing.metadata.labels.as_mut().unwrap().insert("team".into(), "a".into());
        existing.metadata.labels.as_mut().unwrap().remove("kubernetes.io/os");
        existing.spec.as_mut().unwrap().taints = Some(vec![k8s_openapi::api::core::v1::Taint {
            key: "k".into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        }]);
        let updated = reconcile_existing(&existing, &desired).expect("a default label was missing");
        assert_eq!(updated.metadata.uid.as_deref(), Some("uid-1"));
        assert_eq!(updated.metadata.resource_version.as_deref(), Some("7"));
        let labels = updated.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["team"], "a");
        assert_eq!(labels["kubernetes.io/os"], "linux");
        assert!(updated.spec.unwrap().taints.is_some());
    }

    #[test]
    fn reconcile_is_a_no_op_when_nothing_changed() {
        let desired = node_object(&cfg(), at("2025-01-01T00:00:00Z"));
        assert_eq!(reconcile_existing(&stored(desired.clone()), &desired), None);
    }

    #[test]
    fn reconcile_sets_a_missing_pod_cidr_but_never_changes_one() {
        let desired = node_object(&cfg(), at("2025-01-01T00:00:00Z"));
        let mut existing = stored(desired.clone());
        existing.spec = Some(Default::default());
        let updated = reconcile_existing(&existing, &desired).unwrap();
        assert_eq!(updated.spec.unwrap().pod_cidr.as_deref(), Some("10.244.1.0/24"));
        existing.spec.as_mut().unwrap().pod_cidr = Some("10.9.0.0/24".into());
        existing.spec.as_mut().unwrap().pod_cidrs = Some(vec!["10.9.0.0/24".into()]);
        assert_eq!(reconcile_existing(&existing, &desired), None);
    }

    #[test]
    fn registration_status_refreshes_heartbeats_and_keeps_transitions() {
        let t0 = at("2025-01-01T00:00:00Z");
        let t1 = at("2025-01-01T01:00:00Z");
        let old = stored(node_object(&cfg(), t0));
        let desired = node_object(&cfg(), t1);
        let status = registration_status(&old, &desired, t1);
        let ready = status.conditions.as_ref().unwrap().iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.last_heartbeat_time, Some(crate::simulated::time::k8s_time(t1)));
        assert_eq!(ready.last_transition_time, Some(crate::simulated::time::k8s_time(t0)));
        assert!(status.node_info.is_some() && status.capacity.is_some());
    }

    #[test]
    fn registration_status_on_a_node_without_status_has_all_conditions() {
        let t1 = at("2025-01-01T01:00:00Z");
        let mut bare = stored(node_object(&cfg(), t1));
        bare.status = None;
        let status = registration_status(&bare, &node_object(&cfg(), t1), t1);
        let types: Vec<_> = status.conditions.unwrap().into_iter().map(|c| c.type_).collect();
        assert_eq!(types, ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]);
        assert_eq!(status.addresses.unwrap().len(), 2);
    }

    #[test]
    fn unchanged_status_is_reported_only_at_the_report_frequency() {
        let t0 = at("2025-01-01T00:00:00Z");
        let node = node_object(&cfg(), t0);
        let next = node_status_heartbeat(&node, t0 + chrono::Duration::seconds(10));
        assert!(!needs_report(node.status.as_ref(), &next, Duration::from_secs(10)));
        assert!(needs_report(node.status.as_ref(), &next, NODE_STATUS_REPORT_FREQUENCY));
        assert!(needs_report(None, &next, Duration::ZERO));
    }

    #[test]
    fn a_condition_changed_by_someone_else_is_reported_at_once() {
        let t0 = at("2025-01-01T00:00:00Z");
        let mut node = node_object(&cfg(), t0);
        // The node lifecycle controller marks the node unreachable.
        let ready = node.status.as_mut().unwrap().conditions.as_mut().unwrap().iter_mut().find(|c| c.type_ == "Ready").unwrap();
        ready.status = "Unknown".into();
        let next = node_status_heartbeat(&node, t0 + chrono::Duration::seconds(10));
        assert!(needs_report(node.status.as_ref(), &next, Duration::from_secs(10)));
    }
}
