//! `berth node --simulated`: one simulated node as its own process, joining a cluster over
//! HTTPS like any kubelet (a kubeconfig, or a server URL with a bearer token). What the node
//! does is `berth_node::simulated::runner::run`, the same code `berth up --simulated-nodes`
//! runs in-process; this file only turns flags into a client and a node configuration.

use std::net::IpAddr;
use std::path::PathBuf;

use berth_node::simulated::runner::{run, sim_node_config, MAX_SIMULATED_NODES};
use berth_node::simulated::{PodCidr, SimNodeConfig};
use clap::Args;

#[derive(Args, Clone, Debug)]
pub struct NodeArgs {
    /// Run a simulated node: it registers, heartbeats and plays kubelet for the pods bound to
    /// it without running any process (pods are driven by `sim.berth.dev/*` annotations).
    #[arg(long)]
    pub simulated: bool,
    /// Node name. `sim-<i>` gets the addresses `berth up --simulated-nodes` would give it.
    #[arg(long)]
    pub name: String,
    /// Kubeconfig to reach the API server with (e.g. the `kubeconfig.yaml` `berth up` wrote).
    #[arg(long, conflicts_with_all = ["server", "token_file"])]
    pub kubeconfig: Option<PathBuf>,
    /// API server URL, e.g. https://127.0.0.1:6443 (with --token-file). Several servers of one
    /// cluster, comma-separated (with --ca-file): the agent uses one and moves to the next when
    /// it cannot be reached (what a load balancer in front of upstream's servers does).
    #[arg(long, requires = "token_file")]
    pub server: Option<String>,
    /// File holding the bearer token.
    #[arg(long, requires = "server")]
    pub token_file: Option<PathBuf>,
    /// PEM file of the cluster CA (with --server); without it the system roots are trusted.
    #[arg(long, requires = "server")]
    pub ca_file: Option<PathBuf>,
    /// The node's pod CIDR (spec.podCIDR); required unless the name is `sim-<i>`.
    #[arg(long)]
    pub pod_cidr: Option<String>,
    /// The node's address (kubelet's flag): published as its InternalIP. Simulated nodes:
    /// required unless the name is `sim-<i>`. Real agents: the address other hosts and the
    /// API server reach this host at; the kubelet API listens there and pods see it as their
    /// hostIP. Default 127.0.0.1 (agents on the API server's host).
    #[arg(long)]
    pub node_ip: Option<IpAddr>,
    /// Where a real agent keeps its pods' state (PID files, logs, volumes).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Directory with the cluster CA (`ca.crt`, `ca.key`) that issues a real agent's kubelet API
    /// serving certificate and checks the API server's client certificate. Without it the agent
    /// serves no kubelet API, so `kubectl logs`/`exec` cannot reach its pods.
    #[arg(long)]
    pub pki_dir: Option<PathBuf>,
    /// The node Lease's duration (kubelet flag of that name); the Lease is renewed every
    /// quarter of it. Short values let a short `--node-monitor-grace-period` work.
    #[arg(long, default_value_t = 40, value_name = "SECONDS")]
    pub node_lease_duration_seconds: i32,
    /// Self-fencing (real nodes): once no Lease renewal has succeeded for this long, every pod
    /// of the node is killed by its sandbox's watchdog, even if this agent is frozen or dead.
    /// Must equal the control plane's `--auto-failover-after`.
    #[arg(long, value_name = "DURATION", value_parser = crate::go_duration)]
    pub auto_failover_after: Option<std::time::Duration>,
    /// Cluster DNS server IPs (comma-separated) for pods with `dnsPolicy: ClusterFirst`, as
    /// kubelet's flag; `berth up` passes its kube-dns Service IP. Without it such pods use the
    /// node's resolvers.
    #[arg(long, value_delimiter = ',', value_name = "IP")]
    pub cluster_dns: Vec<std::net::Ipv4Addr>,
    /// host-gw pod networking (flannel's host-gw backend): route every other Node's
    /// `spec.podCIDR` via its InternalIP (routes marked `proto 236 metric 236`, only those are
    /// ever changed) and enable IPv4 forwarding in this network namespace. For agents on
    /// different hosts of one LAN; agents sharing a host (`berth up --nodes N`) need none.
    #[arg(long)]
    pub pod_routes: bool,
    /// The cluster's pod network (kube-proxy's and flannel's flag name): pod traffic to
    /// addresses outside it is masqueraded to the host's address (nftables table
    /// `berth-masq-<id>`, removed when the agent stops); pod-to-pod traffic is not.
    #[arg(long, value_name = "CIDR")]
    pub cluster_cidr: Option<String>,
    /// Also run the service proxy (nftables) for this host, matching traffic from this node's
    /// pod CIDR — for an agent on a host without `berth up`, which runs one for its own nodes.
    #[arg(long)]
    pub proxy: bool,
}

/// Run the simulated node until SIGTERM/SIGINT.
pub async fn run_simulated_node(args: NodeArgs) -> Result<(), String> {
    let cfg = node_config(&args)?;
    let client = client(&args).await?;
    eprintln!("berth: simulated node {} (pod CIDR {}, InternalIP {})", cfg.name, cfg.pod_cidr, cfg.internal_ip);
    run(client, cfg, crate::shutdown_signal()).await;
    Ok(())
}

/// The node's configuration: `sim-<i>` defaults, overridden by the address flags.
fn node_config(args: &NodeArgs) -> Result<SimNodeConfig, String> {
    let index = args
        .name
        .strip_prefix("sim-")
        .and_then(|i| i.parse::<usize>().ok())
        .filter(|i| (1..=MAX_SIMULATED_NODES).contains(i));
    let base = index.map(sim_node_config);
    let pod_cidr = match (&args.pod_cidr, &base) {
        (Some(c), _) => PodCidr::parse(c).map_err(|e| format!("--pod-cidr: {e}"))?,
        (None, Some(b)) => b.pod_cidr,
        (None, None) => return Err(format!("--pod-cidr is required for node {:?} (only sim-<i> has a default)", args.name)),
    };
    let ip = match (args.node_ip, &base) {
        (Some(ip), _) => ip,
        (None, Some(b)) => b.internal_ip,
        (None, None) => return Err(format!("--node-ip is required for node {:?} (only sim-<i> has a default)", args.name)),
    };
    let mut cfg = SimNodeConfig::new(args.name.clone(), ip, pod_cidr);
    cfg.lease_duration_seconds = args.node_lease_duration_seconds;
    Ok(cfg)
}

/// A client from `--kubeconfig`, or `--server` with `--token-file` (and `--ca-file`).
pub async fn client(args: &NodeArgs) -> Result<kube::Client, String> {
    if let Some(path) = &args.kubeconfig {
        let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        return kube::Client::try_from(config).map_err(|e| e.to_string());
    }
    let (Some(url), Some(token_file)) = (&args.server, &args.token_file) else {
        return Err("berth node: give --kubeconfig, or --server with --token-file".into());
    };
    let read = |p: &PathBuf| std::fs::read_to_string(p).map_err(|e| format!("reading {}: {e}", p.display()));
    let token = read(token_file)?.trim().to_string();
    match &args.ca_file {
        Some(ca) => {
            let ca_pem = read(ca)?;
            let servers: Vec<berth_runtime::ClusterAccess> = url
                .split(',')
                .map(|u| berth_runtime::ClusterAccess { url: u.trim().to_string(), ca_pem: ca_pem.clone(), token: token.clone() })
                .collect();
            berth_runtime::connect_any(&servers).map_err(|e| e.to_string())
        }
        None if url.contains(',') => Err("--server: several servers need --ca-file".into()),
        None => {
            let uri = url.parse().map_err(|_| format!("--server: invalid URL {url:?}"))?;
            let mut config = kube::Config::new(uri);
            config.auth_info.token = Some(token.into());
            kube::Client::try_from(config).map_err(|e| e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        node: NodeArgs,
    }

    fn parse(args: &[&str]) -> Result<NodeArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("node").chain(args.iter().copied())).map(|c| c.node)
    }

    #[test]
    fn sim_names_get_the_in_process_addresses() {
        let a = parse(&["--simulated", "--name", "sim-7", "--kubeconfig", "k"]).unwrap();
        let cfg = node_config(&a).unwrap();
        assert_eq!((cfg.pod_cidr.to_string(), cfg.internal_ip.to_string()), ("10.244.7.0/24".into(), "10.250.0.7".into()));
    }

    #[test]
    fn other_names_need_addresses() {
        let a = parse(&["--simulated", "--name", "edge", "--kubeconfig", "k"]).unwrap();
        assert!(node_config(&a).unwrap_err().contains("--pod-cidr is required"));
        let a = parse(&["--simulated", "--name", "edge", "--kubeconfig", "k", "--pod-cidr", "10.243.0.0/24", "--node-ip", "10.251.0.1"]).unwrap();
        let cfg = node_config(&a).unwrap();
        assert_eq!((cfg.name.as_str(), cfg.pod_cidr.to_string()), ("edge", "10.243.0.0/24".into()));
    }

    #[test]
    fn server_needs_a_token_and_excludes_a_kubeconfig() {
        assert!(parse(&["--simulated", "--name", "sim-1", "--server", "https://x"]).is_err());
        assert!(parse(&["--simulated", "--name", "sim-1", "--server", "https://x", "--token-file", "t", "--kubeconfig", "k"]).is_err());
        assert!(parse(&["--simulated", "--name", "sim-1", "--server", "https://x", "--token-file", "t", "--ca-file", "c"]).is_ok());
    }
}
