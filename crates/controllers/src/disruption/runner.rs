//! Executor of the disruption controller: informers on budgets, pods and StatefulSets (the
//! one kind of pod controller berth has, the finder's source of scale), a queue of budgets,
//! and the `/status` PUT of what [`super::reconcile`] decides. The PUT carries the cached
//! resourceVersion, so a write racing an eviction's decrement conflicts and is redone from
//! the newer budget.

use std::sync::Arc;

use berth_api::pdb;
use berth_runtime::{reference, Change, EventRecorder, EventType, Informer, WorkQueue};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::ResourceExt;
use serde_json::Value;

use super::{fail_safe, reconcile, stale, Scale};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Budget(String, String),
    /// Something the budgets of this namespace may depend on changed (a pod, a StatefulSet).
    Namespace(String),
    /// A pod whose `DisruptionTarget` condition may have gone stale.
    StalePod(String, String),
}

struct Controller {
    client: kube::Client,
    recorder: EventRecorder,
    queue: WorkQueue<Key>,
    budgets: Informer<PodDisruptionBudget>,
    pods: Informer<Pod>,
    sets: Informer<StatefulSet>,
}

pub fn spawn(client: kube::Client, recorder: EventRecorder) -> tokio::task::JoinHandle<()> {
    let queue: WorkQueue<Key> = WorkQueue::new();
    let q = queue.clone();
    let budgets = Informer::spawn(Api::<PodDisruptionBudget>::all(client.clone()), watcher::Config::default(), move |c| {
        if let Change::Applied(b) = c {
            q.add(Key::Budget(b.namespace().unwrap_or_default(), b.name_any()));
        }
    });
    let q = queue.clone();
    let pods = Informer::spawn(Api::<Pod>::all(client.clone()), watcher::Config::default(), move |c| {
        let (Change::Applied(p) | Change::Deleted(p)) = c;
        let ns = p.namespace().unwrap_or_default();
        if let (Change::Applied(_), Some(after)) = (&c, stale::stale_after(p, chrono::Utc::now())) {
            q.add_after(Key::StalePod(ns.clone(), p.name_any()), after);
        }
        q.add(Key::Namespace(ns));
    });
    let q = queue.clone();
    let sets = Informer::spawn(Api::<StatefulSet>::all(client.clone()), watcher::Config::default(), move |c| {
        let (Change::Applied(s) | Change::Deleted(s)) = c;
        q.add(Key::Namespace(s.namespace().unwrap_or_default()));
    });
    let ctl = Arc::new(Controller { client, recorder, queue, budgets, pods, sets });
    tokio::spawn(async move {
        ctl.budgets.ready().await;
        ctl.pods.ready().await;
        ctl.sets.ready().await;
        loop {
            let key = ctl.queue.next().await;
            match ctl.sync(&key).await {
                Ok(()) => ctl.queue.forget(&key),
                Err(e) => {
                    tracing::debug!(?key, error = %e, "disruption sync failed; requeueing");
                    ctl.queue.add_rate_limited(key.clone());
                }
            }
            ctl.queue.done(&key);
        }
    })
}

impl Controller {
    async fn sync(&self, key: &Key) -> Result<(), String> {
        match key {
            Key::Namespace(ns) => {
                for b in self.budgets.state().iter().filter(|b| b.namespace().as_deref() == Some(ns)) {
                    self.queue.add(Key::Budget(ns.clone(), b.name_any()));
                }
                Ok(())
            }
            Key::Budget(ns, name) => self.sync_budget(ns, name).await,
            Key::StalePod(ns, name) => self.sync_stale_pod(ns, name).await,
        }
    }

    /// Reset a stale `DisruptionTarget` condition (upstream `syncStalePodDisruption`).
    async fn sync_stale_pod(&self, ns: &str, name: &str) -> Result<(), String> {
        let Some(pod) = self.pods.store().get(&ObjectRef::new(name).within(ns)) else { return Ok(()) };
        let now = chrono::Utc::now();
        match stale::stale_after(&pod, now) {
            None => Ok(()),
            Some(after) if !after.is_zero() => {
                self.queue.add_after(Key::StalePod(ns.to_string(), name.to_string()), after);
                Ok(())
            }
            Some(_) => {
                let mut new = (*pod).clone();
                new.status.get_or_insert_with(Default::default).conditions = Some(stale::reset(&pod, now));
                match Api::<Pod>::namespaced(self.client.clone(), ns).replace_status(name, &PostParams::default(), &new).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                    Err(e) => Err(e.to_string()),
                }
            }
        }
    }

    /// A StatefulSet controlling a pod: its `spec.replicas` (upstream's StatefulSet finder).
    fn find_scale(&self, ns: &str, owner: &Value) -> Option<Scale> {
        let group = owner["apiVersion"].as_str().unwrap_or("").split('/').next().unwrap_or("");
        if owner["kind"] != "StatefulSet" || group != "apps" {
            return None;
        }
        let set = self.sets.store().get(&ObjectRef::new(owner["name"].as_str()?).within(ns))?;
        let uid = set.metadata.uid.clone()?;
        (owner["uid"] == uid.as_str()).then(|| Scale { uid, replicas: set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1) as i64 })
    }

    async fn sync_budget(&self, ns: &str, name: &str) -> Result<(), String> {
        let Some(typed) = self.budgets.store().get(&ObjectRef::new(name).within(ns)) else { return Ok(()) };
        let budget = serde_json::to_value(&*typed).map_err(|e| e.to_string())?;
        let now = chrono::Utc::now();
        let record = |t: &str, reason: &str, msg: &str| {
            let t = if t == "Warning" { EventType::Warning } else { EventType::Normal };
            self.recorder.record(reference(&*typed), t, reason, msg);
        };
        let result = match pdb::selector(&budget) {
            None => {
                let e = "invalid label selector".to_string();
                record("Warning", "NoPods", &format!("Failed to get pods: {e}"));
                Err(e)
            }
            Some(sel) => {
                let pods: Vec<Value> = self
                    .pods
                    .state()
                    .iter()
                    .filter(|p| p.namespace().as_deref() == Some(ns))
                    .filter_map(|p| serde_json::to_value(&**p).ok())
                    .filter(|p| sel.matches(&pdb::pod_labels(p)))
                    .collect();
                let r = reconcile(&budget, &pods, &|o| self.find_scale(ns, o), now);
                if let Err(e) = &r {
                    record("Warning", "CalculateExpectedPodCountFailed", &format!("Failed to calculate the number of expected pods: {e}"));
                }
                r
            }
        };
        let (write, recheck) = match result {
            Ok(sync) => {
                for (t, reason, msg) in &sync.events {
                    record(t, reason, msg);
                }
                (sync.write, sync.recheck)
            }
            Err(e) => (Some(fail_safe(&budget, &e, now)), None),
        };
        if let Some(new) = write {
            let typed_new: PodDisruptionBudget = serde_json::from_value(new).map_err(|e| e.to_string())?;
            let api = Api::<PodDisruptionBudget>::namespaced(self.client.clone(), ns);
            match api.replace_status(name, &PostParams::default(), &typed_new).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        if let Some(after) = recheck {
            self.queue.add_after(Key::Budget(ns.to_string(), name.to_string()), after);
        }
        Ok(())
    }
}
