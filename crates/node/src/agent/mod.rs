//! The real node agent (`berth node`): registers its Node and Lease like a simulated node
//! (shared code in `simulated::runner`), and runs the pods bound to it as namespaced
//! processes through [`crate::process`].
//!
//! Requirements: root (namespaces, mounts, links), Linux ≥ 5.3 (pidfd), iproute2's `ip`.

mod atomic_writer;
mod env;
mod dns_config;
mod etc_files;
mod expand;
mod fieldref;
mod hooks;
pub mod host_gw;
mod launch;
pub(crate) mod nfs;
mod pods;
mod probes;
mod projection;
mod resources;
mod sa_token;
mod service_env;
mod status;
pub mod teardown;
mod volumes;
mod worker;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ObjectReference, Pod};

use crate::process::ipam::Ipam;
use crate::process::net;
use crate::simulated::{PodCidr, SimNodeConfig};

pub use etc_files::{hosts, pod_hostname};

/// How to run one node agent.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub name: String,
    pub state_dir: PathBuf,
    pub pod_cidr: PodCidr,
    /// The `berth` binary, run as the sandbox holder and container shims.
    pub exe: PathBuf,
    /// The cluster CA directory (`ca.crt`, `ca.key`) for the kubelet API's TLS (serving
    /// certificate signed by the CA).
    pub pki_dir: Option<PathBuf>,
    /// The cluster CA certificate alone (`--ca-file`), used without `pki_dir`: the kubelet API
    /// then serves a self-signed certificate and still requires CA-signed client certificates.
    /// Neither: no kubelet API.
    pub ca_file: Option<PathBuf>,
    /// `--node-ip`: the address the node is reached at, published as its InternalIP and the
    /// pods' hostIP; the kubelet API listens there. 127.0.0.1 for agents on the server's host.
    pub node_ip: Ipv4Addr,
    /// `--pod-routes`: route other nodes' pod CIDRs via their InternalIPs (host-gw).
    pub pod_routes: bool,
    /// `--cluster-cidr`: masquerade pod traffic to addresses outside it.
    pub cluster_cidr: Option<PodCidr>,
    /// The node Lease's duration in seconds (renewed every quarter of it).
    pub lease_duration_seconds: i32,
    /// Self-fencing period (`--auto-failover-after`), see `crate::process::fence`.
    pub auto_failover_after: Option<std::time::Duration>,
    /// `--cluster-dns`: the cluster DNS IPs pods with `dnsPolicy: ClusterFirst` use (kubelet's
    /// flag); empty: such pods fall back to the node's resolvers.
    pub cluster_dns: Vec<Ipv4Addr>,
}

/// What every pod worker of the node shares.
pub struct NodeCtx {
    pub client: kube::Client,
    pub node_name: String,
    pub state_dir: PathBuf,
    pub exe: PathBuf,
    pub ipam: Ipam,
    pub bridge: String,
    pub gateway: Ipv4Addr,
    pub prefix: u8,
    pub dns: dns_config::NodeDns,
    pub recorder: berth_runtime::EventRecorder,
}

pub fn object_ref(p: &Pod) -> ObjectReference {
    berth_runtime::reference(p)
}

/// Refuse clearly where pods cannot run.
pub fn check_requirements() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("berth node runs pods as namespaced processes and needs root (network, UTS, IPC and mount namespaces, bridges, veth pairs)".into());
    }
    if std::process::Command::new("ip").arg("-V").output().is_err() {
        return Err("berth node needs iproute2's `ip` command (apt-get install iproute2)".into());
    }
    Ok(())
}

fn first_line_value(path: &str, key: &str) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    s.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.trim().trim_matches('"').to_string())
}

/// The Node this agent registers: the shared kubelet model with real capacity and system info.
pub fn node_config(cfg: &AgentConfig, kubelet_port: u16) -> SimNodeConfig {
    let mut n = SimNodeConfig::new(cfg.name.clone(), IpAddr::V4(cfg.node_ip), cfg.pod_cidr);
    n.simulated = false;
    n.runtime_scheme = "berth".into();
    n.kubelet_port = kubelet_port as i32;
    n.lease_duration_seconds = cfg.lease_duration_seconds;
    n.self_fence = cfg.auto_failover_after.map(|period| crate::simulated::SelfFence { state_dir: cfg.state_dir.clone(), period });
    n.cpu = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).to_string();
    if let Some(kb) = first_line_value("/proc/meminfo", "MemTotal:").and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok()) {
        n.memory = format!("{kb}Ki");
    }
    n.kernel_version = std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).unwrap_or_default();
    n.os_image = first_line_value("/etc/os-release", "PRETTY_NAME=").unwrap_or_else(|| "Linux".into());
    n
}

/// Run the agent until `shutdown`. Pods keep running when it returns.
pub async fn run(client: kube::Client, cfg: AgentConfig, shutdown: impl std::future::Future<Output = ()>) -> Result<(), String> {
    check_requirements()?;
    std::fs::create_dir_all(cfg.state_dir.join("pods")).map_err(|e| format!("creating {}: {e}", cfg.state_dir.display()))?;
    std::fs::write(cfg.state_dir.join("pid"), std::process::id().to_string()).map_err(|e| e.to_string())?;
    if cfg.auto_failover_after.is_none() {
        // Fencing off: a heartbeat file left by an earlier run must not fence the pods.
        let _ = std::fs::remove_file(crate::process::fence::heartbeat_path(&cfg.state_dir));
    }
    let bridge = net::bridge_name(&cfg.state_dir);
    let gateway = cfg.pod_cidr.gateway();
    net::ensure_bridge(&bridge, gateway, cfg.pod_cidr.prefix()).await?;
    fieldref::set_host_ip(cfg.node_ip);
    // The kubelet API (logs, exec) on the node's address; its port is published in the Node,
    // where the API server finds it (`status.daemonEndpoints.kubeletEndpoint.Port`).
    let listener = tokio::net::TcpListener::bind((cfg.node_ip, 0)).await.map_err(|e| format!("kubelet API on {}: {e}", cfg.node_ip))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let read = |p: &std::path::Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let tls = match (&cfg.pki_dir, &cfg.ca_file) {
        (Some(pki), _) => Some(crate::kubelet_api::tls::server_config_for(
            &read(&pki.join("ca.crt"))?,
            Some(&read(&pki.join("ca.key"))?),
            &cfg.name,
            &[IpAddr::V4(cfg.node_ip)],
        )?),
        (None, Some(ca)) => Some(crate::kubelet_api::tls::server_config_for(&read(ca)?, None, &cfg.name, &[IpAddr::V4(cfg.node_ip)])?),
        (None, None) => None,
    };
    match tls {
        Some(tls) => {
            let state_dir = cfg.state_dir.clone();
            tokio::spawn(crate::kubelet_api::serve(listener, Arc::new(tls), state_dir, async move {
                let _ = api_stopped.await;
            }));
        }
        None => {
            tracing::warn!("no --pki-dir or --ca-file: the kubelet API (logs, exec) is not served");
            drop(listener);
        }
    }
    let node = node_config(&cfg, port);
    let ctx = Arc::new(NodeCtx {
        recorder: berth_runtime::EventRecorder::new(client.clone(), "kubelet"),
        client: client.clone(),
        node_name: cfg.name.clone(),
        state_dir: cfg.state_dir.clone(),
        exe: cfg.exe.clone(),
        ipam: Ipam::new(&cfg.state_dir, cfg.pod_cidr).map_err(|e| e.to_string())?,
        bridge,
        gateway,
        prefix: cfg.pod_cidr.prefix(),
        dns: dns_config::NodeDns {
            cluster_dns: cfg.cluster_dns.iter().map(Ipv4Addr::to_string).collect(),
            cluster_domain: etc_files::CLUSTER_DOMAIN.into(),
            host: etc_files::host_resolv(),
        },
    });
    // Network settings last, after everything that can fail: nothing to undo on an error.
    if cfg.pod_routes {
        host_gw::enable_forwarding()?;
    }
    let masq_table = crate::process::masq::table_name(&cfg.state_dir);
    if let Some(cluster) = cfg.cluster_cidr {
        crate::process::masq::install(&masq_table, cfg.pod_cidr, cluster).map_err(|e| format!("--cluster-cidr (masquerade): {e}"))?;
    }
    let routes = cfg.pod_routes.then(|| tokio::spawn(host_gw::run(client.clone(), cfg.name.clone(), cfg.node_ip, Some(cfg.pod_cidr))));
    crate::simulated::runner::run_node(client, &node, pods::run(ctx), shutdown).await;
    let _ = stop_api.send(());
    if let Some(r) = routes {
        r.abort();
    }
    if cfg.cluster_cidr.is_some() {
        crate::process::masq::remove(&masq_table);
    }
    Ok(())
}
