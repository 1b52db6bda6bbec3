//! VolumeBinding: claim checks, bound PV affinity, WaitForFirstConsumer binding and provisioning.

use serde_json::json;

use super::*;
use crate::Decision;

const NOT_HELPFUL_3: &str = "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";

fn three_nodes() -> ClusterSnapshot {
    snapshot(vec![node("a"), node("b"), node("c")])
}

fn data_pod() -> k8s_openapi::api::core::v1::Pod {
    with_claim(pod("web-0", "", ""), "www", "www-web-0")
}

#[test]
fn claim_problems_reject_the_pod_before_filtering() {
    let mut s = three_nodes();
    let mut deleting = pvc("www-web-0", Some("local"), "1Gi");
    deleting.metadata.deletion_timestamp = Some(from(json!("2025-01-01T00:00:00Z")));
    s.pvcs = vec![deleting];
    assert_eq!(
        message(&decide(&data_pod(), &s)),
        format!("0/3 nodes are available: persistentvolumeclaim \"www-web-0\" is being deleted. {NOT_HELPFUL_3}")
    );

    let mut lost = bound_pvc("www-web-0", "local", "pv-gone");
    lost.status.as_mut().unwrap().phase = Some("Lost".into());
    s.pvcs = vec![lost];
    assert_eq!(
        message(&decide(&data_pod(), &s)),
        format!("0/3 nodes are available: persistentvolumeclaim \"www-web-0\" bound to non-existent persistentvolume \"pv-gone\". {NOT_HELPFUL_3}")
    );

    // Unbound claims of an Immediate class, of no class, or of a class that doesn't exist.
    for (claim_class, classes) in [
        (Some("fast"), vec![class("fast", "example.com/csi", "Immediate")]),
        (None, vec![]),
        (Some("missing"), vec![]),
    ] {
        s.pvcs = vec![pvc("www-web-0", claim_class, "1Gi")];
        s.storage_classes = classes;
        let d = decide(&data_pod(), &s);
        assert_eq!(
            d,
            Decision::Unschedulable {
                message: format!("0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. {NOT_HELPFUL_3}"),
                unresolvable: true
            },
            "class {claim_class:?}"
        );
    }
}

#[test]
fn ephemeral_volume_claims() {
    let p = with_spec(
        pod("p", "", ""),
        json!({"volumes": [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}}}]}),
    );
    let mut s = three_nodes();
    assert_eq!(
        message(&decide(&p, &s)),
        format!("0/3 nodes are available: waiting for ephemeral volume controller to create the persistentvolumeclaim \"p-scratch\". {NOT_HELPFUL_3}")
    );
    s.pvcs = vec![pvc("p-scratch", Some("local"), "1Gi")];
    assert_eq!(
        message(&decide(&p, &s)),
        format!("0/3 nodes are available: PVC default/p-scratch was not created for pod default/p (pod is not owner). {NOT_HELPFUL_3}")
    );
}

#[test]
fn bound_claims_follow_their_volume() {
    let mut s = three_nodes();
    s.pvcs = vec![bound_pvc("www-web-0", "local", "pv-b")];
    s.pvs = vec![pv("pv-b", "local", "1Gi", Some("b"))];
    assert_eq!(bound_node(&decide(&data_pod(), &s)), "b");

    // The volume's node is full: the others are excluded by the local-PV PreFilter.
    s.pods = vec![on_node(pod("hog", "2", ""), "b")];
    let d = decide(&with_claim(pod("web-0", "1", ""), "www", "www-web-0"), &s);
    assert_eq!(
        message(&d),
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't satisfy plugin(s) [VolumeBinding]. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
    );

    // A PV pinned by a label other than the hostname goes through the Filter instead.
    let mut zoned = pv("pv-z", "local", "1Gi", None);
    zoned.spec.as_mut().unwrap().node_affinity = Some(from(json!({"required": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1"]}]}
    ]}})));
    let s = ClusterSnapshot {
        nodes: vec![node("a"), with_label(node("b"), "zone", "z1"), node("c")],
        pvcs: vec![bound_pvc("www-web-0", "local", "pv-z")],
        pvs: vec![zoned],
        ..Default::default()
    };
    assert_eq!(bound_node(&decide(&data_pod(), &s)), "b");
    let mut s_conflict = s.clone();
    s_conflict.nodes[1] = node("b");
    assert_eq!(
        message(&decide(&data_pod(), &s_conflict)),
        format!("0/3 nodes are available: 3 node(s) had volume node affinity conflict. {NOT_HELPFUL_3}")
    );

    // Two bound local PVs on different nodes can never meet.
    let s = ClusterSnapshot {
        nodes: vec![node("a"), node("b"), node("c")],
        pvcs: vec![bound_pvc("c1", "local", "pv-a"), bound_pvc("c2", "local", "pv-b")],
        pvs: vec![pv("pv-a", "local", "1Gi", Some("a")), pv("pv-b", "local", "1Gi", Some("b"))],
        ..Default::default()
    };
    let p = with_claim(with_claim(pod("p", "", ""), "v1", "c1"), "v2", "c2");
    assert_eq!(message(&decide(&p, &s)), format!("0/3 nodes are available: node(s) didn't satisfy plugin VolumeBinding. {NOT_HELPFUL_3}"));

    // The bound PV is gone.
    let s = ClusterSnapshot { nodes: vec![node("a")], pvcs: vec![bound_pvc("www-web-0", "local", "pv-gone")], ..Default::default() };
    assert_eq!(
        message(&decide(&data_pod(), &s)),
        "0/1 nodes are available: 1 node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s). preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    );
}

fn wffc_snapshot(pvs: Vec<k8s_openapi::api::core::v1::PersistentVolume>, provisioner: &str) -> ClusterSnapshot {
    ClusterSnapshot {
        nodes: vec![node("a"), node("b"), node("c")],
        pvcs: vec![pvc("www-web-0", Some("local"), "2Gi")],
        pvs,
        storage_classes: vec![class("local", provisioner, "WaitForFirstConsumer")],
        ..Default::default()
    }
}

#[test]
fn wait_for_first_consumer_picks_the_smallest_fitting_pv() {
    let s = wffc_snapshot(
        vec![
            pv("pv-big", "local", "10Gi", Some("a")),
            pv("pv-small", "local", "1Gi", Some("a")),
            pv("pv-fit", "local", "5Gi", Some("b")),
            pv("pv-exact", "local", "2Gi", None),
            pv("pv-other-class", "slow", "2Gi", Some("c")),
        ],
        "kubernetes.io/no-provisioner",
    );
    // Every node has some PV that fits (pv-exact has no affinity); a has only pv-big and
    // pv-exact: the smallest fit is pv-exact, and node a wins on name.
    assert_eq!(
        decide(&data_pod(), &s),
        Decision::Bind { node: "a".into(), claims_to_bind: vec![("www-web-0".into(), "pv-exact".into())], claims_to_provision: vec![] }
    );

    // Without the unpinned PV: a gets pv-big (pv-small is too small).
    let s = wffc_snapshot(
        vec![pv("pv-big", "local", "10Gi", Some("a")), pv("pv-small", "local", "1Gi", Some("a")), pv("pv-fit", "local", "5Gi", Some("b"))],
        "kubernetes.io/no-provisioner",
    );
    assert_eq!(
        decide(&data_pod(), &s),
        Decision::Bind { node: "a".into(), claims_to_bind: vec![("www-web-0".into(), "pv-big".into())], claims_to_provision: vec![] }
    );
}

#[test]
fn wait_for_first_consumer_pv_requirements() {
    let base = || pv("pv", "local", "5Gi", Some("b"));
    let mut bound_elsewhere = base();
    bound_elsewhere.spec.as_mut().unwrap().claim_ref = Some(from(json!({"namespace": "default", "name": "other"})));
    let mut released = base();
    released.status.as_mut().unwrap().phase = Some("Released".into());
    let mut rwx = base();
    rwx.spec.as_mut().unwrap().access_modes = Some(vec!["ReadWriteMany".into()]);
    let mut block = base();
    block.spec.as_mut().unwrap().volume_mode = Some("Block".into());
    for (why, unusable) in [("bound elsewhere", bound_elsewhere), ("released", released), ("access modes", rwx), ("volume mode", block)] {
        let s = wffc_snapshot(vec![unusable], "kubernetes.io/no-provisioner");
        assert_eq!(
            message(&decide(&data_pod(), &s)),
            format!("0/3 nodes are available: 3 node(s) didn't find available persistent volumes to bind. {NOT_HELPFUL_3}"),
            "{why}"
        );
    }
    // Access modes are a superset check: RWO+ROX serves a RWO claim.
    let mut wider = base();
    wider.spec.as_mut().unwrap().access_modes = Some(vec!["ReadOnlyMany".into(), "ReadWriteOnce".into()]);
    assert_eq!(bound_node(&decide(&data_pod(), &wffc_snapshot(vec![wider], "kubernetes.io/no-provisioner"))), "b");
    // A PV pre-bound to the claim decides alone: it is taken though not the smallest, and on a
    // node it doesn't admit no other PV is considered (upstream returns "no match" there).
    let mut prebound = pv("pv-pre", "local", "50Gi", Some("c"));
    prebound.spec.as_mut().unwrap().claim_ref = Some(from(json!({"namespace": "default", "name": "www-web-0"})));
    let s = wffc_snapshot(vec![base(), prebound], "kubernetes.io/no-provisioner");
    assert_eq!(
        decide(&data_pod(), &s),
        Decision::Bind { node: "c".into(), claims_to_bind: vec![("www-web-0".into(), "pv-pre".into())], claims_to_provision: vec![] }
    );
    // The claim's selector must match the PV's labels.
    let mut s = wffc_snapshot(vec![base()], "kubernetes.io/no-provisioner");
    s.pvcs[0].spec.as_mut().unwrap().selector = Some(from(json!({"matchLabels": {"tier": "gold"}})));
    assert!(matches!(decide(&data_pod(), &s), Decision::Unschedulable { .. }));
    s.pvs[0].metadata.labels = Some([("tier".to_string(), "gold".to_string())].into());
    assert_eq!(bound_node(&decide(&data_pod(), &s)), "b");
}

#[test]
fn wait_for_first_consumer_provisions_when_the_class_can() {
    let s = wffc_snapshot(vec![pv("pv-b", "local", "5Gi", Some("b"))], "rancher.io/local-path");
    // b has a static PV; a and c would provision. Binding a static PV is not preferred by
    // berth's scorer, so a wins on name and gets a provisioning request.
    assert_eq!(
        decide(&data_pod(), &s),
        Decision::Bind { node: "a".into(), claims_to_bind: vec![], claims_to_provision: vec!["www-web-0".into()] }
    );
    // allowedTopologies restricts where provisioning may happen.
    let mut s = wffc_snapshot(vec![], "rancher.io/local-path");
    s.storage_classes[0].allowed_topologies =
        Some(vec![from(json!({"matchLabelExpressions": [{"key": "kubernetes.io/hostname", "values": ["c"]}]}))]);
    assert_eq!(bound_node(&decide(&data_pod(), &s)), "c");
    // A claim whose provisioning already targets a node only fits there.
    let mut s = wffc_snapshot(vec![], "rancher.io/local-path");
    s.pvcs[0].metadata.annotations = Some([("volume.kubernetes.io/selected-node".to_string(), "b".to_string())].into());
    assert_eq!(
        decide(&data_pod(), &s),
        Decision::Bind { node: "b".into(), claims_to_bind: vec![], claims_to_provision: vec!["www-web-0".into()] }
    );
}

#[test]
fn two_claims_never_share_one_pv() {
    let mut s = wffc_snapshot(vec![pv("pv-1", "local", "5Gi", Some("a")), pv("pv-2", "local", "3Gi", Some("a"))], "kubernetes.io/no-provisioner");
    s.pvcs.push(pvc("logs-web-0", Some("local"), "4Gi"));
    let p = with_claim(data_pod(), "logs", "logs-web-0");
    // The 2Gi claim is matched first and takes the smallest fit (pv-2); the 4Gi claim gets pv-1.
    assert_eq!(
        decide(&p, &s),
        Decision::Bind {
            node: "a".into(),
            claims_to_bind: vec![("www-web-0".into(), "pv-2".into()), ("logs-web-0".into(), "pv-1".into())],
            claims_to_provision: vec![]
        }
    );
    // Only one PV on a: no node can serve both claims.
    s.pvs.pop();
    assert_eq!(
        message(&decide(&p, &s)),
        format!("0/3 nodes are available: 3 node(s) didn't find available persistent volumes to bind. {NOT_HELPFUL_3}")
    );
}
