//! Copying a cluster's whole state from one store into another (SQLite → etcd when a cluster
//! outgrows its embedded store), as one consistent snapshot.
//!
//! - The source is read at one revision (paged lists at a fixed revision), so the copy is a
//!   state the cluster really was in.
//! - Keys are written into the target in ascending source `mod_revision`: the target assigns
//!   new revisions (etcd has its own counter), but their order is the source's, so every
//!   object's resourceVersion moves while "A was written before B" still holds. Values are copied
//!   byte for byte: uids, contents and timestamps stay (the resourceVersion is not stored in the
//!   value; the API server stamps it from the revision on read).
//! - The target must be empty under its root: a copy never merges into or overwrites a cluster.
//! - Afterwards the target is compacted at its current revision. The new resourceVersions are
//!   small numbers, so a client holding one of the old ones must not resume a watch from it as
//!   if it meant something: any revision below the copy now answers "too old resource version"
//!   (410) and the client re-lists, as after etcd's own `snapshot restore --mark-compacted`.
//!   Old resourceVersions above the copy's last revision would wait instead; see the README
//!   (restart node agents that outlived the old control plane).

use crate::{KeyValue, ListOptions, Result, Revision, Store, StoreError};

/// Every key of a cluster lies under this prefix (the API server's `/registry/…`; the etcd
/// backend re-roots it under its own prefix).
const ALL: &str = "/";

/// Keys per list page when reading the source.
const PAGE: usize = 500;

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySummary {
    /// Keys copied.
    pub keys: u64,
    /// Bytes of values copied.
    pub bytes: u64,
    /// The source revision the snapshot was read at.
    pub source_revision: Revision,
    /// The target's revision after the copy (its first new resourceVersion is below it).
    pub target_revision: Revision,
}

/// Why a copy did not happen or stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyError {
    /// The target already holds keys; nothing was written.
    #[error("the target store is not empty (it holds {first:?}, among others); nothing was copied")]
    TargetNotEmpty { first: String },
    #[error("reading the source store: {0}")]
    Source(StoreError),
    /// Writing failed after `written` keys: the target holds a partial copy.
    #[error("writing the target store failed after {written} of {total} keys: {error}")]
    Target { written: u64, total: u64, error: StoreError },
}

/// Every key of `from` at one revision, in key order.
pub async fn snapshot(from: &dyn Store) -> Result<(Vec<KeyValue>, Revision)> {
    let revision = from.current_revision().await?;
    let mut items = Vec::new();
    let mut start_after = None;
    loop {
        let opts = ListOptions { revision: Some(revision), limit: Some(PAGE), start_after };
        let page = from.list(ALL, opts).await?;
        start_after = page.items.last().map(|kv| kv.key.clone());
        items.extend(page.items);
        if !page.more || start_after.is_none() {
            return Ok((items, revision));
        }
    }
}

/// The order a snapshot is written in: ascending source revision, so relative resourceVersion
/// order survives (every write has its own revision, so ties only occur between stores that
/// batch, and then key order decides).
pub fn write_order(mut items: Vec<KeyValue>) -> Vec<KeyValue> {
    items.sort_by(|a, b| a.mod_revision.cmp(&b.mod_revision).then_with(|| a.key.cmp(&b.key)));
    items
}

/// Copies `from`'s current state into the empty `to` (see the module docs). `progress` is
/// called after each key with (written, total).
pub async fn copy_snapshot(
    from: &dyn Store,
    to: &dyn Store,
    mut progress: impl FnMut(u64, u64),
) -> Result<CopySummary, CopyError> {
    ensure_empty(to).await?;
    let (items, source_revision) = snapshot(from).await.map_err(CopyError::Source)?;
    let items = write_order(items);
    let total = items.len() as u64;
    let (mut keys, mut bytes, mut target_revision) = (0u64, 0u64, 0);
    for kv in items {
        let written = to.create(&kv.key, kv.value.clone()).await;
        target_revision = written.map_err(|error| CopyError::Target { written: keys, total, error })?;
        keys += 1;
        bytes += kv.value.len() as u64;
        progress(keys, total);
    }
    if target_revision == 0 {
        target_revision = to.current_revision().await.map_err(|error| CopyError::Target { written: 0, total, error })?;
    }
    if keys > 0 {
        to.compact(target_revision)
            .await
            .map_err(|error| CopyError::Target { written: keys, total, error })?;
    }
    Ok(CopySummary { keys, bytes, source_revision, target_revision })
}

/// Fails unless `store` holds no key at all.
pub async fn ensure_empty(store: &dyn Store) -> Result<(), CopyError> {
    let opts = ListOptions { limit: Some(1), ..Default::default() };
    let page = store
        .list(ALL, opts)
        .await
        .map_err(|error| CopyError::Target { written: 0, total: 0, error })?;
    match page.items.into_iter().next() {
        Some(kv) => Err(CopyError::TargetNotEmpty { first: kv.key }),
        None => Ok(()),
    }
}

/// Checks the pure-ish copy on in-memory stores; `check_copy` is reused against etcd.
#[cfg(any(test, feature = "testing"))]
pub mod checks {
    use super::*;

    /// A small cluster history: creates, updates and deletes interleaved, so that key order,
    /// create order and last-write order all differ.
    pub async fn write_history(store: &dyn Store) -> Vec<String> {
        let keys: Vec<String> = ["pods/default/b", "pods/default/a", "configmaps/kube-system/c", "leases/n/d", "pods/x/e"]
            .iter()
            .map(|k| format!("/registry/{k}"))
            .collect();
        for (i, key) in keys.iter().enumerate() {
            store.create(key, format!("{{\"v\":{i}}}").into()).await.unwrap();
        }
        // Update the first-created key last, and delete one.
        let a = store.get(&keys[1]).await.unwrap().unwrap();
        store.update(&keys[1], "{\"v\":\"a2\"}".into(), a.mod_revision).await.unwrap();
        store.delete(&keys[4], None).await.unwrap();
        let b = store.get(&keys[0]).await.unwrap().unwrap();
        store.update(&keys[0], "{\"v\":\"b2\"}".into(), b.mod_revision).await.unwrap();
        // The key that sorts first is written last: key order and revision order now disagree.
        let c = store.get(&keys[2]).await.unwrap().unwrap();
        store.update(&keys[2], "{\"v\":\"c2\"}".into(), c.mod_revision).await.unwrap();
        keys
    }

    /// Copies `from` (holding [`write_history`]) into the empty `to` and checks the result:
    /// same keys and values, same relative order of mod_revisions, history below compacted.
    pub async fn check_copy(from: &dyn Store, to: &dyn Store) {
        let (before, source_revision) = snapshot(from).await.unwrap();
        let mut calls = 0;
        let summary = copy_snapshot(from, to, |_, _| calls += 1).await.unwrap();
        assert_eq!(summary.source_revision, source_revision);
        assert_eq!(summary.keys, before.len() as u64);
        assert_eq!(calls, before.len());
        let (after, target_revision) = snapshot(to).await.unwrap();
        assert_eq!(summary.target_revision, target_revision);
        let strip = |kvs: &[KeyValue]| kvs.iter().map(|kv| (kv.key.clone(), kv.value.clone())).collect::<Vec<_>>();
        assert_eq!(strip(&after), strip(&before), "same keys, same bytes");
        // Sorted here, not with `write_order`, so that a wrong write order cannot hide itself.
        let order = |mut kvs: Vec<KeyValue>| {
            kvs.sort_by_key(|kv| kv.mod_revision);
            kvs.into_iter().map(|kv| kv.key).collect::<Vec<_>>()
        };
        assert_eq!(order(after.clone()), order(before), "same resourceVersion order");
        // A watch from before the copy is refused (compacted), so stale clients re-list.
        let first = after.iter().map(|kv| kv.mod_revision).min().unwrap();
        match to.watch(ALL, first - 1).await {
            Err(StoreError::Compacted { .. }) => {}
            Err(other) => panic!("expected Compacted, got {other:?}"),
            Ok(_) => panic!("expected Compacted, the watch started"),
        }
        // A second copy into the now non-empty target is refused and writes nothing.
        let err = copy_snapshot(from, to, |_, _| {}).await.unwrap_err();
        assert!(matches!(err, CopyError::TargetNotEmpty { .. }), "{err}");
        assert_eq!(to.current_revision().await.unwrap(), target_revision);
    }
}

#[cfg(test)]
mod tests {
    use super::checks::*;
    use super::*;
    use crate::MemoryStore;

    #[tokio::test]
    async fn memory_to_memory_keeps_keys_values_and_order() {
        let (from, to) = (MemoryStore::new(), MemoryStore::new());
        write_history(from.as_ref()).await;
        // The target starts at another revision than the source, as a fresh etcd does.
        to.create("/scratch", "x".into()).await.unwrap();
        to.delete("/scratch", None).await.unwrap();
        check_copy(from.as_ref(), to.as_ref()).await;
    }

    #[tokio::test]
    async fn sqlite_to_memory_reads_one_revision_across_pages() {
        let dir = tempfile::tempdir().unwrap();
        let from = crate::SqliteStore::open(&dir.path().join("store.db")).unwrap();
        for i in 0..(PAGE + 7) {
            from.create(&format!("/registry/configmaps/default/c{i:04}"), "{}".into()).await.unwrap();
        }
        write_history(from.as_ref()).await;
        check_copy(from.as_ref(), MemoryStore::new().as_ref()).await;
    }

    #[tokio::test]
    async fn an_empty_source_copies_nothing() {
        let (from, to) = (MemoryStore::new(), MemoryStore::new());
        let summary = copy_snapshot(from.as_ref(), to.as_ref(), |_, _| {}).await.unwrap();
        assert_eq!((summary.keys, summary.bytes), (0, 0));
    }

    #[test]
    fn write_order_is_by_source_revision_then_key() {
        let kv = |key: &str, rev| KeyValue { key: key.into(), value: "".into(), create_revision: 1, mod_revision: rev };
        let ordered = write_order(vec![kv("/a", 9), kv("/c", 3), kv("/b", 3)]);
        let keys: Vec<&str> = ordered.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["/b", "/c", "/a"]);
    }
}
