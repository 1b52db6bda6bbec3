//! InterPodAffinity (required terms).

use serde_json::{json, Value};

use super::*;
use crate::Decision;

fn labelled(name: &str, app: &str) -> k8s_openapi::api::core::v1::Pod {
    let mut p = pod(name, "", "");
    p.metadata.labels = Some([("app".to_string(), app.to_string())].into());
    p
}

fn with_pod_affinity(p: k8s_openapi::api::core::v1::Pod, kind: &str, app: &str, key: &str) -> k8s_openapi::api::core::v1::Pod {
    let term: Value = json!({"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key});
    with_spec(p, json!({"affinity": {kind: {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}}))
}

#[test]
fn anti_affinity_on_hostname_spreads_one_per_node() {
    // The ZooKeeper-tutorial StatefulSet shape: at most one replica per hostname.
    let zk = |name: &str| with_pod_affinity(labelled(name, "zk"), "podAntiAffinity", "zk", "kubernetes.io/hostname");
    let mut s = snapshot(vec![node("a"), node("b")]);
    s.pods.push(on_node(zk("zk-0"), "a"));
    assert_eq!(bound_node(&decide(&zk("zk-1"), &s)), "b");
    s.pods.push(on_node(zk("zk-1"), "b"));
    let d = decide(&zk("zk-2"), &s);
    assert_eq!(
        message(&d),
        "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
    );
    assert_eq!(d, Decision::Unschedulable { message: message(&d).into(), unresolvable: false });
    // Pods in other namespaces don't count (terms default to the pod's namespace).
    let mut elsewhere = s.clone();
    for p in &mut elsewhere.pods {
        p.metadata.namespace = Some("other".into());
    }
    assert!(matches!(decide(&zk("zk-2"), &elsewhere), Decision::Bind { .. }));
}

#[test]
fn existing_pods_anti_affinity_keeps_others_away() {
    let loner = with_pod_affinity(labelled("loner", "db"), "podAntiAffinity", "web", "kubernetes.io/hostname");
    let s = ClusterSnapshot { nodes: vec![node("a"), node("b")], pods: vec![on_node(loner, "a")], ..Default::default() };
    assert_eq!(bound_node(&decide(&labelled("w", "web"), &s)), "b");
    let s1 = ClusterSnapshot { nodes: vec![node("a")], ..s.clone() };
    assert_eq!(
        message(&decide(&labelled("w", "web"), &s1)),
        "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    );
    // Pods the loner's selector doesn't match are unaffected.
    assert_eq!(bound_node(&decide(&labelled("c", "cache"), &s1)), "a");
}

#[test]
fn pod_affinity_follows_the_target_and_lets_the_first_of_a_group_in() {
    let zoned = |n: &str, z: &str| with_label(node(n), "zone", z);
    let mut s = snapshot(vec![zoned("a", "z1"), zoned("b", "z2"), node("nozone")]);
    s.pods.push(on_node(labelled("db-0", "db"), "b"));
    let follower = with_pod_affinity(labelled("app", "app"), "podAffinity", "db", "zone");
    assert_eq!(bound_node(&decide(&follower, &s)), "b");
    s.pods.clear();
    assert_eq!(
        message(&decide(&follower, &s)),
        "0/3 nodes are available: 3 node(s) didn't match pod affinity rules. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
    // A pod with affinity to its own label may start the group, but only where the key exists.
    let first = with_pod_affinity(labelled("db-0", "db"), "podAffinity", "db", "zone");
    assert_eq!(bound_node(&decide(&first, &s)), "a");
    let only_nozone = snapshot(vec![node("nozone")]);
    assert!(matches!(decide(&first, &only_nozone), Decision::Unschedulable { .. }));
}
