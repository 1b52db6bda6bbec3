//! Executor of the protection controllers: informers on claims, volumes and pods, one queue,
//! and the finalizer removal (a resourceVersion-checked PUT) when [`super`] says it may go.
//! Before releasing a claim the pods of its namespace are listed live, as upstream asks the
//! API server too: a cache that has not seen a new pod must not free a claim in use.

use std::sync::Arc;

use berth_runtime::{Change, Informer, WorkQueue};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::ResourceExt;

use super::{claim_finalizer_removable, volume_finalizer_removable, without_finalizer, PVC_PROTECTION_FINALIZER, PV_PROTECTION_FINALIZER};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Claim(String, String),
    Volume(String),
}

struct Controller {
    client: kube::Client,
    queue: WorkQueue<Key>,
    claims: Informer<PersistentVolumeClaim>,
    volumes: Informer<PersistentVolume>,
    pods: Informer<Pod>,
}

fn pod_claims(pod: &Pod) -> Vec<Key> {
    let ns = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| {
            if let Some(c) = &v.persistent_volume_claim {
                Some(Key::Claim(ns.clone(), c.claim_name.clone()))
            } else {
                v.ephemeral.as_ref().map(|_| Key::Claim(ns.clone(), format!("{name}-{}", v.name)))
            }
        })
        .collect()
}

/// Run both protection controllers until the returned task is aborted.
pub fn spawn(client: kube::Client) -> tokio::task::JoinHandle<()> {
    let queue: WorkQueue<Key> = WorkQueue::new();
    let q = queue.clone();
    let claims = Informer::spawn(Api::<PersistentVolumeClaim>::all(client.clone()), watcher::Config::default(), move |c| {
        if let Change::Applied(p) = c {
            if p.metadata.deletion_timestamp.is_some() {
                q.add(Key::Claim(p.namespace().unwrap_or_default(), p.name_any()));
            }
        }
    });
    let q = queue.clone();
    let volumes = Informer::spawn(Api::<PersistentVolume>::all(client.clone()), watcher::Config::default(), move |c| {
        if let Change::Applied(v) = c {
            if v.metadata.deletion_timestamp.is_some() {
                q.add(Key::Volume(v.name_any()));
            }
        }
    });
    let q = queue.clone();
    // A pod that finishes, goes away or changes may free the claims it used.
    let pods = Informer::spawn(Api::<Pod>::all(client.clone()), watcher::Config::default(), move |c| {
        let pod = match c {
            Change::Applied(p) | Change::Deleted(p) => p,
        };
        for k in pod_claims(pod) {
            q.add(k);
        }
    });
    let ctl = Arc::new(Controller { client, queue, claims, volumes, pods });
    tokio::spawn(async move {
        ctl.claims.ready().await;
        ctl.volumes.ready().await;
        ctl.pods.ready().await;
        loop {
            let key = ctl.queue.next().await;
            match ctl.sync(&key).await {
                Ok(()) => ctl.queue.forget(&key),
                Err(e) => {
                    tracing::debug!(?key, error = %e, "protection sync failed; requeueing");
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
            Key::Claim(ns, name) => self.sync_claim(ns, name).await,
            Key::Volume(name) => self.sync_volume(name).await,
        }
    }

    async fn sync_claim(&self, ns: &str, name: &str) -> Result<(), String> {
        let Some(claim) = self.claims.store().get(&ObjectRef::new(name).within(ns)) else { return Ok(()) };
        let cached: Vec<Arc<Pod>> = self.pods.state().into_iter().filter(|p| p.namespace().as_deref() == Some(ns)).collect();
        if !claim_finalizer_removable(&claim, &cached.iter().map(|p| &**p).collect::<Vec<_>>()) {
            return Ok(());
        }
        let api = Api::<Pod>::namespaced(self.client.clone(), ns);
        let live = api.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        if !claim_finalizer_removable(&claim, &live.items.iter().collect::<Vec<_>>()) {
            return Ok(());
        }
        let mut c = (*claim).clone();
        c.metadata = without_finalizer(&c.metadata, PVC_PROTECTION_FINALIZER);
        match Api::<PersistentVolumeClaim>::namespaced(self.client.clone(), ns).replace(name, &PostParams::default(), &c).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn sync_volume(&self, name: &str) -> Result<(), String> {
        let Some(volume) = self.volumes.store().get(&ObjectRef::new(name)) else { return Ok(()) };
        if !volume_finalizer_removable(&volume) {
            return Ok(());
        }
        let mut v = (*volume).clone();
        v.metadata = without_finalizer(&v.metadata, PV_PROTECTION_FINALIZER);
        match Api::<PersistentVolume>::all(self.client.clone()).replace(name, &PostParams::default(), &v).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}
