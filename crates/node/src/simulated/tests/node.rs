use super::harness::*;
use crate::simulated::time::k8s_time;
use crate::simulated::{lease, lease_owner_reference, node_object, node_status_heartbeat};

#[test]
fn node_object_looks_like_a_kubelet_registration() {
    let cfg = config();
    let node = node_object(&cfg, t0());
    let labels = node.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["kubernetes.io/hostname"], "sim-1");
    assert_eq!(labels["kubernetes.io/os"], "linux");
    assert_eq!(labels["kubernetes.io/arch"], cfg.architecture);
    assert_eq!(labels["node.kubernetes.io/instance-type"], "berth-simulated");
    assert_eq!(labels["node.berth.dev/simulated"], "true");
    assert_eq!(node.spec.as_ref().unwrap().pod_cidr.as_deref(), Some("10.244.1.0/24"));

    let st = node.status.as_ref().unwrap();
    let addrs: Vec<(&str, &str)> = st.addresses.iter().flatten().map(|a| (a.type_.as_str(), a.address.as_str())).collect();
    assert_eq!(addrs, [("InternalIP", "10.0.0.11"), ("Hostname", "sim-1")]);
    let cap = st.capacity.as_ref().unwrap();
    assert_eq!((cap["cpu"].0.as_str(), cap["memory"].0.as_str(), cap["pods"].0.as_str()), ("8", "32Gi", "110"));
    assert_eq!(cap["ephemeral-storage"].0, "100Gi");
    assert_eq!(st.allocatable, st.capacity);
    let info = st.node_info.as_ref().unwrap();
    assert_eq!(info.kubelet_version, "v1.33.0-berth");
    assert_eq!(info.operating_system, "linux");
    assert!(info.container_runtime_version.starts_with("berth-sim://"));
    assert_eq!(info.machine_id.len(), 32);
    assert_eq!(st.daemon_endpoints.as_ref().unwrap().kubelet_endpoint.as_ref().unwrap().port, 10250);

    let conds: Vec<(&str, &str, &str, &str)> = st
        .conditions
        .iter()
        .flatten()
        .map(|c| (c.type_.as_str(), c.status.as_str(), c.reason.as_deref().unwrap(), c.message.as_deref().unwrap()))
        .collect();
    assert_eq!(
        conds,
        [
            ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ]
    );
    assert!(st.conditions.iter().flatten().all(|c| c.last_heartbeat_time == Some(k8s_time(t0()))
        && c.last_transition_time == Some(k8s_time(t0()))));
    // Deterministic: the same config gives the same object.
    assert_eq!(node, node_object(&cfg, t0()));
}

#[test]
fn heartbeat_refreshes_heartbeat_time_and_keeps_transitions() {
    let mut node = node_object(&config(), t0());
    let later = t0() + chrono::Duration::seconds(60);
    let st = node_status_heartbeat(&node, later);
    for c in st.conditions.iter().flatten() {
        assert_eq!(c.last_heartbeat_time, Some(k8s_time(later)));
        assert_eq!(c.last_transition_time, Some(k8s_time(t0())));
    }

    // The node lifecycle controller marked the node Unknown while it was away; it comes back.
    for c in node.status.as_mut().unwrap().conditions.as_mut().unwrap() {
        c.status = "Unknown".into();
        c.reason = Some("NodeStatusUnknown".into());
        c.message = Some("Kubelet stopped posting node status.".into());
    }
    node.status.as_mut().unwrap().conditions.as_mut().unwrap().push(k8s_openapi::api::core::v1::NodeCondition {
        type_: "NetworkUnavailable".into(),
        status: "False".into(),
        ..Default::default()
    });
    let st = node_status_heartbeat(&node, later);
    let ready = st.conditions.iter().flatten().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("True", Some("KubeletReady")));
    assert_eq!(ready.last_transition_time, Some(k8s_time(later)));
    assert!(st.conditions.iter().flatten().any(|c| c.type_ == "NetworkUnavailable"));
    assert_eq!(st.node_info, node.status.as_ref().unwrap().node_info);
}

#[test]
fn lease_is_a_kube_node_lease_renewed_with_micro_time() {
    let now = t0() + chrono::Duration::microseconds(123_456);
    let l = lease("sim-1", "sim-1", now);
    assert_eq!(l.metadata.namespace.as_deref(), Some("kube-node-lease"));
    assert_eq!(l.metadata.name.as_deref(), Some("sim-1"));
    let json = serde_json::to_value(&l).unwrap();
    assert_eq!(json["spec"]["holderIdentity"], "sim-1");
    assert_eq!(json["spec"]["leaseDurationSeconds"], 40);
    assert_eq!(json["spec"]["renewTime"], "2025-03-01T12:00:00.123456Z");

    let mut node = node_object(&config(), t0());
    assert_eq!(lease_owner_reference(&node), None);
    node.metadata.uid = Some("node-uid".into());
    let owner = lease_owner_reference(&node).unwrap();
    assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()), ("Node", "sim-1", "node-uid"));
}
