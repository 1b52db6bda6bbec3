//! `berth`: one binary for the whole cluster. This file is wiring only; each component lives
//! in its own crate.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

mod components;
mod elected;
mod kubeconfig_cmd;
mod migrate_cmd;
mod node_cmd;
mod sim_node;
mod store_cmd;
mod svcnet;

#[derive(Parser)]
#[command(name = "berth", version, about = "A small, fast, Kubernetes-API-compatible control plane for stateful workloads")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a whole cluster in the foreground on this machine.
    Up(ServerArgs),
    /// Run a control-plane server: the same as `up` (same flags); several on one etcd
    /// (`--etcd-endpoints`) serve one cluster, electing one leader for the controllers.
    Server(ServerArgs),
    /// Node commands: `berth node` runs a node agent (`--simulated`: a simulated one); built-in
    /// images and the pod runtime's helper processes are hidden subcommands.
    #[command(flatten)]
    Node(node_cmd::NodeCommand),
    /// Write a kubeconfig for a user beyond the admin (a token in `<data-dir>/pki/tokens.csv`);
    /// grant it access with RBAC bindings (`kubectl create rolebinding … --user NAME`).
    Kubeconfig(kubeconfig_cmd::KubeconfigArgs),
    /// Store commands: `berth store migrate` moves a stopped cluster from SQLite onto etcd.
    #[command(subcommand)]
    Store(migrate_cmd::StoreCommand),
}

#[derive(Args, Clone)]
struct ServerArgs {
    /// Where the cluster keeps its state (store, credentials, kubeconfig).
    #[arg(long, default_value = "./.berth")]
    data_dir: PathBuf,
    /// Address the API server listens on (loopback unless you say otherwise).
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    #[command(flatten)]
    store: store_cmd::StoreArgs,
    /// How long an Event is kept after it was last recorded (kube-apiserver's flag).
    #[arg(long, default_value = "1h", value_name = "DURATION", value_parser = go_duration)]
    event_ttl: Duration,
    /// Revisions of history kept for watches when compacting the store.
    #[arg(long, default_value_t = 10_000)]
    retain_revisions: i64,
    /// How often the store is compacted.
    #[arg(long, default_value = "60", value_name = "SECONDS")]
    compaction_interval: u64,
    /// Simulated nodes to run in-process (`sim-1…sim-M`): they register, heartbeat and play
    /// kubelet for the pods bound to them, without running processes.
    #[arg(long, default_value_t = 0)]
    simulated_nodes: usize,
    /// Real node agents to start (`node-1…node-N`), each its own supervised process running
    /// pods as namespaced processes (needs root and iproute2).
    #[arg(long, default_value_t = 0)]
    nodes: usize,
    /// Range the real nodes' pod CIDRs (/24 each) come from. Simulated nodes use 10.244.0.0/16.
    #[arg(long, default_value = "10.245.0.0/16")]
    cluster_cidr: String,
    /// Components not to run, comma-separated: statefulset, scheduler, gc, volume, protection,
    /// endpoints, endpointslice, dns, serviceaccount, nodelifecycle, tainteviction, podgc, disruption, proxy
    /// (for tests that run their own copy, or to run a component elsewhere). The service proxy
    /// (nftables) runs only with real nodes.
    #[arg(long, value_delimiter = ',', value_name = "COMPONENTS")]
    disable: Vec<Component>,
    /// The default StorageClass to create (berth's local-path provisioner) unless one of that
    /// name exists; `none` creates none, so claims without a class stay Pending.
    #[arg(long, default_value = "local-path", value_name = "NAME|none")]
    default_storage_class: String,
    /// Where the cluster DNS server listens (UDP and TCP); port 0 picks a free port. The
    /// address it got is written to `<data-dir>/dns-addr`.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    cluster_dns: SocketAddr,
    /// The cluster domain the DNS server is authoritative for.
    #[arg(long, default_value = "cluster.local")]
    cluster_domain: String,
    /// The cluster DNS IP for pods on real nodes: the `kube-system/kube-dns` Service's
    /// ClusterIP, served on port 53 from the host and passed to agents as `--cluster-dns`.
    /// Default: 10.96.0.10 (or a free service IP when another cluster on this host has it).
    #[arg(long, value_name = "IP")]
    cluster_dns_ip: Option<std::net::Ipv4Addr>,
    /// TTL of the cluster DNS records.
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    dns_ttl: u32,
    /// How long a node may post no heartbeat (Lease renewal or Ready status) before it is
    /// considered lost: conditions Unknown, `unreachable` taints (kube-controller-manager flag).
    #[arg(long, default_value = "50s", value_name = "DURATION", value_parser = go_duration)]
    node_monitor_grace_period: Duration,
    /// How often the node lifecycle controller checks every node.
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = go_duration)]
    node_monitor_period: Duration,
    /// `tolerationSeconds` of the `node.kubernetes.io/not-ready:NoExecute` toleration added to
    /// every pod lacking one (DefaultTolerationSeconds admission, kube-apiserver flag).
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    default_not_ready_toleration_seconds: i64,
    /// The same for `node.kubernetes.io/unreachable:NoExecute`.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    default_unreachable_toleration_seconds: i64,
    /// Lease duration of the nodes `berth up` starts (`--nodes`, `--simulated-nodes`); they
    /// renew every quarter of it. Keep it below `--node-monitor-grace-period`.
    #[arg(long, default_value_t = 40, value_name = "SECONDS")]
    node_lease_duration_seconds: i32,
    /// Automatic failover (off by default): a node silent for this long plus
    /// `--auto-failover-margin` is fenced and its StatefulSet pods force-deleted, so they are
    /// recreated elsewhere; its own pods were killed by then by their sandbox watchdogs (the
    /// nodes `berth up` starts get the same period). See the README's safety argument.
    #[arg(long, value_name = "DURATION", value_parser = go_duration)]
    auto_failover_after: Option<Duration>,
    /// Safety margin of automatic failover: bounds the difference in elapsed-time measurement
    /// between the node and the control plane plus the watchdog's reaction time.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = go_duration)]
    auto_failover_margin: Duration,
    /// Route every node's pod CIDR via its InternalIP on this host too (host-gw, as
    /// `berth node --pod-routes` does on node hosts), so the API server reaches pods on other
    /// hosts for `pods/proxy` and `services/proxy` (the walkthrough's `kubectl proxy` step).
    /// Needs root; routes carry `proto 236`.
    #[arg(long)]
    pod_routes: bool,
    /// Run the controllers and the scheduler only while this process holds their Leases
    /// (`kube-system/kube-controller-manager`, `kube-system/kube-scheduler`), so that several
    /// `berth server` processes on one etcd run each of them exactly once. Default: on with
    /// `--etcd-endpoints`, off on the embedded store (which one process owns).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    leader_elect: Option<bool>,
    /// How long a leader's Lease stays valid after a candidate last saw it change.
    #[arg(long, default_value = "15s", value_name = "DURATION", value_parser = go_duration)]
    leader_elect_lease_duration: Duration,
    /// How long a leader keeps failing to renew before it stops its components.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = go_duration)]
    leader_elect_renew_deadline: Duration,
    /// Time between a candidate's attempts to acquire or renew.
    #[arg(long, default_value = "2s", value_name = "DURATION", value_parser = go_duration)]
    leader_elect_retry_period: Duration,
}

impl ServerArgs {
    /// The election settings when leader election is on (validated as upstream does).
    fn election(&self) -> Result<Option<elected::Timing>, String> {
        if !self.leader_elect.unwrap_or(!self.store.etcd_endpoints.is_empty()) {
            return Ok(None);
        }
        let timing = elected::Timing {
            lease_duration: self.leader_elect_lease_duration,
            renew_deadline: self.leader_elect_renew_deadline,
            retry_period: self.leader_elect_retry_period,
        };
        if timing.lease_duration <= timing.renew_deadline {
            return Err("--leader-elect-lease-duration must be greater than --leader-elect-renew-deadline".into());
        }
        if timing.renew_deadline <= timing.retry_period.mul_f64(1.2) {
            return Err("--leader-elect-renew-deadline must be greater than 1.2 × --leader-elect-retry-period".into());
        }
        Ok(Some(timing))
    }
}

/// Flags `berth up` gives the node agents it starts.
fn node_args(args: &ServerArgs) -> Vec<String> {
    let mut out = vec!["--node-lease-duration-seconds".to_string(), args.node_lease_duration_seconds.to_string()];
    if let Some(f) = args.auto_failover_after {
        out.extend(["--auto-failover-after".to_string(), format!("{}ms", f.as_millis())]);
    }
    out
}

/// Durations as Go's `time.ParseDuration` reads them (`40s`, `1m30s`, `500ms`).
pub(crate) fn go_duration(s: &str) -> Result<Duration, String> {
    berth_node::simulated::annotations::parse_go_duration(s)
}

/// The control-plane components `berth up` runs in-process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Component {
    Statefulset,
    Scheduler,
    Gc,
    Volume,
    Protection,
    Endpoints,
    Endpointslice,
    Dns,
    Serviceaccount,
    Nodelifecycle,
    Tainteviction,
    Podgc,
    Disruption,
    Proxy,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let result = match cli.command {
        Command::Up(args) | Command::Server(args) => runtime.block_on(run_control_plane(args)),
        Command::Kubeconfig(args) => kubeconfig_cmd::run(args),
        Command::Store(cmd) => runtime.block_on(migrate_cmd::run(cmd)),
        Command::Node(cmd) => {
            drop(runtime);
            node_cmd::run(cmd)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth: {e}");
            ExitCode::FAILURE
        }
    }
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
    }
}

async fn run_control_plane(args: ServerArgs) -> Result<(), String> {
    let started = Instant::now();
    let election = args.election()?;
    let data_dir = absolute(&args.data_dir);
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("creating {}: {e}", data_dir.display()))?;
    let on_etcd = !args.store.etcd_endpoints.is_empty();
    let resuming = !on_etcd && data_dir.join("store.db").exists();
    let (store, described) = store_cmd::open(&args.store, &data_dir).await?;
    let revision = store.current_revision().await.map_err(|e| e.to_string())?;
    // On etcd the state may come from another server or an earlier run: etcd starts at
    // revision 1, so anything beyond it is an existing cluster.
    let what = match (on_etcd, revision > 1) {
        (true, true) => "joining the cluster in etcd with",
        (false, _) if resuming => "resuming the cluster in",
        _ => "creating a new cluster in",
    };
    eprintln!("berth: {what} {}", data_dir.display());
    eprintln!("berth: store {described}, revision {revision})");
    let _compactor = berth_store::spawn_compactor(&store, Duration::from_secs(args.compaction_interval.max(1)), args.retain_revisions);

    let server = berth_apiserver::start(berth_apiserver::ServerConfig {
        listen: args.listen,
        data_dir: data_dir.clone(),
        store: store.clone(),
        toleration_defaults: berth_apiserver::toleration_admission::TolerationDefaults {
            not_ready_seconds: args.default_not_ready_toleration_seconds,
            unreachable_seconds: args.default_unreachable_toleration_seconds,
        },
        event_ttl: args.event_ttl,
    })
    .await?;
    let kubeconfig = data_dir.join("kubeconfig.yaml");
    server.pki.write_kubeconfig(&kubeconfig, &server.url()).map_err(|e| e.to_string())?;
    eprintln!("berth: API server listening on {} (TLS, token auth)", server.url());
    wait_ready(&server).await?;
    let client = admin_client(&server)?;
    ensure_default_class(&client, &args).await?;
    let identity = berth_runtime::leader::default_identity();
    let election = election.map(|timing| (client.clone(), timing, identity));
    let groups = components::spawn_groups(&cluster_access(&server), &args, data_dir.clone(), election);
    let mut controllers = start_simulated_nodes(&client, &args).await?;
    let (tasks, dns_handler) = start_service_networking(&server, &args, &data_dir).await?;
    controllers.extend(tasks);
    if args.pod_routes {
        let self_ip = match args.listen.ip() {
            std::net::IpAddr::V4(ip) if !ip.is_loopback() => ip,
            _ => std::net::Ipv4Addr::UNSPECIFIED,
        };
        controllers.push(tokio::spawn(berth_node::agent::host_gw::run(client.clone(), String::new(), self_ip, None)));
    }
    let pod_net = start_pod_network(&server, &args, &data_dir, dns_handler).await?;
    if let Some(ip) = pod_net.dns_ip {
        serve_pods(&server, ip).await;
    }
    let nodes = match node_cmd::start_nodes(args.nodes, &data_dir, &server.url(), &args.cluster_cidr, &node_args(&args), pod_net.dns_ip) {
        Ok(n) => n,
        Err(e) => {
            pod_net.stop().await;
            return Err(e);
        }
    };
    eprintln!("berth: ready in {} ms", started.elapsed().as_millis());
    // The one line on stdout, so scripts can `eval "$(berth up | head -1)"`-style consume it.
    println!("export KUBECONFIG={}", kubeconfig.display());

    shutdown_signal().await;
    eprintln!("berth: shutting down");
    node_cmd::stop_nodes(nodes).await;
    pod_net.stop().await;
    for c in controllers {
        c.abort();
    }
    // Before the server goes: the groups release their Leases through it.
    for g in groups {
        g.stop().await;
    }
    server.shutdown();
    drop(server);
    drop(store);
    Ok(())
}

fn cluster_access(server: &berth_apiserver::RunningServer) -> berth_runtime::ClusterAccess {
    berth_runtime::ClusterAccess { url: server.url(), ca_pem: server.pki.ca_cert_pem.clone(), token: server.pki.admin_token.clone() }
}

/// A client for in-process components: they reach the API server over HTTPS like any client,
/// with the admin credentials for now.
fn admin_client(server: &berth_apiserver::RunningServer) -> Result<kube::Client, String> {
    berth_runtime::connect(&cluster_access(server)).map_err(|e| e.to_string())
}

/// The default StorageClass (once, at start; any server may create it).
async fn ensure_default_class(client: &kube::Client, args: &ServerArgs) -> Result<(), String> {
    if args.default_storage_class != "none" {
        let name = args.default_storage_class.as_str();
        if berth_controllers::volume::default_class::ensure(client.clone(), name).await? {
            eprintln!("berth: default StorageClass {name} (berth.dev/local-path)");
        }
    }
    Ok(())
}

/// Simulated nodes, after the default ServiceAccount exists (pods are admitted only then);
/// the controllers create it, here or in the leading server.
async fn start_simulated_nodes(client: &kube::Client, args: &ServerArgs) -> Result<Vec<tokio::task::JoinHandle<()>>, String> {
    if !args.disable.contains(&Component::Serviceaccount)
        && !berth_controllers::serviceaccount::runner::wait_for_default_account(client.clone(), Duration::from_secs(10)).await
    {
        eprintln!("berth: warning: the default ServiceAccount did not appear within 10 s");
    }
    if args.simulated_nodes > berth_node::simulated::runner::MAX_SIMULATED_NODES {
        return Err(format!("--simulated-nodes: at most {}", berth_node::simulated::runner::MAX_SIMULATED_NODES));
    }
    let mut tasks = Vec::new();
    // In-process nodes share one pod watch instead of one field-selected watch each.
    let feed = (args.simulated_nodes > 0).then(|| berth_node::simulated::runner::PodFeed::spawn(client.clone()));
    for i in 1..=args.simulated_nodes {
        let mut cfg = berth_node::simulated::runner::sim_node_config(i);
        cfg.lease_duration_seconds = args.node_lease_duration_seconds;
        let (client, feed) = (client.clone(), feed.clone().expect("nodes > 0"));
        tasks.push(tokio::spawn(async move {
            berth_node::simulated::runner::run_on_feed(client, cfg, &feed, std::future::pending()).await
        }));
    }
    if args.simulated_nodes > 0 {
        eprintln!("berth: {} simulated node(s) sim-1…sim-{}", args.simulated_nodes, args.simulated_nodes);
    }
    Ok(tasks)
}

/// With real nodes (root): the cluster DNS on the kube-dns Service IP and the service proxy
/// ([`svcnet`]); otherwise nothing (pods of simulated nodes have no network).
async fn start_pod_network(
    server: &berth_apiserver::RunningServer,
    args: &ServerArgs,
    data_dir: &Path,
    dns: Option<berth_dns::Handler>,
) -> Result<svcnet::PodNetwork, String> {
    if args.nodes == 0 || !nix::unistd::geteuid().is_root() {
        return Ok(svcnet::PodNetwork::default());
    }
    let settings = svcnet::Settings {
        cluster_cidr: &args.cluster_cidr,
        dns_ip: args.cluster_dns_ip,
        dns,
        proxy: !args.disable.contains(&Component::Proxy),
    };
    svcnet::start(admin_client(server)?, data_dir, settings).await
}

/// In-cluster API access: the API server also listens on `<ip>:443`, `ip` being the cluster's
/// own address on its DNS link (reachable from this host and its pods only, unique per cluster
/// on the host), and the `kubernetes` Service's endpoint points there, so pods reach
/// `https://kubernetes.default.svc` (10.96.0.1:443 through the service proxy) while the main
/// listener stays on loopback.
async fn serve_pods(server: &berth_apiserver::RunningServer, ip: std::net::Ipv4Addr) {
    match server.serve_also(std::net::SocketAddr::new(ip.into(), 443)).await {
        Ok(addr) => {
            server.advertise(addr);
            eprintln!("berth: API server for pods on {addr} (Service default/kubernetes)");
        }
        Err(e) => eprintln!("berth: pods cannot reach the API server: {e}"),
    }
}

/// The cluster DNS server (and its handler, to serve pods on the DNS Service IP too); every
/// server runs one.
async fn start_service_networking(
    server: &berth_apiserver::RunningServer,
    args: &ServerArgs,
    data_dir: &Path,
) -> Result<(Vec<tokio::task::JoinHandle<()>>, Option<berth_dns::Handler>), String> {
    let disabled = &args.disable;
    let client = admin_client(server)?;
    let mut tasks = Vec::new();
    if !disabled.contains(&Component::Dns) {
        let config = berth_dns::Config {
            listen: args.cluster_dns,
            zone: args.cluster_domain.clone(),
            ttl: args.dns_ttl,
            ..Default::default()
        };
        let dns = berth_dns::start(client.clone(), config).await?;
        let file = data_dir.join("dns-addr");
        std::fs::write(&file, format!("{}\n", dns.addr)).map_err(|e| format!("writing {}: {e}", file.display()))?;
        eprintln!("berth: cluster DNS for {} on {} (udp+tcp)", args.cluster_domain, dns.addr);
        tasks.push(dns.task);
        return Ok((tasks, Some(dns.handler)));
    }
    // No stale address from an earlier run on this data dir.
    let _ = std::fs::remove_file(data_dir.join("dns-addr"));
    Ok((tasks, None))
}

/// Wait until the API server answers `/readyz` over TLS on its own port.
async fn wait_ready(server: &berth_apiserver::RunningServer) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if server.state_ready()
            && berth_apiserver::https_get_status(server.local_addr, &server.pki.ca_cert_pem, "/readyz").await == Ok(200)
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("API server did not become ready within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
