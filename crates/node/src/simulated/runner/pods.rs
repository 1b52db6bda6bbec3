//! The node's pod worker: one loop per node that keeps the node's view of its pods (from a
//! `spec.nodeName=<node>` watch), steps each pod through [`next_step`] when it changes or its
//! requeue time comes, and performs the resulting writes.
//!
//! Pods are stepped one at a time, and each status written is folded into the view before
//! the next step, which is what `next_step`'s pod IP allocation needs to stay
//! collision-free. Writes themselves run concurrently (at most one per pod), so one slow
//! request does not hold up the node's other pods; a pod with a write in flight is stepped
//! again when the write finishes.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{Pod, PodStatus};
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use tokio::time::Instant;

use super::requeue::RequeueQueue;
use crate::simulated::{next_step, Behaviour, SimNodeConfig, Step};

/// namespace, name
type Key = (String, String);

/// First retry delay after a failed write that was not a conflict; doubles per failure.
const WRITE_RETRY_BASE: Duration = Duration::from_millis(200);
const WRITE_RETRY_MAX: Duration = Duration::from_secs(30);

/// A status write on its way to the API server.
struct InFlight {
    /// Which incarnation of the pod is being written (a pod of the same name may be
    /// re-created meanwhile).
    uid: Option<String>,
    /// The pod's resourceVersion and status before the write, to tell whether the view has
    /// moved on since and to roll back if the write is lost.
    resource_version: Option<String>,
    previous: Option<PodStatus>,
    /// The status being written; kept over watch events that arrive meanwhile.
    status: PodStatus,
}

enum Done {
    StatusWritten { key: Key, pod: Pod },
    /// The write failed; `fresh` is the pod re-read right after (None: not found).
    StatusFailed { key: Key, error: kube::Error, fresh: Result<Option<Pod>, kube::Error> },
    Deleted { key: Key, uid: String, result: Result<(), kube::Error> },
}

pub(super) struct PodWorker {
    client: Client,
    cfg: SimNodeConfig,
    /// The node's pods as this worker knows them, with in-flight statuses applied. A Vec
    /// because [`Behaviour`] takes a slice; lookups are linear, like `next_step`'s own scans.
    view: Vec<Pod>,
    /// Pods listed since the watch (re)started, until the list is complete.
    relist: Option<Vec<Pod>>,
    in_flight: HashMap<Key, InFlight>,
    /// Pods to step again once their in-flight write finishes.
    restep: HashSet<Key>,
    /// uids whose final DELETE was issued (and has not failed): issued once per pod.
    deleted: HashSet<String>,
    /// Consecutive failed writes per pod, for retry back-off.
    failures: HashMap<Key, u32>,
    requeue: RequeueQueue<Key>,
    writes: FuturesUnordered<BoxFuture<'static, Done>>,
}

fn key_of(pod: &Pod) -> Key {
    (pod.metadata.namespace.clone().unwrap_or_default(), pod.metadata.name.clone().unwrap_or_default())
}

impl PodWorker {
    pub fn new(client: Client, cfg: SimNodeConfig) -> Self {
        PodWorker {
            client,
            cfg,
            view: Vec::new(),
            relist: None,
            in_flight: HashMap::new(),
            restep: HashSet::new(),
            deleted: HashSet::new(),
            failures: HashMap::new(),
            requeue: RequeueQueue::new(),
            writes: FuturesUnordered::new(),
        }
    }

    /// Watch this node's pods and drive them forever.
    pub async fn run(self) {
        let api: Api<Pod> = Api::all(self.client.clone());
        let config = watcher::Config::default().fields(&format!("spec.nodeName={}", self.cfg.name));
        let events = watcher(api, config).default_backoff().boxed();
        self.run_with(events).await
    }

    /// Drive the node's pods from a [`super::feed::PodFeed`] subscription instead of a watch
    /// of its own.
    pub async fn run_on_feed(self, mut rx: super::feed::Receiver) {
        let events = futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).map(Ok).boxed();
        self.run_with(events).await
    }

    async fn run_with(mut self, mut events: futures::stream::BoxStream<'static, Result<watcher::Event<Pod>, watcher::Error>>) {
        loop {
            tokio::select! {
                ev = events.next() => match ev {
                    Some(Ok(ev)) => self.on_event(ev),
                    Some(Err(e)) => tracing::warn!(node = %self.cfg.name, error = %e, "pod watch failed; retrying"),
                    // The back-off watcher never ends; if it did, keep serving timers and writes.
                    None => events = futures::stream::pending().boxed(),
                },
                Some(done) = self.writes.next(), if !self.writes.is_empty() => self.on_done(done),
                () = self.requeue.next_due() => {
                    for key in self.requeue.pop_due(Instant::now()) {
                        self.step(&key);
                    }
                }
            }
        }
    }

    fn on_event(&mut self, ev: watcher::Event<Pod>) {
        match ev {
            watcher::Event::Init => self.relist = Some(Vec::new()),
            watcher::Event::InitApply(pod) => self.relist.get_or_insert_with(Vec::new).push(pod),
            watcher::Event::InitDone => {
                // Replace the view at once, so that new pods are admitted knowing every pod
                // already on the node (their IPs and host ports).
                let listed = self.relist.take().unwrap_or_default();
                let listed_keys: HashSet<Key> = listed.iter().map(key_of).collect();
                let gone: Vec<Key> = self.view.iter().map(key_of).filter(|k| !listed_keys.contains(k)).collect();
                for key in &gone {
                    self.forget(key);
                }
                let keys: Vec<Key> = listed.iter().map(key_of).collect();
                for pod in listed {
                    self.upsert(pod);
                }
                for key in &keys {
                    self.step(key);
                }
            }
            watcher::Event::Apply(pod) => {
                let key = key_of(&pod);
                self.upsert(pod);
                self.step(&key);
            }
            watcher::Event::Delete(pod) => {
                if let Some(uid) = &pod.metadata.uid {
                    self.deleted.remove(uid);
                }
                self.forget(&key_of(&pod));
            }
        }
    }

    fn index(&self, key: &Key) -> Option<usize> {
        self.view.iter().position(|p| {
            p.metadata.name.as_deref() == Some(&key.1) && p.metadata.namespace.as_deref().unwrap_or_default() == key.0
        })
    }

    /// Store the API's version of a pod, keeping a status still being written.
    fn upsert(&mut self, mut pod: Pod) {
        let key = key_of(&pod);
        if let Some(f) = self.in_flight.get(&key).filter(|f| f.uid == pod.metadata.uid) {
            pod.status = Some(f.status.clone());
        }
        match self.index(&key) {
            Some(i) => {
                // A pod deleted and re-created under the same name: the old one's delete
                // bookkeeping no longer applies.
                if self.view[i].metadata.uid != pod.metadata.uid {
                    if let Some(uid) = &self.view[i].metadata.uid {
                        self.deleted.remove(uid);
                    }
                }
                self.view[i] = pod;
            }
            None => self.view.push(pod),
        }
    }

    fn forget(&mut self, key: &Key) {
        if let Some(i) = self.index(key) {
            let pod = self.view.swap_remove(i);
            if let Some(uid) = &pod.metadata.uid {
                self.deleted.remove(uid);
            }
        }
        self.requeue.cancel(key);
        self.restep.remove(key);
        self.failures.remove(key);
    }

    /// One pass of the pod worker over one pod: decide, and start what was decided.
    fn step(&mut self, key: &Key) {
        if self.in_flight.contains_key(key) {
            self.restep.insert(key.clone());
            return;
        }
        let Some(i) = self.index(key) else {
            self.requeue.cancel(key);
            return;
        };
        let step = next_step(&self.view[i], &self.cfg.name, Utc::now(), &Behaviour::new(&self.cfg, &self.view));
        match step {
            Step::Nothing => self.requeue.cancel(key),
            Step::RequeueAfter(d) => self.requeue.schedule(key.clone(), Instant::now() + d),
            Step::UpdateStatus(status) => {
                self.requeue.cancel(key);
                let pod = &mut self.view[i];
                let previous = pod.status.replace(status.clone());
                self.in_flight.insert(
                    key.clone(),
                    InFlight {
                        uid: pod.metadata.uid.clone(),
                        resource_version: pod.metadata.resource_version.clone(),
                        previous,
                        status,
                    },
                );
                let desired = pod.clone();
                self.writes.push(write_status(self.pods_in(&key.0), key.clone(), desired).boxed());
            }
            Step::FinalDelete { uid } => {
                self.requeue.cancel(key);
                if self.deleted.insert(uid.clone()) {
                    self.writes.push(final_delete(self.pods_in(&key.0), key.clone(), uid).boxed());
                }
            }
        }
    }

    fn pods_in(&self, namespace: &str) -> Api<Pod> {
        Api::namespaced(self.client.clone(), namespace)
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::StatusWritten { key, pod } => {
                let f = self.in_flight.remove(&key);
                self.failures.remove(&key);
                if let (Some(f), Some(i)) = (f, self.index(&key)) {
                    // Unless a watch event already brought this write (or a later change),
                    // take the server's copy: it carries the new resourceVersion.
                    if self.view[i].metadata.resource_version == f.resource_version {
                        self.view[i] = pod;
                    }
                }
                self.restep.remove(&key);
                self.step(&key);
            }
            Done::StatusFailed { key, error, fresh } => {
                let f = self.in_flight.remove(&key);
                self.restep.remove(&key);
                let conflict = matches!(&error, kube::Error::Api(s) if s.code == 409);
                if conflict {
                    tracing::debug!(node = %self.cfg.name, pod = ?key, "pod status conflict; re-reading");
                } else {
                    tracing::warn!(node = %self.cfg.name, pod = ?key, error = %error, "writing pod status failed");
                }
                match fresh {
                    Ok(Some(pod)) => self.upsert(pod),
                    // Not found (or unknown): undo our write in the view and try again later.
                    // A 404 is not taken as the pod being gone — only the watch's Delete
                    // event is (and it cancels the retry): a read racing a just-published
                    // watch event can miss an object that exists.
                    Ok(None) | Err(_) => {
                        if let (Some(f), Some(i)) = (f, self.index(&key)) {
                            if self.view[i].metadata.resource_version == f.resource_version {
                                self.view[i].status = f.previous;
                            }
                        }
                    }
                }
                if conflict {
                    // Someone else changed the pod; step again on their version right away.
                    self.step(&key);
                } else {
                    self.retry_later(key);
                }
            }
            Done::Deleted { key, uid, result } => match result {
                Ok(()) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    // The uid precondition failed: this pod is gone, replaced by a new one of
                    // the same name, which its own events drive.
                    self.deleted.remove(&uid);
                }
                // Includes 404: as for status writes, only the watch says a pod is gone; if it
                // is, its Delete event cancels this retry.
                Err(e) => {
                    if matches!(&e, kube::Error::Api(s) if s.code == 404) {
                        tracing::debug!(node = %self.cfg.name, pod = ?key, "pod to delete not found; waiting for the watch");
                    } else {
                        tracing::warn!(node = %self.cfg.name, pod = ?key, error = %e, "deleting pod failed");
                    }
                    self.deleted.remove(&uid);
                    self.retry_later(key);
                }
            },
        }
    }

    fn retry_later(&mut self, key: Key) {
        let n = self.failures.entry(key.clone()).or_insert(0);
        let wait = WRITE_RETRY_BASE.saturating_mul(1 << (*n).min(16)).min(WRITE_RETRY_MAX);
        *n += 1;
        self.requeue.schedule(key, Instant::now() + wait);
    }
}

/// PUT `pods/<name>/status` with the pod's resourceVersion; on failure re-read the pod so the
/// next step starts from what the server has.
async fn write_status(api: Api<Pod>, key: Key, pod: Pod) -> Done {
    match api.replace_status(&key.1, &PostParams::default(), &pod).await {
        Ok(pod) => Done::StatusWritten { key, pod },
        Err(error) => {
            let fresh = api.get_opt(&key.1).await;
            Done::StatusFailed { key, error, fresh }
        }
    }
}

/// The kubelet's final DELETE: no grace period left, and only this incarnation of the pod.
async fn final_delete(api: Api<Pod>, key: Key, uid: String) -> Done {
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions { uid: Some(uid.clone()), resource_version: None }),
        ..Default::default()
    };
    let result = api.delete(&key.1, &dp).await.map(|_| ());
    Done::Deleted { key, uid, result }
}
