//! Choosing among feasible nodes.

use serde_json::json;

use super::*;

/// Schedule `replicas` pods of one owner one after another, adding each to the snapshot the way
/// the scheduler's assume step does; returns the chosen nodes in order.
fn place_replicas(mut s: ClusterSnapshot, owner: &str, replicas: usize, cpu: &str) -> Vec<String> {
    let mut placed = Vec::new();
    for i in 0..replicas {
        let p = owned_by(pod(&format!("web-{i}"), cpu, ""), owner);
        let node = bound_node(&decide(&p, &s)).to_string();
        s.pods.push(on_node(p, &node));
        placed.push(node);
    }
    placed
}

#[test]
fn stateful_set_replicas_spread_over_nodes() {
    let s = snapshot(vec![node("c"), node("a"), node("b")]);
    let placed = place_replicas(s, "sts-uid", 3, "100m");
    let mut distinct = placed.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct, vec!["a", "b", "c"], "three replicas on three nodes: {placed:?}");
    // Ties break by name, so the order is deterministic.
    assert_eq!(placed, vec!["a", "b", "c"]);
}

#[test]
fn spreading_beats_free_resources_but_not_feasibility() {
    // b is emptier, but already runs a replica of the same set: a wins.
    let s = ClusterSnapshot {
        nodes: vec![node("a"), node("b")],
        pods: vec![on_node(pod("other", "1", ""), "a"), on_node(owned_by(pod("web-0", "", ""), "sts"), "b")],
        ..Default::default()
    };
    assert_eq!(bound_node(&decide(&owned_by(pod("web-1", "", ""), "sts"), &s)), "a");
    // A pod with another owner (or none) ignores the set and prefers the emptier node.
    assert_eq!(bound_node(&decide(&owned_by(pod("x", "", ""), "other"), &s)), "b");
    assert_eq!(bound_node(&decide(&pod("x", "", ""), &s)), "b");
    // Terminating replicas don't count for spreading.
    let mut s2 = s.clone();
    s2.pods[1].metadata.deletion_timestamp = Some(from(json!("2025-01-01T00:00:00Z")));
    assert_eq!(bound_node(&decide(&owned_by(pod("web-1", "", ""), "sts"), &s2)), "b");
}

#[test]
fn least_requested_node_wins_among_equals() {
    let s = ClusterSnapshot {
        nodes: vec![node("a"), node("b"), node("c")],
        pods: vec![on_node(pod("x", "1", "1Gi"), "a"), on_node(pod("y", "500m", ""), "b"), on_node(pod("z", "1", "2Gi"), "c")],
        ..Default::default()
    };
    assert_eq!(bound_node(&decide(&pod("p", "100m", "100Mi"), &s)), "b");
}

#[test]
fn prefer_no_schedule_and_preferred_affinity() {
    let s = snapshot(vec![with_taint(node("a"), "soft", "", "PreferNoSchedule"), node("b")]);
    assert_eq!(bound_node(&decide(&pod("p", "", ""), &s)), "b");
    let tolerant = with_spec(pod("p", "", ""), json!({"tolerations": [{"key": "soft", "operator": "Exists"}]}));
    assert_eq!(bound_node(&decide(&tolerant, &s)), "a", "tolerated: back to name order");

    let s = snapshot(vec![node("a"), with_label(node("b"), "disk", "ssd")]);
    let prefers = with_spec(
        pod("p", "", ""),
        json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 10, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}}
        ]}}}),
    );
    assert_eq!(bound_node(&decide(&prefers, &s)), "b");
}
