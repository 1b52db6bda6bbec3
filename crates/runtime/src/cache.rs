//! An informer: a reflector (watch-fed cache) of one resource that also remembers the highest
//! resourceVersion it has seen. berth's store has one global revision, so a component that
//! just wrote revision R can wait until its cache has seen R before deciding again — its next
//! decision then never works from a view older than its own writes.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Resource;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

/// What changed, for the informer's handler.
pub enum Change<'a, K> {
    Applied(&'a K),
    Deleted(&'a K),
}

pub struct Informer<K: Resource + 'static>
where
    K::DynamicType: Hash + Eq,
{
    store: Store<K>,
    seen: Arc<AtomicI64>,
    advanced: Arc<Notify>,
}

impl<K: Resource + 'static> Clone for Informer<K>
where
    K::DynamicType: Hash + Eq,
{
    fn clone(&self) -> Self {
        Informer { store: self.store.clone(), seen: self.seen.clone(), advanced: self.advanced.clone() }
    }
}

/// An object's resourceVersion as the store's global revision (0 when absent), what
/// [`Informer::wait_for`] compares: berth's store has one revision counter for all kinds.
pub fn revision_of<K: Resource>(obj: &K) -> i64 {
    obj.meta().resource_version.as_deref().and_then(|r| r.parse().ok()).unwrap_or(0)
}

impl<K> Informer<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Hash + Eq + Clone + Default,
{
    /// Start watching `api`; `on_change` runs for every applied or deleted object, after the
    /// cache holds the change.
    pub fn spawn(api: Api<K>, config: watcher::Config, on_change: impl Fn(Change<'_, K>) + Send + Sync + 'static) -> Informer<K> {
        let (store, writer) = reflector::store();
        let seen = Arc::new(AtomicI64::new(0));
        let advanced = Arc::new(Notify::new());
        let (seen2, advanced2) = (seen.clone(), advanced.clone());
        let stream = reflector::reflector(writer, watcher(api, config).default_backoff());
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(watcher::Event::Apply(o)) | Ok(watcher::Event::InitApply(o)) => {
                        seen2.fetch_max(revision_of(&o), Ordering::SeqCst);
                        on_change(Change::Applied(&o));
                    }
                    Ok(watcher::Event::Delete(o)) => {
                        seen2.fetch_max(revision_of(&o), Ordering::SeqCst);
                        on_change(Change::Deleted(&o));
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "informer watch error (retrying)"),
                }
                advanced2.notify_waiters();
            }
        });
        Informer { store, seen, advanced }
    }

    pub async fn ready(&self) {
        let _ = self.store.wait_until_ready().await;
    }

    pub fn state(&self) -> Vec<Arc<K>> {
        self.store.state()
    }

    pub fn store(&self) -> &Store<K> {
        &self.store
    }

    /// The highest revision this cache has seen.
    pub fn seen(&self) -> i64 {
        self.seen.load(Ordering::SeqCst)
    }

    /// Wait (at most `timeout`) until the cache has seen `revision`.
    pub async fn wait_for(&self, revision: i64, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.advanced.notified();
            if self.seen() >= revision {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.seen() >= revision;
            }
        }
    }
}
