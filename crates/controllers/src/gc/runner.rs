//! The running garbage collector: one watch per served resource feeds the [`Graph`]; workers
//! take [`Work`] from a [`WorkQueue`], re-read what they act on, and perform the decisions of
//! [`plan`](super::plan) through [`ops`](super::ops).
//!
//! Event-driven: after the initial list of every resource there is no scanning except a slow
//! resync (default 5 min) that requeues only items that may still need work.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::Client;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::graph::{Graph, Work};
use super::model::{Object, OwnerRef};
use super::ops::{self, api_resource, GcError};
use super::plan::{actions_for, decide_dependent, foreground_step, orphan_steps, Action, ForegroundStep, OwnerState};
use berth_api::registry::{ResourceInfo, REGISTRY};

/// How the collector runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Concurrent workers (upstream `--concurrent-gc-syncs`, default 20; berth is smaller).
    pub workers: usize,
    /// How often every item that may still need work is requeued.
    pub resync_period: Duration,
    /// (group, plural) of resources not watched (upstream `GCIgnoredResources`). Their
    /// objects are never collected, but still count as owners: ownership is always checked
    /// with a live GET.
    pub ignored_resources: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            workers: 4,
            resync_period: Duration::from_secs(300),
            // Upstream `DefaultIgnoredResources`: core events are many, short-lived, and
            // `/v1, Kind=Event` may not be an owner.
            ignored_resources: vec![(String::new(), "events".to_string())],
        }
    }
}

impl Options {
    /// The resources whose objects the collector tracks.
    pub fn watched_resources(&self) -> Vec<&'static ResourceInfo> {
        REGISTRY
            .iter()
            .filter(|i| !self.ignored_resources.iter().any(|(g, p)| (g.as_str(), p.as_str()) == (i.group, i.plural)))
            .collect()
    }
}

/// Run the garbage collector with default [`Options`] until `shutdown` completes.
pub async fn run(client: Client, shutdown: impl Future<Output = ()> + Send) {
    run_with(client, Options::default(), shutdown).await
}

pub async fn run_with(client: Client, options: Options, shutdown: impl Future<Output = ()> + Send) {
    let gc = Arc::new(Collector { client, graph: Mutex::new(Graph::new()), queue: super::queue::WorkQueue::new() });
    let mut tasks = JoinSet::new();
    let resources = options.watched_resources();
    let (listed_tx, mut listed_rx) = mpsc::unbounded_channel::<usize>();
    for (i, info) in resources.iter().copied().enumerate() {
        tasks.spawn(Arc::clone(&gc).watch(i, info, listed_tx.clone()));
    }
    drop(listed_tx);
    for _ in 0..options.workers.max(1) {
        tasks.spawn(Arc::clone(&gc).worker());
    }
    let sync_and_resync = {
        let gc = Arc::clone(&gc);
        async move {
            // Initial sync: every resource listed once.
            let mut listed = HashSet::new();
            while listed.len() < resources.len() {
                match listed_rx.recv().await {
                    Some(i) => {
                        listed.insert(i);
                    }
                    None => return,
                }
            }
            let work = gc.lock_graph().mark_synced();
            tracing::info!(objects = gc.lock_graph().len(), queued = work.len(), "garbage collector synced");
            gc.enqueue(work);
            let mut tick = tokio::time::interval(options.resync_period);
            tick.tick().await;
            loop {
                tick.tick().await;
                let work = gc.lock_graph().full_pass();
                gc.enqueue(work);
            }
        }
    };
    tokio::select! {
        _ = shutdown => {}
        _ = sync_and_resync => {
            // Only ends if every watch task ended, which they do not; keep serving until shutdown.
            std::future::pending::<()>().await
        }
    }
    gc.queue.shut_down();
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}

struct Collector {
    client: Client,
    graph: Mutex<Graph>,
    queue: Arc<super::queue::WorkQueue<Work>>,
}

impl Collector {
    fn lock_graph(&self) -> std::sync::MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn enqueue(&self, work: Vec<Work>) {
        for w in work {
            self.queue.add(w);
        }
    }

    /// Feed one resource's watch into the graph. `listed` hears the resource's index after
    /// its first complete list.
    async fn watch(self: Arc<Self>, index: usize, info: &'static ResourceInfo, listed: mpsc::UnboundedSender<usize>) {
        let ar = api_resource(info);
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
        let api_version = info.api_version();
        let to_object = |o: &DynamicObject| Object::from_meta(&api_version, info.kind, &o.metadata);
        let mut stream = watcher::watcher(api, watcher::Config::default()).default_backoff().boxed();
        // uids seen during the current (re-)list; `None` outside a list.
        let mut relisting: Option<HashSet<String>> = None;
        while let Some(event) = stream.next().await {
            let work = match event {
                Ok(Event::Apply(o)) => to_object(&o).map(|o| self.lock_graph().upsert(o)).unwrap_or_default(),
                Ok(Event::Delete(o)) => to_object(&o).map(|o| self.lock_graph().delete(&o.id.uid)).unwrap_or_default(),
                Ok(Event::Init) => {
                    relisting = Some(HashSet::new());
                    vec![]
                }
                Ok(Event::InitApply(o)) => match to_object(&o) {
                    Some(o) => {
                        if let Some(seen) = relisting.as_mut() {
                            seen.insert(o.id.uid.clone());
                        }
                        self.lock_graph().upsert(o)
                    }
                    None => vec![],
                },
                Ok(Event::InitDone) => {
                    let seen = relisting.take().unwrap_or_default();
                    let work = self.lock_graph().replace_resource(info.group, info.kind, &seen);
                    let _ = listed.send(index);
                    work
                }
                Err(e) => {
                    tracing::warn!(resource = %info.qualified_plural(), error = %e, "garbage collector watch failed; retrying");
                    vec![]
                }
            };
            self.enqueue(work);
        }
    }

    async fn worker(self: Arc<Self>) {
        while let Some(item) = self.queue.get().await {
            match self.process(&item).await {
                Ok(()) => self.queue.forget(&item),
                Err(GcError::NamespacedOwnerOfClusterScoped) => {
                    tracing::warn!(?item, "cluster-scoped object refers to a namespaced owner; ignoring it");
                    self.queue.forget(&item);
                }
                Err(e) => {
                    let delay = self.queue.add_rate_limited(item.clone());
                    tracing::debug!(?item, error = %e, ?delay, "garbage collection failed; retrying");
                }
            }
            self.queue.done(&item);
        }
    }

    async fn process(&self, item: &Work) -> Result<(), GcError> {
        match item {
            Work::AttemptToDelete(uid) => self.attempt_to_delete(uid).await,
            Work::AttemptToOrphan(uid) => self.attempt_to_orphan(uid).await,
        }
    }

    async fn execute_all(&self, actions: &[Action]) -> Result<(), GcError> {
        for a in actions {
            tracing::debug!(action = ?a, "garbage collector");
            ops::execute(&self.client, a).await?;
        }
        Ok(())
    }

    /// Upstream `attemptToDeleteItem`.
    async fn attempt_to_delete(&self, uid: &str) -> Result<(), GcError> {
        let Some(node) = self.lock_graph().get(uid).cloned() else { return Ok(()) };
        if node.being_deleted && !node.deleting_dependents() {
            // Deletion is a one-way trip; its dependents are handled once it is gone.
            return Ok(());
        }
        let Some(latest) = ops::get_latest(&self.client, &node.id).await? else {
            // Gone (or replaced by a namesake): same as observing its deletion.
            let work = self.lock_graph().delete(uid);
            self.enqueue(work);
            return Ok(());
        };
        if latest.deleting_dependents() {
            let step = {
                let g = self.lock_graph();
                foreground_step(&latest, &g.dependents(uid))
            };
            return match step {
                ForegroundStep::RemoveFinalizer => {
                    self.execute_all(&[Action::RemoveFinalizer {
                        target: latest.id.clone(),
                        finalizer: super::model::FINALIZER_FOREGROUND,
                    }])
                    .await
                }
                ForegroundStep::AttemptToDelete(deps) => {
                    self.enqueue(deps.into_iter().map(|d| Work::AttemptToDelete(d.uid)).collect());
                    Ok(())
                }
            };
        }
        if latest.being_deleted || latest.owners.is_empty() {
            return Ok(());
        }
        let mut owners = Vec::with_capacity(latest.owners.len());
        for r in &latest.owners {
            owners.push((r.clone(), self.classify(&latest, r).await?));
        }
        let (has_dependents, dependent_deleting_dependents) = {
            let g = self.lock_graph();
            let deps = g.dependents(uid);
            (!deps.is_empty(), deps.iter().any(|d| d.deleting_dependents()))
        };
        let decision = decide_dependent(&latest, &owners, has_dependents, dependent_deleting_dependents);
        self.execute_all(&actions_for(&latest, decision)).await
    }

    /// Upstream `isDangling` + `classifyReferences` for one ownerReference: a live GET of the
    /// owner by name, compared by uid, so an owner the watches have not shown yet is never
    /// taken for absent.
    async fn classify(&self, dependent: &Object, r: &OwnerRef) -> Result<OwnerState, GcError> {
        let ns = dependent.id.namespace.as_deref();
        if self.lock_graph().is_known_absent(&r.uid, ns) {
            return Ok(OwnerState::Dangling);
        }
        let info = ops::resolve(&r.api_version, &r.kind)?;
        if ns.is_none() && info.namespaced() {
            return Err(GcError::NamespacedOwnerOfClusterScoped);
        }
        let looked_in = if info.namespaced() { ns } else { None };
        match ops::get(&self.client, info, looked_in, &r.name).await? {
            Some(owner) if owner.id.uid == r.uid => Ok(if owner.deleting_dependents() {
                OwnerState::WaitingForDependentsDeletion
            } else {
                OwnerState::Solid
            }),
            _ => {
                self.lock_graph().record_absent(&r.uid, looked_in);
                Ok(OwnerState::Dangling)
            }
        }
    }

    /// Upstream `attemptToOrphanWorker`.
    async fn attempt_to_orphan(&self, uid: &str) -> Result<(), GcError> {
        let actions = {
            let g = self.lock_graph();
            // Gone, or no longer asking for orphaning (a stale queue entry): nothing to do.
            let Some(owner) = g.get(uid).filter(|o| o.orphaning_dependents()) else { return Ok(()) };
            orphan_steps(owner, &g.dependents(uid))
        };
        self.execute_all(&actions).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_every_served_resource_but_core_events() {
        let watched = Options::default().watched_resources();
        assert_eq!(watched.len(), REGISTRY.len() - 1);
        assert!(!watched.iter().any(|i| (i.group, i.plural) == ("", "events")));
        assert!(watched.iter().any(|i| (i.group, i.plural) == ("events.k8s.io", "events")));
        assert!(watched.iter().any(|i| (i.group, i.kind) == ("apps", "StatefulSet")));
    }
}
