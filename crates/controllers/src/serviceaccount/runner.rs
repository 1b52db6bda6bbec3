//! Executor of the ServiceAccount controller: informers on namespaces, `default`
//! ServiceAccounts and `kube-root-ca.crt` ConfigMaps feed one queue of namespace names; each
//! sync applies [`super::reconcile`]'s actions.

use std::sync::Arc;

use berth_runtime::{Change, Informer, WorkQueue};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use kube::api::{Api, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::ResourceExt;

use super::{reconcile, Action, DEFAULT_SERVICE_ACCOUNT, ROOT_CA_CONFIG_MAP};

struct Controller {
    client: kube::Client,
    ca_pem: String,
    namespaces: Informer<Namespace>,
    accounts: Informer<ServiceAccount>,
    config_maps: Informer<ConfigMap>,
}

/// Run the controller until the returned task is aborted; `ca_pem` is the cluster CA.
pub fn spawn(client: kube::Client, ca_pem: String) -> tokio::task::JoinHandle<()> {
    let queue: WorkQueue<String> = WorkQueue::new();
    let q = queue.clone();
    let namespaces = Informer::spawn(Api::<Namespace>::all(client.clone()), watcher::Config::default(), move |c| {
        if let Change::Applied(n) = c {
            q.add(n.name_any());
        }
    });
    // Only the objects this controller owns: a deletion or edit of one requeues its namespace.
    let on_owned = |q: WorkQueue<String>| {
        move |ns: Option<String>| {
            if let Some(ns) = ns {
                q.add(ns);
            }
        }
    };
    let requeue = on_owned(queue.clone());
    let accounts = Informer::spawn(
        Api::<ServiceAccount>::all(client.clone()),
        watcher::Config::default().fields(&format!("metadata.name={DEFAULT_SERVICE_ACCOUNT}")),
        move |c| match c {
            Change::Applied(o) | Change::Deleted(o) => requeue(o.namespace()),
        },
    );
    let requeue = on_owned(queue.clone());
    let config_maps = Informer::spawn(
        Api::<ConfigMap>::all(client.clone()),
        watcher::Config::default().fields(&format!("metadata.name={ROOT_CA_CONFIG_MAP}")),
        move |c| match c {
            Change::Applied(o) | Change::Deleted(o) => requeue(o.namespace()),
        },
    );
    let ctl = Arc::new(Controller { client, ca_pem, namespaces, accounts, config_maps });
    tokio::spawn(async move {
        ctl.namespaces.ready().await;
        ctl.accounts.ready().await;
        ctl.config_maps.ready().await;
        let sync = {
            let ctl = ctl.clone();
            move |ns: String| {
                let ctl = ctl.clone();
                async move { ctl.sync(&ns).await }
            }
        };
        queue.run_workers(2, "serviceaccount", sync).await;
    })
}

fn ignore_exists(r: Result<impl Sized, kube::Error>) -> Result<(), String> {
    match r {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 && s.reason == "AlreadyExists" => Ok(()),
        // The namespace went away or started terminating meanwhile.
        Err(kube::Error::Api(s)) if s.code == 404 || (s.code == 403 && s.message.contains("being terminated")) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

impl Controller {
    async fn sync(&self, ns: &str) -> Result<(), String> {
        let Some(namespace) = self.namespaces.store().get(&ObjectRef::new(ns)) else { return Ok(()) };
        let sa = self.accounts.store().get(&ObjectRef::new(DEFAULT_SERVICE_ACCOUNT).within(ns));
        let cm = self.config_maps.store().get(&ObjectRef::new(ROOT_CA_CONFIG_MAP).within(ns));
        let pp = PostParams::default();
        for action in reconcile(&namespace, sa.as_deref(), cm.as_deref(), &self.ca_pem) {
            match action {
                Action::CreateServiceAccount(o) => ignore_exists(Api::<ServiceAccount>::namespaced(self.client.clone(), ns).create(&pp, &o).await)?,
                Action::CreateConfigMap(o) => ignore_exists(Api::<ConfigMap>::namespaced(self.client.clone(), ns).create(&pp, &o).await)?,
                // A conflict (stale cache) is retried with backoff and then sees the fresh object.
                Action::UpdateConfigMap(o) => ignore_exists(Api::<ConfigMap>::namespaced(self.client.clone(), ns).replace(ROOT_CA_CONFIG_MAP, &pp, &o).await)?,
            }
        }
        Ok(())
    }
}

/// Wait (at most `timeout`) until the `default` namespace's `default` ServiceAccount exists, so
/// pods created right after start-up are not refused by the ServiceAccount admission.
pub async fn wait_for_default_account(client: kube::Client, timeout: std::time::Duration) -> bool {
    let api = Api::<ServiceAccount>::namespaced(client, "default");
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if matches!(api.get_opt(DEFAULT_SERVICE_ACCOUNT).await, Ok(Some(_))) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}
