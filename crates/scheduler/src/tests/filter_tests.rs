//! One table per filter: which nodes accept the pod.

use serde_json::json;

use super::*;
use crate::Decision;

#[test]
fn cordoned_node_is_skipped_unless_tolerated() {
    let s = snapshot(vec![cordoned(node("a")), node("b")]);
    assert_eq!(bound_node(&decide(&pod("p", "", ""), &s)), "b");

    let s = snapshot(vec![cordoned(node("a"))]);
    let d = decide(&pod("p", "", ""), &s);
    assert_eq!(
        message(&d),
        "0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    );
    assert_eq!(d, Decision::Unschedulable { message: message(&d).to_string(), unresolvable: true });

    let tolerant = with_spec(
        pod("p", "", ""),
        json!({"tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]}),
    );
    assert_eq!(bound_node(&decide(&tolerant, &s)), "a");
}

#[test]
fn taints_and_tolerations() {
    let tainted = || with_taint(node("a"), "dedicated", "db", "NoSchedule");
    // (tolerations, schedules?)
    let cases = [
        (json!([]), false),
        (json!([{"key": "dedicated", "operator": "Exists"}]), true),
        (json!([{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]), true),
        (json!([{"key": "dedicated", "value": "db"}]), true),
        (json!([{"key": "dedicated", "value": "web"}]), false),
        (json!([{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}]), false),
        (json!([{"operator": "Exists"}]), true),
        (json!([{"key": "other", "operator": "Exists"}]), false),
    ];
    for (tolerations, schedules) in cases {
        let p = with_spec(pod("p", "", ""), json!({"tolerations": tolerations.clone()}));
        let d = decide(&p, &snapshot(vec![tainted()]));
        assert_eq!(matches!(d, Decision::Bind { .. }), schedules, "tolerations {tolerations}: {d:?}");
    }
    // PreferNoSchedule never filters.
    let soft = with_taint(node("a"), "dedicated", "db", "PreferNoSchedule");
    assert_eq!(bound_node(&decide(&pod("p", "", ""), &snapshot(vec![soft]))), "a");
    // NoExecute filters too, and the first untolerated taint is the one reported.
    let two = with_taint(with_taint(node("a"), "x", "1", "NoExecute"), "y", "", "NoSchedule");
    assert_eq!(
        message(&decide(&pod("p", "", ""), &snapshot(vec![two]))),
        "0/1 nodes are available: 1 node(s) had untolerated taint {x: 1}. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    );
}

#[test]
fn not_ready_nodes_carry_their_lifecycle_taint() {
    let s = snapshot(vec![with_ready(node("a"), Some("False")), with_ready(node("b"), Some("Unknown")), with_ready(node("c"), None)]);
    assert_eq!(
        message(&decide(&pod("p", "", ""), &s)),
        "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 2 node(s) had untolerated taint {node.kubernetes.io/unreachable: }. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
    // A pod tolerating both (as DaemonSet pods do) still schedules.
    let tolerant = with_spec(
        pod("p", "", ""),
        json!({"tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists"},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists"}
        ]}),
    );
    assert_eq!(bound_node(&decide(&tolerant, &s)), "a");
    // The controller's own taint is not duplicated: the reason names it once.
    let tainted = with_taint(with_ready(node("a"), Some("Unknown")), "node.kubernetes.io/unreachable", "", "NoSchedule");
    assert!(message(&decide(&pod("p", "", ""), &snapshot(vec![tainted]))).starts_with(
        "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }."
    ));
}

#[test]
fn node_selector_and_required_affinity_operators() {
    let n = || with_label(with_label(node("a"), "disk", "ssd"), "cores", "8");
    let affinity = |exprs: serde_json::Value| {
        with_spec(
            pod("p", "", ""),
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": exprs}]
            }}}}),
        )
    };
    let cases = [
        (json!([{"key": "disk", "operator": "In", "values": ["ssd", "nvme"]}]), true),
        (json!([{"key": "disk", "operator": "In", "values": ["hdd"]}]), false),
        (json!([{"key": "disk", "operator": "NotIn", "values": ["hdd"]}]), true),
        (json!([{"key": "zone", "operator": "NotIn", "values": ["z1"]}]), true),
        (json!([{"key": "disk", "operator": "Exists"}]), true),
        (json!([{"key": "disk", "operator": "DoesNotExist"}]), false),
        (json!([{"key": "gpu", "operator": "DoesNotExist"}]), true),
        (json!([{"key": "cores", "operator": "Gt", "values": ["4"]}]), true),
        (json!([{"key": "cores", "operator": "Gt", "values": ["8"]}]), false),
        (json!([{"key": "cores", "operator": "Lt", "values": ["16"]}]), true),
        (json!([{"key": "cores", "operator": "Lt", "values": ["8"]}]), false),
        (json!([{"key": "disk", "operator": "Gt", "values": ["1"]}]), false),
        (json!([{"key": "cores", "operator": "Gt", "values": ["x"]}]), false),
        (json!([{"key": "disk", "operator": "In", "values": ["ssd"]}, {"key": "cores", "operator": "Lt", "values": ["4"]}]), false),
    ];
    for (exprs, fits) in cases {
        let d = decide(&affinity(exprs.clone()), &snapshot(vec![n()]));
        assert_eq!(matches!(d, Decision::Bind { .. }), fits, "{exprs}: {d:?}");
        if !fits {
            assert!(message(&d).starts_with("0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."));
        }
    }
    // nodeSelector: every pair must match.
    let sel = |m: serde_json::Value| with_spec(pod("p", "", ""), json!({"nodeSelector": m}));
    assert!(matches!(decide(&sel(json!({"disk": "ssd"})), &snapshot(vec![n()])), Decision::Bind { .. }));
    assert!(matches!(decide(&sel(json!({"disk": "ssd", "zone": "z"})), &snapshot(vec![n()])), Decision::Unschedulable { .. }));
    // Terms are ORed; matchFields pins by name.
    let fields = with_spec(
        pod("p", "", ""),
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["hdd"]}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["b"]}]}
        ]}}}}),
    );
    assert_eq!(bound_node(&decide(&fields, &snapshot(vec![n(), node("b")]))), "b");
}

#[test]
fn match_fields_pins_narrow_nodes_in_pre_filter() {
    let pinned = |names: serde_json::Value| {
        with_spec(
            pod("p", "3", ""),
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": names}]}
            ]}}}}),
        )
    };
    let s = snapshot(vec![node("a"), node("b"), node("c")]);
    assert_eq!(
        message(&decide(&pinned(json!(["a"])), &s)),
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't satisfy plugin(s) [NodeAffinity]. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
    );
    let conflicting = with_spec(
        pod("p", "", ""),
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [
                {"key": "metadata.name", "operator": "In", "values": ["a"]},
                {"key": "metadata.name", "operator": "In", "values": ["b"]}
            ]}
        ]}}}}),
    );
    assert_eq!(
        message(&decide(&conflicting, &s)),
        "0/3 nodes are available: pod affinity terms conflict. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
}

#[test]
fn resources_account_for_pods_already_on_the_node() {
    let s = ClusterSnapshot {
        nodes: vec![node("a")],
        pods: vec![
            on_node(pod("x", "1500m", "1Gi"), "a"),
            // Finished pods free their resources.
            {
                let mut done = on_node(pod("done", "2", ""), "a");
                done.status = Some(from(json!({"phase": "Succeeded"})));
                done
            },
        ],
        ..ClusterSnapshot::default()
    };
    assert_eq!(bound_node(&decide(&pod("p", "500m", "3Gi"), &s)), "a");
    assert_eq!(
        message(&decide(&pod("p", "501m", "3Gi"), &s)),
        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    );
    let d = decide(&pod("p", "1", "4Gi"), &s);
    assert_eq!(
        message(&d),
        "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    );
    assert_eq!(d, Decision::Unschedulable { message: message(&d).into(), unresolvable: false });
    // Limits without requests count as requests (API defaulting).
    let limits_only = with_spec(pod("p", "", ""), json!({"containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "1"}}}]}));
    assert!(message(&decide(&limits_only, &s)).contains("1 Insufficient cpu"));
    // Ephemeral storage and extended resources.
    let disk = with_spec(pod("p", "", ""), json!({"containers": [{"name": "c", "image": "i", "resources": {"requests": {"ephemeral-storage": "11Gi", "example.com/gpu": "1"}}}]}));
    assert_eq!(
        message(&decide(&disk, &s)),
        "0/1 nodes are available: 1 Insufficient ephemeral-storage, 1 Insufficient example.com/gpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    );
}

#[test]
fn init_containers_and_overhead_shape_the_request() {
    let s = snapshot(vec![node("a")]);
    // An init container needing 2.5 CPUs alone exceeds the node even though app containers fit.
    let init = with_spec(pod("p", "1", ""), json!({"initContainers": [{"name": "i", "image": "i", "resources": {"requests": {"cpu": "2500m"}}}]}));
    assert!(message(&decide(&init, &s)).contains("1 Insufficient cpu"));
    // A sidecar runs beside the app containers: 1 + 1.5 > 2.
    let sidecar = with_spec(
        pod("p", "1", ""),
        json!({"initContainers": [{"name": "s", "image": "i", "restartPolicy": "Always", "resources": {"requests": {"cpu": "1500m"}}}]}),
    );
    assert!(message(&decide(&sidecar, &s)).contains("1 Insufficient cpu"));
    let overhead = with_spec(pod("p", "1900m", ""), json!({"overhead": {"cpu": "200m"}}));
    assert!(message(&decide(&overhead, &s)).contains("1 Insufficient cpu"));
}

#[test]
fn too_many_pods() {
    let mut small = node("a");
    small.status.as_mut().unwrap().allocatable.as_mut().unwrap().insert("pods".into(), from(json!("1")));
    let s = ClusterSnapshot { nodes: vec![small, cordoned(node("b"))], pods: vec![on_node(pod("x", "", ""), "a")], ..Default::default() };
    assert_eq!(
        message(&decide(&pod("p", "", ""), &s)),
        "0/2 nodes are available: 1 Too many pods, 1 node(s) were unschedulable. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."
    );
}

#[test]
fn host_ports_conflict() {
    let port_pod = |name: &str, ip: &str, port: i32, proto: &str| {
        with_spec(pod(name, "", ""), json!({"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80, "hostPort": port, "hostIP": ip, "protocol": proto}]}]}))
    };
    let s = ClusterSnapshot { nodes: vec![node("a")], pods: vec![on_node(port_pod("x", "", 8080, "TCP"), "a")], ..Default::default() };
    let conflict = "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.";
    assert_eq!(message(&decide(&port_pod("p", "", 8080, "TCP"), &s)), conflict);
    assert_eq!(message(&decide(&port_pod("p", "10.0.0.1", 8080, ""), &s)), conflict, "0.0.0.0 covers every address; TCP is the default");
    assert!(matches!(decide(&port_pod("p", "", 8080, "UDP"), &s), Decision::Bind { .. }));
    assert!(matches!(decide(&port_pod("p", "", 8081, "TCP"), &s), Decision::Bind { .. }));
    let s2 = ClusterSnapshot { nodes: vec![node("a")], pods: vec![on_node(port_pod("x", "10.0.0.1", 9000, "TCP"), "a")], ..Default::default() };
    assert!(matches!(decide(&port_pod("p", "10.0.0.2", 9000, "TCP"), &s2), Decision::Bind { .. }));
    assert_eq!(message(&decide(&port_pod("p", "", 9000, "TCP"), &s2)), conflict);
}

#[test]
fn filters_stop_at_the_first_rejecting_plugin() {
    // Cordoned and tainted and short of cpu: only the first plugin's reason is counted.
    let n = with_taint(cordoned(node("a")), "k", "v", "NoSchedule");
    assert_eq!(
        message(&decide(&pod("p", "8", ""), &snapshot(vec![n]))),
        "0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    );
}

#[test]
fn pods_that_are_not_ours_to_schedule_are_skipped() {
    use crate::SkipReason;
    let s = snapshot(vec![node("a")]);
    assert_eq!(decide(&on_node(pod("p", "", ""), "a"), &s), Decision::Skip(SkipReason::AlreadyAssigned("a".into())));
    let mut deleting = pod("p", "", "");
    deleting.metadata.deletion_timestamp = Some(from(json!("2025-01-01T00:00:00Z")));
    assert_eq!(decide(&deleting, &s), Decision::Skip(SkipReason::BeingDeleted));
    let gated = with_spec(pod("p", "", ""), json!({"schedulingGates": [{"name": "wait"}]}));
    assert_eq!(decide(&gated, &s), Decision::Skip(SkipReason::SchedulingGated));
    let other = with_spec(pod("p", "", ""), json!({"schedulerName": "custom"}));
    assert_eq!(decide(&other, &s), Decision::Skip(SkipReason::OtherScheduler("custom".into())));
    let ours = with_spec(pod("p", "", ""), json!({"schedulerName": "default-scheduler"}));
    assert_eq!(bound_node(&decide(&ours, &s)), "a");
}
