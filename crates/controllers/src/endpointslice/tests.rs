//! The EndpointSlice decision: contents, labels, and churn across syncs.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;

use super::*;
use crate::endpoints::tests::{headless, pod, with};

/// Play the API server: give created slices names and bump resourceVersions.
fn apply(existing: &mut Vec<EndpointSlice>, plan: &Plan, next: &mut u32) {
    for d in &plan.delete {
        existing.retain(|s| s.metadata.name != d.metadata.name);
    }
    for u in &plan.update {
        let i = existing.iter().position(|s| s.metadata.name == u.metadata.name).expect("updated slice exists");
        existing[i] = u.clone();
        existing[i].metadata.resource_version = Some(next.to_string());
        *next += 1;
    }
    for c in &plan.create {
        let mut c = c.clone();
        c.metadata.name = Some(format!("{}{next}", c.metadata.generate_name.clone().unwrap()));
        c.metadata.uid = Some(format!("slice-uid-{next}"));
        *next += 1;
        existing.push(c);
    }
}

fn pods(n: usize) -> Vec<Pod> {
    (0..n).map(|i| pod(&format!("kubia-{i:03}"), &format!("10.244.{}.{}", i / 200 + 1, i % 200 + 2), true)).collect()
}

#[test]
fn one_slice_with_conditions_labels_owner_and_ports() {
    let mut ps = pods(2);
    ps.push(pod("kubia-900", "10.244.9.9", false));
    ps.push(with(&pod("kubia-901", "10.244.9.10", true), json!({"metadata": {"deletionTimestamp": "2026-01-01T00:02:00Z"}})));
    let plan = reconcile(&headless(), &ps, &[], MAX_ENDPOINTS_PER_SLICE);
    assert_eq!((plan.create.len(), plan.update.len(), plan.delete.len()), (1, 0, 0));
    let s = &plan.create[0];
    assert_eq!(s.metadata.generate_name.as_deref(), Some("kubia-"));
    assert_eq!(s.address_type, "IPv4");
    let labels = s.metadata.labels.clone().unwrap();
    assert_eq!(labels["kubernetes.io/service-name"], "kubia");
    assert_eq!(labels["endpointslice.kubernetes.io/managed-by"], "endpointslice-controller.k8s.io");
    assert_eq!(labels["service.kubernetes.io/headless"], "");
    let owner = &s.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.controller, owner.block_owner_deletion), ("Service", "kubia", Some(true), Some(true)));
    let port = &s.ports.as_ref().unwrap()[0];
    assert_eq!((port.name.as_deref(), port.port, port.protocol.as_deref()), (Some("http"), Some(8080), Some("TCP")));
    let conds: Vec<(bool, bool, bool)> = s
        .endpoints
        .iter()
        .map(|e| e.conditions.as_ref().map(|c| (c.ready.unwrap(), c.serving.unwrap(), c.terminating.unwrap())).unwrap())
        .collect();
    // ready, ready, unready, terminating-but-serving.
    assert_eq!(conds, [(true, true, false), (true, true, false), (false, false, false), (false, true, true)]);
    assert_eq!(s.endpoints[0].hostname.as_deref(), Some("kubia-000"));
    assert_eq!(s.endpoints[0].node_name.as_deref(), Some("sim-1"));
    assert_eq!(s.endpoints[0].target_ref.as_ref().unwrap().name.as_deref(), Some("kubia-000"));
    assert!(s.metadata.annotations.as_ref().unwrap().contains_key(ANNOTATION_TRIGGER_TIME));
}

#[test]
fn publish_not_ready_makes_terminating_and_unready_pods_ready() {
    let mut svc = headless();
    svc.spec.as_mut().unwrap().publish_not_ready_addresses = Some(true);
    let ps = [pod("a", "10.0.0.1", false), with(&pod("b", "10.0.0.2", true), json!({"metadata": {"deletionTimestamp": "2026-01-01T00:02:00Z"}}))];
    let plan = reconcile(&svc, &ps, &[], 100);
    let ready: Vec<bool> = plan.create[0].endpoints.iter().map(|e| e.conditions.as_ref().unwrap().ready.unwrap()).collect();
    assert_eq!(ready, [true, true]);
}

#[test]
fn placeholder_when_no_endpoints_then_reused_for_the_first_pods() {
    let svc = headless();
    let (mut existing, mut rv) = (Vec::new(), 1);
    let plan = reconcile(&svc, &[], &existing, 100);
    assert_eq!(plan.create.len(), 1);
    assert!(plan.create[0].endpoints.is_empty() && plan.create[0].ports.as_ref().unwrap().is_empty());
    apply(&mut existing, &plan, &mut rv);
    assert!(reconcile(&svc, &[], &existing, 100).is_empty(), "the placeholder stays");

    let plan = reconcile(&svc, &pods(3), &existing, 100);
    // The placeholder is renamed into the new slice rather than deleted and recreated.
    assert_eq!((plan.create.len(), plan.update.len(), plan.delete.len()), (0, 1, 0));
    assert_eq!(plan.update[0].metadata.name, existing[0].metadata.name);
    apply(&mut existing, &plan, &mut rv);
    assert!(reconcile(&svc, &pods(3), &existing, 100).is_empty());

    let plan = reconcile(&svc, &[], &existing, 100);
    apply(&mut existing, &plan, &mut rv);
    assert_eq!(existing.len(), 1);
    assert!(existing[0].endpoints.is_empty());
}

#[test]
fn at_most_max_per_slice_and_minimal_churn() {
    let svc = headless();
    let (mut existing, mut rv) = (Vec::new(), 1);
    let all = pods(250);
    let plan = reconcile(&svc, &all, &existing, 100);
    let sizes: Vec<usize> = plan.create.iter().map(|s| s.endpoints.len()).collect();
    assert_eq!(sizes, [100, 100, 50]);
    apply(&mut existing, &plan, &mut rv);

    // One pod turns unready: exactly its slice is rewritten, in place.
    let mut changed = all.clone();
    changed[150] = pod("kubia-150", "10.244.1.152", false);
    let plan = reconcile(&svc, &changed, &existing, 100);
    assert_eq!((plan.create.len(), plan.update.len(), plan.delete.len()), (0, 1, 0));
    let holder = existing.iter().find(|s| s.endpoints.iter().any(|e| e.target_ref.as_ref().unwrap().name.as_deref() == Some("kubia-150"))).unwrap();
    assert_eq!(plan.update[0].metadata.name, holder.metadata.name);
    assert_eq!(plan.update[0].endpoints.len(), holder.endpoints.len());
    apply(&mut existing, &plan, &mut rv);

    // Ten new pods go into the fullest slice that takes them all (the 50 one), nothing else moves.
    let mut more = changed.clone();
    more.extend((0..10).map(|i| pod(&format!("new-{i}"), &format!("10.245.0.{}", i + 2), true)));
    let plan = reconcile(&svc, &more, &existing, 100);
    assert_eq!((plan.create.len(), plan.update.len(), plan.delete.len()), (0, 1, 0));
    assert_eq!(plan.update[0].endpoints.len(), 60);
    apply(&mut existing, &plan, &mut rv);
    assert!(reconcile(&svc, &more, &existing, 100).is_empty());

    // Removing a whole slice's pods deletes that slice only.
    let first: Vec<String> = existing[0].endpoints.iter().map(|e| e.target_ref.as_ref().unwrap().name.clone().unwrap()).collect();
    let fewer: Vec<Pod> = more.into_iter().filter(|p| !first.contains(p.metadata.name.as_ref().unwrap())).collect();
    let plan = reconcile(&svc, &fewer, &existing, 100);
    assert_eq!((plan.create.len(), plan.update.len(), plan.delete.len()), (0, 0, 1));
    assert_eq!(plan.delete[0].metadata.name, existing[0].metadata.name);
}

#[test]
fn pods_with_different_resolved_ports_get_separate_slices_and_label_drift_is_repaired() {
    let svc = headless();
    let no_port = with(&pod("odd", "10.0.0.9", true), json!({"spec": {"containers": [{"name": "c", "image": "x"}]}}));
    let (mut existing, mut rv) = (Vec::new(), 1);
    let plan = reconcile(&svc, &[pods(1).remove(0), no_port.clone()], &existing, 100);
    assert_eq!(plan.create.len(), 2);
    assert!(plan.create.iter().any(|s| s.ports.as_ref().unwrap().is_empty() && s.endpoints.len() == 1));
    apply(&mut existing, &plan, &mut rv);

    existing[0].metadata.labels.as_mut().unwrap().insert("kubernetes.io/service-name".into(), "kubia".into());
    existing[0].metadata.labels.as_mut().unwrap().remove("service.kubernetes.io/headless");
    let plan = reconcile(&svc, &[pods(1).remove(0), no_port], &existing, 100);
    assert_eq!(plan.update.len(), 1);
    assert_eq!(plan.update[0].metadata.labels.as_ref().unwrap()["service.kubernetes.io/headless"], "");
}
