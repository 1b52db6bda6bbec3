//! Configuration of one simulated node and the per-call view [`Behaviour`] that
//! [`next_step`](super::next_step) needs about the node's other pods.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Taint};

/// Errors in a [`SimNodeConfig`] that the caller built from flags.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid pod CIDR {0:?}: expected an IPv4 CIDR such as 10.244.1.0/24")]
    InvalidPodCidr(String),
    #[error("pod CIDR {0:?} is too small: it needs room for a gateway and at least one pod")]
    PodCidrTooSmall(String),
}

/// An IPv4 pod CIDR (`spec.podCIDR`). Pod addresses are taken from
/// `network+2 ..= broadcast-1`: `.0` is the network, `.1` is left for the node's
/// bridge (as on a real berth node), and the broadcast address is never used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodCidr {
    network: u32,
    prefix: u8,
}

impl PodCidr {
    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::InvalidPodCidr(s.to_string());
        let (ip, prefix) = s.split_once('/').ok_or_else(bad)?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
        let cidr = PodCidr { network: u32::from(ip) & mask, prefix };
        if cidr.pod_address_count() == 0 {
            return Err(ConfigError::PodCidrTooSmall(s.to_string()));
        }
        Ok(cidr)
    }

    /// Number of addresses pods can get.
    pub fn pod_address_count(&self) -> u32 {
        let size: u64 = 1u64 << (32 - self.prefix as u32);
        // minus network, gateway and broadcast
        size.saturating_sub(3).min(u32::MAX as u64) as u32
    }

    /// The `i`-th pod address (`i < pod_address_count()`).
    pub fn pod_address(&self, i: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.network + 2 + i)
    }

    /// The first address, held by the node's bridge.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network + 1)
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix) };
        u32::from(ip) & mask == self.network
    }
}

impl std::fmt::Display for PodCidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.network), self.prefix)
    }
}

/// Everything that identifies and sizes one simulated node.
#[derive(Debug, Clone)]
pub struct SimNodeConfig {
    /// Node name (`sim-1`, …); also the `kubernetes.io/hostname` label and Hostname address.
    pub name: String,
    /// The node's InternalIP; also every pod's `hostIP`.
    pub internal_ip: IpAddr,
    /// The node's pod CIDR (`spec.podCIDR`); pod IPs are allocated from it.
    pub pod_cidr: PodCidr,
    /// Capacity quantities, as Kubernetes quantity strings. Allocatable equals capacity:
    /// a simulated node reserves nothing for system daemons.
    pub cpu: String,
    pub memory: String,
    pub pods: u32,
    pub ephemeral_storage: String,
    /// `kubernetes.io/arch` and `nodeInfo.architecture` (Go's GOARCH spelling: amd64, arm64).
    pub architecture: String,
    pub os_image: String,
    pub kernel_version: String,
    /// Version of the runtime; reported as `<runtime_scheme>://<version>`.
    pub runtime_version: String,
    /// `berth-sim` for simulated nodes, `berth` for real ones.
    pub runtime_scheme: String,
    /// Whether the node is simulated: it then carries the `node.berth.dev/simulated=true`
    /// label and the `berth-simulated` instance type. Real nodes share the rest of the model.
    pub simulated: bool,
    /// Port reported in `daemonEndpoints.kubeletEndpoint` (the real kubelet's is 10250).
    pub kubelet_port: i32,
    /// Extra labels (e.g. topology.kubernetes.io/zone); override the defaults on conflict.
    pub labels: BTreeMap<String, String>,
    /// Taints registered with the node (`spec.taints`).
    pub taints: Vec<Taint>,
    /// How long containers stay `ContainerCreating` when the pod has no
    /// `sim.berth.dev/startup-delay` annotation. Zero: they start on the next step.
    pub default_startup_delay: Duration,
    /// The node Lease's `leaseDurationSeconds` (kubelet `--node-lease-duration-seconds`, 40);
    /// the Lease is renewed every quarter of it.
    pub lease_duration_seconds: i32,
    /// Self-fencing (real nodes with `--auto-failover-after`): where the heartbeat file goes
    /// and the fencing period. `None`: no heartbeat file, nothing is ever fenced.
    pub self_fence: Option<SelfFence>,
}

/// See `crate::process::fence`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfFence {
    pub state_dir: std::path::PathBuf,
    pub period: Duration,
}

impl SimNodeConfig {
    /// A node with the defaults used by `berth up --simulated-nodes`: 8 CPUs, 32Gi memory,
    /// 110 pods (the kubelet's default `--max-pods`), 100Gi ephemeral storage.
    pub fn new(name: impl Into<String>, internal_ip: IpAddr, pod_cidr: PodCidr) -> Self {
        SimNodeConfig {
            name: name.into(),
            internal_ip,
            pod_cidr,
            cpu: "8".into(),
            memory: "32Gi".into(),
            pods: 110,
            ephemeral_storage: "100Gi".into(),
            architecture: default_arch().into(),
            os_image: "berth simulated node".into(),
            kernel_version: "6.1.0-berth-sim".into(),
            runtime_version: env!("CARGO_PKG_VERSION").into(),
            runtime_scheme: super::ids::RUNTIME_SCHEME.into(),
            simulated: true,
            kubelet_port: 10250,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            default_startup_delay: Duration::ZERO,
            lease_duration_seconds: super::node::NODE_LEASE_DURATION_SECONDS,
            self_fence: None,
        }
    }
}

fn default_arch() -> &'static str {
    // Report the host's architecture in Go's spelling so images' platform
    // selectors written for real nodes match the simulated ones too.
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// What [`next_step`](super::next_step) may know about the node besides the pod itself.
///
/// `pods` is the caller's current view of every pod bound to this node (it may include the
/// pod being stepped; it is skipped by uid). It is used for hostPort admission and for
/// picking a pod IP not in use. The allocation is only collision-free if the caller steps
/// pods one at a time and folds each written status into its view before the next call —
/// which is what a single worker per node does naturally.
#[derive(Debug, Clone, Copy)]
pub struct Behaviour<'a> {
    pub node: &'a SimNodeConfig,
    pub pods: &'a [Pod],
}

impl<'a> Behaviour<'a> {
    pub fn new(node: &'a SimNodeConfig, pods: &'a [Pod]) -> Self {
        Behaviour { node, pods }
    }
}
