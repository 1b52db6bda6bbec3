use std::time::Duration;

use super::harness::*;
use crate::simulated::annotations::{FAIL_AFTER, TERMINATION_DELAY};
use crate::simulated::time::k8s_time;
use crate::simulated::Step;

/// What the API server does on DELETE with a grace period (reference §4.1).
fn delete(sim: &mut Sim, grace: i64) {
    let m = &mut sim.pod.metadata;
    m.deletion_timestamp = Some(k8s_time(sim.now + chrono::Duration::seconds(grace)));
    m.deletion_grace_period_seconds = Some(grace);
}

fn final_delete() -> Step {
    Step::FinalDelete { uid: "uid-web-0".into() }
}

#[test]
fn graceful_delete_writes_terminal_status_at_the_deadline_then_final_delete() {
    let mut sim = Sim::new(bound_pod("web-0", &["nginx"]));
    sim.settle();
    sim.advance_secs(60);
    let started = sim.container(0).state.clone().unwrap().running.unwrap().started_at;
    delete(&mut sim, 30);
    let deadline = sim.now + chrono::Duration::seconds(30);

    assert_eq!(sim.step(), Step::RequeueAfter(Duration::from_secs(30)));
    assert_eq!(sim.kubectl(), ("1/1".into(), "Terminating".into()));
    sim.advance_secs(29);
    assert_eq!(sim.step(), Step::RequeueAfter(Duration::from_secs(1)));
    assert_eq!(sim.writes, 2, "no writes during the grace period");

    sim.advance_secs(1);
    assert!(matches!(sim.step(), Step::UpdateStatus(_)));
    assert_eq!(sim.phase(), "Succeeded");
    let c = sim.container(0).clone();
    let t = c.state.unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
    assert_eq!(t.finished_at, Some(k8s_time(deadline)));
    assert_eq!(t.started_at, started);
    assert_eq!(t.container_id, c.container_id);
    assert!(!c.ready);
    assert_eq!(sim.condition("Ready").status, "False");
    assert_eq!(sim.condition("PodReadyToStartContainers").status, "False");

    assert_eq!(sim.step(), final_delete());
    assert_eq!(sim.step(), final_delete());
    assert_eq!(sim.writes, 3);
}

#[test]
fn shortened_grace_period_moves_the_deadline() {
    let mut sim = Sim::new(bound_pod("web-0", &["nginx"]));
    sim.settle();
    delete(&mut sim, 30);
    assert_eq!(sim.step(), Step::RequeueAfter(Duration::from_secs(30)));
    sim.advance_secs(5);
    // kubectl delete --grace-period=10 on a terminating pod: deletionTimestamp = old - 30 + 10.
    let m = &mut sim.pod.metadata;
    m.deletion_timestamp = Some(k8s_time(t0() + chrono::Duration::seconds(10)));
    m.deletion_grace_period_seconds = Some(10);
    assert_eq!(sim.step(), Step::RequeueAfter(Duration::from_secs(5)));
}

#[test]
fn termination_delay_exits_early_or_is_killed_at_the_deadline() {
    let mut pod = bound_pod("web-0", &["nginx"]);
    annotate(&mut pod, TERMINATION_DELAY, "2s");
    let mut sim = Sim::new(pod);
    sim.settle();
    delete(&mut sim, 30);
    assert_eq!(sim.step(), Step::RequeueAfter(Duration::from_secs(2)));
    sim.advance_secs(2);
    sim.step();
    assert_eq!(sim.phase(), "Succeeded");

    let mut pod = bound_pod("web-0", &["nginx"]);
    annotate(&mut pod, TERMINATION_DELAY, "1m");
    let mut sim = Sim::new(pod);
    sim.settle();
    delete(&mut sim, 30);
    assert_eq!(sim.step(), Step::RequeueAfter(Duration::from_secs(30)));
    sim.advance_secs(30);
    sim.step();
    assert_eq!(sim.phase(), "Failed");
    let t = sim.container(0).state.clone().unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (137, Some("Error")));
    assert_eq!(sim.condition("Ready").reason.as_deref(), Some("PodFailed"));
    assert_eq!(sim.step(), final_delete());
}

#[test]
fn grace_zero_goes_straight_to_final_delete() {
    let mut sim = Sim::new(bound_pod("web-0", &["nginx"]));
    sim.settle();
    delete(&mut sim, 0);
    assert_eq!(sim.step(), final_delete());
    assert_eq!(sim.writes, 2);
}

#[test]
fn grace_zero_with_finalizers_reports_terminal_status_first() {
    let mut sim = Sim::new(bound_pod("web-0", &["nginx"]));
    sim.settle();
    sim.pod.metadata.finalizers = Some(vec!["example.com/test-finalizer".into()]);
    delete(&mut sim, 0);
    assert!(matches!(sim.step(), Step::UpdateStatus(_)));
    assert_eq!(sim.phase(), "Succeeded");
    assert_eq!(sim.step(), final_delete());
}

#[test]
fn deleting_a_pod_that_never_started_stops_at_once() {
    let mut pod = bound_pod("web-0", &["nginx"]);
    annotate(&mut pod, crate::simulated::annotations::STARTUP_DELAY, "1m");
    let mut sim = Sim::new(pod);
    sim.step();
    delete(&mut sim, 30);
    assert!(matches!(sim.step(), Step::UpdateStatus(_)));
    assert_eq!(sim.phase(), "Failed");
    assert_eq!(sim.step(), final_delete());

    // Never admitted at all: nothing to stop, nothing to report.
    let mut sim = Sim::new(bound_pod("web-0", &["nginx"]));
    delete(&mut sim, 30);
    assert_eq!(sim.step(), final_delete());
}

#[test]
fn deleting_a_crash_looping_pod_ends_failed() {
    let mut pod = bound_pod("web-0", &["nginx"]);
    annotate(&mut pod, FAIL_AFTER, "1s");
    let mut sim = Sim::new(pod);
    sim.settle();
    for _ in 0..2 {
        sim.advance_secs(1);
        sim.settle();
    }
    assert_eq!(sim.kubectl().1, "CrashLoopBackOff");
    delete(&mut sim, 30);
    assert!(matches!(sim.step(), Step::UpdateStatus(_)));
    assert_eq!(sim.phase(), "Failed");
    assert_eq!(sim.step(), final_delete());
}

#[test]
fn terminal_pods_are_deleted_immediately() {
    let mut pod = bound_pod("web-0", &["nginx"]);
    pod.spec.as_mut().unwrap().restart_policy = Some("Never".into());
    annotate(&mut pod, FAIL_AFTER, "1s");
    let mut sim = Sim::new(pod);
    sim.settle();
    sim.advance_secs(1);
    sim.settle();
    assert_eq!(sim.phase(), "Failed");
    delete(&mut sim, 30);
    assert_eq!(sim.step(), final_delete());
}
