//! The Endpoints controller's executor: informers on services, pods and endpoints, one work
//! queue of service keys, two workers, and the thin loop that asks [`super::reconcile`] what
//! to write and writes it. Failures requeue with backoff and record upstream's
//! `FailedToCreateEndpoint` / `FailedToUpdateEndpoint` warnings.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use berth_runtime::{revision_of, Change, EventRecorder, EventType, Informer, WorkQueue};
use k8s_openapi::api::core::v1::{Endpoints, ObjectReference, Pod, Service};
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::ResourceExt;

use super::triggers::{Key, service_and_pod_informers};
use super::{reconcile, Action};

const CACHE_SYNC_WAIT: Duration = Duration::from_secs(2);
const WORKERS: usize = 2;

struct Controller {
    client: kube::Client,
    recorder: EventRecorder,
    queue: WorkQueue<Key>,
    services: Informer<Service>,
    pods: Informer<Pod>,
    endpoints: Informer<Endpoints>,
    last_write: AtomicI64,
}

/// Run the Endpoints controller until the returned task is aborted.
pub fn spawn(client: kube::Client, recorder: EventRecorder) -> tokio::task::JoinHandle<()> {
    let queue: WorkQueue<Key> = WorkQueue::new();
    let (services, pods) = service_and_pod_informers(&client, &queue);
    let q = queue.clone();
    // Upstream reacts to Endpoints deletions only (a deleted object of a live service is recreated).
    let endpoints = Informer::spawn(Api::<Endpoints>::all(client.clone()), watcher::Config::default(), move |c| {
        if let Change::Deleted(e) = c {
            q.add((e.namespace().unwrap_or_default(), e.name_any()));
        }
    });
    let ctl = Arc::new(Controller { client, recorder, queue, services, pods, endpoints, last_write: AtomicI64::new(0) });
    tokio::spawn(async move {
        ctl.services.ready().await;
        ctl.pods.ready().await;
        ctl.endpoints.ready().await;
        // Endpoints left over from services deleted while no controller ran.
        for e in ctl.endpoints.state() {
            ctl.queue.add((e.namespace().unwrap_or_default(), e.name_any()));
        }
        let c = ctl.clone();
        ctl.queue.run_workers(WORKERS, "endpoints", move |key: Key| {
            let c = c.clone();
            async move { c.sync(&key).await }
        })
        .await;
    })
}

impl Controller {
    async fn sync(&self, key: &Key) -> Result<(), String> {
        let rev = self.last_write.load(Ordering::SeqCst);
        if !self.endpoints.wait_for(rev, CACHE_SYNC_WAIT).await {
            tracing::debug!("endpoints cache lags behind the controller's writes");
        }
        let (ns, name) = key;
        let service = self.services.store().get(&ObjectRef::new(name).within(ns));
        let existing = self.endpoints.store().get(&ObjectRef::new(name).within(ns));
        // Endpoints this controller never managed (no trigger-time annotation) outlive a
        // missing service: they may be user-managed.
        let existing = existing.filter(|e| {
            service.is_some() || e.annotations().contains_key(super::podutil::ANNOTATION_TRIGGER_TIME)
        });
        let pods: Vec<Pod> = if service.is_some() {
            self.pods.state().iter().filter(|p| p.namespace().as_deref() == Some(ns.as_str())).map(|p| (**p).clone()).collect()
        } else {
            Vec::new()
        };
        let Some(action) = reconcile(service.as_deref(), &pods, existing.as_deref()) else { return Ok(()) };
        let api = Api::<Endpoints>::namespaced(self.client.clone(), ns);
        let pp = PostParams { field_manager: Some(super::COMPONENT.into()), ..Default::default() };
        let result = match &action {
            Action::Create(ep) => api.create(&pp, ep).await.map(|r| self.note(&r)),
            Action::Update(ep) => api.replace(name, &pp, ep).await.map(|r| self.note(&r)),
            Action::Delete { name, .. } => match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                Err(e) => Err(e),
            },
        };
        result.map_err(|e| {
            let conflict = matches!(&e, kube::Error::Api(s) if s.code == 409);
            let failed = match &action {
                Action::Create(ep) => Some((ep, "FailedToCreateEndpoint", format!("Failed to create endpoint for service {ns}/{name}: {e}"))),
                Action::Update(ep) => Some((ep, "FailedToUpdateEndpoint", format!("Failed to update endpoint {ns}/{name}: {e}"))),
                Action::Delete { .. } => None,
            };
            if let (Some((ep, reason, message)), false) = (failed, conflict) {
                self.recorder.record(endpoints_ref(ep), EventType::Warning, reason, &message);
            }
            e.to_string()
        })
    }

    fn note<K: kube::Resource>(&self, o: &K) {
        self.last_write.fetch_max(revision_of(o), Ordering::SeqCst);
    }
}

fn endpoints_ref(ep: &Endpoints) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Endpoints".into()),
        namespace: ep.metadata.namespace.clone(),
        name: ep.metadata.name.clone(),
        uid: ep.metadata.uid.clone(),
        resource_version: ep.metadata.resource_version.clone(),
        ..Default::default()
    }
}
