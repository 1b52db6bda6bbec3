//! berth's storage: a revisioned key-value store modelled on etcd's MVCC API, so the etcd backend
//! ([`EtcdStore`], feature `etcd`) maps onto it one call to one call.
//!
//! - One global revision, incremented by every write; a key's `mod_revision` is the revision of
//!   its last write and becomes the object's `metadata.resourceVersion`.
//! - Updates and deletes may carry the expected `mod_revision` (optimistic concurrency).
//! - Lists are consistent at one revision and can be paged (`limit` + continue-after-key).
//! - Watches replay every change after a revision, then stream live changes; a revision older
//!   than the compacted one fails with [`StoreError::Compacted`].

use std::pin::Pin;

use async_trait::async_trait;
use futures::Stream;

pub type Revision = i64;

/// A stored key at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: bytes::Bytes,
    /// Revision at which the key was (last) created.
    pub create_revision: Revision,
    /// Revision of the last write to the key (for a delete event: the delete's revision).
    pub mod_revision: Revision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Created,
    Updated,
    Deleted,
}

/// One change, delivered to watchers in revision order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    pub kind: EventKind,
    /// New value; for `Deleted` the value the key had before deletion, with
    /// `mod_revision` set to the revision of the delete.
    pub kv: KeyValue,
    /// The previous value (etcd's `prev_kv`), for `Updated` and `Deleted`.
    pub prev: Option<KeyValue>,
}

impl WatchEvent {
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// List as of this revision; `None` = the current revision.
    pub revision: Option<Revision>,
    /// At most this many items; `None` or 0 = all.
    pub limit: Option<usize>,
    /// Continue a paged list: only keys strictly greater than this one.
    pub start_after: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ListResult {
    /// Items in key order.
    pub items: Vec<KeyValue>,
    /// The revision the list is consistent at (pass it back to continue paging).
    pub revision: Revision,
    /// More items exist after the last one returned.
    pub more: bool,
    /// How many items remain after this page (when `more`), if known.
    pub remaining: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("key {0:?} already exists")]
    AlreadyExists(String),
    #[error("key {0:?} not found")]
    NotFound(String),
    /// The key's current mod_revision differs from the expected one.
    #[error("key {key:?} is at revision {current}, expected {expected}")]
    Conflict { key: String, expected: Revision, current: Revision },
    /// The requested revision has been compacted away.
    #[error("required revision {requested} has been compacted (compacted revision {compacted})")]
    Compacted { requested: Revision, compacted: Revision },
    /// The requested revision is newer than the store's current revision.
    #[error("revision {requested} is in the future (current {current})")]
    FutureRevision { requested: Revision, current: Revision },
    /// A watcher fell too far behind and was dropped; the client must re-list.
    #[error("watcher fell behind and was closed")]
    WatcherTooSlow,
    #[error("storage error: {0}")]
    Internal(String),
    /// The backing store (etcd) cannot be reached or did not answer in time; retrying later
    /// may succeed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchEvent>> + Send>>;

/// Figures a store exposes so that stalls are visible (logged and served on /metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub current_revision: Revision,
    pub compacted_revision: Revision,
    /// Revisions written since the last successful compaction.
    pub compaction_lag: Revision,
    /// Number of writes committed and number of commit batches (group commit ratio).
    pub writes: u64,
    pub batches: u64,
    pub watchers: usize,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Create `key`; fails with `AlreadyExists` if it exists. Returns the new revision.
    async fn create(&self, key: &str, value: bytes::Bytes) -> Result<Revision>;

    /// Replace `key` if its mod_revision equals `expected`. `NotFound` if absent,
    /// `Conflict` if the revision differs. Returns the new revision.
    async fn update(&self, key: &str, value: bytes::Bytes, expected: Revision) -> Result<Revision>;

    /// Delete `key` (if `expected` is given, only at that mod_revision). Returns the deleted
    /// value, whose `mod_revision` is the revision of the delete.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue>;

    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;

    /// Keys starting with `prefix`, in key order, consistent at one revision.
    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult>;

    /// Every change to keys under `prefix` with revision > `after`, then live changes.
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream>;

    /// Forget history older than `revision` (current values are kept).
    async fn compact(&self, revision: Revision) -> Result<()>;

    async fn current_revision(&self) -> Result<Revision>;

    fn stats(&self) -> StoreStats;
}

mod counters;
mod watchers;

pub mod compactor;
#[cfg(feature = "etcd")]
pub mod etcd;
pub mod memory;
pub mod migrate;
pub mod sqlite;

/// Backend-agnostic conformance suite; enable the `testing` feature to run it against another
/// backend with [`conformance_tests!`].
#[cfg(any(test, feature = "testing"))]
pub mod conformance;

pub use compactor::{compact_once, spawn_compactor};
#[cfg(feature = "etcd")]
pub use etcd::{EtcdOptions, EtcdStore, EtcdTls};
pub use memory::MemoryStore;
pub use migrate::{copy_snapshot, CopyError, CopySummary};
pub use sqlite::{SqliteOptions, SqliteStore};
