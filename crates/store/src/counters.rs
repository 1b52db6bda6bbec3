//! Lock-free figures behind [`Store::stats`](crate::Store::stats), shared by the backends.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::{Revision, StoreStats};

#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Newest revision visible to readers and watchers.
    pub current_revision: AtomicI64,
    pub compacted_revision: AtomicI64,
    /// `current_revision` when the last successful compaction finished.
    pub current_at_last_compaction: AtomicI64,
    pub writes: AtomicU64,
    pub batches: AtomicU64,
    /// Live watch streams; shared with each stream, which decrements it when dropped.
    pub watchers: Arc<AtomicUsize>,
}

impl Counters {
    pub fn new(current: Revision, compacted: Revision) -> Self {
        let counters = Counters::default();
        counters.current_revision.store(current, Ordering::Relaxed);
        counters.compacted_revision.store(compacted, Ordering::Relaxed);
        // After a restart we do not know when the last compaction ran; measuring the lag from
        // the compacted revision over-states it, which errs on the visible side.
        counters.current_at_last_compaction.store(compacted, Ordering::Relaxed);
        counters
    }

    pub fn current(&self) -> Revision {
        self.current_revision.load(Ordering::Acquire)
    }

    pub fn compacted(&self) -> Revision {
        self.compacted_revision.load(Ordering::Acquire)
    }

    pub fn record_batch(&self, writes: u64) {
        self.writes.fetch_add(writes, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_compaction_done(&self) {
        self.current_at_last_compaction.store(self.current(), Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> StoreStats {
        let current_revision = self.current();
        StoreStats {
            current_revision,
            compacted_revision: self.compacted(),
            compaction_lag: (current_revision
                - self.current_at_last_compaction.load(Ordering::Relaxed))
            .max(0),
            writes: self.writes.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            watchers: self.watchers.load(Ordering::Relaxed),
        }
    }
}
