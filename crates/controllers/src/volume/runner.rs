//! The PersistentVolume controller's executor: informers for volumes, claims, classes and
//! pods, one work queue (and one worker, as upstream) each for claims and volumes, a 15 s
//! resync of everything, and the thin loop that asks [`super::sync_claim`] /
//! [`super::sync_volume`] for actions and performs them (contract in [`crate::volume`]).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use berth_runtime::{Change, EventRecorder, Informer, WorkQueue};
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use kube::runtime::watcher;
use kube::ResourceExt;

use super::{expand, hostpath, localpath, Action, EventType, RESYNC_PERIOD};

/// How long a sync waits for its caches to show the controller's own last writes.
const CACHE_SYNC_WAIT: Duration = Duration::from_secs(2);

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
    /// Highest revision this controller wrote, so a sync waits for its caches to catch up.
    last_write: AtomicI64,
}

/// Run the PersistentVolume controller (and berth's local-path provisioner) until the
/// returned task is aborted.
pub fn spawn(client: kube::Client, recorder: EventRecorder, config: Config) -> tokio::task::JoinHandle<()> {
    let claim_queue: WorkQueue<ClaimKey> = WorkQueue::new();
    let volume_queue: WorkQueue<String> = WorkQueue::new();

    let (cq, vq) = (claim_queue.clone(), volume_queue.clone());
    let volumes = Informer::spawn(Api::<PersistentVolume>::all(client.clone()), watcher::Config::default(), move |c| match c {
        Change::Applied(v) => vq.add(v.name_any()),
        Change::Deleted(v) => {
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
        client,
        recorder,
        claim_queue,
        volume_queue,
        volumes,
        claims,
        classes,
        pods,
        last_write: AtomicI64::new(0),
    });
    tokio::spawn(async move {
        ctl.volumes.ready().await;
        ctl.claims.ready().await;
        ctl.classes.ready().await;
        ctl.pods.ready().await;
        ctl.nodes.ready().await;
        let c = ctl.clone();
        let claim_worker = tokio::spawn(async move {
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
        });
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
        let _ = tokio::join!(claim_worker, volume_worker, resync);
    })
}

fn revision_of<K: kube::Resource>(o: &K) -> i64 {
    o.meta().resource_version.as_deref().and_then(|r| r.parse().ok()).unwrap_or(0)
}

fn by_name<K: kube::Resource + Clone>(mut v: Vec<K>) -> Vec<K> {
    v.sort_by(|a, b| a.meta().name.cmp(&b.meta().name));
    v
}

impl Controller {
    pub(super) fn note_write<K: kube::Resource>(&self, o: &K) {
        self.last_write.fetch_max(revision_of(o), Ordering::SeqCst);
    }

    async fn caches_caught_up(&self) {
        let rev = self.last_write.load(Ordering::SeqCst);
        for ok in [
            self.volumes.wait_for(rev, CACHE_SYNC_WAIT).await,
            self.claims.wait_for(rev, CACHE_SYNC_WAIT).await,
        ] {
            if !ok {
                tracing::debug!("volume/claim caches lag behind the controller's writes");
            }
        }
    }

    fn pods_in(&self, namespace: &str) -> Vec<Pod> {
        by_name(self.pods.state().iter().filter(|p| p.namespace().as_deref() == Some(namespace)).map(|p| (**p).clone()).collect())
    }

    async fn sync_claim(&self, key: &ClaimKey) -> Result<(), String> {
        self.caches_caught_up().await;
        let (ns, name) = key;
        let Some(claim) =
            self.claims.state().into_iter().find(|c| c.namespace().as_deref() == Some(ns.as_str()) && c.name_any() == *name)
        else {
            return Ok(());
        };
        let volumes: Vec<PersistentVolume> = by_name(self.volumes.state().iter().map(|v| (**v).clone()).collect());
        let classes: Vec<StorageClass> = by_name(self.classes.state().iter().map(|c| (**c).clone()).collect());
        let actions = super::sync_claim(&claim, &volumes, &classes, &self.pods_in(ns));
        self.execute(actions).await
    }

    async fn sync_volume(&self, name: &str) -> Result<(), String> {
        self.caches_caught_up().await;
        let Some(volume) = self.volumes.state().into_iter().find(|v| v.name_any() == name) else {
            return Ok(());
        };
        let mut claim = None;
        let mut namespace = String::new();
        if let Some(r) = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).filter(|r| !r.uid.as_deref().unwrap_or("").is_empty()) {
            namespace = r.namespace.clone().unwrap_or_default();
            let claim_name = r.name.clone().unwrap_or_default();
            let cached = self
                .claims
                .state()
                .into_iter()
                .find(|c| c.namespace().as_deref() == Some(namespace.as_str()) && c.name_any() == claim_name)
                .map(|c| (*c).clone());
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
        let actions = super::sync_volume(&volume, claim.as_ref(), &self.pods_in(&namespace));
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
