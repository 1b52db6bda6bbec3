//! The Endpoints decision on hand-made services and pods.

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use serde_json::{json, Value};

use super::*;

pub(crate) fn svc(name: &str, spec: Value) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "creationTimestamp": "2026-01-01T00:00:00Z",
                     "labels": {"app": "kubia"}},
        "spec": spec
    }))
    .unwrap()
}

/// A pod of `app: kubia` with `ip`, Ready per `ready`, container port `http: 8080`.
pub(crate) fn pod(name: &str, ip: &str, ready: bool) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "labels": {"app": "kubia"}},
        "spec": {"hostname": name, "subdomain": "kubia", "nodeName": "sim-1",
                 "containers": [{"name": "c", "image": "x", "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}]},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                   "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"},
                                   "lastTransitionTime": "2026-01-01T00:01:00Z"}]}
    }))
    .unwrap()
}

pub(crate) fn with(p: &Pod, patch: Value) -> Pod {
    let mut v = serde_json::to_value(p).unwrap();
    merge(&mut v, patch);
    serde_json::from_value(v).unwrap()
}

fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

pub(crate) fn headless() -> Service {
    svc("kubia", json!({"clusterIP": "None", "selector": {"app": "kubia"},
                       "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}))
}

fn created(a: Option<Action>) -> Endpoints {
    match a {
        Some(Action::Create(e)) => e,
        other => panic!("expected a create, got {other:?}"),
    }
}

fn ips(v: &Option<Vec<k8s_openapi::api::core::v1::EndpointAddress>>) -> Vec<String> {
    v.iter().flatten().map(|a| a.ip.clone()).collect()
}

#[test]
fn ready_and_not_ready_addresses_with_resolved_named_port() {
    let pods = [pod("kubia-1", "10.244.1.3", false), pod("kubia-0", "10.244.1.2", true), pod("kubia-2", "10.244.2.2", true)];
    let ep = created(reconcile(Some(&headless()), &pods, None));
    assert_eq!(ep.metadata.name.as_deref(), Some("kubia"));
    let labels = ep.metadata.labels.clone().unwrap();
    assert_eq!(labels.get("service.kubernetes.io/headless").map(String::as_str), Some(""));
    assert_eq!(labels.get("app").map(String::as_str), Some("kubia"));
    let subsets = ep.subsets.clone().unwrap();
    assert_eq!(subsets.len(), 1);
    assert_eq!(ips(&subsets[0].addresses), ["10.244.1.2", "10.244.2.2"]);
    assert_eq!(ips(&subsets[0].not_ready_addresses), ["10.244.1.3"]);
    let port = &subsets[0].ports.as_ref().unwrap()[0];
    assert_eq!((port.name.as_deref(), port.port, port.protocol.as_deref()), (Some("http"), 8080, Some("TCP")));
    let a = &subsets[0].addresses.as_ref().unwrap()[0];
    assert_eq!(a.hostname.as_deref(), Some("kubia-0"));
    assert_eq!(a.node_name.as_deref(), Some("sim-1"));
    let r = a.target_ref.as_ref().unwrap();
    assert_eq!((r.kind.as_deref(), r.name.as_deref(), r.uid.as_deref()), (Some("Pod"), Some("kubia-0"), Some("uid-kubia-0")));
    assert_eq!(
        ep.metadata.annotations.unwrap().get(podutil::ANNOTATION_TRIGGER_TIME).map(String::as_str),
        Some("2026-01-01T00:01:00Z")
    );
}

#[test]
fn hostname_only_for_the_pods_subdomain_service() {
    let other = svc("other", json!({"clusterIP": "None", "selector": {"app": "kubia"}, "ports": [{"port": 80}]}));
    let ep = created(reconcile(Some(&other), &[pod("kubia-0", "10.244.1.2", true)], None));
    let a = &ep.subsets.unwrap()[0].addresses.clone().unwrap()[0];
    assert_eq!(a.hostname, None);
}

#[test]
fn terminating_terminal_and_ipless_pods_are_left_out_unless_publishing_not_ready() {
    let gone = with(&pod("kubia-0", "10.244.1.2", true), json!({"metadata": {"deletionTimestamp": "2026-01-01T00:02:00Z"}}));
    let done = with(&pod("kubia-1", "10.244.1.3", true), json!({"status": {"phase": "Succeeded"}}));
    let no_ip = with(&pod("kubia-2", "", false), json!({"status": {"podIPs": []}}));
    let pods = [gone.clone(), done, no_ip];
    let ep = created(reconcile(Some(&headless()), &pods, None));
    assert_eq!(ep.subsets, None);

    let mut publish = headless();
    publish.spec.as_mut().unwrap().publish_not_ready_addresses = Some(true);
    let unready = pod("kubia-3", "10.244.1.9", false);
    let ep = created(reconcile(Some(&publish), &[gone, unready], None));
    assert_eq!(ips(&ep.subsets.unwrap()[0].addresses), ["10.244.1.2", "10.244.1.9"]);
}

#[test]
fn unresolvable_named_port_and_headless_without_ports() {
    let named = svc("kubia", json!({"clusterIP": "10.96.0.5", "selector": {"app": "kubia"},
                                   "ports": [{"name": "web", "port": 80, "targetPort": "nope"}]}));
    let ep = created(reconcile(Some(&named), &[pod("kubia-0", "10.244.1.2", true)], None));
    assert_eq!(ep.subsets, None);
    assert!(!ep.metadata.labels.unwrap().contains_key("service.kubernetes.io/headless"));

    let bare = svc("kubia", json!({"clusterIP": "None", "selector": {"app": "kubia"}}));
    let ep = created(reconcile(Some(&bare), &[pod("kubia-0", "10.244.1.2", true)], None));
    let s = &ep.subsets.unwrap()[0];
    assert_eq!((ips(&s.addresses), s.ports.clone()), (vec!["10.244.1.2".to_string()], None));
}

#[test]
fn no_write_when_nothing_changed_and_update_keeps_resource_version() {
    let pods = [pod("kubia-0", "10.244.1.2", true)];
    let mut ep = created(reconcile(Some(&headless()), &pods, None));
    ep.metadata.resource_version = Some("42".into());
    assert_eq!(reconcile(Some(&headless()), &pods, Some(&ep)), None);
    let unready = [pod("kubia-0", "10.244.1.2", false)];
    match reconcile(Some(&headless()), &unready, Some(&ep)) {
        Some(Action::Update(u)) => {
            assert_eq!(u.metadata.resource_version.as_deref(), Some("42"));
            assert_eq!(ips(&u.subsets.unwrap()[0].not_ready_addresses), ["10.244.1.2"]);
        }
        other => panic!("expected an update, got {other:?}"),
    }
}

#[test]
fn selectorless_services_are_left_alone_and_deleted_services_lose_their_endpoints() {
    let manual = svc("manual", json!({"ports": [{"port": 80}]}));
    assert_eq!(reconcile(Some(&manual), &[pod("kubia-0", "10.244.1.2", true)], None), None);
    let ep = created(reconcile(Some(&headless()), &[], None));
    assert_eq!(
        reconcile(None, &[], Some(&ep)),
        Some(Action::Delete { namespace: "default".into(), name: "kubia".into() })
    );
    assert_eq!(reconcile(None, &[], None), None);
}

#[test]
fn over_capacity_truncates_and_annotates() {
    let pods: Vec<Pod> = (0..1005).map(|i| pod(&format!("p{i}"), &format!("10.1.{}.{}", i / 250, i % 250), true)).collect();
    let ep = created(reconcile(Some(&headless()), &pods, None));
    assert_eq!(ep.subsets.unwrap()[0].addresses.as_ref().unwrap().len(), MAX_CAPACITY);
    assert_eq!(ep.metadata.annotations.unwrap().get(ANNOTATION_OVER_CAPACITY).map(String::as_str), Some("truncated"));
}
