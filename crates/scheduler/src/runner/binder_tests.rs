use kube::runtime::{reflector, watcher};
use serde_json::{json, Value};

use super::*;
use crate::runner::cache::claim_reference;

fn store<K>(objects: Vec<Value>) -> Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + 'static,
{
    let (reader, mut writer) = reflector::store::<K>();
    writer.apply_watcher_event(&watcher::Event::Init);
    for o in objects {
        writer.apply_watcher_event(&watcher::Event::InitApply(serde_json::from_value(o).unwrap()));
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);
    reader
}

fn claim(rv: &str, annotations: Value, volume: Option<&str>) -> Value {
    json!({
        "metadata": {"name": "data", "namespace": "default", "uid": "claim-uid", "resourceVersion": rv, "annotations": annotations},
        "spec": {"volumeName": volume},
    })
}

fn pv(rv: &str, claim_ref: Option<Value>) -> Value {
    json!({"metadata": {"name": "pv-1", "resourceVersion": rv}, "spec": {"claimRef": claim_ref}})
}

fn job(bind: bool, provision: bool) -> BindJob {
    let pvc: PersistentVolumeClaim = serde_json::from_value(claim("5", json!({}), None)).unwrap();
    BindJob {
        key: PodKey::new("default", "web-0"),
        pod: Arc::new(serde_json::from_value(json!({"metadata": {"name": "web-0", "namespace": "default"}})).unwrap()),
        node: "n1".into(),
        volumes: AssumedVolumes {
            claim_refs: if bind { vec![("pv-1".into(), claim_reference(&pvc))] } else { vec![] },
            provisions: if provision { vec![PodKey::new("default", "data")] } else { vec![] },
        },
    }
}

fn claim_ref() -> Value {
    json!({"kind": "PersistentVolumeClaim", "namespace": "default", "name": "data", "uid": "claim-uid"})
}

#[test]
fn static_binding_waits_for_the_pv_controller_to_complete_it() {
    let written = Written { pvs: [("pv-1".to_string(), "10".to_string())].into(), ..Default::default() };
    // The PV watch has not caught up with our write yet.
    let pvcs = store(vec![claim("5", json!({}), None)]);
    assert_eq!(check_bindings(&job(true, false), &written, &pvcs, &store(vec![pv("9", None)])), Ok(false));
    // Caught up, the claim is not bound yet.
    let pvs = store(vec![pv("10", Some(claim_ref()))]);
    assert_eq!(check_bindings(&job(true, false), &written, &pvcs, &pvs), Ok(false));
    // The PV controller bound the claim.
    let pvcs = store(vec![claim("12", json!({ANN_BIND_COMPLETED: "yes"}), Some("pv-1"))]);
    assert_eq!(check_bindings(&job(true, false), &written, &pvcs, &pvs), Ok(true));
}

#[test]
fn a_reset_claim_ref_fails_the_binding() {
    let pvcs = store(vec![claim("5", json!({}), None)]);
    let pvs = store(vec![pv("11", None)]);
    let err = check_bindings(&job(true, false), &Written::default(), &pvcs, &pvs).unwrap_err();
    assert_eq!(err, "ClaimRef got reset for pv \"pv-1\"");
}

#[test]
fn provisioning_waits_for_the_claim_and_fails_if_the_provisioner_gives_up() {
    let pvs = store::<PersistentVolume>(vec![]);
    let j = job(false, true);
    let pvcs = store(vec![claim("6", json!({ANN_SELECTED_NODE: "n1"}), None)]);
    assert_eq!(check_bindings(&j, &Written::default(), &pvcs, &pvs), Ok(false));
    let pvcs = store(vec![claim("8", json!({ANN_SELECTED_NODE: "n1", ANN_BIND_COMPLETED: "yes"}), Some("pvc-123"))]);
    assert_eq!(check_bindings(&j, &Written::default(), &pvcs, &pvs), Ok(true));
    let pvcs = store(vec![claim("9", json!({}), None)]);
    assert_eq!(
        check_bindings(&j, &Written::default(), &pvcs, &pvs).unwrap_err(),
        "selectedNode annotation reset for PVC \"data\""
    );
    let pvcs = store(vec![claim("9", json!({ANN_SELECTED_NODE: "n2"}), None)]);
    assert_eq!(check_bindings(&j, &Written::default(), &pvcs, &pvs).unwrap_err(), "provisioning failed for PVC \"data\"");
}

#[test]
fn a_vanished_claim_fails_the_binding() {
    let err = check_bindings(&job(false, true), &Written::default(), &store(vec![]), &store(vec![])).unwrap_err();
    assert!(err.contains("persistentvolumeclaim \"data\" not found"), "{err}");
}
