//! Table-driven tests of the pure decisions: matching, binding, claim and volume syncs,
//! reclaim policies, and every event text against upstream's.

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use serde_json::{json, Value};

use super::*;

fn pv(name: &str, size: &str, modes: &[&str], class: Option<&str>) -> PersistentVolume {
    let mut v = json!({
        "metadata": {"name": name, "uid": format!("uid-{name}"), "resourceVersion": "10"},
        "spec": {"capacity": {"storage": size}, "accessModes": modes, "persistentVolumeReclaimPolicy": "Retain",
                 "nfs": {"server": "172.16.20.1", "path": "/data"}},
        "status": {"phase": "Available"}
    });
    if let Some(c) = class {
        v["spec"]["storageClassName"] = json!(c);
    }
    serde_json::from_value(v).unwrap()
}

fn patch_pv(v: &PersistentVolume, patch: Value) -> PersistentVolume {
    let mut j = serde_json::to_value(v).unwrap();
    merge(&mut j, patch);
    serde_json::from_value(j).unwrap()
}

fn pvc(name: &str, size: &str, modes: &[&str], class: Option<&str>) -> PersistentVolumeClaim {
    let mut v = json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "resourceVersion": "20"},
        "spec": {"accessModes": modes, "resources": {"requests": {"storage": size}}},
        "status": {"phase": "Pending"}
    });
    if let Some(c) = class {
        v["spec"]["storageClassName"] = json!(c);
    }
    serde_json::from_value(v).unwrap()
}

fn patch_pvc(c: &PersistentVolumeClaim, patch: Value) -> PersistentVolumeClaim {
    let mut j = serde_json::to_value(c).unwrap();
    merge(&mut j, patch);
    serde_json::from_value(j).unwrap()
}

fn class(name: &str, provisioner: &str, mode: &str) -> StorageClass {
    serde_json::from_value(json!({"metadata": {"name": name}, "provisioner": provisioner, "volumeBindingMode": mode})).unwrap()
}

fn pod(name: &str, claim: &str, node: Option<&str>) -> Pod {
    let mut p = json!({"metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "i"}], "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim}}]}});
    if let Some(n) = node {
        p["spec"]["nodeName"] = json!(n);
    }
    serde_json::from_value(p).unwrap()
}

fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                if v.is_null() {
                    a.remove(&k);
                } else {
                    merge(a.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (a, b) => *a = b,
    }
}

/// The events of a plan as (type, reason, message).
fn events(actions: &[Action]) -> Vec<(EventType, String, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::RecordEvent { event, .. } => Some((event.type_, event.reason.clone(), event.message.clone())),
            _ => None,
        })
        .collect()
}

/// The volume a plan binds the claim to (from its claim PUT).
fn bound_volume(actions: &[Action]) -> Option<String> {
    actions.iter().find_map(|a| match a {
        Action::UpdateClaim(c) => c.spec.as_ref().and_then(|s| s.volume_name.clone()),
        _ => None,
    })
}

fn kinds(actions: &[Action]) -> Vec<&'static str> {
    actions
        .iter()
        .map(|a| match a {
            Action::UpdateVolume(_) => "UpdateVolume",
            Action::UpdateVolumeStatus(_) => "UpdateVolumeStatus",
            Action::UpdateClaim(_) => "UpdateClaim",
            Action::UpdateClaimStatus(_) => "UpdateClaimStatus",
            Action::DeleteVolume { .. } => "DeleteVolume",
            Action::RecordEvent { .. } => "RecordEvent",
            Action::EnqueueClaim { .. } => "EnqueueClaim",
            Action::RecycleHostPath { .. } => "RecycleHostPath",
            Action::DeleteHostPath { .. } => "DeleteHostPath",
            Action::ProvisionLocalPath { .. } => "ProvisionLocalPath",
            Action::DeleteLocalPath { .. } => "DeleteLocalPath",
            Action::Fail { .. } => "Fail",
        })
        .collect()
}

const RWO: &[&str] = &["ReadWriteOnce"];
const RWO_ROX: &[&str] = &["ReadWriteOnce", "ReadOnlyMany"];

#[test]
fn matching_picks_the_expected_volume() {
    let labelled = |v: PersistentVolume, l: Value| patch_pv(&v, json!({"metadata": {"labels": l}}));
    let prebound = |v: PersistentVolume, claim: &str| {
        patch_pv(&v, json!({"spec": {"claimRef": {"kind": "PersistentVolumeClaim", "namespace": "default", "name": claim}}}))
    };
    struct Case {
        name: &'static str,
        claim: PersistentVolumeClaim,
        volumes: Vec<PersistentVolume>,
        want: Option<&'static str>,
    }
    let cases = vec![
        Case {
            name: "smallest fit wins",
            claim: pvc("c", "1Gi", RWO, Some("nfs")),
            volumes: vec![pv("big", "10Gi", RWO, Some("nfs")), pv("mid", "2Gi", RWO, Some("nfs")), pv("small", "500Mi", RWO, Some("nfs"))],
            want: Some("mid"),
        },
        Case {
            name: "ties go to the first found (name order)",
            claim: pvc("c", "1Gi", RWO, Some("nfs")),
            volumes: vec![pv("pv-2", "1Gi", RWO, Some("nfs")), pv("pv-1", "1Gi", RWO, Some("nfs"))],
            want: Some("pv-1"),
        },
        Case {
            name: "exact RWO group beats a smaller RWO+ROX volume",
            claim: pvc("c", "1Gi", RWO, Some("nfs")),
            volumes: vec![pv("rwo-rox", "1Gi", RWO_ROX, Some("nfs")), pv("rwo", "5Gi", RWO, Some("nfs"))],
            want: Some("rwo"),
        },
        Case {
            name: "RWO+ROX claim only fits the RWO+ROX group",
            claim: pvc("c", "1Gi", RWO_ROX, Some("nfs")),
            volumes: vec![pv("rwo", "1Gi", RWO, Some("nfs")), pv("rwo-rox", "5Gi", RWO_ROX, Some("nfs"))],
            want: Some("rwo-rox"),
        },
        Case {
            name: "RWO group without a fit falls through to RWO+ROX",
            claim: pvc("c", "3Gi", RWO, Some("nfs")),
            volumes: vec![pv("rwo", "1Gi", RWO, Some("nfs")), pv("rwo-rox", "5Gi", RWO_ROX, Some("nfs"))],
            want: Some("rwo-rox"),
        },
        Case {
            name: "class must be equal",
            claim: pvc("c", "1Gi", RWO, Some("fast")),
            volumes: vec![pv("nfs", "1Gi", RWO, Some("nfs"))],
            want: None,
        },
        Case {
            name: "no class (nil) matches only class-less volumes",
            claim: pvc("c", "1Gi", RWO, None),
            volumes: vec![pv("classed", "1Gi", RWO, Some("nfs")), pv("plain", "5Gi", RWO, None)],
            want: Some("plain"),
        },
        Case {
            name: "class \"\" matches class-less volumes",
            claim: pvc("c", "1Gi", RWO, Some("")),
            volumes: vec![pv("plain", "5Gi", RWO, None)],
            want: Some("plain"),
        },
        Case {
            name: "selector filters by labels",
            claim: patch_pvc(&pvc("c", "1Gi", RWO, Some("nfs")), json!({"spec": {"selector": {"matchLabels": {"tier": "gold"}}}})),
            volumes: vec![
                labelled(pv("silver", "1Gi", RWO, Some("nfs")), json!({"tier": "silver"})),
                labelled(pv("gold", "2Gi", RWO, Some("nfs")), json!({"tier": "gold"})),
            ],
            want: Some("gold"),
        },
        Case {
            name: "volumeMode must match (nil = Filesystem)",
            claim: patch_pvc(&pvc("c", "1Gi", RWO, Some("nfs")), json!({"spec": {"volumeMode": "Block"}})),
            volumes: vec![pv("fs", "1Gi", RWO, Some("nfs")), patch_pv(&pv("block", "1Gi", RWO, Some("nfs")), json!({"spec": {"volumeMode": "Block"}}))],
            want: Some("block"),
        },
        Case {
            name: "too small, not Available, bound elsewhere or deleting are skipped",
            claim: pvc("c", "2Gi", RWO, Some("nfs")),
            volumes: vec![
                pv("small", "1Gi", RWO, Some("nfs")),
                patch_pv(&pv("released", "2Gi", RWO, Some("nfs")), json!({"status": {"phase": "Released"}})),
                prebound(pv("other", "2Gi", RWO, Some("nfs")), "someone-else"),
                patch_pv(&pv("deleting", "2Gi", RWO, Some("nfs")), json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}})),
            ],
            want: None,
        },
        Case {
            name: "a volume pre-bound to the claim wins over a smaller free one",
            claim: pvc("c", "1Gi", RWO, Some("nfs")),
            volumes: vec![pv("free", "1Gi", RWO, Some("nfs")), prebound(pv("mine", "9Gi", RWO, Some("other-class")), "c")],
            want: Some("mine"),
        },
    ];
    for case in cases {
        let plan = sync_claim(&case.claim, &case.volumes, &[], &[]);
        assert_eq!(bound_volume(&plan).as_deref(), case.want, "{}: {plan:#?}", case.name);
    }
}

#[test]
fn bind_writes_in_upstream_order_with_annotations_and_status() {
    let claim = pvc("data", "1Gi", RWO, Some("nfs"));
    let volume = pv("pv-1", "1Gi", RWO_ROX, Some("nfs"));
    let plan = sync_claim(&claim, &[volume], &[], &[]);
    assert_eq!(kinds(&plan), ["UpdateVolume", "UpdateVolumeStatus", "UpdateClaim", "UpdateClaimStatus"]);
    let Action::UpdateVolume(v) = &plan[0] else { unreachable!() };
    let r = v.spec.as_ref().unwrap().claim_ref.as_ref().unwrap();
    assert_eq!(
        (r.kind.as_deref(), r.api_version.as_deref(), r.namespace.as_deref(), r.name.as_deref(), r.uid.as_deref(), r.resource_version.as_deref()),
        (Some("PersistentVolumeClaim"), Some("v1"), Some("default"), Some("data"), Some("uid-data"), Some("20"))
    );
    assert_eq!(v.metadata.annotations.as_ref().unwrap()[ANN_BOUND_BY_CONTROLLER], "yes");
    let Action::UpdateVolumeStatus(v) = &plan[1] else { unreachable!() };
    assert_eq!(v.status.as_ref().unwrap().phase.as_deref(), Some("Bound"));
    let Action::UpdateClaim(c) = &plan[2] else { unreachable!() };
    let ann = c.metadata.annotations.as_ref().unwrap();
    assert_eq!((ann[ANN_BIND_COMPLETED].as_str(), ann[ANN_BOUND_BY_CONTROLLER].as_str()), ("yes", "yes"));
    let Action::UpdateClaimStatus(c) = &plan[3] else { unreachable!() };
    let s = c.status.as_ref().unwrap();
    assert_eq!(s.phase.as_deref(), Some("Bound"));
    assert_eq!(s.access_modes.as_deref(), Some(&["ReadWriteOnce".to_string(), "ReadOnlyMany".to_string()][..]));
    assert_eq!(s.capacity.as_ref().unwrap()["storage"].0, "1Gi");
    assert!(events(&plan).is_empty());

    // Once everything is written, the next sync of the bound claim writes nothing.
    let Action::UpdateVolumeStatus(bound_pv) = &plan[1] else { unreachable!() };
    let Action::UpdateClaimStatus(bound_claim) = &plan[3] else { unreachable!() };
    assert_eq!(sync_claim(bound_claim, std::slice::from_ref(bound_pv), &[], &[]), vec![]);
    assert_eq!(sync_volume(bound_pv, Some(bound_claim), &[]), vec![]);
}

#[test]
fn pre_bound_in_both_directions() {
    // Claim names a free volume: bind; the volume is annotated (we set its claimRef), the
    // claim is not (the user set volumeName).
    let claim = patch_pvc(&pvc("c", "1Gi", RWO, Some("nfs")), json!({"spec": {"volumeName": "pv-1"}}));
    let plan = sync_claim(&claim, &[pv("pv-1", "1Gi", RWO, Some("nfs"))], &[], &[]);
    assert_eq!(kinds(&plan), ["UpdateVolume", "UpdateVolumeStatus", "UpdateClaim", "UpdateClaimStatus"]);
    let Action::UpdateClaim(c) = &plan[2] else { unreachable!() };
    assert!(!c.metadata.annotations.as_ref().unwrap().contains_key(ANN_BOUND_BY_CONTROLLER));
    let Action::UpdateVolume(v) = &plan[0] else { unreachable!() };
    assert!(v.metadata.annotations.as_ref().unwrap().contains_key(ANN_BOUND_BY_CONTROLLER));

    // Volume pre-bound by the user (claimRef without uid): the claim sync adds the uid; no
    // bound-by-controller on the volume, but on the claim (we set its volumeName).
    let volume = patch_pv(
        &pv("pv-1", "1Gi", RWO, Some("nfs")),
        json!({"spec": {"claimRef": {"namespace": "default", "name": "c"}}}),
    );
    assert_eq!(sync_volume(&volume, None, &[]), vec![], "pre-bound volume stays Available");
    let plan = sync_claim(&pvc("c", "1Gi", RWO, Some("nfs")), std::slice::from_ref(&volume), &[], &[]);
    let Action::UpdateVolume(v) = &plan[0] else { panic!("{plan:#?}") };
    assert_eq!(v.spec.as_ref().unwrap().claim_ref.as_ref().unwrap().uid.as_deref(), Some("uid-c"));
    assert!(v.metadata.annotations.is_none());
    let Action::UpdateClaim(c) = &plan[2] else { unreachable!() };
    assert!(c.metadata.annotations.as_ref().unwrap().contains_key(ANN_BOUND_BY_CONTROLLER));
}

#[test]
fn claim_events_match_upstream() {
    let wffc = class("local", "kubernetes.io/no-provisioner", "WaitForFirstConsumer");
    let ext = class("ext", "example.com/nfs", "Immediate");
    let local = class("berth", LOCAL_PATH_PROVISIONER, "Immediate");
    let taken = patch_pv(
        &pv("pv-1", "1Gi", RWO, Some("nfs")),
        json!({"spec": {"claimRef": {"namespace": "default", "name": "other", "uid": "uid-other"}}, "status": {"phase": "Bound"}}),
    );
    let asks = |name: &str| patch_pvc(&pvc("c", "5Gi", RWO, Some("nfs")), json!({"spec": {"volumeName": name}}));
    struct Case {
        name: &'static str,
        claim: PersistentVolumeClaim,
        volumes: Vec<PersistentVolume>,
        classes: Vec<StorageClass>,
        pods: Vec<Pod>,
        want: Vec<(EventType, &'static str, &'static str)>,
    }
    use EventType::*;
    let cases = vec![
        Case {
            name: "no class, no volume",
            claim: pvc("c", "1Gi", RWO, None),
            volumes: vec![],
            classes: vec![],
            pods: vec![],
            want: vec![(Normal, "FailedBinding", "no persistent volumes available for this claim and no storage class is set")],
        },
        Case {
            name: "WaitForFirstConsumer, no pod",
            claim: pvc("c", "1Gi", RWO, Some("local")),
            volumes: vec![pv("free", "1Gi", RWO, Some("local"))],
            classes: vec![wffc.clone()],
            pods: vec![],
            want: vec![(Normal, "WaitForFirstConsumer", "waiting for first consumer to be created before binding")],
        },
        Case {
            name: "WaitForFirstConsumer, one unscheduled pod",
            claim: pvc("c", "1Gi", RWO, Some("local")),
            volumes: vec![],
            classes: vec![wffc.clone()],
            pods: vec![pod("web-0", "c", None), pod("done", "c", Some("node-1")), pod("x", "other", None)],
            want: vec![(Normal, "WaitForPodScheduled", "waiting for pod web-0 to be scheduled")],
        },
        Case {
            name: "WaitForFirstConsumer, two unscheduled pods",
            claim: pvc("c", "1Gi", RWO, Some("local")),
            volumes: vec![],
            classes: vec![wffc.clone()],
            pods: vec![pod("a", "c", None), pod("b", "c", None)],
            want: vec![(Normal, "WaitForPodScheduled", "waiting for pods a,b to be scheduled")],
        },
        Case {
            name: "external provisioner",
            claim: pvc("c", "1Gi", RWO, Some("ext")),
            volumes: vec![],
            classes: vec![ext],
            pods: vec![],
            want: vec![(Normal, "ExternalProvisioning", "Waiting for a volume to be created either by the external provisioner 'example.com/nfs' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.")],
        },
        Case {
            name: "berth's own provisioner: external provisioning, then the executor provisions",
            claim: pvc("c", "1Gi", RWO, Some("berth")),
            volumes: vec![],
            classes: vec![local.clone()],
            pods: vec![],
            want: vec![(Normal, "ExternalProvisioning", "Waiting for a volume to be created either by the external provisioner 'berth.dev/local-path' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.")],
        },
        Case {
            name: "class not found",
            claim: pvc("c", "1Gi", RWO, Some("fast-ssd")),
            volumes: vec![],
            classes: vec![],
            pods: vec![],
            want: vec![(Warning, "ProvisioningFailed", "storageclass.storage.k8s.io \"fast-ssd\" not found")],
        },
        Case {
            name: "in-tree provisioner berth lacks",
            claim: pvc("c", "1Gi", RWO, Some("local")),
            volumes: vec![],
            classes: vec![class("local", "kubernetes.io/no-provisioner", "Immediate")],
            pods: vec![],
            want: vec![(Warning, "ProvisioningFailed", "no volume plugin matched name: kubernetes.io/no-provisioner")],
        },
        Case {
            name: "requested volume too small",
            claim: asks("pv-1"),
            volumes: vec![pv("pv-1", "1Gi", RWO, Some("nfs"))],
            classes: vec![],
            pods: vec![],
            want: vec![(Warning, "VolumeMismatch", "Cannot bind to requested volume \"pv-1\": requested PV is too small")],
        },
        Case {
            name: "requested volume of another class",
            claim: asks("pv-1"),
            volumes: vec![pv("pv-1", "9Gi", RWO, Some("gold"))],
            classes: vec![],
            pods: vec![],
            want: vec![(Warning, "VolumeMismatch", "Cannot bind to requested volume \"pv-1\": storageClassName does not match")],
        },
        Case {
            name: "requested volume with other access modes",
            claim: asks("pv-1"),
            volumes: vec![pv("pv-1", "9Gi", &["ReadOnlyMany"], Some("nfs"))],
            classes: vec![],
            pods: vec![],
            want: vec![(Warning, "VolumeMismatch", "Cannot bind to requested volume \"pv-1\": incompatible accessMode")],
        },
        Case {
            name: "requested volume bound elsewhere",
            claim: asks("pv-1"),
            volumes: vec![taken],
            classes: vec![],
            pods: vec![],
            want: vec![(Warning, "FailedBinding", "volume \"pv-1\" already bound to a different claim.")],
        },
    ];
    for case in cases {
        let plan = sync_claim(&case.claim, &case.volumes, &case.classes, &case.pods);
        let want: Vec<_> = case.want.iter().map(|(t, r, m)| (*t, r.to_string(), m.to_string())).collect();
        assert_eq!(events(&plan), want, "{}", case.name);
        assert!(bound_volume(&plan).is_none(), "{}: nothing binds", case.name);
    }
}

#[test]
fn local_path_claims_are_annotated_and_handed_to_the_provisioner() {
    let local = class("berth", LOCAL_PATH_PROVISIONER, "Immediate");
    let plan = sync_claim(&pvc("c", "1Gi", RWO, Some("berth")), &[], std::slice::from_ref(&local), &[]);
    assert_eq!(kinds(&plan), ["UpdateClaim", "RecordEvent", "ProvisionLocalPath"]);
    let Action::UpdateClaim(c) = &plan[0] else { unreachable!() };
    let a = c.metadata.annotations.as_ref().unwrap();
    assert_eq!(a[ANN_STORAGE_PROVISIONER], LOCAL_PATH_PROVISIONER);
    assert_eq!(a[ANN_BETA_STORAGE_PROVISIONER], LOCAL_PATH_PROVISIONER);
    // Already annotated: no write, still provisioned.
    let plan = sync_claim(c, &[], std::slice::from_ref(&local), &[]);
    assert_eq!(kinds(&plan), ["RecordEvent", "ProvisionLocalPath"]);
    // WaitForFirstConsumer: nothing until the scheduler picks a node.
    let wffc = class("berth", LOCAL_PATH_PROVISIONER, "WaitForFirstConsumer");
    let plan = sync_claim(&pvc("c", "1Gi", RWO, Some("berth")), &[], std::slice::from_ref(&wffc), &[]);
    assert!(!kinds(&plan).contains(&"ProvisionLocalPath"), "{plan:?}");
    let selected = patch_pvc(&pvc("c", "1Gi", RWO, Some("berth")), json!({"metadata": {"annotations": {ANN_SELECTED_NODE: "sim-1"}}}));
    assert!(kinds(&sync_claim(&selected, &[], &[wffc], &[])).contains(&"ProvisionLocalPath"));
}

#[test]
fn pending_claims_clear_status_and_repeat_their_event() {
    // Status already Pending and clean: only the event (each resync re-emits it).
    let claim = pvc("c", "1Gi", RWO, None);
    assert_eq!(kinds(&sync_claim(&claim, &[], &[], &[])), ["RecordEvent"]);
    // A fresh claim (no status) gets phase Pending; stale accessModes are cleared.
    let fresh = patch_pvc(&claim, json!({"status": {"phase": null, "accessModes": ["ReadWriteOnce"]}}));
    let plan = sync_claim(&fresh, &[], &[], &[]);
    assert_eq!(kinds(&plan), ["RecordEvent", "UpdateClaimStatus"]);
    let Action::UpdateClaimStatus(c) = &plan[1] else { unreachable!() };
    assert_eq!(c.status.as_ref().unwrap().phase.as_deref(), Some("Pending"));
    assert!(c.status.as_ref().unwrap().access_modes.is_none());
}

#[test]
fn default_class_is_assigned_only_to_claims_without_one() {
    let mut default = class("standard", "example.com/x", "Immediate");
    default.metadata.annotations = Some([(ANN_IS_DEFAULT_CLASS.to_string(), "true".to_string())].into());
    let plan = sync_claim(&pvc("c", "1Gi", RWO, None), &[], std::slice::from_ref(&default), &[]);
    let [Action::UpdateClaim(c)] = plan.as_slice() else { panic!("{plan:#?}") };
    assert_eq!(c.spec.as_ref().unwrap().storage_class_name.as_deref(), Some("standard"));
    // "" is a choice: no default, and the claim waits for a class-less volume.
    let plan = sync_claim(&pvc("c", "1Gi", RWO, Some("")), &[], &[default], &[]);
    assert_eq!(events(&plan)[0].1, "FailedBinding");
}

#[test]
fn delayed_binding_completes_binds_the_scheduler_started() {
    let wffc = class("local", "kubernetes.io/no-provisioner", "WaitForFirstConsumer");
    let chosen = patch_pv(
        &pv("pv-1", "1Gi", RWO, Some("local")),
        json!({"metadata": {"annotations": {ANN_BOUND_BY_CONTROLLER: "yes"}},
               "spec": {"claimRef": {"namespace": "default", "name": "c", "uid": "uid-c"}}}),
    );
    let plan = sync_claim(&pvc("c", "1Gi", RWO, Some("local")), &[chosen], &[wffc], &[]);
    assert_eq!(kinds(&plan), ["UpdateVolumeStatus", "UpdateClaim", "UpdateClaimStatus"]);
    // A class without a binding mode is an error (retried).
    let broken: StorageClass = serde_json::from_value(json!({"metadata": {"name": "b"}, "provisioner": "x"})).unwrap();
    let plan = sync_claim(&pvc("c", "1Gi", RWO, Some("b")), &[], &[broken], &[]);
    assert_eq!(plan, vec![Action::Fail { message: "VolumeBindingMode not set for StorageClass \"b\"".into() }]);
}

#[test]
fn bound_claims_lost_and_misbound() {
    let bound = patch_pvc(
        &pvc("c", "1Gi", RWO, Some("nfs")),
        json!({"metadata": {"annotations": {ANN_BIND_COMPLETED: "yes"}}, "spec": {"volumeName": "pv-1"}, "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}}),
    );
    let elsewhere = patch_pv(
        &pv("pv-1", "1Gi", RWO, Some("nfs")),
        json!({"spec": {"claimRef": {"namespace": "default", "name": "c", "uid": "uid-old"}}, "status": {"phase": "Bound"}}),
    );
    use EventType::Warning;
    let cases: Vec<(&str, PersistentVolumeClaim, Vec<PersistentVolume>, Vec<(EventType, &str, &str)>)> = vec![
        (
            "volumeName cleared",
            patch_pvc(&bound, json!({"spec": {"volumeName": null}})),
            vec![],
            vec![(Warning, "ClaimLost", "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!")],
        ),
        ("volume gone", bound.clone(), vec![], vec![(Warning, "ClaimLost", "Bound claim has lost its PersistentVolume. Data on the volume is lost!")]),
        (
            "volume bound to another claim uid",
            bound.clone(),
            vec![elsewhere],
            vec![(Warning, "ClaimMisbound", "Two claims are bound to the same volume, this one is bound incorrectly")],
        ),
        ("already Lost: quiet", patch_pvc(&bound, json!({"status": {"phase": "Lost"}})), vec![], vec![]),
    ];
    for (name, claim, volumes, want) in cases {
        let plan = sync_claim(&claim, &volumes, &[], &[]);
        let want: Vec<_> = want.iter().map(|(t, r, m)| (*t, r.to_string(), m.to_string())).collect();
        assert_eq!(events(&plan), want, "{name}");
        if !want.is_empty() {
            assert_eq!(kinds(&plan), ["UpdateClaimStatus", "RecordEvent"], "{name}");
            let Action::UpdateClaimStatus(c) = &plan[0] else { unreachable!() };
            let s = c.status.as_ref().unwrap();
            assert_eq!((s.phase.as_deref(), s.access_modes.is_none(), s.capacity.is_none()), (Some("Lost"), true, true), "{name}");
        }
    }
    // Volume came unbound: bind it again.
    let plan = sync_claim(&bound, &[pv("pv-1", "1Gi", RWO, Some("nfs"))], &[], &[]);
    assert_eq!(kinds(&plan), ["UpdateVolume", "UpdateVolumeStatus"]);
}

fn released(policy: &str, source: Value) -> PersistentVolume {
    let mut spec = json!({"persistentVolumeReclaimPolicy": policy,
        "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "default", "name": "c", "uid": "uid-c"}, "nfs": null});
    merge(&mut spec, source);
    patch_pv(
        &pv("pv-1", "1Gi", RWO, Some("nfs")),
        json!({"metadata": {"annotations": {ANN_BOUND_BY_CONTROLLER: "yes"}}, "spec": spec, "status": {"phase": "Bound"}}),
    )
}

fn phases(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::UpdateVolumeStatus(v) => v.status.as_ref().and_then(|s| s.phase.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn volume_phases_and_reclaim_policies() {
    let nfs = json!({"nfs": {"server": "172.16.20.1", "path": "/data/k8s/pv-1"}});
    let host = |p: &str| json!({"hostPath": {"path": p}});
    use EventType::*;
    struct Case {
        name: &'static str,
        volume: PersistentVolume,
        want_kinds: Vec<&'static str>,
        want_phases: Vec<&'static str>,
        want_events: Vec<(EventType, &'static str, &'static str)>,
    }
    let cases = vec![
        Case { name: "Retain keeps Released", volume: released("Retain", nfs.clone()), want_kinds: vec!["UpdateVolumeStatus"], want_phases: vec!["Released"], want_events: vec![] },
        Case {
            name: "Recycle nfs: no recycler",
            volume: released("Recycle", nfs.clone()),
            want_kinds: vec!["UpdateVolumeStatus", "UpdateVolumeStatus", "RecordEvent"],
            want_phases: vec!["Released", "Failed"],
            want_events: vec![(Warning, "VolumeFailedRecycle", "No recycler plugin found for the volume!")],
        },
        Case {
            name: "Recycle hostPath under /tmp",
            volume: released("Recycle", host("/tmp/pv-1")),
            want_kinds: vec!["UpdateVolumeStatus", "RecycleHostPath"],
            want_phases: vec!["Released"],
            want_events: vec![],
        },
        Case {
            name: "Recycle hostPath outside /tmp",
            volume: released("Recycle", host("/data/pv-1")),
            want_kinds: vec!["UpdateVolumeStatus", "UpdateVolumeStatus", "RecordEvent"],
            want_phases: vec!["Released", "Failed"],
            want_events: vec![(Warning, "VolumeFailedRecycle", "Recycle failed: host_path recycler only supports /tmp/.+ but received provided /data/pv-1")],
        },
        Case {
            name: "Delete hostPath under /tmp",
            volume: released("Delete", host("/tmp/pv-1")),
            want_kinds: vec!["UpdateVolumeStatus", "DeleteHostPath"],
            want_phases: vec!["Released"],
            want_events: vec![],
        },
        Case {
            name: "Delete hostPath outside /tmp",
            volume: released("Delete", host("/data/x")),
            want_kinds: vec!["UpdateVolumeStatus", "UpdateVolumeStatus", "RecordEvent"],
            want_phases: vec!["Released", "Failed"],
            want_events: vec![(Warning, "VolumeFailedDelete", "host_path deleter only supports /tmp/.+ but received provided /data/x")],
        },
        Case {
            name: "Delete nfs: no deleter",
            volume: released("Delete", nfs.clone()),
            want_kinds: vec!["UpdateVolumeStatus", "UpdateVolumeStatus", "RecordEvent"],
            want_phases: vec!["Released", "Failed"],
            want_events: vec![(Warning, "VolumeFailedDelete", "error getting deleter volume plugin for volume \"pv-1\": no deletable volume plugin matched")],
        },
        Case {
            name: "Delete of an externally provisioned volume: left to its provisioner",
            volume: patch_pv(&released("Delete", nfs.clone()), json!({"metadata": {"annotations": {ANN_DYNAMICALLY_PROVISIONED: "example.com/nfs"}}})),
            want_kinds: vec!["UpdateVolumeStatus"],
            want_phases: vec!["Released"],
            want_events: vec![],
        },
        Case {
            name: "Delete of a local-path volume: its directory, by berth's provisioner",
            volume: patch_pv(&released("Delete", host("/d/storage/sim-1/pvc-1_default_c")), json!({"metadata": {"annotations": {ANN_DYNAMICALLY_PROVISIONED: LOCAL_PATH_PROVISIONER}}})),
            want_kinds: vec!["UpdateVolumeStatus", "DeleteLocalPath"],
            want_phases: vec!["Released"],
            want_events: vec![],
        },
        Case {
            name: "Delete of a local-path volume without a path",
            volume: patch_pv(&released("Delete", nfs.clone()), json!({"metadata": {"annotations": {ANN_DYNAMICALLY_PROVISIONED: LOCAL_PATH_PROVISIONER}}})),
            want_kinds: vec!["UpdateVolumeStatus", "UpdateVolumeStatus", "RecordEvent"],
            want_phases: vec!["Released", "Failed"],
            want_events: vec![(Warning, "VolumeFailedDelete", "local-path volume without a hostPath")],
        },
        Case {
            name: "unknown policy",
            volume: released("Shred", nfs.clone()),
            want_kinds: vec!["UpdateVolumeStatus", "UpdateVolumeStatus", "RecordEvent"],
            want_phases: vec!["Released", "Failed"],
            want_events: vec![(Warning, "VolumeUnknownReclaimPolicy", "Volume has unrecognized PersistentVolumeReclaimPolicy")],
        },
        Case {
            name: "already Failed: retried quietly",
            volume: patch_pv(&released("Recycle", nfs.clone()), json!({"status": {"phase": "Failed"}})),
            want_kinds: vec![],
            want_phases: vec![],
            want_events: vec![],
        },
    ];
    for case in cases {
        let plan = sync_volume(&case.volume, None, &[]);
        assert_eq!(kinds(&plan), case.want_kinds, "{}", case.name);
        assert_eq!(phases(&plan), case.want_phases, "{}", case.name);
        let want: Vec<_> = case.want_events.iter().map(|(t, r, m)| (*t, r.to_string(), m.to_string())).collect();
        assert_eq!(events(&plan), want, "{}", case.name);
    }
    // Failed carries the message (shown as `Message:` by describe).
    let plan = sync_volume(&released("Delete", host("/data/x")), None, &[]);
    let Action::UpdateVolumeStatus(v) = &plan[1] else { unreachable!() };
    assert_eq!(v.status.as_ref().unwrap().message.as_deref(), Some("host_path deleter only supports /tmp/.+ but received provided /data/x"));
}

#[test]
fn recycle_outcomes() {
    let v = patch_pv(&released("Recycle", json!({"hostPath": {"path": "/tmp/pv-1"}})), json!({"status": {"phase": "Released"}}));
    let plan = recycle_succeeded(&v);
    assert_eq!(kinds(&plan), ["RecordEvent", "UpdateVolume", "UpdateVolumeStatus"]);
    assert_eq!(events(&plan), vec![(EventType::Normal, "VolumeRecycled".to_string(), "Volume recycled".to_string())]);
    let Action::UpdateVolume(u) = &plan[1] else { unreachable!() };
    assert!(u.spec.as_ref().unwrap().claim_ref.is_none());
    assert!(u.metadata.annotations.is_none(), "bound-by-controller removed");
    assert_eq!(phases(&plan), ["Available"]);

    let plan = recycle_failed(&v, "hostPath /tmp/pv-1 does not exist on this node");
    assert_eq!(events(&plan)[0].2, "Recycle failed: hostPath /tmp/pv-1 does not exist on this node");
    assert_eq!(phases(&plan), ["Failed"]);

    // In use by a running pod (and no new claim of that name): wait, Normal event.
    let plan = sync_volume(&v, None, &[pod("web-0", "c", Some("n1"))]);
    assert_eq!(events(&plan), vec![(EventType::Normal, "VolumeFailedRecycle".to_string(), "Volume is used by pods: default/web-0".to_string())]);

    assert_eq!(
        delete_succeeded(&v),
        vec![Action::DeleteVolume { name: "pv-1".into(), uid: "uid-pv-1".into() }]
    );
}

#[test]
fn volume_sync_with_a_live_claim() {
    let base = released("Retain", json!({"nfs": {"server": "s", "path": "/p"}}));
    let claim = pvc("c", "1Gi", RWO, Some("nfs"));
    // Claim recreated under the same name: the old binding is released.
    let recreated = patch_pvc(&claim, json!({"metadata": {"uid": "uid-new"}}));
    assert_eq!(phases(&sync_volume(&base, Some(&recreated), &[])), ["Released"]);
    // Claim not bound yet: hand over to the claim sync.
    assert_eq!(sync_volume(&base, Some(&claim), &[]), vec![Action::EnqueueClaim { namespace: "default".into(), name: "c".into() }]);
    // Claim bound to this volume: phase Bound (already) → nothing; Available → Bound.
    let bound = patch_pvc(&claim, json!({"spec": {"volumeName": "pv-1"}}));
    assert_eq!(sync_volume(&base, Some(&bound), &[]), vec![]);
    let avail = patch_pv(&base, json!({"status": {"phase": "Available"}}));
    assert_eq!(phases(&sync_volume(&avail, Some(&bound), &[])), ["Bound"]);
    // Claim bound elsewhere: our binding is undone; a user's pre-binding loses only its uid.
    let elsewhere = patch_pvc(&claim, json!({"spec": {"volumeName": "pv-9"}}));
    let plan = sync_volume(&base, Some(&elsewhere), &[]);
    assert_eq!(kinds(&plan), ["UpdateVolume", "UpdateVolumeStatus"]);
    let Action::UpdateVolume(u) = &plan[0] else { unreachable!() };
    assert!(u.spec.as_ref().unwrap().claim_ref.is_none());
    let user = patch_pv(&base, json!({"metadata": {"annotations": null}}));
    let Action::UpdateVolume(u) = &sync_volume(&user, Some(&elsewhere), &[])[0] else { unreachable!() };
    let r = u.spec.as_ref().unwrap().claim_ref.as_ref().unwrap();
    assert_eq!((r.name.as_deref(), r.uid.as_deref()), (Some("c"), None));
    // volumeMode mismatch: events on both, nothing else.
    let block = patch_pvc(&claim, json!({"spec": {"volumeMode": "Block"}}));
    let plan = sync_volume(&base, Some(&block), &[]);
    assert_eq!(
        events(&plan).into_iter().map(|e| e.2).collect::<Vec<_>>(),
        [
            "Cannot bind PersistentVolume to requested PersistentVolumeClaim \"c\" due to incompatible volumeMode.",
            "Cannot bind PersistentVolume \"pv-1\" to requested PersistentVolumeClaim due to incompatible volumeMode."
        ]
    );
    // No claimRef: Available.
    let free = patch_pv(&pv("pv-2", "1Gi", RWO, None), json!({"status": {"phase": null}}));
    assert_eq!(phases(&sync_volume(&free, None, &[])), ["Available"]);
}

#[test]
fn bound_local_path_claims_grow_their_volume_and_status() {
    let volume = patch_pv(
        &pv("pvc-uid-c", "1Gi", RWO, Some("local-path")),
        json!({"metadata": {"annotations": {ANN_DYNAMICALLY_PROVISIONED: LOCAL_PATH_PROVISIONER, ANN_BOUND_BY_CONTROLLER: "yes"}},
               "spec": {"claimRef": {"kind": "PersistentVolumeClaim", "namespace": "default", "name": "c", "uid": "uid-c"}},
               "status": {"phase": "Bound"}}),
    );
    let bound = patch_pvc(
        &pvc("c", "1Gi", RWO, Some("local-path")),
        json!({"metadata": {"annotations": {ANN_BIND_COMPLETED: "yes", ANN_BOUND_BY_CONTROLLER: "yes"}},
               "spec": {"volumeName": "pvc-uid-c"},
               "status": {"phase": "Bound", "accessModes": RWO, "capacity": {"storage": "1Gi"}}}),
    );
    assert_eq!(kinds(&sync_claim(&bound, std::slice::from_ref(&volume), &[], &[])), Vec::<&str>::new(), "nothing to do");
    let grown = patch_pvc(&bound, json!({"spec": {"resources": {"requests": {"storage": "2Gi"}}}}));
    let plan = sync_claim(&grown, std::slice::from_ref(&volume), &[], &[]);
    assert_eq!(kinds(&plan), ["RecordEvent", "UpdateVolume", "UpdateClaimStatus", "RecordEvent"]);
    let Action::UpdateVolume(v) = &plan[1] else { unreachable!() };
    assert_eq!(v.spec.as_ref().unwrap().capacity.as_ref().unwrap()["storage"].0, "2Gi");
    let Action::UpdateClaimStatus(c) = &plan[2] else { unreachable!() };
    let st = c.status.as_ref().unwrap();
    assert_eq!(st.capacity.as_ref().unwrap()["storage"].0, "2Gi");
    assert_eq!(st.allocated_resources.as_ref().unwrap()["storage"].0, "2Gi");
    assert_eq!(
        events(&plan),
        [
            (EventType::Normal, "Resizing".to_string(), "External resizer is resizing volume pvc-uid-c".to_string()),
            (EventType::Normal, "VolumeResizeSuccessful".to_string(), "Resize volume succeeded".to_string()),
        ]
    );
    // The volume already grew (a retry): only the claim's status.
    let plan = sync_claim(&grown, std::slice::from_ref(v), &[], &[]);
    assert_eq!(kinds(&plan), ["UpdateClaimStatus", "RecordEvent"]);
    // Not ours to resize: a static volume.
    let mut static_volume = volume.clone();
    static_volume.metadata.annotations.as_mut().unwrap().remove(ANN_DYNAMICALLY_PROVISIONED);
    assert!(sync_claim(&grown, &[static_volume], &[], &[]).is_empty());
}
