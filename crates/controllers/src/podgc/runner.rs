//! Executor of the pod GC passes: informers on Nodes and Pods, a pass when either changes and
//! every 20 s (upstream `gcCheckPeriod`). An orphaned pod waits out the quarantine, then its
//! node is looked up live before the pod goes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_runtime::Informer;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::watcher;
use kube::ResourceExt;
use tokio::sync::Notify;

use super::{classify, is_terminal, Collect, QUARANTINE, REASON_DELETION_BY_POD_GC};
use crate::tainteviction::with_disruption_target;

const GC_CHECK_PERIOD: Duration = Duration::from_secs(20);

pub fn spawn(client: kube::Client) -> tokio::task::JoinHandle<()> {
    let wake = Arc::new(Notify::new());
    let (w1, w2) = (wake.clone(), wake.clone());
    let nodes = Informer::spawn(Api::<Node>::all(client.clone()), watcher::Config::default(), move |_| w1.notify_one());
    let pods = Informer::spawn(Api::<Pod>::all(client.clone()), watcher::Config::default(), move |_| w2.notify_one());
    tokio::spawn(async move {
        nodes.ready().await;
        pods.ready().await;
        // Node name → when its absence was first noticed.
        let mut missing: HashMap<String, Instant> = HashMap::new();
        loop {
            let node_objs = nodes.state();
            let by_name: HashMap<String, &Node> = node_objs.iter().map(|n| (n.name_any(), &**n)).collect();
            let mut next = GC_CHECK_PERIOD;
            let mut still_missing: HashMap<String, Instant> = HashMap::new();
            for pod in pods.state() {
                let Some(why) = classify(&pod, &by_name) else { continue };
                if why == Collect::Orphaned {
                    let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
                    let since = *missing.get(&node).unwrap_or(&Instant::now());
                    still_missing.insert(node.clone(), since);
                    let left = QUARANTINE.saturating_sub(since.elapsed());
                    if !left.is_zero() {
                        next = next.min(left);
                        continue;
                    }
                    match Api::<Node>::all(client.clone()).get_opt(&node).await {
                        Ok(None) => {}
                        _ => continue,
                    }
                }
                if let Err(e) = collect(&client, &pod, &why).await {
                    tracing::debug!(pod = %pod.name_any(), error = %e, "pod GC failed; retrying");
                    next = next.min(Duration::from_secs(1));
                }
            }
            missing = still_missing;
            tokio::select! {
                _ = tokio::time::sleep(next) => {}
                _ = wake.notified() => {}
            }
        }
    })
}

/// Upstream `markFailedAndDeletePodWithCondition`: a non-terminal pod is marked Failed (with
/// the DisruptionTarget condition when there is a reason to give), then deleted with grace 0.
async fn collect(client: &kube::Client, pod: &Pod, why: &Collect) -> Result<(), String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace().unwrap_or_default());
    tracing::info!(pod = %pod.name_any(), ?why, "pod GC: force-deleting");
    if !is_terminal(pod) {
        let mut p = pod.clone();
        let status = p.status.get_or_insert_with(Default::default);
        status.phase = Some("Failed".into());
        if let Some(msg) = why.message() {
            if let Some(cs) = with_disruption_target(pod, REASON_DELETION_BY_POD_GC, msg, chrono::Utc::now()) {
                status.conditions = Some(cs);
            }
        }
        match api.replace_status(&pod.name_any(), &PostParams::default(), &p).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
    }
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: pod.uid().map(|uid| kube::api::Preconditions { uid: Some(uid), resource_version: None }),
        ..Default::default()
    };
    match api.delete(&pod.name_any(), &dp).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}
