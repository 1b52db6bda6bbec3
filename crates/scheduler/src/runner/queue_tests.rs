use std::time::{Duration, Instant};

use super::*;

fn key(name: &str) -> PodKey {
    PodKey::new("default", name)
}

const ANY: UnschedulableHint = UnschedulableHint { unresolvable: false, wants_assigned_pods: false };
const UNRESOLVABLE: UnschedulableHint = UnschedulableHint { unresolvable: true, wants_assigned_pods: false };

#[test]
fn pops_by_priority_then_arrival() {
    let t = Instant::now();
    let mut q = SchedulingQueue::new();
    q.add(key("a"), 0, t);
    q.add(key("b"), 10, t);
    q.add(key("c"), 0, t);
    assert_eq!(q.pop(t), Some(key("b")));
    assert_eq!(q.pop(t), Some(key("a")));
    assert_eq!(q.pop(t), Some(key("c")));
    assert_eq!(q.pop(t), None);
    assert_eq!(q.len(), 3, "popped pods stay known while in flight");
}

#[test]
fn re_adding_an_active_pod_does_not_duplicate_it() {
    let t = Instant::now();
    let mut q = SchedulingQueue::new();
    q.add(key("a"), 0, t);
    q.add(key("a"), 0, t);
    q.add(key("a"), 5, t);
    assert_eq!(q.pop(t), Some(key("a")));
    assert_eq!(q.pop(t), None);
}

#[test]
fn unschedulable_pod_waits_for_a_relevant_change() {
    let t = Instant::now();
    let mut q = SchedulingQueue::new();
    q.add(key("a"), 0, t);
    assert_eq!(q.pop(t), Some(key("a")));
    q.unschedulable(&key("a"), ANY, t);
    assert!(q.is_unschedulable(&key("a")));
    assert_eq!(q.pop(t + Duration::from_secs(30)), None, "no timer retries before the flush");
    q.on_change(ClusterChange::AssignedPodAdded, t + Duration::from_secs(2));
    assert!(q.is_unschedulable(&key("a")), "no pod affinity: an assigned pod cannot help");
    q.on_change(ClusterChange::NodeOrVolume, t + Duration::from_secs(2));
    assert_eq!(q.pop(t + Duration::from_secs(2)), Some(key("a")), "backoff (1 s) already expired: straight to active");
}

#[test]
fn change_during_backoff_waits_for_the_backoff() {
    let t = Instant::now();
    let mut q = SchedulingQueue::new();
    q.add(key("a"), 0, t);
    q.pop(t);
    q.unschedulable(&key("a"), ANY, t);
    q.on_change(ClusterChange::NodeOrVolume, t + Duration::from_millis(200));
    // Another pod is active: it goes first, and "a" waits out its backoff.
    q.add(key("b"), 0, t + Duration::from_millis(250));
    assert_eq!(q.pop(t + Duration::from_millis(300)), Some(key("b")));
    q.unschedulable(&key("b"), ANY, t + Duration::from_millis(300));
    q.add(key("c"), 0, t + Duration::from_millis(300));
    assert_eq!(q.pop(t + Duration::from_millis(300)), Some(key("c")));
    assert_eq!(q.next_wakeup(), Some(t + INITIAL_BACKOFF));
    assert_eq!(q.pop(t + INITIAL_BACKOFF), Some(key("a")));
}

#[test]
fn idle_queue_pops_an_unschedulable_pod_from_backoff_but_not_an_errored_one() {
    let t = Instant::now();
    let mut q = SchedulingQueue::new();
    q.add(key("a"), 0, t);
    q.add(key("e"), 0, t);
    assert_eq!(q.pop(t), Some(key("a")));
    assert_eq!(q.pop(t), Some(key("e")));
    q.unschedulable(&key("a"), ANY, t);
    q.error(&key("e"), t);
    q.on_change(ClusterChange::NodeOrVolume, t + Duration::from_millis(200));
    // Nothing active: "a" (unschedulable, now woken) goes at once (SchedulerPopFromBackoffQ);
    // "e" (an error) waits for its backoff.
    assert!(q.has_active());
    assert_eq!(q.pop(t + Duration::from_millis(200)), Some(key("a")));
    assert!(!q.has_active());
    assert_eq!(q.pop(t + Duration::from_millis(300)), None);
    assert_eq!(q.pop(t + INITIAL_BACKOFF), Some(key("e")));
}

#[test]
fn backoff_doubles_per_attempt_up_to_ten_seconds() {
    let mut t = Instant::now();
    let mut q = SchedulingQueue::new();
    q.add(key("a"), 0, t);
    let mut waits = Vec::new();
    for _ in 0..6 {
        assert_eq!(q.pop(t), Some(key("a")));
        q.error(&key("a"), t);
        let next = q.next_wakeup().unwrap();
        waits.push(next - t);
        assert_eq!(q.pop(next - Duration::from_millis(1)), None);
        t = next;
    }
    let secs: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
    assert_eq!(secs, [1, 2, 4, 8, 10, 10]);
}

#[test]
fn freed_resources_wake_only_resolvable_pods() {
    let t = Instant::now();
    let mut q = SchedulingQueue::new();
    for n in ["cpu", "selector"] {
        q.add(key(n), 0, t);
    }
    q.pop(t);
    q.pop(t);
    q.unschedulable(&key("cpu"), ANY, t);
    q.unschedulable(&key("selector"), UNRESOLVABLE, t);
    let later = t + Duration::from_secs(5);
    q.on_change(ClusterChange::PodFreed, later);
    assert_eq!(q.pop(later), Some(key("cpu")));
    assert_eq!(q.pop(later), None);
    assert!(q.is_unschedulable(&key("selector")));
}

#[test]
fn assigned_pods_wake_pods_with_pod_affinity() {
    let t = Instant::now();
    let mut q = SchedulingQueue::new();
    q.add(key("a"), 0, t);
    q.pop(t);
    q.unschedulable(&key("a"), UnschedulableHint { unresolvable: true, wants_assigned_pods: true }, t);
    q.on_change(ClusterChange::AssignedPodAdded, t + Duration::from_secs(3));
    assert_eq!(q.pop(t + Duration::from_secs(3)), Some(key("a")));
}

#[test]
fn change_while_in_flight_retries_instead_of_parking() {
    let t = Instant::now();
    let mut q = SchedulingQueue::new();
    q.add(key("a"), 0, t);
    q.pop(t);
    q.on_change(ClusterChange::NodeOrVolume, t);
    q.unschedulable(&key("a"), UNRESOLVABLE, t);
    assert!(!q.is_unschedulable(&key("a")));
    assert_eq!(q.next_wakeup(), Some(t + INITIAL_BACKOFF));
    assert_eq!(q.pop(t + INITIAL_BACKOFF), Some(key("a")));
}

#[test]
fn pod_update_wakes_a_parked_pod() {
    let t = Instant::now();
    let mut q = SchedulingQueue::new();
    q.add(key("a"), 0, t);
    q.pop(t);
    q.unschedulable(&key("a"), UNRESOLVABLE, t);
    q.add(key("a"), 0, t + Duration::from_secs(4));
    assert_eq!(q.pop(t + Duration::from_secs(4)), Some(key("a")));
}

#[test]
fn parked_pods_are_flushed_after_a_minute() {
    let t = Instant::now();
    let mut q = SchedulingQueue::new();
    q.add(key("a"), 0, t);
    q.pop(t);
    q.unschedulable(&key("a"), UNRESOLVABLE, t);
    assert_eq!(q.next_wakeup(), Some(t + MAX_IN_UNSCHEDULABLE));
    q.flush_unschedulable(t + MAX_IN_UNSCHEDULABLE - Duration::from_millis(1));
    assert!(q.is_unschedulable(&key("a")));
    q.flush_unschedulable(t + MAX_IN_UNSCHEDULABLE);
    assert_eq!(q.pop(t + MAX_IN_UNSCHEDULABLE), Some(key("a")));
}

#[test]
fn removed_pods_are_forgotten_in_every_state() {
    let t = Instant::now();
    let mut q = SchedulingQueue::new();
    q.add(key("active"), 0, t);
    q.add(key("parked"), 0, t);
    assert_eq!(q.pop(t), Some(key("active")));
    assert_eq!(q.pop(t), Some(key("parked")));
    q.unschedulable(&key("parked"), ANY, t);
    q.add(key("queued"), 0, t);
    for n in ["active", "parked", "queued"] {
        q.remove(&key(n));
    }
    assert!(q.is_empty());
    assert_eq!(q.pop(t + Duration::from_secs(100)), None);
    assert_eq!(q.next_wakeup(), None);
    // Results for forgotten pods are ignored.
    q.unschedulable(&key("active"), ANY, t);
    q.error(&key("active"), t);
    assert!(q.is_empty());
}
