//! Executor of the node lifecycle controller: informers on Nodes, node Leases and Pods; every
//! `--node-monitor-period` (and at once when a Node changes) each node is observed and
//! decided on ([`super::decide`]), and the decision written: status conditions through
//! `nodes/<n>/status`, taints through a resourceVersion-checked PUT of the Node, pods' Ready
//! conditions through `pods/<p>/status`. A conflict or failure is retried at the next pass.

use std::collections::HashMap;
use std::sync::Arc;

use berth_runtime::{Change, EventRecorder, EventType, Informer};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, ObjectReference, Pod};
use kube::api::{Api, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::ResourceExt;
use tokio::sync::Notify;

use super::failover::{self, Fence};
use super::{decide, failover_due, failover_pods, observe, pod_marked_not_ready, Config, Health};

struct Controller {
    client: kube::Client,
    recorder: EventRecorder,
    cfg: Config,
    nodes: Informer<Node>,
    leases: Informer<Lease>,
    pods: Informer<Pod>,
}

/// Run the controller until the returned task is aborted.
pub fn spawn(client: kube::Client, recorder: EventRecorder, cfg: Config) -> tokio::task::JoinHandle<()> {
    let wake = Arc::new(Notify::new());
    let w = wake.clone();
    let nodes = Informer::spawn(Api::<Node>::all(client.clone()), watcher::Config::default(), move |_| w.notify_one());
    let leases = Informer::spawn(Api::<Lease>::namespaced(client.clone(), "kube-node-lease"), watcher::Config::default(), |_| {});
    let pods = Informer::spawn(Api::<Pod>::all(client.clone()), watcher::Config::default(), |_: Change<'_, Pod>| {});
    let ctl = Controller { client, recorder, cfg, nodes, leases, pods };
    tokio::spawn(async move {
        ctl.nodes.ready().await;
        ctl.leases.ready().await;
        ctl.pods.ready().await;
        let mut health: HashMap<String, Health> = HashMap::new();
        loop {
            ctl.pass(&mut health).await;
            tokio::select! {
                _ = tokio::time::sleep(ctl.cfg.monitor_period) => {}
                _ = wake.notified() => {}
            }
        }
    })
}

fn node_ref(node: &Node) -> ObjectReference {
    // Upstream's RecordNodeStatusChange uses the node name as the reference's uid.
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Node".into()),
        name: Some(node.name_any()),
        uid: Some(node.name_any()),
        ..Default::default()
    }
}

pub fn pod_ref(p: &Pod) -> ObjectReference {
    berth_runtime::reference(p)
}

impl Controller {
    async fn pass(&self, health: &mut HashMap<String, Health>) {
        let nodes = self.nodes.state();
        health.retain(|name, _| nodes.iter().any(|n| &n.name_any() == name));
        for node in nodes {
            let name = node.name_any();
            let lease = self.leases.store().get(&ObjectRef::new(&name).within("kube-node-lease"));
            let now = chrono::Utc::now();
            let mut h = observe(health.get(&name), &node, lease.as_deref(), now);
            if !h.registered {
                self.recorder.record(node_ref(&node), EventType::Normal, "RegisteredNode", &format!("Node {name} event: Registered Node {name} in Controller"));
                h.registered = true;
            }
            let d = decide(&node, &h, &self.cfg, now);
            let applied = self.apply(&node, &d).await;
            if let Err(e) = &applied {
                tracing::debug!(node = %name, error = %e, "node lifecycle update failed; retrying");
            }
            if d.mark_pods {
                h.mark_retry = applied.is_err() || self.mark_pods_not_ready(&name, now).await.is_err();
            }
            if failover_due(&h, &self.cfg, now) {
                if let Err(e) = self.failover(&node, &h).await {
                    tracing::warn!(node = %name, error = %e, "automatic failover failed; retrying");
                }
            }
            health.insert(name, h);
        }
    }

    async fn apply(&self, node: &Node, d: &super::Decision) -> Result<(), String> {
        let name = node.name_any();
        let api: Api<Node> = Api::all(self.client.clone());
        let pp = PostParams::default();
        let mut current = node.clone();
        if let Some(conditions) = &d.conditions {
            current.status.get_or_insert_with(Default::default).conditions = Some(conditions.clone());
            current = api.replace_status(&name, &pp, &current).await.map_err(|e| e.to_string())?;
        }
        if d.became_not_ready {
            self.recorder.record(node_ref(node), EventType::Normal, "NodeNotReady", &format!("Node {name} status is now: NodeNotReady"));
        }
        if let Some(taints) = &d.taints {
            current.spec.get_or_insert_with(Default::default).taints = (!taints.is_empty()).then(|| taints.clone());
            api.replace(&name, &pp, &current).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Fence the silent node, then force-delete its StatefulSet pods (see `failover`).
    async fn failover(&self, node: &Node, h: &Health) -> Result<(), String> {
        let pods = self.pods.state();
        let doomed = failover_pods(pods.iter().map(|p| &**p), &node.name_any());
        if doomed.is_empty() {
            return Ok(());
        }
        match failover::fence(&self.client, &node.name_any(), h).await? {
            Fence::Renewed => Ok(()),
            Fence::Fenced => {
                let (after, margin) = self.cfg.auto_failover.unwrap_or_default();
                let silent = format!("{}s", (after + margin).as_secs_f64());
                self.recorder.record(node_ref(node), EventType::Warning, "NodeFenced", &format!("Node {} fenced: no heartbeat for {silent}", node.name_any()));
                failover::delete_pods(&self.client, &self.recorder, node, &doomed, &silent).await
            }
        }
    }

    async fn mark_pods_not_ready(&self, node: &str, now: chrono::DateTime<chrono::Utc>) -> Result<(), String> {
        let mut failed = None;
        for pod in self.pods.state() {
            let Some(conditions) = pod_marked_not_ready(&pod, node, now) else { continue };
            let mut p = (*pod).clone();
            p.status.get_or_insert_with(Default::default).conditions = Some(conditions);
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &p.namespace().unwrap_or_default());
            match api.replace_status(&p.name_any(), &PostParams::default(), &p).await {
                Ok(_) => self.recorder.record(pod_ref(&p), EventType::Warning, "NodeNotReady", "Node is not ready"),
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => failed = Some(e.to_string()),
            }
        }
        failed.map_or(Ok(()), Err)
    }
}
