//! Which services a pod change concerns, shared by the Endpoints and EndpointSlice executors
//! (upstream `getPodServiceMemberships`, old and new labels): the services whose selector
//! matches the pod now, and those that matched it at its previous change — so a pod whose
//! labels stop matching, or that is deleted, still triggers its former services.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use berth_runtime::{Change, Informer, WorkQueue};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use super::podutil::{selector, selects};

/// A service key: (namespace, name).
pub type Key = (String, String);

/// Informers on all services and pods that queue the key of every service a change concerns:
/// a service's own changes, and pod changes through [`PodServices`].
pub fn service_and_pod_informers(client: &kube::Client, queue: &WorkQueue<Key>) -> (Informer<Service>, Informer<Pod>) {
    let q = queue.clone();
    let services = Informer::spawn(Api::<Service>::all(client.clone()), watcher::Config::default(), move |c| {
        let s = match c {
            Change::Applied(s) | Change::Deleted(s) => s,
        };
        q.add((s.namespace().unwrap_or_default(), s.name_any()));
    });
    let memberships = PodServices::new(services.store().clone());
    let q = queue.clone();
    let pods = Informer::spawn(Api::<Pod>::all(client.clone()), watcher::Config::default(), move |c| memberships.on_change(c, &q));
    (services, pods)
}

pub struct PodServices {
    services: Store<Service>,
    last: Mutex<HashMap<Key, HashSet<String>>>,
}

impl PodServices {
    pub fn new(services: Store<Service>) -> PodServices {
        PodServices { services, last: Mutex::new(HashMap::new()) }
    }

    pub fn on_change(&self, change: Change<'_, Pod>, queue: &WorkQueue<Key>) {
        let (pod, deleted) = match change {
            Change::Applied(p) => (p, false),
            Change::Deleted(p) => (p, true),
        };
        let ns = pod.namespace().unwrap_or_default();
        let key = (ns.clone(), pod.name_any());
        let now: HashSet<String> = if deleted {
            HashSet::new()
        } else {
            self.services
                .state()
                .iter()
                .filter(|s| s.namespace().as_deref() == Some(ns.as_str()))
                .filter(|s| selector(s).is_some_and(|sel| selects(sel, pod)))
                .map(|s| s.name_any())
                .collect()
        };
        let before = {
            let mut last = self.last.lock().expect("pod services lock");
            if deleted || now.is_empty() {
                last.remove(&key)
            } else {
                last.insert(key, now.clone())
            }
        };
        for name in now.iter().chain(before.iter().flatten()) {
            queue.add((ns.clone(), name.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::{reflector, watcher};

    fn svc(name: &str, app: &str) -> Service {
        serde_json::from_value(serde_json::json!({"metadata": {"name": name, "namespace": "default"}, "spec": {"selector": {"app": app}}})).unwrap()
    }

    fn pod(app: &str) -> Pod {
        serde_json::from_value(serde_json::json!({"metadata": {"name": "p", "namespace": "default", "labels": {"app": app}}})).unwrap()
    }

    async fn drain(q: &WorkQueue<Key>) -> Vec<String> {
        let mut v = Vec::new();
        while !q.is_empty() {
            let k = q.next().await;
            q.done(&k);
            v.push(k.1);
        }
        v.sort();
        v
    }

    #[tokio::test]
    async fn a_pod_triggers_the_services_it_matches_now_and_matched_before() {
        let (store, mut writer) = reflector::store::<Service>();
        writer.apply_watcher_event(&watcher::Event::Apply(svc("a", "x")));
        writer.apply_watcher_event(&watcher::Event::Apply(svc("b", "y")));
        let m = PodServices::new(store);
        let q = WorkQueue::new();
        m.on_change(Change::Applied(&pod("x")), &q);
        assert_eq!(drain(&q).await, ["a"]);
        // Relabelled from x to y: both services recompute.
        m.on_change(Change::Applied(&pod("y")), &q);
        assert_eq!(drain(&q).await, ["a", "b"]);
        m.on_change(Change::Deleted(&pod("y")), &q);
        assert_eq!(drain(&q).await, ["b"]);
    }
}
