//! Runs a simulated node against an API server: the IO around the pure model in
//! [`crate::simulated`], so that the control plane sees a kubelet.
//!
//! ```text
//! pub async fn run(client: kube::Client, cfg: SimNodeConfig, shutdown: impl Future<Output = ()>)
//! pub fn sim_node_config(index: usize) -> SimNodeConfig      // sim-<i>, 10.244.<i>.0/24, 10.250.0.<i>
//! ```
//!
//! What one `run` does, with upstream's timings:
//!
//! * **Register**: POST the Node; if it exists (a restart), keep it (uid, taints, others'
//!   labels), add what this node registers, and PUT it. Then PUT `nodes/<name>/status` with
//!   the full status and refreshed conditions. Retried (100 ms doubling to 7 s) until it works.
//! * **Lease** `kube-node-lease/<node>`: created with an owner reference to the Node, renewed
//!   every 10 s (a quarter of its 40 s duration), with back-off retries on failure.
//! * **Node status**: every 10 s (`nodeStatusUpdateFrequency`) the Node is read and the
//!   heartbeat status computed; it is written when it differs from the stored one in more
//!   than heartbeat times (e.g. the node lifecycle controller set Ready=Unknown) or when the
//!   last write is 5 min old (`nodeStatusReportFrequency`; with leases, liveness is the
//!   Lease's job).
//! * **Pods**: see the `pods` module — a watch on `spec.nodeName=<node>`, one worker loop,
//!   requeues in a delay queue, status PUTs and final DELETEs.
//!
//! All of it runs inside the returned future (no spawned tasks), so dropping it or
//! resolving `shutdown` stops everything at once: the Lease is no longer renewed and the
//! Node goes stale, as when a kubelet stops. Pods are left as they are.

mod feed;
mod node_lease;
mod node_status;
mod pods;
mod requeue;

pub use feed::PodFeed;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::{Api, Client};

pub use node_lease::LEASE_RENEW_INTERVAL;
pub use node_status::{NODE_STATUS_REPORT_FREQUENCY, NODE_STATUS_UPDATE_FREQUENCY};

use super::node::NODE_LEASE_NAMESPACE;
use super::{lease_owner_reference, PodCidr, SimNodeConfig};

/// Highest index [`sim_node_config`] accepts: pod CIDRs `10.244.0.0/24`…`10.249.255.0/24`
/// stay clear of the node addresses in `10.250.0.0/16`.
pub const MAX_SIMULATED_NODES: usize = 6 * 256 - 1;

/// Run one simulated node until `shutdown` resolves. Never fails: API errors are logged and
/// retried as a kubelet retries them.
pub async fn run(client: Client, cfg: SimNodeConfig, shutdown: impl Future<Output = ()>) {
    let pods = pods::PodWorker::new(client.clone(), cfg.clone()).run();
    run_node(client, &cfg, pods, shutdown).await
}

/// [`run`] with the node's pods taken from a shared [`PodFeed`] (many nodes in one process)
/// instead of a watch of its own.
pub async fn run_on_feed(client: Client, cfg: SimNodeConfig, feed: &PodFeed, shutdown: impl Future<Output = ()>) {
    let pods = pods::PodWorker::new(client.clone(), cfg.clone()).run_on_feed(feed.subscribe(&cfg.name));
    run_node(client, &cfg, pods, shutdown).await
}

/// What every berth node does, simulated or real: register the Node, renew its Lease, keep
/// its status fresh, and run `pods` (the node's pod worker) — until `shutdown` resolves.
pub async fn run_node(client: Client, cfg: &SimNodeConfig, pods: impl Future<Output = ()>, shutdown: impl Future<Output = ()>) {
    let work = async {
        let nodes: Api<Node> = Api::all(client.clone());
        let node = node_status::register(&nodes, cfg).await;
        let leases: Api<Lease> = Api::namespaced(client.clone(), NODE_LEASE_NAMESPACE);
        let recorder = berth_runtime::EventRecorder::new(client.clone(), "kubelet");
        tokio::join!(
            node_lease::keep_lease_renewed(&leases, &cfg.name, lease_owner_reference(&node), cfg.lease_duration_seconds, cfg.self_fence.as_ref()),
            node_status::keep_status_fresh(&nodes, &cfg.name, &recorder),
            pods,
        );
    };
    tokio::select! {
        () = shutdown => tracing::info!(node = %cfg.name, "node stopping"),
        () = work => {}
    }
}

/// The configuration of the `index`-th node of `berth up --simulated-nodes M` (1-based):
/// name `sim-<index>`, pod CIDR `10.244.<index>.0/24`, InternalIP `10.250.0.<index>`.
/// These addresses are only what the API shows; nothing is configured on the machine.
/// Past 255 the pattern carries into the next octet (`sim-256`: `10.245.0.0/24`,
/// `10.250.1.0`).
///
/// Panics unless `1 <= index <= MAX_SIMULATED_NODES` (callers validate the flag).
pub fn sim_node_config(index: usize) -> SimNodeConfig {
    assert!(
        (1..=MAX_SIMULATED_NODES).contains(&index),
        "simulated node index {index} is outside 1..={MAX_SIMULATED_NODES}"
    );
    let (hi, lo) = ((index / 256) as u8, (index % 256) as u8);
    let cidr = PodCidr::parse(&format!("10.{}.{lo}.0/24", 244 + hi)).expect("a /24 inside 10.244.0.0/14");
    SimNodeConfig::new(format!("sim-{index}"), IpAddr::V4(Ipv4Addr::new(10, 250, hi, lo)), cidr)
}

/// Exponential back-off between retries.
struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(initial: Duration, max: Duration) -> Self {
        Backoff { initial, max, next: initial }
    }

    fn next(&mut self) -> Duration {
        let d = self.next;
        self.next = (d * 2).min(self.max);
        d
    }

    fn reset(&mut self) {
        self.next = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_node_config_follows_the_naming_scheme() {
        let c = sim_node_config(1);
        assert_eq!(c.name, "sim-1");
        assert_eq!(c.pod_cidr.to_string(), "10.244.1.0/24");
        assert_eq!(c.internal_ip.to_string(), "10.250.0.1");
        let c = sim_node_config(255);
        assert_eq!((c.pod_cidr.to_string(), c.internal_ip.to_string()), ("10.244.255.0/24".into(), "10.250.0.255".into()));
        let c = sim_node_config(256);
        assert_eq!((c.pod_cidr.to_string(), c.internal_ip.to_string()), ("10.245.0.0/24".into(), "10.250.1.0".into()));
        let c = sim_node_config(MAX_SIMULATED_NODES);
        assert_eq!(c.pod_cidr.to_string(), "10.249.255.0/24");
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn index_zero_is_rejected() {
        sim_node_config(0);
    }

    #[test]
    fn backoff_doubles_up_to_the_max_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(200), Duration::from_secs(1));
        let seq: Vec<_> = (0..5).map(|_| b.next().as_millis()).collect();
        assert_eq!(seq, [200, 400, 800, 1000, 1000]);
        b.reset();
        assert_eq!(b.next(), Duration::from_millis(200));
    }
}
