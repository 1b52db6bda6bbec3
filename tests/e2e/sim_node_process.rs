//! `berth node --simulated` as its own process joining `berth up --simulated-nodes 0`: it
//! registers Ready, the scheduler binds a pod to it, it runs the pod, and once the process is
//! killed its Lease is no longer renewed.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::{eventually, rows, Cluster};

struct NodeProcess(Child);

impl NodeProcess {
    fn start(args: &[&str]) -> NodeProcess {
        let child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["node", "--simulated"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start berth node");
        NodeProcess(child)
    }

    fn kill9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn node_ready(c: &Cluster, name: &str) -> bool {
    rows(&c.ok(&["get", "nodes", "--no-headers"])).iter().any(|r| r[0] == name && r[1] == "Ready")
}

fn renew_time(c: &Cluster, node: &str) -> String {
    let o = c.kubectl(&["get", "lease", node, "-n", "kube-node-lease", "-o", "jsonpath={.spec.renewTime}"]);
    String::from_utf8_lossy(&o.stdout).to_string()
}

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: c\n    image: nginx\n";

#[test]
fn a_simulated_node_process_joins_runs_a_pod_and_stops_renewing_when_killed() {
    let c = Cluster::start_with(&["--simulated-nodes", "0"]);
    let kubeconfig = c.kubeconfig().to_string_lossy().to_string();
    let mut node = NodeProcess::start(&["--name", "solo", "--kubeconfig", &kubeconfig, "--pod-cidr", "10.244.40.0/24", "--node-ip", "10.250.0.40"]);
    assert!(eventually(Duration::from_secs(20), || node_ready(&c, "solo")), "{}", c.ok(&["get", "nodes"]));
    let n = c.json(&["get", "node", "solo"]);
    assert_eq!(n["spec"]["podCIDR"], "10.244.40.0/24");
    assert!(n["status"]["addresses"].to_string().contains("10.250.0.40"), "{n}");

    // The scheduler binds a pod to the only node; the node process runs it.
    let f = c.manifest("web.yaml", POD);
    c.ok(&["create", "-f", &f]);
    assert!(
        eventually(Duration::from_secs(20), || {
            let r = rows(&c.ok(&["get", "pod", "web", "--no-headers", "-o", "wide"]));
            r[0][1] == "1/1" && r[0][2] == "Running" && r[0][6] == "solo"
        }),
        "{}",
        c.ok(&["get", "pod", "web", "-o", "wide"])
    );

    // The lease is renewed by the process (every 10 s) ...
    assert!(eventually(Duration::from_secs(10), || !renew_time(&c, "solo").is_empty()));
    let first = renew_time(&c, "solo");
    assert!(eventually(Duration::from_secs(15), || renew_time(&c, "solo") != first), "lease not renewed");
    // ... and no longer once it is killed.
    node.kill9();
    let last = renew_time(&c, "solo");
    std::thread::sleep(Duration::from_secs(12));
    assert_eq!(renew_time(&c, "solo"), last, "lease renewed after the node process was killed");
}

#[test]
fn a_simulated_node_process_connects_with_server_token_and_ca_files() {
    let c = Cluster::start_with(&["--simulated-nodes", "0"]);
    let pki = c.dir.path().join("pki");
    let server = format!("https://127.0.0.1:{}", c.port);
    let token = pki.join("admin.token").to_string_lossy().to_string();
    let ca = pki.join("ca.crt").to_string_lossy().to_string();
    let _node = NodeProcess::start(&["--name", "sim-3", "--server", &server, "--token-file", &token, "--ca-file", &ca]);
    assert!(eventually(Duration::from_secs(20), || node_ready(&c, "sim-3")), "{}", c.ok(&["get", "nodes"]));
    // sim-<i> names get the addresses berth up would give them.
    assert_eq!(c.ok(&["get", "node", "sim-3", "-o", "jsonpath={.spec.podCIDR}"]), "10.244.3.0/24");
    // A node that cannot be configured says why.
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["node", "--simulated", "--name", "edge", "--server", &server, "--token-file", &token])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--pod-cidr is required"), "{}", String::from_utf8_lossy(&out.stderr));
}
