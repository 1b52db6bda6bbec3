//! The exact `FailedScheduling` strings: counting, byte-order sorting, the PreFilter form and
//! the preemption suffix.

use serde_json::json;

use super::*;
use crate::status::{Code, Diagnosis, Status};
use crate::Decision;

#[test]
fn upstream_example_taint_and_cpu() {
    // Observed on a v1.33 cluster: one unreachable node, two full ones.
    let s = ClusterSnapshot {
        nodes: vec![
            with_taint(with_ready(node("a"), Some("Unknown")), "node.kubernetes.io/unreachable", "", "NoSchedule"),
            node("b"),
            node("c"),
        ],
        pods: vec![on_node(pod("x", "2", ""), "b"), on_node(pod("y", "1500m", ""), "c")],
        ..Default::default()
    };
    let d = decide(&pod("p", "1", ""), &s);
    assert_eq!(
        message(&d),
        "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."
    );
    assert_eq!(d, Decision::Unschedulable { message: message(&d).into(), unresolvable: false });
}

#[test]
fn reasons_sort_as_go_strings_sort() {
    // Go's sort.Strings compares bytes: "10 …" sorts before "2 …", and upper case before lower.
    let mut statuses = vec![Status::unresolvable("node(s) were unschedulable"); 2];
    statuses.extend(vec![Status::unschedulable(vec!["Insufficient cpu".into()]); 10]);
    let d = Diagnosis { num_all_nodes: 12, pre_filter_msg: None, node_statuses: statuses, absent_status: None };
    assert_eq!(d.fit_error(), "0/12 nodes are available: 10 Insufficient cpu, 2 node(s) were unschedulable.");
    assert_eq!(
        d.preemption_message(false),
        "preemption: 0/12 nodes are available: 10 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
    );
    assert!(!d.all_unresolvable());

    let same_count = Diagnosis {
        num_all_nodes: 3,
        pre_filter_msg: None,
        node_statuses: vec![
            Status::unresolvable("node(s) had untolerated taint {b: }"),
            Status::unresolvable("node(s) had untolerated taint {a: }"),
            Status::unresolvable("node(s) didn't match Pod's node affinity/selector"),
        ],
        absent_status: None,
    };
    assert_eq!(
        same_count.fit_error(),
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {a: }, 1 node(s) had untolerated taint {b: }."
    );
    assert!(same_count.all_unresolvable());
}

#[test]
fn absent_nodes_are_counted_with_their_status() {
    let d = Diagnosis {
        num_all_nodes: 5,
        pre_filter_msg: None,
        node_statuses: vec![Status { code: Code::Unschedulable, reasons: vec!["Too many pods".into()] }],
        absent_status: Some(Status::unresolvable("node(s) didn't satisfy plugin(s) [NodeAffinity]")),
    };
    assert_eq!(d.fit_error(), "0/5 nodes are available: 1 Too many pods, 4 node(s) didn't satisfy plugin(s) [NodeAffinity].");
}

#[test]
fn preemption_policy_never_changes_the_suffix() {
    let p = with_spec(pod("p", "4", ""), json!({"preemptionPolicy": "Never"}));
    assert_eq!(
        message(&decide(&p, &snapshot(vec![node("a")]))),
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
    );
}

#[test]
fn no_nodes_at_all() {
    assert_eq!(
        decide(&pod("p", "", ""), &snapshot(vec![])),
        Decision::Unschedulable { message: "no nodes available to schedule pods".into(), unresolvable: false }
    );
}

#[test]
fn pre_filter_rejection_replaces_the_histogram() {
    let s = snapshot(vec![node("a"), node("b"), node("c")]);
    let d = decide(&with_claim(pod("p", "", ""), "data", "pvc-b"), &s);
    assert_eq!(
        d,
        Decision::Unschedulable {
            message: "0/3 nodes are available: persistentvolumeclaim \"pvc-b\" not found. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.".into(),
            unresolvable: true
        }
    );
}
