//! The scheduling queue (upstream `internal/queue/scheduling_queue.go`, `PriorityQueue`), pure:
//! every method takes `now`, so tests drive it with synthetic instants.
//!
//! A pod the scheduler knows is in exactly one state:
//! * **active** — ready to be attempted; popped highest `spec.priority` first, then first in;
//! * **backoff** — failed recently; becomes active when its backoff expires
//!   (1 s doubling per attempt, at most 10 s, counted from the last failure). When no pod is
//!   active, a pod backing off because it was unschedulable is popped at once (upstream's
//!   `SchedulerPopFromBackoffQ`, on by default since v1.33); one that failed with an error
//!   always waits out its backoff;
//! * **unschedulable** — no node fits; waits for a cluster change that could help (a
//!   [`ClusterChange`]) or for [`MAX_IN_UNSCHEDULABLE`] to pass, then goes to backoff or
//!   active depending on whether its backoff has expired;
//! * **in flight** — popped and being attempted or bound. A change that arrives meanwhile is
//!   remembered (upstream's `moveRequestCycle`) so a failed attempt that could not have seen it
//!   is retried instead of parked as unschedulable.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

/// Upstream `podInitialBackoffDuration`.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Upstream `podMaxBackoffDuration`.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How long a pod may wait in unschedulable without any relevant event before it is retried
/// anyway (upstream flushes after 5 min; berth retries sooner since it has fewer event kinds
/// wired to queueing hints).
pub const MAX_IN_UNSCHEDULABLE: Duration = Duration::from_secs(60);

/// `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodKey {
    pub namespace: String,
    pub name: String,
}

impl PodKey {
    pub fn new(namespace: &str, name: &str) -> PodKey {
        PodKey { namespace: namespace.to_string(), name: name.to_string() }
    }
}

impl fmt::Display for PodKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A cluster event that may make unschedulable pods schedulable (upstream `ClusterEvent`s,
/// coarsened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterChange {
    /// A node was added or changed in a way the filters read (labels, taints, cordon,
    /// allocatable, conditions), or a PVC, PV or StorageClass was added or changed: any pod
    /// may now fit.
    NodeOrVolume,
    /// An assigned pod was deleted or finished, freeing resources and ports: only pods that
    /// failed for reasons other pods leaving can fix.
    PodFreed,
    /// A pod was assigned to a node: only pods with required pod affinity can gain from it.
    AssignedPodAdded,
}

/// What the scheduler learned about why a pod did not fit, for deciding which changes wake it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnschedulableHint {
    /// No node failed for a reason other pods leaving could fix.
    pub unresolvable: bool,
    /// The pod has required pod-affinity terms, so a newly assigned pod can help.
    pub wants_assigned_pods: bool,
}

impl UnschedulableHint {
    fn woken_by(self, change: ClusterChange) -> bool {
        match change {
            ClusterChange::NodeOrVolume => true,
            ClusterChange::PodFreed => !self.unresolvable,
            ClusterChange::AssignedPodAdded => self.wants_assigned_pods,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    Backoff,
    Unschedulable { since: Instant, hint: UnschedulableHint },
    InFlight { moved: bool },
}

#[derive(Debug)]
struct Entry {
    state: State,
    priority: i32,
    /// Order of arrival in the active queue (ties in priority are first-in first-out).
    seq: u64,
    attempts: u32,
    last_failure: Option<Instant>,
    /// The last failure was an error, not "no node fits": such a pod is never popped before its
    /// backoff expires (upstream keeps it in a separate error backoff queue).
    failed_with_error: bool,
}

impl Entry {
    fn backoff_expiry(&self) -> Option<Instant> {
        let failed = self.last_failure?;
        let exp = self.attempts.saturating_sub(1).min(16);
        let backoff = INITIAL_BACKOFF.saturating_mul(1u32 << exp).min(MAX_BACKOFF);
        Some(failed + backoff)
    }

    fn backing_off(&self, now: Instant) -> bool {
        self.backoff_expiry().is_some_and(|t| t > now)
    }
}

#[derive(Debug, Default)]
pub struct SchedulingQueue {
    entries: HashMap<PodKey, Entry>,
    /// The active queue in pop order.
    active: BTreeSet<(Reverse<i32>, u64, PodKey)>,
    next_seq: u64,
}

impl SchedulingQueue {
    pub fn new() -> SchedulingQueue {
        SchedulingQueue::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, key: &PodKey) -> bool {
        self.entries.contains_key(key)
    }

    /// Whether the pod is parked as unschedulable (for tests and diagnostics).
    pub fn is_unschedulable(&self, key: &PodKey) -> bool {
        matches!(self.entries.get(key).map(|e| e.state), Some(State::Unschedulable { .. }))
    }

    fn activate(&mut self, key: &PodKey) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = self.entries.get_mut(key).expect("activate a known pod");
        entry.state = State::Active;
        entry.seq = seq;
        self.active.insert((Reverse(entry.priority), seq, key.clone()));
    }

    fn leave_active(&mut self, key: &PodKey) {
        if let Some(e) = self.entries.get(key) {
            if e.state == State::Active {
                self.active.remove(&(Reverse(e.priority), e.seq, key.clone()));
            }
        }
    }

    /// To backoff if the pod is still backing off, else to active (upstream
    /// `moveToActiveOrBackoffQueue`-style routing).
    fn requeue(&mut self, key: &PodKey, now: Instant) {
        self.leave_active(key);
        let entry = self.entries.get_mut(key).expect("requeue a known pod");
        if entry.backing_off(now) {
            entry.state = State::Backoff;
        } else {
            self.activate(key);
        }
    }

    /// A pending pod was added, or changed in a way scheduling reads (spec, labels,
    /// annotations). New pods go straight to active; a parked pod is woken.
    pub fn add(&mut self, key: PodKey, priority: i32, now: Instant) {
        match self.entries.get_mut(&key) {
            None => {
                self.entries.insert(key.clone(), Entry { state: State::Active, priority, seq: 0, attempts: 0, last_failure: None, failed_with_error: false });
                self.activate(&key);
            }
            Some(entry) => match entry.state {
                State::Active => {
                    if entry.priority != priority {
                        self.leave_active(&key);
                        self.entries.get_mut(&key).expect("known").priority = priority;
                        self.activate(&key);
                    }
                }
                State::Backoff => entry.priority = priority,
                State::Unschedulable { .. } => {
                    entry.priority = priority;
                    self.requeue(&key, now);
                }
                State::InFlight { .. } => {
                    entry.priority = priority;
                    entry.state = State::InFlight { moved: true };
                }
            },
        }
    }

    /// The pod was deleted, bound, or is no longer this scheduler's.
    pub fn remove(&mut self, key: &PodKey) {
        self.leave_active(key);
        self.entries.remove(key);
    }

    /// The next pod to attempt, after moving pods whose backoff expired to active.
    pub fn pop(&mut self, now: Instant) -> Option<PodKey> {
        let expired: Vec<PodKey> = self
            .entries
            .iter()
            .filter(|(_, e)| e.state == State::Backoff && !e.backing_off(now))
            .map(|(k, _)| k.clone())
            .collect();
        // Keep their original order among themselves: they re-enter behind pods already active.
        let mut expired: Vec<(Instant, PodKey)> =
            expired.into_iter().map(|k| (self.entries[&k].backoff_expiry().unwrap_or(now), k)).collect();
        expired.sort();
        for (_, k) in expired {
            self.activate(&k);
        }
        if self.active.is_empty() {
            if let Some(k) = self.poppable_backoff() {
                self.activate(&k);
            }
        }
        let first = self.active.iter().next().cloned()?;
        self.active.remove(&first);
        let key = first.2;
        let entry = self.entries.get_mut(&key).expect("active pods are known");
        entry.state = State::InFlight { moved: false };
        entry.attempts += 1;
        Some(key)
    }

    /// The backing-off pod to attempt early when nothing is active: the one whose backoff ends
    /// first, among those that were unschedulable rather than failing with an error.
    fn poppable_backoff(&self) -> Option<PodKey> {
        self.entries
            .iter()
            .filter(|(_, e)| e.state == State::Backoff && !e.failed_with_error)
            .min_by_key(|(k, e)| (e.backoff_expiry(), *k))
            .map(|(k, _)| k.clone())
    }

    /// The attempt found no node. Parks the pod unless a change arrived while it was in flight.
    pub fn unschedulable(&mut self, key: &PodKey, hint: UnschedulableHint, now: Instant) {
        let Some(entry) = self.entries.get_mut(key) else { return };
        entry.last_failure = Some(now);
        entry.failed_with_error = false;
        match entry.state {
            State::InFlight { moved: true } => self.requeue(key, now),
            _ => entry.state = State::Unschedulable { since: now, hint },
        }
    }

    /// The attempt or the binding failed with an error (API error, volume binding timeout):
    /// retry after backoff, as upstream does for errors.
    pub fn error(&mut self, key: &PodKey, now: Instant) {
        let Some(entry) = self.entries.get_mut(key) else { return };
        entry.last_failure = Some(now);
        entry.failed_with_error = true;
        self.requeue(key, now);
    }

    /// A cluster event: wake the parked pods it may help (upstream
    /// `MoveAllToActiveOrBackoffQueue`). Pods in flight remember it.
    pub fn on_change(&mut self, change: ClusterChange, now: Instant) {
        let mut woken = Vec::new();
        for (key, entry) in self.entries.iter_mut() {
            match entry.state {
                State::Unschedulable { hint, .. } if hint.woken_by(change) => woken.push(key.clone()),
                State::InFlight { .. } => entry.state = State::InFlight { moved: true },
                _ => {}
            }
        }
        woken.sort();
        for key in woken {
            self.requeue(&key, now);
        }
    }

    /// Retry pods parked longer than [`MAX_IN_UNSCHEDULABLE`] (upstream
    /// `flushUnschedulablePodsLeftover`).
    pub fn flush_unschedulable(&mut self, now: Instant) {
        let mut stale: Vec<PodKey> = self
            .entries
            .iter()
            .filter(|(_, e)| matches!(e.state, State::Unschedulable { since, .. } if now.duration_since(since) >= MAX_IN_UNSCHEDULABLE))
            .map(|(k, _)| k.clone())
            .collect();
        stale.sort();
        for key in stale {
            self.requeue(&key, now);
        }
    }

    /// Whether a pod can be popped right now.
    pub fn has_active(&self) -> bool {
        !self.active.is_empty() || self.poppable_backoff().is_some()
    }

    /// When the queue next needs attention without any event: the earliest backoff expiry or
    /// unschedulable flush.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter_map(|e| match e.state {
                State::Backoff => e.backoff_expiry(),
                State::Unschedulable { since, .. } => Some(since + MAX_IN_UNSCHEDULABLE),
                _ => None,
            })
            .min()
    }
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
