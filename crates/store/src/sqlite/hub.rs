//! The in-process watch feed: the writer publishes each committed batch here (no polling of the
//! database), and a bounded ring of recent events serves most watch replays from memory.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use crate::counters::Counters;
use crate::watchers::{Subscription, WatcherSet};
use crate::{Revision, WatchEvent};

struct HubState {
    /// The most recent events in revision order: every event with a revision in
    /// `(ring_floor, published]`.
    ring: VecDeque<WatchEvent>,
    capacity: usize,
    ring_floor: Revision,
    published: Revision,
    watchers: WatcherSet,
}

pub(crate) struct Hub {
    state: Mutex<HubState>,
}

/// Where a new watcher's replay comes from.
pub(crate) enum Replay {
    /// Everything it needs was still in the ring.
    Memory(Vec<WatchEvent>),
    /// The database rows in `(after, to]` must be read (older than the ring).
    Database { to: Revision },
}

impl Hub {
    pub fn new(current: Revision, capacity: usize, watchers: WatcherSet) -> Self {
        Hub {
            state: Mutex::new(HubState {
                ring: VecDeque::with_capacity(capacity.min(16 * 1024)),
                capacity,
                ring_floor: current,
                published: current,
                watchers,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        // Every mutation below leaves the state consistent between statements, so a poisoned
        // lock (a panic elsewhere while holding it) is safe to keep using.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Publishes one committed batch (in revision order) and makes its revisions visible to
    /// readers. Never blocks on watchers.
    pub fn publish(&self, events: Vec<WatchEvent>, counters: &Counters) {
        let Some(last) = events.last().map(WatchEvent::revision) else {
            return;
        };
        let mut state = self.lock();
        // Reads must see a revision before any watcher hears of it: a client reacting to a
        // watch event (e.g. PUT status of a pod it was just told about) must find the object.
        counters.current_revision.store(last, Ordering::Release);
        state.watchers.publish(&events);
        for event in events {
            if state.capacity == 0 {
                state.ring_floor = event.revision();
                continue;
            }
            if state.ring.len() == state.capacity {
                if let Some(evicted) = state.ring.pop_front() {
                    state.ring_floor = evicted.revision();
                }
            }
            state.ring.push_back(event);
        }
        state.published = last;
    }

    /// Registers a watcher of `prefix` and says how to replay the events after `after` that
    /// precede its first live event.
    pub fn subscribe(&self, prefix: &str, after: Revision) -> (Subscription, Replay) {
        let mut state = self.lock();
        let sub = state.watchers.subscribe(prefix);
        let replay = if after >= state.ring_floor {
            let start = state.ring.partition_point(|e| e.revision() <= after);
            Replay::Memory(
                state
                    .ring
                    .range(start..)
                    .filter(|e| e.kv.key.starts_with(prefix))
                    .cloned()
                    .collect(),
            )
        } else {
            Replay::Database { to: state.published }
        };
        (sub, replay)
    }
}
