use super::harness::*;
use crate::simulated::admission::NODE_PORTS_MESSAGE;
use crate::simulated::time::k8s_time;
use crate::simulated::Step;

fn running_pod_with_port(name: &str, port: i32) -> k8s_openapi::api::core::v1::Pod {
    let mut sim = Sim::new(with_host_port(bound_pod(name, &["nginx"]), port));
    sim.settle();
    assert_eq!(sim.phase(), "Running");
    sim.pod
}

#[test]
fn host_port_conflict_rejects_the_pod() {
    let mut sim = Sim::new(with_host_port(bound_pod("web-1", &["nginx"]), 8080));
    sim.others.push(running_pod_with_port("web-0", 8080));
    assert!(matches!(sim.step(), Step::UpdateStatus(_)));
    let st = sim.status().clone();
    assert_eq!(st.phase.as_deref(), Some("Failed"));
    assert_eq!(st.reason.as_deref(), Some("NodePorts"));
    assert_eq!(st.message.as_deref(), Some(NODE_PORTS_MESSAGE));
    assert_eq!(
        NODE_PORTS_MESSAGE,
        "Pod was rejected: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"
    );
    assert_eq!(st.start_time, Some(k8s_time(t0())));
    assert_eq!(st.pod_ip, None);
    assert_eq!(st.container_statuses, None);
    assert_eq!(st.conditions, None, "a rejection replaces the kubelet-owned conditions");
    assert_eq!(sim.kubectl(), ("0/1".into(), "NodePorts".into()));
    assert_eq!(sim.step(), Step::Nothing);
}

#[test]
fn different_ports_protocols_and_finished_pods_do_not_conflict() {
    let mut sim = Sim::new(with_host_port(bound_pod("web-1", &["nginx"]), 8080));
    sim.others.push(running_pod_with_port("a", 9090));
    let mut udp = running_pod_with_port("b", 8080);
    udp.spec.as_mut().unwrap().containers[0].ports.as_mut().unwrap()[0].protocol = Some("UDP".into());
    sim.others.push(udp);
    let mut done = running_pod_with_port("c", 8080);
    done.status.as_mut().unwrap().phase = Some("Succeeded".into());
    sim.others.push(done);
    sim.settle();
    assert_eq!(sim.phase(), "Running");
}

#[test]
fn of_two_new_conflicting_pods_the_older_is_admitted() {
    let mut older = with_host_port(bound_pod("web-0", &["nginx"]), 8080);
    older.metadata.creation_timestamp = Some(k8s_time(t0() - chrono::Duration::seconds(5)));
    let newer = with_host_port(bound_pod("web-1", &["nginx"]), 8080);

    let mut sim = Sim::new(newer.clone());
    sim.others.push(older.clone());
    sim.step();
    assert_eq!(sim.status().reason.as_deref(), Some("NodePorts"));

    let mut sim = Sim::new(older);
    sim.others.push(newer);
    sim.settle();
    assert_eq!(sim.phase(), "Running");
}
