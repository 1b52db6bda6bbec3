//! One pod watch shared by many in-process simulated nodes.
//!
//! Each node on its own watches `spec.nodeName=<node>`; with a hundred nodes in one process
//! (`berth up --simulated-nodes 100`) that is a hundred watch streams the API server must test
//! every pod event against. A [`PodFeed`] watches all pods once and hands each node the events
//! its own field-selected watch would have carried: a pod is the node's while its
//! `spec.nodeName` names it (which never changes once set), relists (`Init`, `InitApply`,
//! `InitDone`) reach every node, and a node that subscribes late gets a relist of its pods.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use tokio::sync::mpsc;

type Key = (String, String);
pub(super) type Sender = mpsc::UnboundedSender<watcher::Event<Pod>>;
pub type Receiver = mpsc::UnboundedReceiver<watcher::Event<Pod>>;

fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty())
}

fn key_of(pod: &Pod) -> Key {
    (pod.metadata.namespace.clone().unwrap_or_default(), pod.metadata.name.clone().unwrap_or_default())
}

/// The demultiplexing state, separate from the watch so it can be tested without a server.
#[derive(Default)]
pub(super) struct Demux {
    subscribers: HashMap<String, Sender>,
    /// Assigned pods by node, as of the last complete list plus later events.
    pods: HashMap<String, HashMap<Key, Pod>>,
    /// Pods of a relist in progress.
    listing: Option<HashMap<String, HashMap<Key, Pod>>>,
    synced: bool,
}

impl Demux {
    fn send(&mut self, node: &str, ev: watcher::Event<Pod>) {
        if let Some(tx) = self.subscribers.get(node) {
            if tx.send(ev).is_err() {
                self.subscribers.remove(node); // the node stopped
            }
        }
    }

    fn broadcast(&mut self, ev: impl Fn() -> watcher::Event<Pod>) {
        self.subscribers.retain(|_, tx| tx.send(ev()).is_ok());
    }

    pub(super) fn subscribe(&mut self, node: &str, tx: Sender) {
        if self.synced {
            // Catch the node up as its own watch's initial list would.
            let mut ok = tx.send(watcher::Event::Init).is_ok();
            for pod in self.pods.get(node).into_iter().flat_map(|m| m.values()) {
                ok &= tx.send(watcher::Event::InitApply(pod.clone())).is_ok();
            }
            ok &= tx.send(watcher::Event::InitDone).is_ok();
            if !ok {
                return;
            }
        }
        self.subscribers.insert(node.to_string(), tx);
    }

    pub(super) fn on_event(&mut self, ev: watcher::Event<Pod>) {
        match ev {
            watcher::Event::Init => {
                self.listing = Some(HashMap::new());
                self.broadcast(|| watcher::Event::Init);
            }
            watcher::Event::InitApply(pod) => {
                let Some(node) = node_of(&pod).map(str::to_string) else { return };
                self.listing.get_or_insert_with(HashMap::new).entry(node.clone()).or_default().insert(key_of(&pod), pod.clone());
                self.send(&node, watcher::Event::InitApply(pod));
            }
            watcher::Event::InitDone => {
                self.pods = self.listing.take().unwrap_or_default();
                self.synced = true;
                self.broadcast(|| watcher::Event::InitDone);
            }
            watcher::Event::Apply(pod) => {
                let Some(node) = node_of(&pod).map(str::to_string) else { return };
                self.pods.entry(node.clone()).or_default().insert(key_of(&pod), pod.clone());
                self.send(&node, watcher::Event::Apply(pod));
            }
            watcher::Event::Delete(pod) => {
                let Some(node) = node_of(&pod).map(str::to_string) else { return };
                if let Some(m) = self.pods.get_mut(&node) {
                    m.remove(&key_of(&pod));
                }
                self.send(&node, watcher::Event::Delete(pod));
            }
        }
    }
}

/// A shared watch of all pods; see the module docs. Cheap to clone.
#[derive(Clone)]
pub struct PodFeed {
    demux: Arc<Mutex<Demux>>,
}

impl PodFeed {
    /// Start watching (in a spawned task that ends when every clone of the feed is dropped
    /// and the watch next yields).
    pub fn spawn(client: Client) -> PodFeed {
        let demux = Arc::new(Mutex::new(Demux::default()));
        let weak = Arc::downgrade(&demux);
        tokio::spawn(async move {
            let mut events = watcher(Api::<Pod>::all(client), watcher::Config::default()).default_backoff().boxed();
            while let Some(ev) = events.next().await {
                let Some(demux) = weak.upgrade() else { return };
                match ev {
                    Ok(ev) => demux.lock().expect("feed lock").on_event(ev),
                    Err(e) => tracing::warn!(error = %e, "simulated nodes' pod watch failed; retrying"),
                }
            }
        });
        PodFeed { demux }
    }

    /// The events of `node`'s pods from now on.
    pub fn subscribe(&self, node: &str) -> Receiver {
        let (tx, rx) = mpsc::unbounded_channel();
        self.demux.lock().expect("feed lock").subscribe(node, tx);
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, node: Option<&str>) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default"}, "spec": {"nodeName": node, "containers": []}})).unwrap()
    }

    fn drain(rx: &mut Receiver) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(ev) = rx.try_recv() {
            out.push(match ev {
                watcher::Event::Init => "Init".into(),
                watcher::Event::InitApply(p) => format!("InitApply {}", p.metadata.name.unwrap()),
                watcher::Event::InitDone => "InitDone".into(),
                watcher::Event::Apply(p) => format!("Apply {}", p.metadata.name.unwrap()),
                watcher::Event::Delete(p) => format!("Delete {}", p.metadata.name.unwrap()),
            });
        }
        out
    }

    #[test]
    fn each_node_sees_what_its_own_field_selected_watch_would() {
        let mut d = Demux::default();
        let (tx1, mut n1) = mpsc::unbounded_channel();
        d.subscribe("n1", tx1);
        d.on_event(watcher::Event::Init);
        d.on_event(watcher::Event::InitApply(pod("a", Some("n1"))));
        d.on_event(watcher::Event::InitApply(pod("b", Some("n2"))));
        d.on_event(watcher::Event::InitApply(pod("pending", None)));
        d.on_event(watcher::Event::InitDone);
        assert_eq!(drain(&mut n1), ["Init", "InitApply a", "InitDone"]);

        // A late subscriber gets its node's pods as a relist.
        let (tx2, mut n2) = mpsc::unbounded_channel();
        d.subscribe("n2", tx2);
        assert_eq!(drain(&mut n2), ["Init", "InitApply b", "InitDone"]);

        // Unassigned pods reach nobody; binding brings the pod to its node; deletion too.
        d.on_event(watcher::Event::Apply(pod("c", None)));
        d.on_event(watcher::Event::Apply(pod("c", Some("n2"))));
        d.on_event(watcher::Event::Delete(pod("a", Some("n1"))));
        assert_eq!(drain(&mut n1), ["Delete a"]);
        assert_eq!(drain(&mut n2), ["Apply c"]);

        // A node that stopped is dropped; the others still get events.
        drop(n1);
        d.on_event(watcher::Event::Apply(pod("d", Some("n1"))));
        assert!(!d.subscribers.contains_key("n1"));
        d.on_event(watcher::Event::Init);
        assert_eq!(drain(&mut n2), ["Init"]);
        let (tx3, mut n3) = mpsc::unbounded_channel();
        d.subscribe("n3", tx3);
        assert_eq!(drain(&mut n3), ["Init", "InitDone"], "synced from the earlier list");
    }
}
