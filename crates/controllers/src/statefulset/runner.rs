//! The StatefulSet controller's executor: informers for sets, pods, claims and revisions, a
//! work queue of sets, and the thin loop that asks [`super::sync`] for a plan and performs it
//! through the API (module docs of [`crate::statefulset`] describe the contract).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use berth_runtime::{revision_of, Change, EventRecorder, Informer, WorkQueue};
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{ObjectReference, PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::watcher;
use kube::ResourceExt;

use futures::StreamExt;

use super::{batches, sync, Action, ErrorKind, Event, EventType, Step, SyncInput};

/// How long a sync waits for its caches to show the controller's own last writes.
const CACHE_SYNC_WAIT: Duration = Duration::from_secs(2);
/// Syncs running at once (on different sets), as upstream's `--concurrent-statefulset-syncs`.
const WORKERS: usize = 5;
/// Calls of one slow-start batch in flight at once: each is a request on its own connection,
/// and the API server's group commit makes them cheap together; more would only open more
/// TLS connections.
const MAX_CONCURRENT_CALLS: usize = 32;
/// Longest pause between two syncs of one set (see the worker loop).
const MAX_SETTLE: Duration = Duration::from_millis(100);

type Key = (String, String);

struct Controller {
    client: kube::Client,
    recorder: EventRecorder,
    queue: WorkQueue<Key>,
    sets: Informer<StatefulSet>,
    pods: Informer<Pod>,
    claims: Informer<PersistentVolumeClaim>,
    revisions: Informer<ControllerRevision>,
    /// Highest revision this controller wrote, per resource, so a sync waits for each cache to
    /// show the controller's own writes to that resource (each informer only sees its own).
    last_write: LastWrites,
}

#[derive(Default)]
struct LastWrites {
    sets: AtomicI64,
    pods: AtomicI64,
    claims: AtomicI64,
    revisions: AtomicI64,
}

/// Which informer a written object belongs to.
trait Tracked {
    fn slot(w: &LastWrites) -> &AtomicI64;
}
impl Tracked for StatefulSet {
    fn slot(w: &LastWrites) -> &AtomicI64 {
        &w.sets
    }
}
impl Tracked for Pod {
    fn slot(w: &LastWrites) -> &AtomicI64 {
        &w.pods
    }
}
impl Tracked for PersistentVolumeClaim {
    fn slot(w: &LastWrites) -> &AtomicI64 {
        &w.claims
    }
}
impl Tracked for ControllerRevision {
    fn slot(w: &LastWrites) -> &AtomicI64 {
        &w.revisions
    }
}

/// Run the StatefulSet controller until the returned task is aborted.
pub fn spawn(client: kube::Client, recorder: EventRecorder) -> tokio::task::JoinHandle<()> {
    let queue: WorkQueue<Key> = WorkQueue::new();
    let key_of = |ns: Option<String>, name: String| (ns.unwrap_or_default(), name);

    let q = queue.clone();
    let sets = Informer::spawn(Api::<StatefulSet>::all(client.clone()), watcher::Config::default(), move |c| {
        let s = match c {
            Change::Applied(s) | Change::Deleted(s) => s,
        };
        q.add(key_of(s.namespace(), s.name_any()));
    });
    // Pods, claims and revisions: enqueue the owning set; orphans enqueue every set of the
    // namespace (the sync decides whether to adopt).
    let owner_enqueuer = |q: WorkQueue<Key>, sets: Informer<StatefulSet>| {
        move |ns: Option<String>, owners: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference]| {
            let ns = ns.unwrap_or_default();
            match owners.iter().find(|o| o.controller == Some(true)) {
                Some(o) if o.kind == "StatefulSet" => q.add((ns, o.name.clone())),
                Some(_) => {}
                None => {
                    for s in sets.state().iter().filter(|s| s.namespace().as_deref() == Some(ns.as_str())) {
                        q.add((ns.clone(), s.name_any()));
                    }
                }
            }
        }
    };
    let enqueue = owner_enqueuer(queue.clone(), sets.clone());
    let pods = Informer::spawn(Api::<Pod>::all(client.clone()), watcher::Config::default(), move |c| {
        let p = match c {
            Change::Applied(p) | Change::Deleted(p) => p,
        };
        enqueue(p.namespace(), p.owner_references());
    });
    let enqueue = owner_enqueuer(queue.clone(), sets.clone());
    let claims = Informer::spawn(Api::<PersistentVolumeClaim>::all(client.clone()), watcher::Config::default(), move |c| {
        let p = match c {
            Change::Applied(p) | Change::Deleted(p) => p,
        };
        enqueue(p.namespace(), p.owner_references());
    });
    let enqueue = owner_enqueuer(queue.clone(), sets.clone());
    let revisions = Informer::spawn(Api::<ControllerRevision>::all(client.clone()), watcher::Config::default(), move |c| {
        let r = match c {
            Change::Applied(r) | Change::Deleted(r) => r,
        };
        enqueue(r.namespace(), r.owner_references());
    });
    let ctl = Arc::new(Controller { client, recorder, queue, sets, pods, claims, revisions, last_write: LastWrites::default() });
    tokio::spawn(async move {
        ctl.sets.ready().await;
        ctl.pods.ready().await;
        ctl.claims.ready().await;
        ctl.revisions.ready().await;
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                let ctl = ctl.clone();
                tokio::spawn(async move {
                    loop {
                        let key = ctl.queue.next().await;
                        let mut decide_time = Duration::ZERO;
                        match ctl.sync_one(&key, &mut decide_time).await {
                            Ok(requeue) => {
                                ctl.queue.forget(&key);
                                if let Some(after) = requeue {
                                    ctl.queue.add_after(key.clone(), after);
                                }
                            }
                            Err(e) => {
                                tracing::debug!(namespace = %key.0, set = %key.1, error = %e, "statefulset sync failed; requeueing");
                                ctl.queue.add_rate_limited(key.clone());
                            }
                        }
                        // Let the set's pods settle for as long as deciding took before the
                        // next sync of it: events arriving meanwhile coalesce into that one
                        // sync, so a large set is not re-decided once per pod event (at most
                        // half of a worker's time goes to deciding one set). Small sets
                        // decide in a millisecond or two and barely wait.
                        tokio::time::sleep(decide_time.min(MAX_SETTLE)).await;
                        ctl.queue.done(&key);
                    }
                })
            })
            .collect();
        for w in workers {
            let _ = w.await;
        }
    })
}

/// A failed API call, classified for the plan.
struct CallError {
    kind: ErrorKind,
    message: String,
}

impl From<kube::Error> for CallError {
    fn from(e: kube::Error) -> Self {
        match e {
            kube::Error::Api(s) => CallError {
                kind: match s.reason.as_str() {
                    "NotFound" => ErrorKind::NotFound,
                    "AlreadyExists" => ErrorKind::AlreadyExists,
                    "Conflict" => ErrorKind::Conflict,
                    "Invalid" => ErrorKind::Invalid,
                    _ => ErrorKind::Other,
                },
                message: s.message.clone(),
            },
            other => CallError { kind: ErrorKind::Other, message: other.to_string() },
        }
    }
}

impl Controller {
    fn note_write<K: kube::Resource + Tracked>(&self, o: &K) {
        K::slot(&self.last_write).fetch_max(revision_of(o), Ordering::SeqCst);
    }

    /// One sync of one set. Ok(Some(d)): sync again after `d`.
    /// `decide_time`: set to how long reading the caches and deciding took.
    async fn sync_one(&self, key: &Key, decide_time: &mut Duration) -> Result<Option<Duration>, String> {
        let (ns, name) = key;
        let waited = std::time::Instant::now();
        // Decide from caches that include everything this controller wrote so far.
        let w = &self.last_write;
        for ok in [
            self.sets.wait_for(w.sets.load(Ordering::SeqCst), CACHE_SYNC_WAIT).await,
            self.pods.wait_for(w.pods.load(Ordering::SeqCst), CACHE_SYNC_WAIT).await,
            self.claims.wait_for(w.claims.load(Ordering::SeqCst), CACHE_SYNC_WAIT).await,
            self.revisions.wait_for(w.revisions.load(Ordering::SeqCst), CACHE_SYNC_WAIT).await,
        ] {
            if !ok {
                tracing::debug!(namespace = %ns, set = %name, "caches lag behind the controller's writes");
            }
        }
        // Deciding starts here (the waits above are not work).
        let started = std::time::Instant::now();
        let Some(set) = self
            .sets
            .state()
            .into_iter()
            .find(|s| s.namespace().as_deref() == Some(ns.as_str()) && s.name_any() == *name)
        else {
            return Ok(None);
        };
        let in_ns = |o: &Option<String>| o.as_deref() == Some(ns.as_str());
        // Only pods this set may own matter (upstream's getPodsForStatefulSet claims nothing
        // another controller owns); skipping the rest keeps a sync's cost independent of the
        // other workloads in the namespace.
        let set_uid = set.uid();
        let ours_or_orphan = |p: &Pod| match p.owner_references().iter().find(|o| o.controller == Some(true)) {
            Some(o) => Some(&o.uid) == set_uid.as_ref(),
            None => true,
        };
        let pods: Vec<Arc<Pod>> = self.pods.state().into_iter().filter(|p| in_ns(&p.namespace()) && ours_or_orphan(p)).collect();
        let claims: Vec<PersistentVolumeClaim> =
            self.claims.state().iter().filter(|p| in_ns(&p.namespace())).map(|p| (**p).clone()).collect();
        let revisions: Vec<ControllerRevision> =
            self.revisions.state().iter().filter(|p| in_ns(&p.namespace())).map(|p| (**p).clone()).collect();
        let plan = sync(&SyncInput { set: &set, pods: &pods, claims: &claims, revisions: &revisions, now: chrono::Utc::now() });
        let decided = started.elapsed();
        *decide_time = decided;

        let set_ref = ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some("StatefulSet".into()),
            namespace: set.namespace(),
            name: Some(set.name_any()),
            uid: set.uid(),
            resource_version: set.resource_version(),
            ..Default::default()
        };
        for step in &plan.prelude {
            self.perform(ns, &set_ref, step).await?;
        }
        let parallel = set.spec.as_ref().and_then(|s| s.pod_management_policy.as_deref()) == Some("Parallel");
        let mut failure = self.perform_steps(ns, &set_ref, &plan.steps, parallel).await.err();
        if let Some(status) = &plan.status {
            self.write_status(ns, name, status.clone()).await?;
        }
        for step in &plan.history {
            if let Err(e) = self.perform(ns, &set_ref, step).await {
                failure.get_or_insert(e);
                break;
            }
        }
        tracing::debug!(
            namespace = %ns, set = %name, pods = pods.len(), steps = plan.steps.len(),
            decide_ms = decided.as_millis() as u64, total_ms = waited.elapsed().as_millis() as u64,
            "statefulset synced"
        );
        match failure {
            Some(e) => Err(e),
            None => Ok(plan.requeue_after),
        }
    }

    /// Perform a plan's `steps` until the first failure. A Parallel set's pod creations and
    /// scale-down deletions run concurrently in slow-start batches (1, 2, 4, …), as upstream's
    /// `slowStartBatch`: a batch with a failure is the last one started.
    async fn perform_steps(&self, ns: &str, set_ref: &ObjectReference, steps: &[Step], parallel: bool) -> Result<(), String> {
        for group in batches::group(steps, parallel) {
            match group {
                batches::Group::Single(i) => self.perform(ns, set_ref, &steps[i]).await?,
                batches::Group::Batch(units) => {
                    let mut rest = units.as_slice();
                    for size in batches::batch_sizes(units.len()) {
                        let (batch, later) = rest.split_at(size);
                        rest = later;
                        let results: Vec<Result<(), String>> = futures::stream::iter(batch.iter().cloned())
                            .map(|unit| async move {
                                for step in &steps[unit] {
                                    self.perform(ns, set_ref, step).await?;
                                }
                                Ok(())
                            })
                            .buffer_unordered(MAX_CONCURRENT_CALLS)
                            .collect()
                            .await;
                        if let Some(e) = results.into_iter().find_map(Result::err) {
                            return Err(e);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn record(&self, set_ref: &ObjectReference, e: &Event) {
        let t = match e.type_ {
            EventType::Normal => berth_runtime::EventType::Normal,
            EventType::Warning => berth_runtime::EventType::Warning,
        };
        self.recorder.record(set_ref.clone(), t, &e.reason, &e.message);
    }

    /// Perform one step, recording its events; Err ends the list it belongs to.
    async fn perform(&self, ns: &str, set_ref: &ObjectReference, step: &Step) -> Result<(), String> {
        match self.call(ns, &step.action).await {
            Ok(()) => {
                for e in &step.on_success {
                    self.record(set_ref, e);
                }
                Ok(())
            }
            Err(err) => {
                for e in step.failure_events(err.kind, &err.message) {
                    self.record(set_ref, &e);
                }
                if step.tolerates(err.kind) {
                    Ok(())
                } else {
                    Err(err.message)
                }
            }
        }
    }

    async fn call(&self, ns: &str, action: &Action) -> Result<(), CallError> {
        let c = self.client.clone();
        let pp = PostParams::default();
        let delete_uid = |uid: &str| DeleteParams {
            preconditions: Some(Preconditions { uid: Some(uid.to_string()), resource_version: None }),
            ..DeleteParams::default()
        };
        match action {
            Action::RecheckSetBeforeAdoption { name, uid } => {
                let fresh = Api::<StatefulSet>::namespaced(c, ns).get(name).await?;
                if fresh.uid().as_deref() != Some(uid.as_str()) || fresh.metadata.deletion_timestamp.is_some() {
                    return Err(CallError {
                        kind: ErrorKind::Other,
                        message: format!("original StatefulSet {ns}/{name} is gone or being deleted; not adopting"),
                    });
                }
            }
            Action::AdoptPod { name, patch, .. } | Action::ReleasePod { name, patch, .. } => {
                let p = Api::<Pod>::namespaced(c, ns).patch(name, &PatchParams::default(), &Patch::Strategic(patch)).await?;
                self.note_write(&p);
            }
            Action::AdoptControllerRevision { name, patch, .. } => {
                let r = Api::<ControllerRevision>::namespaced(c, ns)
                    .patch(name, &PatchParams::default(), &Patch::Strategic(patch))
                    .await?;
                self.note_write(&r);
            }
            Action::CreateControllerRevision { revision } => {
                let api = Api::<ControllerRevision>::namespaced(c, ns);
                match api.create(&pp, revision).await {
                    Ok(r) => self.note_write(&r),
                    Err(kube::Error::Api(s)) if s.reason == "AlreadyExists" => {
                        let existing = api.get(&revision.name_any()).await?;
                        if !super::revision_data_equal(&existing, revision) {
                            return Err(CallError {
                                kind: ErrorKind::AlreadyExists,
                                message: format!("controllerrevision {} exists with other data (hash collision)", revision.name_any()),
                            });
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Action::UpdateControllerRevision { revision } => {
                let r = Api::<ControllerRevision>::namespaced(c, ns).replace(&revision.name_any(), &pp, revision).await?;
                self.note_write(&r);
            }
            Action::DeleteControllerRevision { name, uid } => {
                Api::<ControllerRevision>::namespaced(c, ns).delete(name, &delete_uid(uid)).await?;
            }
            Action::CreateClaim { claim } => {
                let r = Api::<PersistentVolumeClaim>::namespaced(c, ns).create(&pp, claim).await?;
                self.note_write(&r);
            }
            Action::UpdateClaim { claim } => {
                let r = Api::<PersistentVolumeClaim>::namespaced(c, ns).replace(&claim.name_any(), &pp, claim).await?;
                self.note_write(&r);
            }
            Action::CreatePod { pod } => {
                let r = Api::<Pod>::namespaced(c, ns).create(&pp, pod).await?;
                self.note_write(&r);
            }
            Action::UpdatePod { pod } => {
                let r = Api::<Pod>::namespaced(c, ns).replace(&pod.name_any(), &pp, pod).await?;
                self.note_write(&r);
            }
            Action::DeletePod { name, uid, .. } => {
                let r = Api::<Pod>::namespaced(c, ns).delete(name, &delete_uid(uid)).await?;
                if let either::Either::Left(p) = r {
                    self.note_write(&p);
                }
            }
            Action::RecordEvent(_) => {}
            Action::Fail { message } => return Err(CallError { kind: ErrorKind::Other, message: message.clone() }),
        }
        Ok(())
    }

    /// PUT `/status`, retrying on conflict with the fresh object and keeping its conditions.
    async fn write_status(&self, ns: &str, name: &str, status: k8s_openapi::api::apps::v1::StatefulSetStatus) -> Result<(), String> {
        let api = Api::<StatefulSet>::namespaced(self.client.clone(), ns);
        let mut current = self
            .sets
            .state()
            .into_iter()
            .find(|s| s.namespace().as_deref() == Some(ns) && s.name_any() == name)
            .map(|s| (*s).clone());
        for _ in 0..5 {
            let mut set = match current.take() {
                Some(s) => s,
                None => api.get(name).await.map_err(|e| e.to_string())?,
            };
            let mut new = status.clone();
            new.conditions = set.status.as_ref().and_then(|s| s.conditions.clone());
            set.status = Some(new);
            match api.replace_status(name, &PostParams::default(), &set).await {
                Ok(s) => {
                    self.note_write(&s);
                    return Ok(());
                }
                Err(kube::Error::Api(s)) if s.reason == "Conflict" => continue,
                Err(kube::Error::Api(s)) if s.reason == "NotFound" => return Ok(()),
                Err(e) => return Err(e.to_string()),
            }
        }
        Err(format!("status of statefulset {ns}/{name}: too many conflicts"))
    }
}
