//! The node's pod manager: watches the pods bound to this node and keeps one worker per pod
//! (by uid). Pods that disappear from the API are handed a `None` so their worker kills them;
//! pods on disk that the API does not know (after an agent restart) are cleaned up.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use tokio::sync::{mpsc, watch};

use super::worker::PodWorker;
use super::NodeCtx;

pub async fn run(ctx: Arc<NodeCtx>) {
    let api: Api<Pod> = Api::all(ctx.client.clone());
    let config = watcher::Config::default().fields(&format!("spec.nodeName={}", ctx.node_name));
    let mut events = watcher(api, config).default_backoff().boxed();
    let mut workers: HashMap<String, watch::Sender<Option<Pod>>> = HashMap::new();
    let mut finished: HashSet<String> = HashSet::new();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<String>();
    let mut listed: Option<HashSet<String>> = None;
    loop {
        tokio::select! {
            ev = events.next() => {
                let Some(ev) = ev else { return };
                let ev = match ev {
                    Ok(ev) => ev,
                    Err(e) => {
                        tracing::warn!(error = %e, "pod watch failed; retrying");
                        continue;
                    }
                };
                match ev {
                    watcher::Event::Init => listed = Some(HashSet::new()),
                    watcher::Event::InitApply(pod) | watcher::Event::Apply(pod) => {
                        let uid = pod.metadata.uid.clone().unwrap_or_default();
                        if let Some(l) = listed.as_mut() {
                            l.insert(uid.clone());
                        }
                        if finished.contains(&uid) {
                            continue;
                        }
                        match workers.get(&uid) {
                            Some(tx) => {
                                let _ = tx.send(Some(pod));
                            }
                            None => {
                                let (tx, rx) = watch::channel(Some(pod));
                                workers.insert(uid.clone(), tx);
                                let (ctx, done) = (ctx.clone(), done_tx.clone());
                                tokio::spawn(async move {
                                    PodWorker::new(ctx, rx).run().await;
                                    let _ = done.send(uid);
                                });
                            }
                        }
                    }
                    watcher::Event::Delete(pod) => {
                        let uid = pod.metadata.uid.clone().unwrap_or_default();
                        if let Some(tx) = workers.get(&uid) {
                            let _ = tx.send(None);
                        }
                        finished.remove(&uid);
                    }
                    watcher::Event::InitDone => {
                        let seen = listed.take().unwrap_or_default();
                        for (uid, tx) in &workers {
                            if !seen.contains(uid) {
                                let _ = tx.send(None);
                            }
                        }
                        finished.retain(|u| seen.contains(u));
                        // Pods left on disk by an earlier agent that the API no longer has.
                        let dir = ctx.state_dir.join("pods");
                        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                            let uid = e.file_name().to_string_lossy().to_string();
                            if !seen.contains(&uid) && !workers.contains_key(&uid) {
                                tracing::info!(%uid, "cleaning up a pod the API no longer has");
                                super::teardown::pod(&ctx.state_dir, &uid, &ctx.ipam);
                            }
                        }
                    }
                }
            }
            Some(uid) = done_rx.recv() => {
                // A worker that ran its pod to the end (final delete, or removal).
                if workers.remove(&uid).is_some() {
                    finished.insert(uid);
                }
            }
        }
    }
}
