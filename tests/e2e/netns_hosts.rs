//! Simulated hosts for multi-host tests: network namespaces on one LAN (a bridge in the
//! root namespace holding the LAN's first address, one veth per host), and node agents
//! (`berth node`) run inside them. Everything the test creates is removed in `Drop`, also
//! when the test panics: agents first (then their pods, from the state dirs), then the
//! namespaces (with their bridges, routes and nft tables), then the LAN bridge.
//!
//! Addresses exist only inside these namespaces and on the test's own bridge; nothing is
//! routed off the machine (the hosts' default route is the root namespace's LAN address).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0]).args(&args[1..]).output().map_err(|e| format!("{}: {e}", args[0]))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// One simulated host: a network namespace with `lan0` at `ip` on the LAN.
pub struct NetnsHost {
    pub netns: String,
    pub ip: Ipv4Addr,
    root_veth: String,
}

/// A LAN (`a.b.c.0/24`) of `count` hosts at `.2`, `.3`, …; the root namespace is `.1`
/// (`gateway`), where a test's `berth up` listens.
pub struct NetnsHosts {
    pub bridge: String,
    pub gateway: Ipv4Addr,
    pub hosts: Vec<NetnsHost>,
}

static SERIAL: AtomicU32 = AtomicU32::new(0);

impl NetnsHosts {
    /// `tag`: ≤ 4 characters naming the test (interface names are at most 15 bytes);
    /// `lan`: a /24 no other test uses, e.g. "10.254.0.0/24".
    pub fn create(tag: &str, lan: &str, count: usize) -> NetnsHosts {
        assert!(tag.len() <= 4 && (1..=200).contains(&count));
        let base: Ipv4Addr = lan.strip_suffix("/24").expect("a /24 LAN").parse().expect("LAN address");
        let at = |i: u8| Ipv4Addr::from(u32::from(base) & 0xffff_ff00 | i as u32);
        // Unique per process and per call: parallel tests and runs never share names.
        let id = format!("{:x}{}", std::process::id(), SERIAL.fetch_add(1, Ordering::Relaxed));
        let mut hosts = NetnsHosts { bridge: format!("{tag}{id}"), gateway: at(1), hosts: Vec::new() };
        let gw = format!("{}/24", hosts.gateway);
        let br = hosts.bridge.clone();
        run(&["ip", "link", "add", &br, "type", "bridge"]).unwrap();
        run(&["ip", "addr", "add", &gw, "dev", &br]).unwrap();
        run(&["ip", "link", "set", &br, "up"]).unwrap();
        for i in 0..count {
            let h = NetnsHost { netns: format!("{tag}-{id}-{i}"), ip: at(2 + i as u8), root_veth: format!("{tag}{id}v{i}") };
            run(&["ip", "netns", "add", &h.netns]).unwrap();
            let (ns, veth) = (h.netns.clone(), h.root_veth.clone());
            hosts.hosts.push(h);
            let addr = format!("{}/24", hosts.hosts[i].ip);
            let gateway = hosts.gateway.to_string();
            run(&["ip", "link", "add", &veth, "type", "veth", "peer", "name", "lan0", "netns", &ns]).unwrap();
            run(&["ip", "link", "set", &veth, "master", &br, "up"]).unwrap();
            run(&["ip", "-n", &ns, "addr", "add", &addr, "dev", "lan0"]).unwrap();
            run(&["ip", "-n", &ns, "link", "set", "lan0", "up"]).unwrap();
            run(&["ip", "-n", &ns, "link", "set", "lo", "up"]).unwrap();
            run(&["ip", "-n", &ns, "route", "add", "default", "via", &gateway]).unwrap();
        }
        hosts
    }

    /// `program` run inside host `i`'s network namespace.
    pub fn command(&self, i: usize, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.hosts[i].netns]).arg(program);
        c
    }

    /// stdout of `args` run in host `i` (panics on failure).
    pub fn output(&self, i: usize, args: &[&str]) -> String {
        let out = self.command(i, args[0]).args(&args[1..]).output().unwrap();
        assert!(out.status.success(), "{args:?} in {}: {}", self.hosts[i].netns, String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for NetnsHosts {
    fn drop(&mut self) {
        for h in &self.hosts {
            // Anything still running in the namespace was started by this test.
            if let Ok(out) = Command::new("ip").args(["netns", "pids", &h.netns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = run(&["kill", "-KILL", pid]);
                }
            }
            let _ = run(&["ip", "netns", "del", &h.netns]);
            let _ = run(&["ip", "link", "del", &h.root_veth]);
        }
        let _ = run(&["ip", "link", "del", &self.bridge]);
    }
}

/// A real node agent (`berth node`) in a simulated host, joined with its own node token.
/// `Drop` stops it (SIGTERM: it removes its nft table), then tears down its pods.
pub struct NodeAgent {
    pub state_dir: PathBuf,
    child: Option<Child>,
}

impl NodeAgent {
    /// `berth node --name NAME --server URL --token-file … --ca-file <data_dir>/pki/ca.crt
    /// --state-dir … --pod-cidr POD_CIDR --node-ip <host ip> EXTRA…` in host `i`. The token
    /// is minted with `berth token node` from the cluster's `data_dir`; the agent gets no
    /// `--pki-dir` (another host has no CA key).
    pub fn start(hosts: &NetnsHosts, i: usize, name: &str, data_dir: &Path, server: &str, pod_cidr: &str, extra: &[&str]) -> NodeAgent {
        let berth = env!("CARGO_BIN_EXE_berth");
        let out = Command::new(berth).args(["token", "node", name, "--data-dir"]).arg(data_dir).output().unwrap();
        assert!(out.status.success(), "berth token node: {}", String::from_utf8_lossy(&out.stderr));
        let state_dir = data_dir.join("hosts").join(name);
        std::fs::create_dir_all(&state_dir).unwrap();
        let token_file = state_dir.join("token");
        std::fs::write(&token_file, String::from_utf8_lossy(&out.stdout).trim()).unwrap();
        let node_ip = hosts.hosts[i].ip.to_string();
        let child = hosts
            .command(i, berth)
            .args(["node", "--name", name, "--server", server, "--token-file"])
            .arg(&token_file)
            .arg("--ca-file")
            .arg(data_dir.join("pki/ca.crt"))
            .arg("--state-dir")
            .arg(&state_dir)
            .args(["--pod-cidr", pod_cidr, "--node-ip", &node_ip])
            .args(extra)
            .stdin(Stdio::null())
            .spawn()
            .expect("start berth node");
        NodeAgent { state_dir, child: Some(child) }
    }
}

impl Drop for NodeAgent {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // `ip netns exec` execs the agent, so this pid is the agent's.
            let _ = run(&["kill", "-TERM", &c.id().to_string()]);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        berth_node::agent::teardown::node(&self.state_dir);
    }
}
