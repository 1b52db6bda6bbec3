//! The scheduler loop: watch caches, a scheduling queue, assumed pods, and a binding cycle per
//! pod — kube-scheduler as seen from outside, around the pure [`schedule`](crate::schedule).
//!
//! ```text
//! pub async fn run(client: kube::Client, shutdown: impl Future<Output = ()>);
//! ```
//! `run` returns once `shutdown` resolves (in-flight binding cycles are abandoned; a pod whose
//! Binding was not posted stays pending for the next scheduler). Spawn it as a task.
//!
//! What it does, as upstream does:
//! * Reflectors watch pods, nodes, PVCs, PVs and StorageClasses; nothing is attempted until
//!   every cache has listed once.
//! * A pod is queued when it appears or changes (spec, labels, annotations) while it is the
//!   scheduler's: unassigned, not being deleted, not finished, scheduling gates gone,
//!   `spec.schedulerName` `default-scheduler` or empty. Attempts run the moment a pod is
//!   queued; there is no polling.
//! * Unschedulable pods wait for a cluster event that may help them ([`queue::ClusterChange`]:
//!   node added or changed, volume objects added or changed, an assigned pod deleted or
//!   finished, a pod assigned for pods with pod affinity), then retry after their backoff
//!   (1 s, doubling per attempt, at most 10 s); without any such event they are retried after
//!   [`queue::MAX_IN_UNSCHEDULABLE`].
//! * A pod chosen for a node is *assumed* there until the pod watch shows it bound, so the
//!   next attempt never gives away the same capacity; likewise the PVs and claims chosen.
//! * Binding runs in its own task: the claimRef/selected-node writes, the wait for the PV
//!   controller to bind the claims (up to [`binder::BIND_TIMEOUT`]), then `POST
//!   pods/<name>/binding` and a Normal `Scheduled` event. A 409 (already assigned) drops the
//!   pod; other failures forget the assumption and retry with backoff.
//! * An unschedulable pod gets a Warning `FailedScheduling` event (aggregated by the recorder)
//!   and its `PodScheduled` condition set to False/`Unschedulable` — written only when it
//!   changes.

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Instant;

use berth_runtime::{EventRecorder, EventType};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Resource;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

use crate::{schedule_placed, ClusterSnapshot, Decision, DEFAULT_SCHEDULER_NAME};

pub mod binder;
pub mod cache;
pub mod changes;
pub mod conditions;
pub mod queue;

use binder::{pod_reference, BindJob, BindOutcome, Binder};
use cache::{claim_reference, AssumedVolumes, SchedulerCache};
use changes::{is_assigned, is_pending, node_fingerprint, occupies_node, pod_fingerprint, pod_key, priority, wants_assigned_pods};
use conditions::{pod_scheduled_false_patch, REASON_SCHEDULER_ERROR, REASON_UNSCHEDULABLE};
use queue::{ClusterChange, PodKey, SchedulingQueue, UnschedulableHint};

/// Attempts made before the loop looks at its inbox again, so a long queue does not delay
/// watch events (which may be the deletions that make those attempts pointless).
const MAX_ATTEMPTS_PER_TURN: usize = 64;

/// The watched kinds, for tracking that every cache has listed once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Pods,
    Nodes,
    Claims,
    Volumes,
    StorageClasses,
}

const ALL_KINDS: [Kind; 5] = [Kind::Pods, Kind::Nodes, Kind::Claims, Kind::Volumes, Kind::StorageClasses];

enum Msg {
    /// Boxed: pods and nodes are large next to the other messages.
    Pod(Box<watcher::Event<Pod>>),
    Node(Box<watcher::Event<Node>>),
    /// A PVC, PV or StorageClass event: `synced` for the end of a (re)list.
    Volume { kind: Kind, synced: bool },
    Bound { key: PodKey, outcome: BindOutcome },
}

/// What the loop remembers of a pod it has seen, to tell relevant updates from noise.
#[derive(Debug, Clone, Copy)]
struct SeenPod {
    occupies_node: bool,
    /// `Some` while the pod is pending for this scheduler.
    fingerprint: Option<u64>,
}

struct Scheduler {
    client: kube::Client,
    recorder: EventRecorder,
    pods: Store<Pod>,
    nodes: Store<Node>,
    pvcs: Store<PersistentVolumeClaim>,
    pvs: Store<PersistentVolume>,
    storage_classes: Store<StorageClass>,
    binder: Binder,
    tx: mpsc::UnboundedSender<Msg>,
    queue: SchedulingQueue,
    cache: SchedulerCache,
    seen_pods: HashMap<PodKey, SeenPod>,
    /// Keys listed during a pod relist, to find pods deleted while the watch was down.
    relisted: Option<HashSet<PodKey>>,
    node_fingerprints: HashMap<String, u64>,
    synced: HashSet<Kind>,
    binding: HashMap<PodKey, AbortHandle>,
    /// Nodes and volume objects (with the volume assumptions) as the last burst left them,
    /// reused until a node changes in a way that matters (fingerprint), a volume object
    /// changes or an assumption is dropped: copying every node per burst was most of the
    /// scheduler's CPU with pods arriving one by one.
    snapshot: Option<ClusterSnapshot>,
}

/// Watch `api` into a reflector store in a task that forwards each event through `forward`.
fn spawn_reflector<K>(
    api: Api<K>,
    tasks: &mut tokio::task::JoinSet<()>,
    forward: impl Fn(watcher::Event<K>) + Send + 'static,
) -> Store<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    let (reader, writer) = reflector::store();
    let mut stream = watcher(api, watcher::Config::default()).default_backoff().reflect(writer).boxed();
    tasks.spawn(async move {
        while let Some(event) = stream.next().await {
            match event {
                Ok(event) => forward(event),
                // The watcher retries with backoff; the cache keeps its last state meanwhile.
                Err(e) => tracing::warn!(kind = std::any::type_name::<K>(), error = %e, "scheduler watch failed"),
            }
        }
    });
    reader
}

fn volume_forwarder<K>(kind: Kind, tx: mpsc::UnboundedSender<Msg>, bump: Option<watch::Sender<u64>>) -> impl Fn(watcher::Event<K>) + Send + 'static {
    move |event| {
        let synced = matches!(event, watcher::Event::InitDone);
        if let Some(b) = &bump {
            b.send_modify(|n| *n = n.wrapping_add(1));
        }
        let _ = tx.send(Msg::Volume { kind, synced });
    }
}

/// Run the scheduler until `shutdown` resolves. See the module docs.
pub async fn run(client: kube::Client, shutdown: impl Future<Output = ()>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (volume_bump, volume_changes) = watch::channel(0u64);
    let mut tasks = tokio::task::JoinSet::new();
    let pods = {
        let tx = tx.clone();
        spawn_reflector(Api::<Pod>::all(client.clone()), &mut tasks, move |e| {
            let _ = tx.send(Msg::Pod(Box::new(e)));
        })
    };
    let nodes = {
        let tx = tx.clone();
        spawn_reflector(Api::<Node>::all(client.clone()), &mut tasks, move |e| {
            let _ = tx.send(Msg::Node(Box::new(e)));
        })
    };
    let pvcs = spawn_reflector(
        Api::<PersistentVolumeClaim>::all(client.clone()),
        &mut tasks,
        volume_forwarder(Kind::Claims, tx.clone(), Some(volume_bump.clone())),
    );
    let pvs =
        spawn_reflector(Api::<PersistentVolume>::all(client.clone()), &mut tasks, volume_forwarder(Kind::Volumes, tx.clone(), Some(volume_bump)));
    let storage_classes =
        spawn_reflector(Api::<StorageClass>::all(client.clone()), &mut tasks, volume_forwarder(Kind::StorageClasses, tx.clone(), None));

    let recorder = EventRecorder::new(client.clone(), DEFAULT_SCHEDULER_NAME);
    let binder = Binder {
        client: client.clone(),
        recorder: recorder.clone(),
        pvcs: pvcs.clone(),
        pvs: pvs.clone(),
        volume_changes,
        bind_timeout: binder::BIND_TIMEOUT,
    };
    let mut s = Scheduler {
        client,
        recorder,
        pods,
        nodes,
        pvcs,
        pvs,
        storage_classes,
        binder,
        tx,
        queue: SchedulingQueue::new(),
        cache: SchedulerCache::new(),
        seen_pods: HashMap::new(),
        relisted: None,
        node_fingerprints: HashMap::new(),
        synced: HashSet::new(),
        binding: HashMap::new(),
        snapshot: None,
    };

    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let synced = s.synced.len() == ALL_KINDS.len();
        if synced {
            s.schedule_some();
        }
        let more_now = synced && s.queue.has_active();
        let wake = s.queue.next_wakeup().map(tokio::time::Instant::from_std);
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            msg = rx.recv() => {
                // The loop holds a sender itself, so the channel never closes.
                let Some(msg) = msg else { break };
                s.handle(msg);
                while let Ok(msg) = rx.try_recv() {
                    s.handle(msg);
                }
            }
            _ = std::future::ready(()), if more_now => {}
            _ = async { tokio::time::sleep_until(wake.expect("guarded")).await }, if wake.is_some() => {}
        }
    }
    for (_, task) in s.binding.drain() {
        task.abort();
    }
    tasks.shutdown().await;
}

impl Scheduler {
    fn handle(&mut self, msg: Msg) {
        let now = Instant::now();
        match msg {
            Msg::Pod(event) => self.on_pod_event(*event, now),
            Msg::Node(event) => self.on_node_event(*event, now),
            Msg::Volume { kind, synced } => {
                self.snapshot = None;
                if synced {
                    self.synced.insert(kind);
                }
                self.queue.on_change(ClusterChange::NodeOrVolume, now);
            }
            Msg::Bound { key, outcome } => self.on_bound(key, outcome, now),
        }
    }

    fn on_pod_event(&mut self, event: watcher::Event<Pod>, now: Instant) {
        match event {
            watcher::Event::Init => self.relisted = Some(HashSet::new()),
            watcher::Event::InitApply(pod) => {
                if let Some(listed) = self.relisted.as_mut() {
                    listed.insert(pod_key(&pod));
                }
                self.on_pod_apply(pod, now);
            }
            watcher::Event::Apply(pod) => self.on_pod_apply(pod, now),
            watcher::Event::Delete(pod) => self.on_pod_gone(&pod_key(&pod), now),
            watcher::Event::InitDone => {
                self.synced.insert(Kind::Pods);
                if let Some(listed) = self.relisted.take() {
                    let gone: Vec<PodKey> = self.seen_pods.keys().filter(|k| !listed.contains(*k)).cloned().collect();
                    for key in gone {
                        self.on_pod_gone(&key, now);
                    }
                }
            }
        }
    }

    fn on_pod_apply(&mut self, pod: Pod, now: Instant) {
        let key = pod_key(&pod);
        let before = self.seen_pods.get(&key).copied();
        let occupies = occupies_node(&pod);
        if is_assigned(&pod) {
            // Bound (by us or anyone): the watch cache counts it from now on.
            self.queue.remove(&key);
        }
        match (before.is_some_and(|b| b.occupies_node), occupies) {
            (false, true) => self.queue.on_change(ClusterChange::AssignedPodAdded, now),
            (true, false) => self.queue.on_change(ClusterChange::PodFreed, now),
            _ => {}
        }
        let fingerprint = is_pending(&pod).then(|| pod_fingerprint(&pod));
        match fingerprint {
            Some(fp) if before.and_then(|b| b.fingerprint) != Some(fp) => self.queue.add(key.clone(), priority(&pod), now),
            Some(_) => {}
            // Being deleted, finished, gated, another scheduler's, or assigned.
            None => self.queue.remove(&key),
        }
        self.seen_pods.insert(key, SeenPod { occupies_node: occupies, fingerprint });
        self.cache.pod_applied(Arc::new(pod));
    }

    fn on_pod_gone(&mut self, key: &PodKey, now: Instant) {
        let before = self.seen_pods.remove(key);
        self.queue.remove(key);
        if self.cache.is_assumed(key) {
            self.snapshot = None; // its volume assumptions go
        }
        self.cache.pod_gone(key);
        if let Some(task) = self.binding.remove(key) {
            task.abort();
        }
        if before.is_some_and(|b| b.occupies_node) {
            self.queue.on_change(ClusterChange::PodFreed, now);
        }
    }

    fn on_node_event(&mut self, event: watcher::Event<Node>, now: Instant) {
        match event {
            watcher::Event::Apply(node) | watcher::Event::InitApply(node) => {
                let name = node.metadata.name.clone().unwrap_or_default();
                let fp = node_fingerprint(&node);
                if self.node_fingerprints.insert(name, fp) != Some(fp) {
                    self.snapshot = None;
                    self.queue.on_change(ClusterChange::NodeOrVolume, now);
                }
            }
            watcher::Event::Delete(node) => {
                self.snapshot = None;
                self.node_fingerprints.remove(node.metadata.name.as_deref().unwrap_or(""));
            }
            watcher::Event::Init => {}
            watcher::Event::InitDone => {
                // A relist may have dropped nodes without delete events.
                self.snapshot = None;
                self.synced.insert(Kind::Nodes);
            }
        }
    }

    fn build_snapshot(&mut self) -> ClusterSnapshot {
        fn owned<K>(store: &Store<K>) -> Vec<K>
        where
            K: Resource + Clone + 'static,
            K::DynamicType: Eq + Hash + Clone,
        {
            store.state().into_iter().map(|o| (*o).clone()).collect()
        }
        // Pods are not copied: the cache keeps them placed per node, event by event.
        self.cache.snapshot(owned(&self.nodes), owned(&self.pvcs), owned(&self.pvs), owned(&self.storage_classes))
    }

    /// Attempt queued pods against the kept snapshot of nodes and volumes (assumptions keep
    /// it and the placed pods current).
    fn schedule_some(&mut self) {
        self.queue.flush_unschedulable(Instant::now());
        let mut snapshot: Option<ClusterSnapshot> = self.snapshot.take();
        for _ in 0..MAX_ATTEMPTS_PER_TURN {
            let Some(key) = self.queue.pop(Instant::now()) else { break };
            let pod = match self.pods.get(&ObjectRef::new(&key.name).within(&key.namespace)) {
                Some(p) if is_pending(&p) => p,
                _ => {
                    self.queue.remove(&key);
                    continue;
                }
            };
            if snapshot.is_none() {
                snapshot = Some(self.build_snapshot());
            }
            let snap = snapshot.as_mut().expect("just built");
            self.attempt(key, pod, snap);
        }
        self.snapshot = snapshot;
    }

    fn attempt(&mut self, key: PodKey, pod: Arc<Pod>, snapshot: &mut ClusterSnapshot) {
        match schedule_placed(&pod, snapshot, self.cache.placed()) {
            Decision::Bind { node, claims_to_bind, claims_to_provision } => {
                let namespace = key.namespace.clone();
                let claim_refs = claims_to_bind
                    .into_iter()
                    .map(|(claim, pv)| {
                        let pvc = snapshot
                            .pvcs
                            .iter()
                            .find(|c| c.metadata.name.as_deref() == Some(claim.as_str()) && c.metadata.namespace.as_deref() == Some(namespace.as_str()));
                        let reference = match pvc {
                            Some(pvc) => claim_reference(pvc),
                            None => claim_reference(&PersistentVolumeClaim {
                                metadata: kube::api::ObjectMeta { name: Some(claim), namespace: Some(namespace.clone()), ..Default::default() },
                                ..Default::default()
                            }),
                        };
                        (pv, reference)
                    })
                    .collect();
                let provisions = claims_to_provision.into_iter().map(|c| PodKey::new(&namespace, &c)).collect();
                let volumes = AssumedVolumes { claim_refs, provisions };
                self.cache.assume(&pod, &node, &volumes, snapshot);
                let job = BindJob { key: key.clone(), pod, node, volumes };
                let (binder, tx) = (self.binder.clone(), self.tx.clone());
                let task = tokio::spawn(async move {
                    let outcome = binder.bind(&job).await;
                    let _ = tx.send(Msg::Bound { key: job.key, outcome });
                });
                self.binding.insert(key, task.abort_handle());
            }
            Decision::Unschedulable { message, unresolvable } => {
                tracing::debug!(pod = %key, %message, "unschedulable");
                self.report_failure(&pod, REASON_UNSCHEDULABLE, &message);
                let hint = UnschedulableHint { unresolvable, wants_assigned_pods: wants_assigned_pods(&pod) };
                self.queue.unschedulable(&key, hint, Instant::now());
            }
            Decision::Skip(_) => self.queue.remove(&key),
        }
    }

    fn on_bound(&mut self, key: PodKey, outcome: BindOutcome, now: Instant) {
        self.binding.remove(&key);
        match outcome {
            // The pod stays assumed until the watch shows it bound.
            BindOutcome::Bound => self.queue.remove(&key),
            BindOutcome::Conflict(message) => {
                tracing::debug!(pod = %key, %message, "binding conflict: the pod is someone else's now");
                self.snapshot = None;
                self.cache.forget(&key);
                self.queue.remove(&key);
            }
            BindOutcome::Gone => {
                self.snapshot = None;
                self.cache.forget(&key);
                self.queue.remove(&key);
            }
            BindOutcome::Failed(message) => {
                self.snapshot = None;
                self.cache.forget(&key);
                if !self.queue.contains(&key) {
                    return; // deleted or bound meanwhile
                }
                tracing::info!(pod = %key, %message, "binding failed; retrying");
                if let Some(pod) = self.pods.get(&ObjectRef::new(&key.name).within(&key.namespace)) {
                    self.report_failure(&pod, REASON_SCHEDULER_ERROR, &message);
                }
                self.queue.error(&key, now);
            }
        }
    }

    /// The Warning event and, when it changes, the `PodScheduled=False` condition.
    fn report_failure(&self, pod: &Pod, reason: &str, message: &str) {
        self.recorder.record(pod_reference(pod), EventType::Warning, "FailedScheduling", message);
        let now = k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let Some(patch) = pod_scheduled_false_patch(pod, reason, message, &now) else { return };
        let key = pod_key(pod);
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &key.namespace);
        tokio::spawn(async move {
            if let Err(e) = pods.patch_status(&key.name, &PatchParams::default(), &Patch::Strategic(patch)).await {
                tracing::warn!(pod = %key, error = %e, "could not update the PodScheduled condition");
            }
        });
    }
}
