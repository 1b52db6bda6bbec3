//! The node agent's commands, kept apart from the control-plane wiring in `main.rs`:
//! `berth node` (a real node agent), `berth image run NAME` (a built-in image's program,
//! run inside a container) and `berth runtime sandbox|shim` (the runtime's helper processes).
//! Also `berth up --nodes N`'s supervision of its agents, and `berth token node NAME`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum NodeCommand {
    /// Run a node agent: register a Node and run the pods bound to it as namespaced
    /// processes (needs root and iproute2).
    Node(Box<NodeArgs>),
    /// Built-in images.
    #[command(hide = true, subcommand)]
    Image(ImageCommand),
    /// The pod runtime's helper processes (started by the node agent).
    #[command(hide = true, subcommand)]
    Runtime(RuntimeCommand),
    /// Credentials for joining the cluster.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Print node NAME's bearer token (user `system:node:NAME`, group `system:nodes`), minting it
    /// into `<data-dir>/pki/tokens.csv` on first use; a running API server accepts it at once.
    /// Give it to `berth node --server URL --token-file FILE --ca-file <data-dir>/pki/ca.crt`.
    Node {
        name: String,
        /// The cluster's data directory (as given to `berth up`).
        #[arg(long, default_value = "./.berth")]
        data_dir: PathBuf,
    },
}

/// `berth node`'s flags, shared by real and simulated (`--simulated`) nodes.
pub use crate::sim_node::NodeArgs;

#[derive(Subcommand)]
pub enum ImageCommand {
    /// Run a built-in image's program in the foreground (what a container of that image runs).
    Run {
        /// Image reference, e.g. `luksa/kubia-pet` or `docker.io/luksa/kubia-pet:latest`.
        image: String,
    },
}

#[derive(Subcommand)]
pub enum RuntimeCommand {
    /// Start a pod sandbox holder (network, UTS, IPC namespaces) for POD_DIR.
    Sandbox { pod_dir: PathBuf, hostname: String },
    /// Start one container instance from CONTAINER_DIR/spec.json.
    Shim { container_dir: PathBuf, restart_count: i32 },
}

/// Run a node command; these own the process (no tokio runtime of `main`'s).
pub fn run(cmd: NodeCommand) -> Result<(), String> {
    match cmd {
        NodeCommand::Image(ImageCommand::Run { image }) => berth_images::run(&image),
        NodeCommand::Runtime(RuntimeCommand::Sandbox { pod_dir, hostname }) => {
            std::process::exit(berth_node::process::sandbox::main(&pod_dir, &hostname))
        }
        NodeCommand::Runtime(RuntimeCommand::Shim { container_dir, restart_count }) => {
            std::process::exit(berth_node::process::shim::main(&container_dir, restart_count))
        }
        NodeCommand::Token(TokenCommand::Node { name, data_dir }) => {
            let token = mint_node_token(&data_dir, &name)?;
            println!("{token}");
            Ok(())
        }
        NodeCommand::Node(args) if args.simulated => {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| e.to_string())?;
            rt.block_on(crate::sim_node::run_simulated_node(*args))
        }
        NodeCommand::Node(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| e.to_string())?;
            rt.block_on(run_agent(*args))
        }
    }
}

async fn run_agent(args: NodeArgs) -> Result<(), String> {
    let (Some(state_dir), Some(pod_cidr)) = (&args.state_dir, &args.pod_cidr) else {
        return Err("berth node: a real node needs --state-dir and --pod-cidr (or use --simulated)".into());
    };
    let client = crate::sim_node::client(&args).await?;
    let node_ip = match args.node_ip {
        None => std::net::Ipv4Addr::LOCALHOST,
        Some(std::net::IpAddr::V4(ip)) => ip,
        Some(ip) => return Err(format!("--node-ip {ip}: real nodes support IPv4 only")),
    };
    let parse_cidr = |flag: &str, c: &str| berth_node::simulated::PodCidr::parse(c).map_err(|e| format!("{flag}: {e}"));
    let cluster_cidr = args.cluster_cidr.as_deref().map(|c| parse_cidr("--cluster-cidr", c)).transpose()?;
    let cfg = berth_node::agent::AgentConfig {
        name: args.name.clone(),
        state_dir: absolute(state_dir),
        pod_cidr: berth_node::simulated::PodCidr::parse(pod_cidr).map_err(|e| format!("--pod-cidr: {e}"))?,
        exe: std::env::current_exe().map_err(|e| e.to_string())?,
        pki_dir: args.pki_dir.as_deref().map(absolute),
        ca_file: args.ca_file.as_deref().map(absolute),
        node_ip,
        pod_routes: args.pod_routes,
        cluster_cidr,
        lease_duration_seconds: args.node_lease_duration_seconds,
        auto_failover_after: args.auto_failover_after,
        cluster_dns: args.cluster_dns.clone(),
    };
    let proxy = match args.proxy {
        true => {
            let config = berth_proxy::Config {
                table: berth_proxy::table_name(&crate::svcnet::cluster_id(&cfg.state_dir)),
                pod_cidr: pod_cidr.clone(),
                skip_ips: Vec::new(),
                debounce: Duration::from_millis(5),
            };
            Some(berth_proxy::start(client.clone(), config).await?)
        }
        false => None,
    };
    let result = berth_node::agent::run(client, cfg, shutdown_signal()).await;
    if let Some(p) = proxy {
        p.stop().await;
    }
    result
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Node `name`'s token from `<data_dir>/pki/tokens.csv`, minted on first use.
pub fn mint_node_token(data_dir: &Path, name: &str) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let pki = data_dir.join("pki");
    std::fs::create_dir_all(&pki).map_err(|e| format!("creating {}: {e}", pki.display()))?;
    std::fs::set_permissions(&pki, std::fs::Permissions::from_mode(0o700)).map_err(|e| format!("{}: {e}", pki.display()))?;
    berth_apiserver::node_token(&pki, name)
}

/// Write a credential readable by its owner only.
fn write_private(path: &Path, data: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(data.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
}

/// The pod CIDR of real node `index` (1-based): the `index`-th /24 of the cluster CIDR.
pub fn node_pod_cidr(cluster_cidr: &str, index: usize) -> Result<String, String> {
    let (ip, prefix) = cluster_cidr.split_once('/').ok_or_else(|| format!("--cluster-cidr {cluster_cidr:?}: expected a.b.c.d/n"))?;
    let ip: std::net::Ipv4Addr = ip.parse().map_err(|_| format!("--cluster-cidr {cluster_cidr:?}: bad address"))?;
    let prefix: u32 = prefix.parse().map_err(|_| format!("--cluster-cidr {cluster_cidr:?}: bad prefix"))?;
    if prefix > 24 || index >= (1usize << (24 - prefix)) {
        return Err(format!("--cluster-cidr {cluster_cidr}: no /24 left for node {index}"));
    }
    let base = u32::from(ip) & (u32::MAX << (32 - prefix));
    Ok(format!("{}/24", std::net::Ipv4Addr::from(base + ((index as u32) << 8))))
}

/// `berth up --nodes N`: start agents `node-1…node-N`, each its own process, restarted when it
/// exits. Returns the supervisor tasks; [`stop_nodes`] ends them and tears the nodes down.
/// `node_args`: extra agent flags; `cluster_dns`: the kube-dns Service IP agents write into
/// pods' resolv.conf.
pub fn start_nodes(
    n: usize,
    data_dir: &Path,
    url: &str,
    cluster_cidr: &str,
    node_args: &[String],
    cluster_dns: Option<std::net::Ipv4Addr>,
) -> Result<Vec<NodeSupervisor>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    if n > 0 {
        berth_node::agent::check_requirements().map_err(|e| format!("--nodes {n}: {e} (use --nodes 0 --simulated-nodes M without root)"))?;
    }
    let mut out = Vec::new();
    for i in 1..=n {
        let name = format!("node-{i}");
        let state_dir = data_dir.join("nodes").join(&name);
        std::fs::create_dir_all(&state_dir).map_err(|e| e.to_string())?;
        // Each agent joins with its own node credentials, not the admin's.
        let token_file = state_dir.join("token");
        write_private(&token_file, &mint_node_token(data_dir, &name)?)?;
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.arg("node")
            .args(["--server", url])
            .arg("--token-file")
            .arg(&token_file)
            .arg("--ca-file")
            .arg(data_dir.join("pki/ca.crt"))
            .arg("--pki-dir")
            .arg(data_dir.join("pki"))
            .args(["--name", &name])
            .arg("--state-dir")
            .arg(&state_dir)
            .args(["--pod-cidr", &node_pod_cidr(cluster_cidr, i)?])
            .args(node_args)
            .stdin(std::process::Stdio::null());
        if let Some(ip) = cluster_dns {
            cmd.args(["--cluster-dns", &ip.to_string()]);
        }
        // An agent whose `berth up` died (SIGKILL) stops too; its pods stay, as after any
        // agent exit, until `berth up` runs again on the data dir.
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let sd = state_dir.clone();
        let task = tokio::spawn(supervise(cmd, sd, stop_rx));
        out.push(NodeSupervisor { state_dir, stop: stop_tx, task });
    }
    if n > 0 {
        eprintln!("berth: {n} node agent(s) node-1…node-{n} (pods as namespaced processes)");
    }
    Ok(out)
}

pub struct NodeSupervisor {
    state_dir: PathBuf,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

async fn supervise(mut cmd: tokio::process::Command, state_dir: PathBuf, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("berth: starting node agent in {}: {e}", state_dir.display());
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Some(pid) = child.id() {
            let _ = std::fs::write(state_dir.join("pid"), pid.to_string());
        }
        let stopping = tokio::select! {
            _ = child.wait() => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        if !stopping {
            if *stop.borrow() {
                return;
            }
            // An agent that exits is started again (tests restart one with `kill`).
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        {
            {
                if let Some(pid) = child.id() {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM);
                }
                if tokio::time::timeout(Duration::from_secs(5), child.wait()).await.is_err() {
                    let _ = child.kill().await;
                }
                return;
            }
        }
    }
}

/// Stop the agents, then every pod they ran and their bridges: nothing outlives `berth up`.
pub async fn stop_nodes(nodes: Vec<NodeSupervisor>) {
    for n in &nodes {
        let _ = n.stop.send(true);
    }
    for n in nodes {
        let _ = n.task.await;
        berth_node::agent::teardown::node(&n.state_dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_cidrs_are_consecutive_24s() {
        assert_eq!(node_pod_cidr("10.245.0.0/16", 1).unwrap(), "10.245.1.0/24");
        assert_eq!(node_pod_cidr("10.245.0.0/16", 2).unwrap(), "10.245.2.0/24");
        assert!(node_pod_cidr("10.245.0.0/24", 1).is_err());
    }
}
