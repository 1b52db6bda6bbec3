//! In-memory backend for tests elsewhere: the same semantics as the SQLite backend (history for
//! list-at-revision and watch-from-revision, compaction, `Compacted`), nothing durable.
//!
//! All state sits behind one mutex that is never held across an await; every write is its own
//! commit batch.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;

use crate::counters::Counters;
use crate::watchers::{watch_stream, WatcherSet};
use crate::{
    EventKind, KeyValue, ListOptions, ListResult, Result, Revision, Store, StoreError, StoreStats,
    WatchEvent, WatchStream,
};

/// Default number of events a watcher may have queued before it is dropped as too slow.
pub const DEFAULT_WATCHER_BUFFER: usize = 1024;

/// One write of one key.
#[derive(Debug, Clone)]
struct Version {
    revision: Revision,
    create_revision: Revision,
    deleted: bool,
    value: Bytes,
}

struct State {
    /// Every key's versions in revision order, back to the compacted revision.
    keys: BTreeMap<String, Vec<Version>>,
    /// Every event with a revision above the compacted one, in revision order.
    events: VecDeque<WatchEvent>,
    revision: Revision,
    compacted: Revision,
    watchers: WatcherSet,
}

pub struct MemoryStore {
    state: Mutex<State>,
    counters: Counters,
}

impl MemoryStore {
    pub fn new() -> Arc<MemoryStore> {
        Self::with_watcher_buffer(DEFAULT_WATCHER_BUFFER)
    }

    /// A store whose watchers are dropped as too slow once `buffer` events are queued.
    pub fn with_watcher_buffer(buffer: usize) -> Arc<MemoryStore> {
        let counters = Counters::new(0, 0);
        let watchers = WatcherSet::new(buffer, counters.watchers.clone());
        Arc::new(MemoryStore {
            state: Mutex::new(State {
                keys: BTreeMap::new(),
                events: VecDeque::new(),
                revision: 0,
                compacted: 0,
                watchers,
            }),
            counters,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves no half-applied write (each write mutates state
        // only after its checks pass), so the poisoned state is still consistent.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends `version` to `key`, records and publishes the event.
    fn commit(&self, state: &mut State, key: &str, version: Version, event: WatchEvent) {
        state.revision = version.revision;
        state.keys.entry(key.to_owned()).or_default().push(version);
        state.watchers.publish(std::slice::from_ref(&event));
        state.events.push_back(event);
        self.counters.current_revision.store(state.revision, std::sync::atomic::Ordering::Release);
        self.counters.record_batch(1);
    }
}

impl State {
    /// The live (not deleted) newest version of `key`.
    fn current(&self, key: &str) -> Option<&Version> {
        self.keys.get(key).and_then(|versions| versions.last()).filter(|v| !v.deleted)
    }
}

fn key_value(key: &str, version: &Version) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: version.value.clone(),
        create_revision: version.create_revision,
        mod_revision: version.revision,
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn create(&self, key: &str, value: Bytes) -> Result<Revision> {
        let mut state = self.lock();
        if state.current(key).is_some() {
            return Err(StoreError::AlreadyExists(key.to_owned()));
        }
        let revision = state.revision + 1;
        let version = Version { revision, create_revision: revision, deleted: false, value };
        let event =
            WatchEvent { kind: EventKind::Created, kv: key_value(key, &version), prev: None };
        self.commit(&mut state, key, version, event);
        Ok(revision)
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<Revision> {
        let mut state = self.lock();
        let current = state.current(key).ok_or_else(|| StoreError::NotFound(key.to_owned()))?;
        if current.revision != expected {
            return Err(StoreError::Conflict {
                key: key.to_owned(),
                expected,
                current: current.revision,
            });
        }
        let prev = key_value(key, current);
        let revision = state.revision + 1;
        let version =
            Version { revision, create_revision: prev.create_revision, deleted: false, value };
        let event =
            WatchEvent { kind: EventKind::Updated, kv: key_value(key, &version), prev: Some(prev) };
        self.commit(&mut state, key, version, event);
        Ok(revision)
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        let mut state = self.lock();
        let current = state.current(key).ok_or_else(|| StoreError::NotFound(key.to_owned()))?;
        if let Some(expected) = expected.filter(|e| *e != current.revision) {
            return Err(StoreError::Conflict {
                key: key.to_owned(),
                expected,
                current: current.revision,
            });
        }
        let prev = key_value(key, current);
        let revision = state.revision + 1;
        let version = Version {
            revision,
            create_revision: prev.create_revision,
            deleted: true,
            value: prev.value.clone(),
        };
        let deleted = KeyValue { mod_revision: revision, ..prev.clone() };
        let event = WatchEvent { kind: EventKind::Deleted, kv: deleted.clone(), prev: Some(prev) };
        self.commit(&mut state, key, version, event);
        Ok(deleted)
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        Ok(self.lock().current(key).map(|v| key_value(key, v)))
    }

    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult> {
        let state = self.lock();
        let revision = opts.revision.unwrap_or(state.revision);
        if revision > state.revision {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: state.revision,
            });
        }
        if revision < state.compacted {
            return Err(StoreError::Compacted { requested: revision, compacted: state.compacted });
        }
        let lower = match &opts.start_after {
            Some(after) if after.as_str() >= prefix => Bound::Excluded(after.as_str()),
            _ => Bound::Included(prefix),
        };
        let limit = opts.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut remaining = 0u64;
        let visible = state
            .keys
            .range::<str, _>((lower, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .filter_map(|(key, versions)| {
                let at = versions.partition_point(|v| v.revision <= revision);
                let version = versions[..at].last().filter(|v| !v.deleted)?;
                Some((key, version))
            });
        for (key, version) in visible {
            if items.len() < limit {
                items.push(key_value(key, version));
            } else {
                remaining += 1;
            }
        }
        let more = remaining > 0;
        Ok(ListResult { items, revision, more, remaining: more.then_some(remaining) })
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        let mut state = self.lock();
        if after < state.compacted {
            return Err(StoreError::Compacted { requested: after, compacted: state.compacted });
        }
        let start = state.events.partition_point(|e| e.revision() <= after);
        let replay: Vec<Result<WatchEvent>> = state
            .events
            .range(start..)
            .filter(|e| e.kv.key.starts_with(prefix))
            .cloned()
            .map(Ok)
            .collect();
        let sub = state.watchers.subscribe(prefix);
        drop(state);
        Ok(watch_stream(Box::pin(futures::stream::iter(replay)), sub, after))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let mut state = self.lock();
        if revision > state.revision {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: state.revision,
            });
        }
        if revision <= state.compacted {
            return Ok(());
        }
        state.keys.retain(|_, versions| {
            // Keep the newest version at or below `revision` unless it is a delete, and all
            // newer ones.
            let at = versions.partition_point(|v| v.revision <= revision);
            let keep_from = match versions[..at].last() {
                Some(v) if !v.deleted => at - 1,
                _ => at,
            };
            versions.drain(..keep_from);
            !versions.is_empty()
        });
        let start = state.events.partition_point(|e| e.revision() <= revision);
        state.events.drain(..start);
        state.compacted = revision;
        self.counters.compacted_revision.store(revision, std::sync::atomic::Ordering::Release);
        self.counters.record_compaction_done();
        Ok(())
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.counters.current())
    }

    fn stats(&self) -> StoreStats {
        self.counters.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::Fixture;

    async fn fixture() -> Fixture {
        Fixture::new(MemoryStore::new())
    }

    crate::conformance_tests!(fixture);
}
