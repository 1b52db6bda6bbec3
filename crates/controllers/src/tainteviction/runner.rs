//! Executor of the taint eviction controller: informers on Nodes and Pods; a pass over the
//! pods of NoExecute-tainted nodes whenever a node or pod changes, and again when the earliest
//! scheduled eviction is due. The controller remembers when it first saw each pod under its
//! node's NoExecute taints (upstream's timed-worker `CreatedAt`); a pod that is no longer
//! under them has its scheduled eviction cancelled (`Cancelling deletion of Pod <ns>/<name>`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use berth_runtime::{EventRecorder, EventType, Informer};
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::watcher;
use kube::ResourceExt;
use tokio::sync::Notify;

use super::{verdict, with_disruption_target, Verdict, MESSAGE_DELETION, REASON_DELETION_BY_TAINT_MANAGER, REASON_EVICTION};
use crate::nodelifecycle::runner::pod_ref;

/// Longest sleep between passes when nothing is scheduled (a safety net for missed wakes).
const IDLE_PASS: Duration = Duration::from_secs(10);

struct Controller {
    client: kube::Client,
    recorder: EventRecorder,
    nodes: Informer<Node>,
    pods: Informer<Pod>,
}

pub fn spawn(client: kube::Client, recorder: EventRecorder) -> tokio::task::JoinHandle<()> {
    let wake = Arc::new(Notify::new());
    let (w1, w2) = (wake.clone(), wake.clone());
    let nodes = Informer::spawn(Api::<Node>::all(client.clone()), watcher::Config::default(), move |_| w1.notify_one());
    let pods = Informer::spawn(Api::<Pod>::all(client.clone()), watcher::Config::default(), move |_| w2.notify_one());
    let ctl = Controller { client, recorder, nodes, pods };
    tokio::spawn(async move {
        ctl.nodes.ready().await;
        ctl.pods.ready().await;
        // uid → (when first seen under NoExecute taints, "ns/name") for pods with a
        // scheduled (not yet due) eviction.
        let mut scheduled: HashMap<String, (DateTime<Utc>, String)> = HashMap::new();
        loop {
            let next = ctl.pass(&mut scheduled).await;
            let wait = next.map(|t| (t - Utc::now()).to_std().unwrap_or_default()).unwrap_or(IDLE_PASS).min(IDLE_PASS);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = wake.notified() => {}
            }
        }
    })
}

fn key(p: &Pod) -> String {
    format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any())
}

impl Controller {
    /// One pass; returns when the next scheduled eviction is due.
    async fn pass(&self, scheduled: &mut HashMap<String, (DateTime<Utc>, String)>) -> Option<DateTime<Utc>> {
        let tainted: HashMap<String, Vec<Taint>> = self
            .nodes
            .state()
            .iter()
            .filter_map(|n| {
                let ts: Vec<Taint> = n.spec.as_ref()?.taints.clone()?.into_iter().filter(|t| t.effect == "NoExecute").collect();
                (!ts.is_empty()).then(|| (n.name_any(), ts))
            })
            .collect();
        let now = Utc::now();
        let mut still: HashSet<String> = HashSet::new();
        let mut next: Option<DateTime<Utc>> = None;
        if !tainted.is_empty() {
            for pod in self.pods.state() {
                let Some(taints) = pod.spec.as_ref().and_then(|s| s.node_name.as_ref()).and_then(|n| tainted.get(n)) else { continue };
                if pod.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                let uid = pod.uid().unwrap_or_default();
                let since = scheduled.get(&uid).map(|(s, _)| *s).unwrap_or(now);
                let due = match verdict(&pod, taints, since) {
                    Verdict::Keep => continue,
                    Verdict::EvictNow => true,
                    Verdict::EvictAt(t) if t <= now => true,
                    Verdict::EvictAt(t) => {
                        next = Some(next.map_or(t, |n| n.min(t)));
                        scheduled.entry(uid.clone()).or_insert((since, key(&pod)));
                        still.insert(uid.clone());
                        false
                    }
                };
                if due {
                    if let Err(e) = self.evict(&pod, now).await {
                        tracing::debug!(pod = %key(&pod), error = %e, "taint eviction failed; retrying");
                        next = Some(now + chrono::Duration::seconds(1));
                        still.insert(uid);
                    }
                }
            }
        }
        let cancelled: Vec<String> = scheduled.keys().filter(|u| !still.contains(*u)).cloned().collect();
        for uid in cancelled {
            let (_, name) = scheduled.remove(&uid).expect("listed");
            // Still there and not being deleted: the taint went away (or is tolerated now).
            let live = self.pods.state().into_iter().find(|p| p.uid().as_deref() == Some(uid.as_str()));
            if let Some(p) = live.filter(|p| p.metadata.deletion_timestamp.is_none()) {
                self.recorder.record(pod_ref(&p), EventType::Normal, REASON_EVICTION, &format!("Cancelling deletion of Pod {name}"));
            }
        }
        next
    }

    async fn evict(&self, pod: &Pod, now: DateTime<Utc>) -> Result<(), String> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        self.recorder.record(pod_ref(pod), EventType::Normal, REASON_EVICTION, &format!("Marking for deletion Pod {}", key(pod)));
        if let Some(conditions) = with_disruption_target(pod, REASON_DELETION_BY_TAINT_MANAGER, MESSAGE_DELETION, now) {
            let mut p = pod.clone();
            p.status.get_or_insert_with(Default::default).conditions = Some(conditions);
            match api.replace_status(&pod.name_any(), &PostParams::default(), &p).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
                Err(e) => return Err(e.to_string()),
            }
        }
        // The pod's own grace period (DeleteOptions{}), as upstream; preconditioned on its uid
        // so a pod recreated under the same name is never hit.
        let dp = DeleteParams { preconditions: pod.uid().map(|uid| kube::api::Preconditions { uid: Some(uid), resource_version: None }), ..Default::default() };
        match api.delete(&pod.name_any(), &dp).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}
