use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::*;

fn at(s: u64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + s as i64, 0).unwrap()
}

fn node(ready: &str, heartbeat: u64, taints: serde_json::Value) -> Node {
    let t = at(heartbeat).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let cond = |ty: &str, st: &str| json!({"type": ty, "status": st, "reason": "KubeletReady", "lastHeartbeatTime": t, "lastTransitionTime": t});
    serde_json::from_value(json!({
        "metadata": {"name": "node-2"},
        "spec": {"taints": taints},
        "status": {"conditions": [cond("MemoryPressure", "False"), cond("DiskPressure", "False"), cond("PIDPressure", "False"), cond("Ready", ready)]}
    }))
    .unwrap()
}

fn cfg() -> Config {
    Config { grace_period: Duration::from_secs(50), monitor_period: Duration::from_secs(5), auto_failover: None }
}

#[test]
fn failover_is_due_after_the_fencing_period_plus_margin_and_only_with_a_lease() {
    let n = node("True", 0, json!([]));
    let lease: Lease = serde_json::from_value(json!({"metadata": {"name": "node-2"}, "spec": {"renewTime": "2027-01-15T08:00:00.000000Z"}})).unwrap();
    let h = observe(None, &n, Some(&lease), at(0));
    let on = Config { auto_failover: Some((Duration::from_secs(60), Duration::from_secs(10))), ..cfg() };
    assert!(!failover_due(&h, &cfg(), at(1000)), "off by default");
    assert!(!failover_due(&h, &on, at(70)));
    assert!(failover_due(&h, &on, at(71)));
    let no_lease = observe(None, &n, None, at(0));
    assert!(!failover_due(&no_lease, &on, at(1000)));
}

#[test]
fn failover_takes_only_the_nodes_statefulset_pods() {
    let pod = |name: &str, node: &str, kind: &str| -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "ownerReferences": [{"apiVersion": "apps/v1", "kind": kind, "name": "x", "uid": "u", "controller": true}]},
            "spec": {"nodeName": node, "containers": []}}))
        .unwrap()
    };
    let pods = [pod("web-0", "node-2", "StatefulSet"), pod("web-1", "node-1", "StatefulSet"), pod("rs-x", "node-2", "ReplicaSet")];
    let names: Vec<_> = failover_pods(&pods, "node-2").into_iter().map(|p| p.metadata.name.clone().unwrap()).collect();
    assert_eq!(names, ["web-0"]);
}

fn taint_keys(ts: &[Taint]) -> Vec<(String, String)> {
    ts.iter().map(|t| (t.key.clone(), t.effect.clone())).collect()
}

#[test]
fn a_silent_node_goes_unknown_after_the_grace_period_and_gets_unreachable_taints() {
    let n = node("True", 0, json!([]));
    let h = observe(None, &n, None, at(0));
    // Within the grace period nothing changes.
    let d = decide(&n, &observe(Some(&h), &n, None, at(50)), &cfg(), at(50));
    assert_eq!((d.conditions.is_none(), d.taints.is_none(), d.became_not_ready), (true, true, false));
    // After it, the monitored conditions go Unknown with upstream's reason and message.
    let h2 = observe(Some(&h), &n, None, at(51));
    let d = decide(&n, &h2, &cfg(), at(51));
    let cs = d.conditions.as_ref().unwrap();
    for c in cs {
        assert_eq!(c.status, "Unknown", "{c:?}");
        assert_eq!(c.reason.as_deref(), Some(REASON_UNKNOWN));
        assert_eq!(c.message.as_deref(), Some(MESSAGE_UNKNOWN));
        assert_eq!(c.last_transition_time.as_ref().map(to_chrono), Some(at(51)));
    }
    assert!(d.became_not_ready && d.mark_pods);
    assert_eq!(d.ready, "Unknown");
    // Once Unknown is written, no second transition; a failed marking is retried.
    let mut written = n.clone();
    written.status.as_mut().unwrap().conditions = Some(cs.clone());
    let d2 = decide(&written, &h2, &cfg(), at(52));
    assert!(!d2.became_not_ready && !d2.mark_pods && d2.conditions.is_none());
    let retry = Health { mark_retry: true, ..h2.clone() };
    assert!(decide(&written, &retry, &cfg(), at(52)).mark_pods);
    let taints = d.taints.unwrap();
    assert_eq!(
        taint_keys(&taints),
        [(TAINT_UNREACHABLE.into(), "NoSchedule".into()), (TAINT_UNREACHABLE.into(), "NoExecute".into())]
    );
    assert!(taints.iter().all(|t| taint_added(t) == Some(at(51))));
}

#[test]
fn lease_renewals_are_heartbeats() {
    let n = node("True", 0, json!([]));
    let lease = |s: u64| -> Lease {
        serde_json::from_value(json!({"metadata": {"name": "node-2"}, "spec": {"renewTime": at(s).format("%Y-%m-%dT%H:%M:%S.000000Z").to_string()}})).unwrap()
    };
    let h = observe(None, &n, Some(&lease(0)), at(0));
    let h = observe(Some(&h), &n, Some(&lease(40)), at(40));
    assert_eq!(h.probe, at(40));
    assert!(decide(&n, &h, &cfg(), at(80)).conditions.is_none());
    assert!(decide(&n, &h, &cfg(), at(91)).conditions.is_some());
}

#[test]
fn a_node_posting_not_ready_gets_not_ready_taints_and_ready_removes_them_keeping_others() {
    let n = node("False", 0, json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]));
    let h = observe(None, &n, None, at(0));
    let d = decide(&n, &h, &cfg(), at(1));
    // The node posted NotReady itself: its kubelet records the event, not the controller.
    assert!(d.conditions.is_none() && !d.became_not_ready && !d.mark_pods);
    let taints = d.taints.unwrap();
    assert_eq!(taint_keys(&taints)[1..], [(TAINT_NOT_READY.into(), "NoSchedule".into()), (TAINT_NOT_READY.into(), "NoExecute".into())]);
    // Back to Ready: the lifecycle taints go, the operator's stays; NodeReady.
    let mut back = node("True", 2, serde_json::to_value(&taints).unwrap());
    back.metadata.name = Some("node-2".into());
    let d = decide(&back, &observe(Some(&h), &back, None, at(2)), &cfg(), at(2));
    assert!(!d.became_not_ready && !d.mark_pods);
    assert_eq!(taint_keys(&d.taints.unwrap()), [("dedicated".into(), "NoSchedule".into())]);
}

#[test]
fn existing_taints_keep_their_time_added_and_cordon_adds_unschedulable() {
    let taints = json!([{"key": TAINT_UNREACHABLE, "effect": "NoExecute", "timeAdded": "2027-01-15T08:00:00Z"}]);
    let mut n = node("Unknown", 0, taints);
    n.spec.as_mut().unwrap().unschedulable = Some(true);
    let out = desired_taints(&n, "Unknown", at(100));
    assert_eq!(out[0].time_added.as_ref().map(|t| t.0.to_string()), Some("2027-01-15T08:00:00Z".into()));
    assert_eq!(
        taint_keys(&out),
        [
            (TAINT_UNREACHABLE.into(), "NoExecute".into()),
            (TAINT_UNREACHABLE.into(), "NoSchedule".into()),
            (TAINT_UNSCHEDULABLE.into(), "NoSchedule".into())
        ]
    );
    n.spec.as_mut().unwrap().unschedulable = None;
    assert!(desired_taints(&n, "True", at(100)).is_empty());
}

#[test]
fn a_node_never_seen_before_gets_a_full_grace_period() {
    let n = node("True", 0, json!([]));
    let h = observe(None, &n, None, at(1000));
    assert!(decide(&n, &h, &cfg(), at(1000)).conditions.is_none());
    assert!(!decide(&n, &h, &cfg(), at(1000)).became_not_ready);
}

#[test]
fn pods_on_the_node_are_marked_not_ready() {
    let pod = |node: &str, ready: &str| -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "web-0"}, "spec": {"nodeName": node, "containers": []},
            "status": {"conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": ready}]}}))
        .unwrap()
    };
    let cs = pod_marked_not_ready(&pod("node-2", "True"), "node-2", at(5)).unwrap();
    assert_eq!(cs[1].status, "False");
    assert_eq!(cs[0].status, "True");
    assert!(pod_marked_not_ready(&pod("node-1", "True"), "node-2", at(5)).is_none());
    assert!(pod_marked_not_ready(&pod("node-2", "False"), "node-2", at(5)).is_none());
}
