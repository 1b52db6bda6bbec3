use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use serde_json::json;

use super::*;
use crate::{schedule, Decision};

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

#[test]
fn assumed_pod_takes_its_slot_in_this_and_later_snapshots() {
    let mut cache = SchedulerCache::new();
    let (a, b) = (pod("a", "600m"), pod("b", "600m"));
    let mut snap = cache.snapshot(vec![node("n1", "1")], vec![a.clone(), b.clone()], vec![], vec![], vec![]);
    let Decision::Bind { node: chosen, .. } = schedule(&a, &snap) else { panic!("a fits") };
    cache.assume(&a, &chosen, &AssumedVolumes::default(), &mut snap);
    assert!(matches!(schedule(&b, &snap), Decision::Unschedulable { .. }), "same burst sees a on n1");

    // The watch has not shown a bound yet: a fresh snapshot still counts it.
    let snap = cache.snapshot(vec![node("n1", "1")], vec![a.clone(), b.clone()], vec![], vec![], vec![]);
    assert!(matches!(schedule(&b, &snap), Decision::Unschedulable { .. }));

    // Binding failed: the slot is free again.
    cache.forget(&PodKey::new("default", "a"));
    let snap = cache.snapshot(vec![node("n1", "1")], vec![a, b.clone()], vec![], vec![], vec![]);
    assert!(matches!(schedule(&b, &snap), Decision::Bind { .. }));
}

#[test]
fn confirmed_pod_is_counted_by_the_watch_cache_only() {
    let mut cache = SchedulerCache::new();
    let a = pod("a", "600m");
    let mut snap = cache.snapshot(vec![node("n1", "1")], vec![a.clone()], vec![], vec![], vec![]);
    cache.assume(&a, "n1", &AssumedVolumes::default(), &mut snap);
    assert!(cache.is_assumed(&PodKey::new("default", "a")));
    cache.confirm(&PodKey::new("default", "a"));
    assert_eq!(cache.assumed_count(), 0);
    // Deleted before the next snapshot: nothing of it remains.
    let snap = cache.snapshot(vec![node("n1", "1")], vec![], vec![], vec![], vec![]);
    assert!(snap.pods.is_empty());
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
    let mut snap = cache.snapshot(vec![node("n1", "1")], vec![a.clone()], vec![claim.clone()], vec![pv("pv-1")], vec![]);
    cache.assume(&a, "n1", &volumes, &mut snap);
    cache.confirm(&PodKey::new("default", "a"));

    let snap = cache.snapshot(vec![], vec![], vec![claim.clone()], vec![pv("pv-1")], vec![]);
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
    cache.snapshot(vec![], vec![], vec![seen_claim], vec![seen_pv], vec![]);
    let snap = cache.snapshot(vec![], vec![], vec![claim], vec![pv("pv-1")], vec![]);
    assert!(snap.pvs[0].spec.as_ref().unwrap().claim_ref.is_none());
    assert!(snap.pvcs[0].metadata.annotations.is_none());
}

#[test]
fn forgetting_a_pod_drops_its_volume_choices() {
    let mut cache = SchedulerCache::new();
    let claim = pvc("data");
    let volumes = AssumedVolumes { claim_refs: vec![("pv-1".into(), claim_reference(&claim))], provisions: vec![] };
    let a = pod("a", "100m");
    let mut snap = cache.snapshot(vec![], vec![a.clone()], vec![claim.clone()], vec![pv("pv-1")], vec![]);
    cache.assume(&a, "n1", &volumes, &mut snap);
    cache.forget(&PodKey::new("default", "a"));
    let snap = cache.snapshot(vec![], vec![], vec![claim], vec![pv("pv-1")], vec![]);
    assert!(snap.pvs[0].spec.as_ref().unwrap().claim_ref.is_none());
}
