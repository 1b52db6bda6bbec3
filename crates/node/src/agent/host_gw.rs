//! `berth node --pod-routes`: keeps this host's host-gw routes (see
//! [`crate::process::routes`]) in step with the Nodes: a watch on all Nodes, and after every
//! change (and every 30 s, repairing routes someone removed) the desired routes are computed
//! and applied. The agent needs `list`/`watch` on nodes beyond its own Node object — as
//! upstream CNI daemons (flannel's ClusterRole), granted by RBAC to the `system:nodes` group
//! (see the README); without it the watch fails, is retried, and a warning says why.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;

use crate::process::routes::{self, PeerNode};
use crate::simulated::PodCidr;

fn peer(n: &Node) -> PeerNode {
    let internal_ip = n
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
        .and_then(|a| match a.address.parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) => Some(v4),
            _ => None,
        });
    PeerNode {
        name: n.metadata.name.clone().unwrap_or_default(),
        pod_cidr: n.spec.as_ref().and_then(|s| s.pod_cidr.clone()),
        internal_ip,
    }
}

/// Enable IPv4 forwarding in this network namespace: packets from other hosts to our pods
/// arrive on the LAN interface, and IPv4 forwards by the ingress device's setting.
pub fn enable_forwarding() -> Result<(), String> {
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").map_err(|e| format!("enabling net.ipv4.ip_forward: {e}"))
}

/// Run until dropped (the agent aborts the task on shutdown). Routes stay when it ends: pods
/// outlive the agent, and a restarted agent picks its own routes up again by their marks.
/// `own`: this host's pod CIDR, if it runs pods (`berth server --pod-routes` runs none).
pub async fn run(client: kube::Client, self_name: String, self_ip: Ipv4Addr, own: Option<PodCidr>) {
    let api: Api<Node> = Api::all(client);
    let mut events = watcher(api, watcher::Config::default()).default_backoff().boxed();
    let mut nodes: BTreeMap<String, PeerNode> = BTreeMap::new();
    let mut listing: Option<BTreeMap<String, PeerNode>> = None;
    let mut synced = false;
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tokio::select! {
            ev = events.next() => {
                let Some(ev) = ev else { return };
                match ev {
                    Err(e) => {
                        tracing::warn!(error = %e, "host-gw routes: watching Nodes failed (nodes need list/watch on nodes, see the README); retrying");
                        continue;
                    }
                    Ok(watcher::Event::Init) => {
                        listing = Some(BTreeMap::new());
                        continue;
                    }
                    Ok(watcher::Event::InitApply(n)) => {
                        let p = peer(&n);
                        listing.get_or_insert_with(BTreeMap::new).insert(p.name.clone(), p);
                        continue;
                    }
                    Ok(watcher::Event::InitDone) => {
                        nodes = listing.take().unwrap_or_default();
                        synced = true;
                    }
                    Ok(watcher::Event::Apply(n)) => {
                        let p = peer(&n);
                        nodes.insert(p.name.clone(), p);
                    }
                    Ok(watcher::Event::Delete(n)) => {
                        nodes.remove(n.metadata.name.as_deref().unwrap_or_default());
                    }
                }
            }
            _ = tick.tick() => {}
        }
        // Before the first full list we know too little: deleting routes then could cut pods off.
        if !synced {
            continue;
        }
        let all: Vec<PeerNode> = nodes.values().cloned().collect();
        let want = routes::desired(&all, &self_name, self_ip, own);
        if let Err(e) = routes::sync(&want).await {
            tracing::warn!(error = %e, "host-gw routes: applying routes failed; retrying on the next change");
        }
    }
}
