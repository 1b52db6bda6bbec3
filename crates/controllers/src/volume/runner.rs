//! The PersistentVolume controller's executor: informers for volumes, claims, classes and
//! pods, one work queue (and one worker, as upstream) each for claims and volumes, a 15 s
//! resync of everything, and the thin loop that asks [`super::sync_claim`] /
//! [`super::sync_volume`] for actions and performs them (contract in [`crate::volume`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_runtime::{revision_of, Change, EventRecorder, Informer, WorkQueue};
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::ResourceExt;

use super::index::VolumeIndex;
use super::{expand, hostpath, localpath, Action, EventType, RESYNC_PERIOD};

/// How long a sync waits for its caches to show the controller's own last writes.
const CACHE_SYNC_WAIT: Duration = Duration::from_secs(2);
/// Claim syncs run this many at a time. Each bind is four writes, each a durable commit;
/// concurrent syncs share the store's group commits. Two syncs never pick the same volume
/// (see `Controller::reserved`), and a lost race is a Conflict and a retry anyway.
const CLAIM_WORKERS: usize = 8;

type ClaimKey = (String, String);

/// What the controller needs beyond a client.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the local-path provisioner keeps volume directories (`<data dir>/storage`).
    pub storage_root: PathBuf,
}

pub(super) struct Controller {
    pub(super) client: kube::Client,
    recorder: EventRecorder,
    /// Events of the local-path provisioner, under its own source component.
    pub(super) provisioner_events: EventRecorder,
    resizer_events: EventRecorder,
    pub(super) storage_root: PathBuf,
    claim_queue: WorkQueue<ClaimKey>,
    volume_queue: WorkQueue<String>,
    pub(super) volumes: Informer<PersistentVolume>,
    claims: Informer<PersistentVolumeClaim>,
    classes: Informer<StorageClass>,
    pods: Informer<Pod>,
    pub(super) nodes: Informer<Node>,
    index: Arc<VolumeIndex>,
    /// Volumes a claim sync in flight has decided to bind, by the claim's key: other syncs
    /// leave them alone until the volume cache shows the binding.
    reserved: Mutex<HashMap<String, ClaimKey>>,
    /// Highest revisions this controller wrote to volumes and to claims, so a sync waits for
    /// those caches to catch up (per kind: a cache only sees revisions of its own kind).
    last_volume_write: AtomicI64,
    last_claim_write: AtomicI64,
}

/// Run the PersistentVolume controller (and berth's local-path provisioner) until the
/// returned task is aborted.
pub fn spawn(client: kube::Client, recorder: EventRecorder, config: Config) -> tokio::task::JoinHandle<()> {
    let claim_queue: WorkQueue<ClaimKey> = WorkQueue::new();
    let volume_queue: WorkQueue<String> = WorkQueue::new();

    let index = Arc::new(VolumeIndex::default());
    let (cq, vq, ix) = (claim_queue.clone(), volume_queue.clone(), index.clone());
    let volumes = Informer::spawn(Api::<PersistentVolume>::all(client.clone()), watcher::Config::default(), move |c| match c {
        Change::Applied(v) => {
            ix.applied(v);
            vq.add(v.name_any());
        }
        Change::Deleted(v) => {
            ix.deleted(&v.name_any());
            vq.add(v.name_any());
            // Its claim turns Lost.
            if let Some(r) = v.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) {
                cq.add((r.namespace.clone().unwrap_or_default(), r.name.clone().unwrap_or_default()));
            }
        }
    });
    let (cq, vq) = (claim_queue.clone(), volume_queue.clone());
    let claims = Informer::spawn(Api::<PersistentVolumeClaim>::all(client.clone()), watcher::Config::default(), move |c| match c {
        Change::Applied(p) => cq.add((p.namespace().unwrap_or_default(), p.name_any())),
        Change::Deleted(p) => {
            // Its volume is released now.
            if let Some(v) = p.spec.as_ref().and_then(|s| s.volume_name.clone()).filter(|v| !v.is_empty()) {
                vq.add(v);
            }
        }
    });
    let classes = Informer::spawn(Api::<StorageClass>::all(client.clone()), watcher::Config::default(), |_| {});
    let pods = Informer::spawn(Api::<Pod>::all(client.clone()), watcher::Config::default(), |_| {});
    let nodes = Informer::spawn(Api::<Node>::all(client.clone()), watcher::Config::default(), |_| {});
    let ctl = Arc::new(Controller {
        provisioner_events: EventRecorder::new(client.clone(), localpath::COMPONENT),
        resizer_events: EventRecorder::new(client.clone(), expand::RESIZER_COMPONENT),
        storage_root: config.storage_root,
        nodes,
        index,
        reserved: Mutex::new(HashMap::new()),
        client,
        recorder,
        claim_queue,
        volume_queue,
        volumes,
        claims,
        classes,
        pods,
        last_volume_write: AtomicI64::new(0),
        last_claim_write: AtomicI64::new(0),
    });
    tokio::spawn(async move {
        ctl.volumes.ready().await;
        ctl.claims.ready().await;
        ctl.classes.ready().await;
        ctl.pods.ready().await;
        ctl.nodes.ready().await;
        let claim_workers: Vec<_> = (0..CLAIM_WORKERS)
            .map(|_| {
                let c = ctl.clone();
                tokio::spawn(async move {
                    loop {
                        let key = c.claim_queue.next().await;
                        match c.sync_claim(&key).await {
                            Ok(()) => c.claim_queue.forget(&key),
                            Err(e) => {
                                tracing::debug!(namespace = %key.0, claim = %key.1, error = %e, "claim sync failed; requeueing");
                                c.claim_queue.add_rate_limited(key.clone());
                            }
                        }
                        c.claim_queue.done(&key);
                    }
                })
            })
            .collect();
        let c = ctl.clone();
        let volume_worker = tokio::spawn(async move {
            loop {
                let key = c.volume_queue.next().await;
                match c.sync_volume(&key).await {
                    Ok(()) => c.volume_queue.forget(&key),
                    Err(e) => {
                        tracing::debug!(volume = %key, error = %e, "volume sync failed; requeueing");
                        c.volume_queue.add_rate_limited(key.clone());
                    }
                }
                c.volume_queue.done(&key);
            }
        });
        // Upstream's resync: every claim and volume again, which retries Pending claims and
        // repeats their events (counts in `kubectl describe`).
        let c = ctl.clone();
        let resync = tokio::spawn(async move {
            let mut tick = tokio::time::interval(RESYNC_PERIOD);
            tick.tick().await;
            loop {
                tick.tick().await;
                for p in c.claims.state() {
                    c.claim_queue.add((p.namespace().unwrap_or_default(), p.name_any()));
                }
                for v in c.volumes.state() {
                    c.volume_queue.add(v.name_any());
                }
            }
        });
        let _ = tokio::join!(futures::future::join_all(claim_workers), volume_worker, resync);
    })
}

fn by_name<K: kube::Resource + Clone>(mut v: Vec<K>) -> Vec<K> {
    v.sort_by(|a, b| a.meta().name.cmp(&b.meta().name));
    v
}

impl Controller {
    pub(super) fn note_write<K: kube::Resource<DynamicType = ()>>(&self, o: &K) {
        let last = if K::kind(&()) == "PersistentVolume" { &self.last_volume_write } else { &self.last_claim_write };
        last.fetch_max(revision_of(o), Ordering::SeqCst);
    }

    async fn caches_caught_up(&self) {
        let (v, c) = (self.last_volume_write.load(Ordering::SeqCst), self.last_claim_write.load(Ordering::SeqCst));
        for ok in [self.volumes.wait_for(v, CACHE_SYNC_WAIT).await, self.claims.wait_for(c, CACHE_SYNC_WAIT).await] {
            if !ok {
                tracing::debug!("volume/claim caches lag behind the controller's writes");
            }
        }
    }

    /// The pods of `namespace` that use the claim `claim` (all the syncs look at).
    fn pods_using(&self, namespace: &str, claim: &str) -> Vec<Pod> {
        let uses = |p: &Pod| {
            p.namespace().as_deref() == Some(namespace)
                && p.spec.as_ref().and_then(|s| s.volumes.as_ref()).is_some_and(|vs| {
                    vs.iter().any(|v| v.persistent_volume_claim.as_ref().is_some_and(|c| c.claim_name == claim))
                })
        };
        // Only the pods that reference the claim are cloned.
        let pods: Vec<Pod> = self.pods.state().iter().filter(|p| uses(p)).map(|p| (**p).clone()).collect();
        by_name(super::pods_using_claim(namespace, claim, &pods).into_iter().cloned().collect())
    }

    async fn sync_claim(&self, key: &ClaimKey) -> Result<(), String> {
        self.caches_caught_up().await;
        let (ns, name) = key;
        let Some(claim) = self.claims.store().get(&ObjectRef::new(name).within(ns)) else {
            return Ok(());
        };
        let classes: Vec<StorageClass> = by_name(self.classes.state().iter().map(|c| (**c).clone()).collect());
        let pods = self.pods_using(ns, name);
        // Choose and reserve in one step, so concurrent syncs choose different volumes.
        let (actions, chosen) = {
            let mut reserved = self.reserved.lock().expect("reserved lock");
            let skip: HashSet<String> = reserved.iter().filter(|(_, k)| *k != key).map(|(v, _)| v.clone()).collect();
            let volumes = self.index.candidates(&claim, self.volumes.store(), &skip);
            let actions = super::sync_claim(&claim, &volumes, &classes, &pods);
            let chosen: Vec<String> = actions
                .iter()
                .filter_map(|a| match a {
                    Action::UpdateVolume(v) => Some(v.name_any()),
                    _ => None,
                })
                .collect();
            for v in &chosen {
                reserved.insert(v.clone(), key.clone());
            }
            (actions, chosen)
        };
        let outcome = self.execute(actions).await;
        if !chosen.is_empty() {
            // Hold the reservation until the volume cache shows what this sync wrote.
            self.volumes.wait_for(self.last_volume_write.load(Ordering::SeqCst), CACHE_SYNC_WAIT).await;
            let mut reserved = self.reserved.lock().expect("reserved lock");
            for v in chosen {
                if reserved.get(&v) == Some(key) {
                    reserved.remove(&v);
                }
            }
        }
        outcome
    }

    async fn sync_volume(&self, name: &str) -> Result<(), String> {
        self.caches_caught_up().await;
        let Some(volume) = self.volumes.store().get(&ObjectRef::new(name)) else {
            return Ok(());
        };
        let mut claim = None;
        let mut namespace = String::new();
        let mut claim_name = String::new();
        if let Some(r) = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).filter(|r| !r.uid.as_deref().unwrap_or("").is_empty()) {
            namespace = r.namespace.clone().unwrap_or_default();
            claim_name = r.name.clone().unwrap_or_default();
            let cached = self.claims.store().get(&ObjectRef::new(&claim_name).within(&namespace)).map(|c| (*c).clone());
            let phase = volume.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("");
            // Never reclaim on the word of a cache alone: ask the API server when the cache
            // has no such claim, or one with another UID.
            let ask = match &cached {
                None => !matches!(phase, "Released" | "Failed"),
                Some(c) => c.metadata.uid != r.uid,
            };
            claim = if ask {
                match Api::<PersistentVolumeClaim>::namespaced(self.client.clone(), &namespace).get(&claim_name).await {
                    Ok(c) => Some(c),
                    Err(kube::Error::Api(s)) if s.code == 404 => None,
                    Err(e) => return Err(e.to_string()),
                }
            } else {
                cached
            };
        }
        let actions = super::sync_volume(&volume, claim.as_ref(), &self.pods_using(&namespace, &claim_name));
        self.execute(actions).await
    }

    /// Perform actions in order; stop at the first failure.
    async fn execute(&self, actions: Vec<Action>) -> Result<(), String> {
        let mut todo: VecDeque<Action> = actions.into();
        // resourceVersions returned by this list's own writes, by object.
        let mut written: HashMap<String, String> = HashMap::new();
        let pp = PostParams::default();
        let fresh = |written: &HashMap<String, String>, key: &str, meta: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            if let Some(rv) = written.get(key) {
                meta.resource_version = Some(rv.clone());
            }
        };
        while let Some(action) = todo.pop_front() {
            match action {
                Action::UpdateVolume(mut v) => {
                    let key = format!("pv/{}", v.name_any());
                    fresh(&written, &key, &mut v.metadata);
                    let api = Api::<PersistentVolume>::all(self.client.clone());
                    let r = api.replace(&v.name_any(), &pp, &v).await.map_err(|e| e.to_string())?;
                    self.note_write(&r);
                    written.insert(key, r.resource_version().unwrap_or_default());
                }
                Action::UpdateVolumeStatus(mut v) => {
                    let key = format!("pv/{}", v.name_any());
                    fresh(&written, &key, &mut v.metadata);
                    let api = Api::<PersistentVolume>::all(self.client.clone());
                    let r = api.replace_status(&v.name_any(), &pp, &v).await.map_err(|e| e.to_string())?;
                    self.note_write(&r);
                    written.insert(key, r.resource_version().unwrap_or_default());
                }
                Action::UpdateClaim(mut c) => {
                    let ns = c.namespace().unwrap_or_default();
                    let key = format!("pvc/{ns}/{}", c.name_any());
                    fresh(&written, &key, &mut c.metadata);
                    let api = Api::<PersistentVolumeClaim>::namespaced(self.client.clone(), &ns);
                    let r = api.replace(&c.name_any(), &pp, &c).await.map_err(|e| e.to_string())?;
                    self.note_write(&r);
                    written.insert(key, r.resource_version().unwrap_or_default());
                }
                Action::UpdateClaimStatus(mut c) => {
                    let ns = c.namespace().unwrap_or_default();
                    let key = format!("pvc/{ns}/{}", c.name_any());
                    fresh(&written, &key, &mut c.metadata);
                    let api = Api::<PersistentVolumeClaim>::namespaced(self.client.clone(), &ns);
                    let r = api.replace_status(&c.name_any(), &pp, &c).await.map_err(|e| e.to_string())?;
                    self.note_write(&r);
                    written.insert(key, r.resource_version().unwrap_or_default());
                }
                Action::DeleteVolume { name, uid } => {
                    let dp = DeleteParams {
                        preconditions: Some(Preconditions { uid: Some(uid), resource_version: None }),
                        ..DeleteParams::default()
                    };
                    match Api::<PersistentVolume>::all(self.client.clone()).delete(&name, &dp).await {
                        Ok(either::Either::Left(v)) => self.note_write(&v),
                        Ok(either::Either::Right(_)) => {}
                        Err(kube::Error::Api(s)) if s.code == 404 => {}
                        Err(e) => return Err(e.to_string()),
                    }
                }
                Action::RecordEvent { object, event } => {
                    let t = match event.type_ {
                        EventType::Normal => berth_runtime::EventType::Normal,
                        EventType::Warning => berth_runtime::EventType::Warning,
                    };
                    match event.source {
                        None => self.recorder.record(object, t, &event.reason, &event.message),
                        Some(expand::RESIZER_COMPONENT) => self.resizer_events.record(object, t, &event.reason, &event.message),
                        Some(other) => EventRecorder::new(self.client.clone(), other).record(object, t, &event.reason, &event.message),
                    }
                }
                Action::EnqueueClaim { namespace, name } => self.claim_queue.add((namespace, name)),
                Action::RecycleHostPath { volume, path } => {
                    let outcome = tokio::task::spawn_blocking(move || hostpath::scrub(&path)).await.map_err(|e| e.to_string())?;
                    let next = match outcome {
                        Ok(()) => super::recycle_succeeded(&volume),
                        Err(e) => super::recycle_failed(&volume, &e),
                    };
                    for a in next.into_iter().rev() {
                        todo.push_front(a);
                    }
                }
                Action::DeleteHostPath { volume, path } => {
                    let outcome = tokio::task::spawn_blocking(move || hostpath::remove(&path)).await.map_err(|e| e.to_string())?;
                    let next = match outcome {
                        Ok(()) => super::delete_succeeded(&volume),
                        Err(e) => super::delete_failed(&volume, &e),
                    };
                    for a in next.into_iter().rev() {
                        todo.push_front(a);
                    }
                }
                Action::ProvisionLocalPath { claim, class } => self.provision_local_path(&claim, &class).await?,
                Action::DeleteLocalPath { volume, path } => {
                    for a in self.delete_local_path(&volume, &path).await.into_iter().rev() {
                        todo.push_front(a);
                    }
                }
                Action::Fail { message } => return Err(message),
            }
        }
        Ok(())
    }
}
