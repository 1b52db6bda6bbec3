//! Informers on Services and EndpointSlices that apply each change to the index as it arrives
//! (the watch event is the only latency between an EndpointSlice write and the answer).

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use berth_runtime::{Change, Informer};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;
use kube::runtime::watcher;

use crate::index::Index;

/// How often the index is checked against the informer caches for missed deletions.
const RESYNC: Duration = Duration::from_secs(30);

fn lower(s: Option<&String>) -> String {
    s.map(|s| s.to_ascii_lowercase()).unwrap_or_default()
}

fn write(index: &RwLock<Index>) -> std::sync::RwLockWriteGuard<'_, Index> {
    match index.write() {
        Ok(i) => i,
        Err(poisoned) => poisoned.into_inner(),
    }
}

pub fn spawn(client: kube::Client, index: Arc<RwLock<Index>>) -> tokio::task::JoinHandle<()> {
    let ix = index.clone();
    let services = Informer::spawn(Api::<Service>::all(client.clone()), watcher::Config::default(), move |c| match c {
        Change::Applied(s) => write(&ix).apply_service(s),
        Change::Deleted(s) => write(&ix).delete_service(s),
    });
    let ix = index.clone();
    let slices = Informer::spawn(Api::<EndpointSlice>::all(client), watcher::Config::default(), move |c| match c {
        Change::Applied(s) => write(&ix).apply_slice(s),
        Change::Deleted(s) => write(&ix).delete_slice(s),
    });
    tokio::spawn(async move {
        // The informers live as long as this task; their caches are not read otherwise.
        services.ready().await;
        slices.ready().await;
        tracing::debug!("DNS informers synced");
        let mut tick = tokio::time::interval(RESYNC);
        loop {
            tick.tick().await;
            let svc_keys: HashSet<(String, String)> =
                services.state().iter().map(|s| (lower(s.metadata.namespace.as_ref()), lower(s.metadata.name.as_ref()))).collect();
            let slice_keys: HashSet<(String, String)> = slices
                .state()
                .iter()
                .map(|s| (lower(s.metadata.namespace.as_ref()), s.metadata.name.clone().unwrap_or_default()))
                .collect();
            write(&index).retain(&svc_keys, &slice_keys);
        }
    })
}
