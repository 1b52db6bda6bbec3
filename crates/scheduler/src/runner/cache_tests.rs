use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use serde_json::json;

use super::*;
use crate::{schedule_placed, Decision};

fn node(name: &str, cpu: &str) -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "status": {"allocatable": {"cpu": cpu, "memory": "1Gi", "pods": "110"},
                   "conditions": [{"type": "Ready", "status": "True"}]}
    }))
    .unwrap()
}

fn pod(name: &str, cpu: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
        "spec": {"containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": cpu}}}]}
    }))
    .unwrap()
}

fn pv(name: &str) -> PersistentVolume {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"capacity": {"storage": "1Gi"}}, "status": {"phase": "Available"}}))
        .unwrap()
}

fn pvc(name: &str) -> PersistentVolumeClaim {
    serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default", "uid": "claim-uid", "resourceVersion": "7"}}))
        .unwrap()
}

fn bound(p: &Pod, node: &str) -> Arc<Pod> {
    let mut p = p.clone();
    p.spec.as_mut().unwrap().node_name = Some(node.into());
    Arc::new(p)
}

fn schedule(cache: &SchedulerCache, pod: &Pod, snap: &crate::ClusterSnapshot) -> Decision {
    schedule_placed(pod, snap, cache.placed())
}

#[test]
fn assumed_pod_takes_its_slot_in_this_and_later_snapshots() {
    let mut cache = SchedulerCache::new();
    let (a, b) = (pod("a", "600m"), pod("b", "600m"));
    cache.pod_applied(Arc::new(a.clone()));
    cache.pod_applied(Arc::new(b.clone()));
    let mut snap = cache.snapshot(vec![node("n1", "1")], vec![], vec![], vec![]);
    let Decision::Bind { node: chosen, .. } = schedule(&cache, &a, &snap) else { panic!("a fits") };
    cache.assume(&a, &chosen, &AssumedVolumes::default(), &mut snap);
    assert!(matches!(schedule(&cache, &b, &snap), Decision::Unschedulable { .. }), "same burst sees a on n1");

    // The watch shows a updated but not yet bound: still counted.
    cache.pod_applied(Arc::new(a.clone()));
    let snap = cache.snapshot(vec![node("n1", "1")], vec![], vec![], vec![]);
    assert!(matches!(schedule(&cache, &b, &snap), Decision::Unschedulable { .. }));

    // Binding failed: the slot is free again.
    cache.forget(&PodKey::new("default", "a"));
    assert!(matches!(schedule(&cache, &b, &snap), Decision::Bind { .. }));
}

#[test]
fn confirmed_pod_is_counted_by_the_watch_cache_only() {
    let mut cache = SchedulerCache::new();
    let (a, b) = (pod("a", "600m"), pod("b", "600m"));
    let mut snap = cache.snapshot(vec![node("n1", "1")], vec![], vec![], vec![]);
    cache.assume(&a, "n1", &AssumedVolumes::default(), &mut snap);
    assert!(cache.is_assumed(&PodKey::new("default", "a")));
    cache.pod_applied(bound(&a, "n1"));
    assert_eq!(cache.assumed_count(), 0);
    // A late failure report of the binding does not take the bound pod off its node.
    cache.forget(&PodKey::new("default", "a"));
    assert!(matches!(schedule(&cache, &b, &snap), Decision::Unschedulable { .. }));
    // Deleted: nothing of it remains.
    cache.pod_gone(&PodKey::new("default", "a"));
    assert!(cache.placed().is_empty());
    assert!(matches!(schedule(&cache, &b, &snap), Decision::Bind { .. }));
}

#[test]
fn assumed_volume_choices_hold_until_the_watch_shows_them() {
    let mut cache = SchedulerCache::new();
    let claim = pvc("data");
    let volumes = AssumedVolumes {
        claim_refs: vec![("pv-1".into(), claim_reference(&claim))],
        provisions: vec![PodKey::new("default", "data")],
    };
    let a = pod("a", "100m");
    let mut snap = cache.snapshot(vec![node("n1", "1")], vec![claim.clone()], vec![pv("pv-1")], vec![]);
    cache.assume(&a, "n1", &volumes, &mut snap);
    cache.confirm(&PodKey::new("default", "a"));

    let snap = cache.snapshot(vec![], vec![claim.clone()], vec![pv("pv-1")], vec![]);
    let r = snap.pvs[0].spec.as_ref().unwrap().claim_ref.as_ref().unwrap();
    assert_eq!(
        (r.kind.as_deref(), r.namespace.as_deref(), r.name.as_deref(), r.uid.as_deref(), r.resource_version.as_deref()),
        (Some("PersistentVolumeClaim"), Some("default"), Some("data"), Some("claim-uid"), Some("7"))
    );
    assert_eq!(snap.pvs[0].metadata.annotations.as_ref().unwrap()[ANN_BOUND_BY_CONTROLLER], "yes");
    assert_eq!(snap.pvcs[0].metadata.annotations.as_ref().unwrap()[ANN_SELECTED_NODE], "n1");

    // The watches caught up: the overlay is dropped, so later changes (say the PV controller
    // clearing the claimRef) show through.
    let mut seen_pv = pv("pv-1");
    seen_pv.spec.as_mut().unwrap().claim_ref = Some(claim_reference(&claim));
    let mut seen_claim = claim.clone();
    seen_claim.metadata.annotations = Some([(ANN_SELECTED_NODE.to_string(), "n1".to_string())].into());
    cache.snapshot(vec![], vec![seen_claim], vec![seen_pv], vec![]);
    let snap = cache.snapshot(vec![], vec![claim], vec![pv("pv-1")], vec![]);
    assert!(snap.pvs[0].spec.as_ref().unwrap().claim_ref.is_none());
    assert!(snap.pvcs[0].metadata.annotations.is_none());
}

#[test]
fn forgetting_a_pod_drops_its_volume_choices() {
    let mut cache = SchedulerCache::new();
    let claim = pvc("data");
    let volumes = AssumedVolumes { claim_refs: vec![("pv-1".into(), claim_reference(&claim))], provisions: vec![] };
    let a = pod("a", "100m");
    let mut snap = cache.snapshot(vec![], vec![claim.clone()], vec![pv("pv-1")], vec![]);
    cache.assume(&a, "n1", &volumes, &mut snap);
    cache.forget(&PodKey::new("default", "a"));
    let snap = cache.snapshot(vec![], vec![claim], vec![pv("pv-1")], vec![]);
    assert!(snap.pvs[0].spec.as_ref().unwrap().claim_ref.is_none());
}
