use std::net::Ipv4Addr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};

use super::harness::*;
use crate::simulated::annotations::{COMPLETE_AFTER, FAIL_AFTER, READY, STARTUP_DELAY};
use crate::simulated::time::k8s_time;
use crate::simulated::{next_step, Behaviour, Step};

#[test]
fn scheduled_pod_goes_pending_then_running_ready() {
    let mut sim = Sim::new(bound_pod("web-0", &["nginx"]));

    assert!(matches!(sim.step(), Step::UpdateStatus(_)));
    assert_eq!(sim.phase(), "Pending");
    assert_eq!(sim.kubectl(), ("0/1".into(), "ContainerCreating".into()));
    assert_eq!(sim.condition_types(), ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]);
    assert_eq!(sim.condition("PodReadyToStartContainers").status, "True");
    assert_eq!(sim.condition("Initialized").status, "True");
    let ready = sim.condition("Ready");
    assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("False", Some("ContainersNotReady")));
    assert_eq!(ready.message.as_deref(), Some("containers with unready status: [nginx]"));
    assert_eq!(sim.condition("ContainersReady").message.as_deref(), Some("containers with unready status: [nginx]"));
    // The scheduler's PodScheduled transition time survives the kubelet's writes.
    assert_eq!(sim.condition("PodScheduled").last_transition_time, Some(k8s_time(t0())));
    let st = sim.status().clone();
    assert_eq!(st.host_ip.as_deref(), Some("10.0.0.11"));
    assert_eq!(st.host_ips.as_ref().unwrap()[0].ip, "10.0.0.11");
    let ip: Ipv4Addr = st.pod_ip.as_deref().unwrap().parse().unwrap();
    assert!(sim.cfg.pod_cidr.contains(ip) && ip.octets()[3] >= 2 && ip.octets()[3] < 255, "{ip}");
    assert_eq!(st.pod_ips.as_ref().unwrap()[0].ip, ip.to_string());
    assert_eq!(st.start_time, Some(k8s_time(t0())));
    let c = sim.container(0);
    assert_eq!(c.state.as_ref().unwrap().waiting.as_ref().unwrap().reason.as_deref(), Some("ContainerCreating"));
    assert_eq!((c.image.as_str(), c.image_id.as_str(), c.started, c.restart_count), ("nginx:1.25", "", Some(false), 0));

    sim.advance_secs(1);
    assert!(matches!(sim.step(), Step::UpdateStatus(_)));
    assert_eq!(sim.phase(), "Running");
    assert_eq!(sim.kubectl(), ("1/1".into(), "Running".into()));
    let c = sim.container(0).clone();
    assert!(c.ready);
    assert_eq!(c.started, Some(true));
    assert_eq!(c.state.as_ref().unwrap().running.as_ref().unwrap().started_at, Some(k8s_time(sim.now)));
    assert!(c.container_id.as_deref().unwrap().starts_with("berth-sim://"));
    assert_eq!(c.image, "docker.io/library/nginx:1.25");
    assert!(c.image_id.starts_with("docker.io/library/nginx@sha256:"));
    for t in ["Ready", "ContainersReady"] {
        let cond = sim.condition(t);
        assert_eq!((cond.status.as_str(), cond.reason.as_deref(), cond.message.as_deref()), ("True", None, None));
        assert_eq!(cond.last_transition_time, Some(k8s_time(sim.now)));
    }
    // Unchanged conditions keep their transition time.
    assert_eq!(sim.condition("Initialized").last_transition_time, Some(k8s_time(t0())));

    // Idempotence: nothing more to do, now or later.
    assert_eq!(sim.step(), Step::Nothing);
    sim.advance_secs(3600);
    assert_eq!(sim.step(), Step::Nothing);
    assert_eq!(sim.writes, 2);
}

#[test]
fn startup_delay_keeps_container_creating_then_requeues() {
    let mut pod = bound_pod("web-0", &["nginx"]);
    annotate(&mut pod, STARTUP_DELAY, "5s");
    let mut sim = Sim::new(pod);
    assert!(matches!(sim.step(), Step::UpdateStatus(_)));
    assert_eq!(sim.step(), Step::RequeueAfter(Duration::from_secs(5)));
    sim.advance_secs(2);
    assert_eq!(sim.step(), Step::RequeueAfter(Duration::from_secs(3)));
    assert_eq!(sim.kubectl().1, "ContainerCreating");
    sim.advance_secs(3);
    assert!(matches!(sim.step(), Step::UpdateStatus(_)));
    assert_eq!(sim.kubectl(), ("1/1".into(), "Running".into()));
}

#[test]
fn node_default_startup_delay_applies_without_annotation() {
    let mut sim = Sim::new(bound_pod("web-0", &["nginx"]));
    sim.cfg.default_startup_delay = Duration::from_millis(1500);
    sim.step();
    assert_eq!(sim.step(), Step::RequeueAfter(Duration::from_millis(1500)));
}

#[test]
fn unready_annotation_runs_but_stays_unready() {
    let mut pod = bound_pod("web-0", &["nginx"]);
    annotate(&mut pod, READY, "false");
    let mut sim = Sim::new(pod);
    assert_eq!(sim.settle(), Step::Nothing);
    assert_eq!(sim.phase(), "Running");
    assert_eq!(sim.kubectl(), ("0/1".into(), "Running".into()));
    assert!(!sim.container(0).ready);
    let ready = sim.condition("Ready");
    assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("False", Some("ContainersNotReady")));
}

#[test]
fn readiness_flip_follows_the_annotation() {
    let mut sim = Sim::new(bound_pod("web-0", &["nginx"]));
    sim.settle();
    assert_eq!(sim.condition("Ready").status, "True");
    let became_ready = sim.condition("Ready").last_transition_time.clone();

    sim.advance_secs(10);
    annotate(&mut sim.pod, READY, "false");
    assert!(matches!(sim.step(), Step::UpdateStatus(_)));
    assert_eq!(sim.condition("Ready").status, "False");
    assert_eq!(sim.condition("Ready").last_transition_time, Some(k8s_time(sim.now)));
    assert_eq!(sim.kubectl(), ("0/1".into(), "Running".into()));
    assert_eq!(sim.step(), Step::Nothing);

    sim.advance_secs(10);
    annotate(&mut sim.pod, READY, "true");
    assert!(matches!(sim.step(), Step::UpdateStatus(_)));
    assert_eq!(sim.condition("Ready").status, "True");
    assert_ne!(sim.condition("Ready").last_transition_time, became_ready);
    assert_eq!(sim.condition("Ready").last_transition_time, Some(k8s_time(sim.now)));
    assert_eq!(sim.step(), Step::Nothing);
    // The container itself never restarted.
    assert_eq!(sim.container(0).restart_count, 0);
}

#[test]
fn readiness_probe_initial_delay_defers_ready() {
    let mut pod = bound_pod("web-0", &["nginx"]);
    pod.spec.as_mut().unwrap().containers[0].readiness_probe =
        Some(Probe { initial_delay_seconds: Some(5), ..Default::default() });
    let mut sim = Sim::new(pod);
    sim.step();
    sim.step();
    assert_eq!(sim.kubectl(), ("0/1".into(), "Running".into()));
    assert_eq!(sim.step(), Step::RequeueAfter(Duration::from_secs(5)));
    sim.advance_secs(5);
    assert!(matches!(sim.step(), Step::UpdateStatus(_)));
    assert_eq!(sim.kubectl(), ("1/1".into(), "Running".into()));
    assert_eq!(sim.condition("Ready").last_transition_time, Some(k8s_time(sim.now)));
}

fn waiting_reason(sim: &Sim) -> Option<String> {
    sim.container(0).state.as_ref()?.waiting.as_ref()?.reason.clone()
}

#[test]
fn fail_after_with_restart_policy_always_crash_loops() {
    let mut pod = bound_pod("web-0", &["app"]);
    annotate(&mut pod, FAIL_AFTER, "5s");
    let mut sim = Sim::new(pod);
    sim.settle();
    let first_start = sim.now;
    assert_eq!(sim.step(), Step::RequeueAfter(Duration::from_secs(5)));

    // First exit: Error, then an immediate restart.
    sim.advance_secs(5);
    assert!(matches!(sim.step(), Step::UpdateStatus(_)));
    assert_eq!(sim.phase(), "Running");
    assert_eq!(sim.kubectl(), ("0/1".into(), "Error".into()));
    let t = sim.container(0).state.clone().unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (1, Some("Error")));
    assert_eq!(t.started_at, Some(k8s_time(first_start)));
    assert_eq!(t.finished_at, Some(k8s_time(sim.now)));
    assert_eq!(sim.condition("Ready").status, "False");
    assert!(matches!(sim.step(), Step::UpdateStatus(_)));
    assert_eq!(sim.kubectl(), ("1/1".into(), "Running".into()));
    assert_eq!(sim.container(0).restart_count, 1);
    assert_eq!(sim.container(0).last_state.clone().unwrap().terminated.unwrap().exit_code, 1);

    // Second exit: back-off 10s.
    assert_eq!(sim.step(), Step::RequeueAfter(Duration::from_secs(5)));
    sim.advance_secs(5);
    sim.step();
    assert_eq!(sim.kubectl().1, "Error");
    assert!(matches!(sim.step(), Step::UpdateStatus(_)));
    assert_eq!(sim.kubectl(), ("0/1".into(), "CrashLoopBackOff".into()));
    assert_eq!(sim.phase(), "Running");
    let w = sim.container(0).state.clone().unwrap().waiting.unwrap();
    assert_eq!(w.message.as_deref(), Some("back-off 10s restarting failed container=app pod=web-0_default(uid-web-0)"));
    assert_eq!(sim.container(0).restart_count, 1);
    assert_eq!(sim.step(), Step::RequeueAfter(Duration::from_secs(10)));
    sim.advance_secs(10);
    assert!(matches!(sim.step(), Step::UpdateStatus(_)));
    assert_eq!(sim.container(0).restart_count, 2);
    assert_eq!(waiting_reason(&sim), None);
    assert_eq!(sim.kubectl(), ("1/1".into(), "Running".into()));

    // Third exit: back-off doubles.
    sim.advance_secs(5);
    sim.settle();
    let w = sim.container(0).state.clone().unwrap().waiting.unwrap();
    assert!(w.message.unwrap().starts_with("back-off 20s "));
}

#[test]
fn fail_after_with_restart_policy_never_fails_the_pod() {
    let mut pod = bound_pod("job-0", &["app"]);
    pod.spec.as_mut().unwrap().restart_policy = Some("Never".into());
    annotate(&mut pod, FAIL_AFTER, "3s");
    let mut sim = Sim::new(pod);
    sim.settle();
    sim.advance_secs(3);
    assert!(matches!(sim.step(), Step::UpdateStatus(_)));
    assert_eq!(sim.phase(), "Failed");
    assert_eq!(sim.kubectl(), ("0/1".into(), "Error".into()));
    assert_eq!(sim.condition("Ready").reason.as_deref(), Some("PodFailed"));
    assert_eq!(sim.condition("ContainersReady").reason.as_deref(), Some("PodFailed"));
    assert_eq!(sim.condition("PodReadyToStartContainers").status, "False");
    assert_eq!(sim.step(), Step::Nothing);
    sim.advance_secs(600);
    assert_eq!(sim.step(), Step::Nothing);
}

#[test]
fn complete_after_with_never_succeeds_and_on_failure_restarts_failures_only() {
    let mut pod = bound_pod("job-0", &["app"]);
    pod.spec.as_mut().unwrap().restart_policy = Some("Never".into());
    annotate(&mut pod, COMPLETE_AFTER, "2s");
    let mut sim = Sim::new(pod);
    sim.settle();
    sim.advance_secs(2);
    sim.settle();
    assert_eq!(sim.phase(), "Succeeded");
    assert_eq!(sim.kubectl(), ("0/1".into(), "Completed".into()));
    assert_eq!(sim.condition("Ready").reason.as_deref(), Some("PodCompleted"));

    let mut pod = bound_pod("job-1", &["app"]);
    pod.spec.as_mut().unwrap().restart_policy = Some("OnFailure".into());
    annotate(&mut pod, FAIL_AFTER, "2s");
    let mut sim = Sim::new(pod);
    sim.settle();
    sim.advance_secs(2);
    sim.settle();
    assert_eq!(sim.phase(), "Running");
    assert_eq!(sim.container(0).restart_count, 1);
}

#[test]
fn init_containers_complete_before_the_app_runs() {
    let mut pod = bound_pod("web-0", &["nginx"]);
    annotate(&mut pod, STARTUP_DELAY, "2s");
    pod.spec.as_mut().unwrap().init_containers =
        Some(vec![Container { name: "setup".into(), image: Some("busybox".into()), ..Default::default() }]);
    let mut sim = Sim::new(pod);
    sim.step();
    assert_eq!(sim.kubectl(), ("0/1".into(), "Init:0/1".into()));
    let init = sim.condition("Initialized");
    assert_eq!((init.status.as_str(), init.message.as_deref()), ("False", Some("containers with incomplete status: [setup]")));
    assert_eq!(waiting_reason(&sim).as_deref(), Some("PodInitializing"));
    sim.advance_secs(2);
    sim.settle();
    assert_eq!(sim.kubectl(), ("1/1".into(), "Running".into()));
    assert_eq!(sim.condition("Initialized").status, "True");
    let init = &sim.status().init_container_statuses.as_ref().unwrap()[0];
    let t = init.state.clone().unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref(), init.ready), (0, Some("Completed"), true));
}

#[test]
fn pods_get_distinct_ips_in_the_node_cidr() {
    let cfg = config();
    let mut pods = Vec::new();
    for i in 0..50 {
        let mut p = bound_pod(&format!("web-{i}"), &["nginx"]);
        let Step::UpdateStatus(s) = next_step(&p, NODE, t0(), &Behaviour::new(&cfg, &pods)) else { panic!() };
        p.status = Some(s);
        pods.push(p);
    }
    let mut ips: Vec<Ipv4Addr> = pods.iter().map(|p| p.status.as_ref().unwrap().pod_ip.as_deref().unwrap().parse().unwrap()).collect();
    assert!(ips.iter().all(|ip| cfg.pod_cidr.contains(*ip)));
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 50);
}

#[test]
fn host_network_pods_use_the_node_ip() {
    let mut pod = bound_pod("hn", &["nginx"]);
    pod.spec.as_mut().unwrap().host_network = Some(true);
    let mut sim = Sim::new(pod);
    sim.step();
    assert_eq!(sim.status().pod_ip.as_deref(), Some("10.0.0.11"));
}

#[test]
fn pods_of_other_nodes_and_unchanged_pods_are_left_alone() {
    let mut pod = bound_pod("web-0", &["nginx"]);
    pod.spec.as_mut().unwrap().node_name = Some("sim-2".into());
    let mut sim = Sim::new(pod);
    assert_eq!(sim.step(), Step::Nothing);
    assert_eq!(sim.writes, 0);
}

#[test]
fn a_full_pod_cidr_leaves_the_sandbox_unready_and_retries() {
    let mut sim = Sim::new(bound_pod("web-9", &["nginx"]));
    sim.cfg.pod_cidr = crate::simulated::PodCidr::parse("10.244.1.0/30").unwrap(); // one pod address
    let mut holder = bound_pod("web-0", &["nginx"]);
    holder.status.as_mut().unwrap().pod_ip = Some("10.244.1.2".into());
    sim.others.push(holder);
    sim.step();
    assert_eq!(sim.status().pod_ip, None);
    assert_eq!(sim.condition("PodReadyToStartContainers").status, "False");
    assert_eq!(sim.step(), Step::RequeueAfter(Duration::from_secs(10)));
    assert_eq!(sim.kubectl().1, "ContainerCreating");
    sim.others.clear();
    sim.advance_secs(10);
    sim.settle();
    assert_eq!(sim.status().pod_ip.as_deref(), Some("10.244.1.2"));
    assert_eq!(sim.kubectl(), ("1/1".into(), "Running".into()));
}

/// Drive a crash-looping pod with an irregular, sub-second clock for ten minutes, flipping
/// readiness now and then: the harness rejects any no-op write, restart counts only grow,
/// every requeue lands on a real transition, and the pod keeps cycling.
#[test]
fn soak_irregular_clock_never_writes_duplicates() {
    let mut pod = bound_pod("web-0", &["a", "b"]);
    annotate(&mut pod, FAIL_AFTER, "7s");
    annotate(&mut pod, STARTUP_DELAY, "1500ms");
    let mut sim = Sim::new(pod);
    sim.advance(Duration::from_millis(300));
    let mut last_restarts = 0;
    let mut tick = 0u64;
    while sim.now < t0() + chrono::Duration::minutes(10) {
        tick += 1;
        if tick.is_multiple_of(37) {
            let flip = if tick.is_multiple_of(74) { "true" } else { "false" };
            annotate(&mut sim.pod, READY, flip);
        }
        match sim.settle() {
            Step::RequeueAfter(d) => {
                assert!(d > Duration::ZERO);
                let writes = sim.writes;
                // Arriving early changes nothing.
                sim.advance(d / 2);
                assert!(matches!(sim.settle(), Step::RequeueAfter(_)));
                assert_eq!(sim.writes, writes);
                sim.advance(d - d / 2 + Duration::from_millis(tick % 900));
            }
            Step::Nothing => sim.advance(Duration::from_millis(700)),
            other => panic!("unexpected {other:?}"),
        }
        let restarts = sim.container(0).restart_count;
        assert!(restarts >= last_restarts);
        last_restarts = restarts;
        assert_eq!(sim.phase(), if restarts == 0 && sim.container(0).state.as_ref().unwrap().waiting.is_some() { "Pending" } else { "Running" });
    }
    assert!(last_restarts >= 5, "restarts: {last_restarts}");
}
