//! The EndpointSlice controller's executor: informers on services, pods and endpoint slices,
//! a work queue of service keys, two workers, and the thin loop that performs the
//! [`super::Plan`] of [`super::reconcile`]: deletes first (UID precondition), then updates
//! (PUT with resourceVersion), then creates (`generateName`). A failure requeues with backoff.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use berth_runtime::{revision_of, Change, EventRecorder, EventType, Informer, WorkQueue};
use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::ResourceExt;

use super::{managed_for, reconcile, LABEL_MANAGED_BY, LABEL_SERVICE_NAME, CONTROLLER_NAME, MAX_ENDPOINTS_PER_SLICE};
use crate::endpoints::triggers::{Key, service_and_pod_informers};

const CACHE_SYNC_WAIT: Duration = Duration::from_secs(2);
const WORKERS: usize = 2;

struct Controller {
    client: kube::Client,
    recorder: EventRecorder,
    queue: WorkQueue<Key>,
    services: Informer<Service>,
    pods: Informer<Pod>,
    slices: Informer<EndpointSlice>,
    last_write: AtomicI64,
}

/// Run the EndpointSlice controller until the returned task is aborted.
pub fn spawn(client: kube::Client, recorder: EventRecorder) -> tokio::task::JoinHandle<()> {
    let queue: WorkQueue<Key> = WorkQueue::new();
    let (services, pods) = service_and_pod_informers(&client, &queue);
    let q = queue.clone();
    // Someone else's edit (or deletion) of a managed slice: the service's sync restores it.
    let slices = Informer::spawn(
        Api::<EndpointSlice>::all(client.clone()),
        watcher::Config::default().labels(&format!("{LABEL_MANAGED_BY}={CONTROLLER_NAME}")),
        move |c| {
            let s = match c {
                Change::Applied(s) | Change::Deleted(s) => s,
            };
            if let Some(svc) = s.labels().get(LABEL_SERVICE_NAME) {
                q.add((s.namespace().unwrap_or_default(), svc.clone()));
            }
        },
    );
    let ctl = Arc::new(Controller { client, recorder, queue, services, pods, slices, last_write: AtomicI64::new(0) });
    tokio::spawn(async move {
        ctl.services.ready().await;
        ctl.pods.ready().await;
        ctl.slices.ready().await;
        let c = ctl.clone();
        ctl.queue.run_workers(WORKERS, "endpointslice", move |key: Key| {
            let c = c.clone();
            async move { c.sync(&key).await }
        })
        .await;
    })
}

impl Controller {
    async fn sync(&self, key: &Key) -> Result<(), String> {
        let rev = self.last_write.load(Ordering::SeqCst);
        if !self.slices.wait_for(rev, CACHE_SYNC_WAIT).await {
            tracing::debug!("endpointslice cache lags behind the controller's writes");
        }
        let (ns, name) = key;
        // A deleted service's slices go with it through their ownerReference (garbage collector).
        let Some(service) = self.services.store().get(&ObjectRef::new(name).within(ns)) else { return Ok(()) };
        let pods: Vec<Pod> =
            self.pods.state().iter().filter(|p| p.namespace().as_deref() == Some(ns.as_str())).map(|p| (**p).clone()).collect();
        let existing: Vec<EndpointSlice> = self
            .slices
            .state()
            .iter()
            .filter(|s| s.namespace().as_deref() == Some(ns.as_str()) && managed_for(s, name))
            .map(|s| (**s).clone())
            .collect();
        let plan = reconcile(&service, &pods, &existing, MAX_ENDPOINTS_PER_SLICE);
        if plan.is_empty() {
            return Ok(());
        }
        let api = Api::<EndpointSlice>::namespaced(self.client.clone(), ns);
        let pp = PostParams { field_manager: Some(super::COMPONENT.into()), ..Default::default() };
        let fail = |e: kube::Error| {
            if !matches!(&e, kube::Error::Api(s) if s.code == 409) {
                self.recorder.record(
                    service_ref(&service),
                    EventType::Warning,
                    "FailedToUpdateEndpointSlices",
                    &format!("Error updating Endpoint Slices for Service {ns}/{name}: {e}"),
                );
            }
            e.to_string()
        };
        for s in &plan.delete {
            let dp = DeleteParams {
                preconditions: Some(Preconditions { uid: s.metadata.uid.clone(), resource_version: None }),
                ..Default::default()
            };
            match api.delete(&s.name_any(), &dp).await {
                Ok(_) => {}
                Err(kube::Error::Api(st)) if st.code == 404 => {}
                Err(e) => return Err(fail(e)),
            }
        }
        for s in &plan.update {
            let r = api.replace(&s.name_any(), &pp, s).await.map_err(fail)?;
            self.note(&r);
        }
        for s in &plan.create {
            let r = api.create(&pp, s).await.map_err(fail)?;
            self.note(&r);
        }
        Ok(())
    }

    fn note<K: kube::Resource>(&self, o: &K) {
        self.last_write.fetch_max(revision_of(o), Ordering::SeqCst);
    }
}

fn service_ref(svc: &Service) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Service".into()),
        namespace: svc.metadata.namespace.clone(),
        name: svc.metadata.name.clone(),
        uid: svc.metadata.uid.clone(),
        resource_version: svc.metadata.resource_version.clone(),
        ..Default::default()
    }
}
