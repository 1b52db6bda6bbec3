//! Periodic compaction, for any backend: history older than the newest `retain_revisions`
//! revisions is forgotten, so the database does not grow with every write ever made. Upstream
//! kube-apiserver compacts etcd every 5 minutes; we keep a revision count instead of an age
//! (watchers resuming from further back get `Compacted` and re-list, as upstream clients do).

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::{Result, Revision, Store};

/// Compacts `store` to `current - retain_revisions` if that is past its compacted revision.
/// Returns the revision compacted to, or `None` when there was nothing to do.
pub async fn compact_once(
    store: &dyn Store,
    retain_revisions: Revision,
) -> Result<Option<Revision>> {
    let current = store.current_revision().await?;
    let target = current - retain_revisions.max(0);
    if target <= store.stats().compacted_revision {
        return Ok(None);
    }
    store.compact(target).await?;
    Ok(Some(target))
}

/// Runs [`compact_once`] every `interval` until the store is dropped (the task holds only a
/// weak reference) or the returned handle is aborted. Every run is logged; failures are logged
/// as warnings on every run, with the growing `compaction_lag`, so a stalled compaction shows.
pub fn spawn_compactor(
    store: &Arc<dyn Store>,
    interval: Duration,
    retain_revisions: Revision,
) -> JoinHandle<()> {
    let store: Weak<dyn Store> = Arc::downgrade(store);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failures = 0u64;
        loop {
            ticks.tick().await;
            let Some(store) = store.upgrade() else { return };
            let started = Instant::now();
            let outcome = compact_once(store.as_ref(), retain_revisions).await;
            let stats = store.stats();
            match outcome {
                Ok(Some(revision)) => {
                    failures = 0;
                    tracing::info!(
                        revision,
                        current = stats.current_revision,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "store: compacted"
                    );
                }
                Ok(None) => {
                    failures = 0;
                    tracing::debug!(
                        current = stats.current_revision,
                        compacted = stats.compacted_revision,
                        "store: nothing to compact"
                    );
                }
                Err(err) => {
                    failures += 1;
                    tracing::warn!(
                        error = %err,
                        consecutive_failures = failures,
                        compaction_lag = stats.compaction_lag,
                        "store: compaction failed"
                    );
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    #[tokio::test]
    async fn compact_once_keeps_the_newest_revisions() {
        let store = MemoryStore::new();
        for i in 0..10 {
            store.create(&format!("/k/{i}"), "v".into()).await.unwrap();
        }
        assert_eq!(compact_once(store.as_ref(), 20).await.unwrap(), None);
        assert_eq!(compact_once(store.as_ref(), 3).await.unwrap(), Some(7));
        assert_eq!(store.stats().compacted_revision, 7);
        assert_eq!(store.stats().compaction_lag, 0);
        assert_eq!(compact_once(store.as_ref(), 3).await.unwrap(), None);
    }

    #[tokio::test]
    async fn spawned_compactor_runs_until_the_store_is_dropped() {
        let memory = MemoryStore::new();
        let store: Arc<dyn Store> = memory.clone();
        let handle = spawn_compactor(&store, Duration::from_millis(10), 2);
        for i in 0..5 {
            store.create(&format!("/k/{i}"), "v".into()).await.unwrap();
        }
        tokio::time::timeout(Duration::from_secs(5), async {
            while store.stats().compacted_revision != 3 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("compactor did not compact");
        drop(store);
        drop(memory);
        tokio::time::timeout(Duration::from_secs(5), handle)
            .await
            .expect("compactor outlived its store")
            .unwrap();
    }
}
