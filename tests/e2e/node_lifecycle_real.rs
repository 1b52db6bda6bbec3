//! The walkthrough's last section on real node agents (`berth up --nodes 2`): node-2's agent
//! is frozen with SIGSTOP (how berth takes a node off the network for demos), so node-2 goes
//! `NotReady` and its pods `Terminating` while their processes keep running; a plain delete
//! waits; a force delete recreates the pod on node-1 under the same name, with its claim and
//! the data posted before; SIGCONT brings the agent back, which kills the stale processes
//! (checked by PID), finishes the other pod's deletion, and everything settles.
//! Needs root; skipped otherwise. Cluster CIDR 10.251.0.0/16.

use std::time::Duration;

use crate::harness::{eventually, rows, Cluster};
use crate::manifests;
use crate::node_lifecycle::{field, node_status, pod_row, FAST, FORCE_WARNING};
use crate::real_node::{can_run_real_nodes, container_pid, hostpath_pvs, http, Teardown};

const STS: &str = "statefulset-kubia-v1";

fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).is_ok_and(|s| !s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')))
}

#[test]
fn walkthrough_node_failure_on_real_nodes() {
    if !can_run_real_nodes() {
        return;
    }
    let mut flags = vec!["--nodes", "2", "--simulated-nodes", "0", "--cluster-cidr", "10.251.0.0/16"];
    flags.extend(FAST);
    let c = Teardown(Cluster::start_with(&flags));
    assert!(eventually(Duration::from_secs(30), || node_status(&c, "node-1") == "Ready" && node_status(&c, "node-2") == "Ready"), "{}", c.ok(&["get", "nodes"]));
    // Both replicas on node-2.
    c.ok(&["cordon", "node-1"]);
    c.ok(&["apply", "-f", &c.manifest("pv.yaml", &hostpath_pvs(c.dir.path()))]);
    let sts = manifests::statefulset("luksa/kubia-pet").replace("replicas: 3", "replicas: 2").replace("    spec:\n      containers:", "    spec:\n      terminationGracePeriodSeconds: 2\n      containers:");
    c.ok(&["apply", "-f", &c.manifest("sts.yaml", &sts)]);
    let pod = |i: usize| format!("{STS}-{i}");
    let running_on = |i: usize, node: &str| pod_row(&c, &pod(i)).is_some_and(|(r, s, n)| r == "1/1" && s == "Running" && n == node);
    assert!(eventually(Duration::from_secs(90), || running_on(0, "node-2") && running_on(1, "node-2")), "{}", c.ok(&["get", "pods,pvc", "-o", "wide"]));
    c.ok(&["uncordon", "node-1"]);
    let ip0 = field(&c, &["get", "pod", &pod(0)], "{.status.podIP}");
    let greeting = "Hey There ! This greeting was submitted to statefulset-kubia-v1-0";
    assert_eq!(http(&ip0, "POST", greeting), "Data stored on pod statefulset-kubia-v1-0\n");
    let uids: Vec<String> = (0..2).map(|i| field(&c, &["get", "pod", &pod(i)], "{.metadata.uid}")).collect();
    let pids: Vec<String> = (0..2).map(|i| container_pid(&c, "node-2", &uids[i], "statefulset-kubia").expect("container pid file")).collect();

    // Take node-2 off the network: freeze its agent.
    let agent = std::fs::read_to_string(c.dir.path().join("nodes/node-2/pid")).unwrap();
    assert!(std::process::Command::new("kill").args(["-STOP", agent.trim()]).status().unwrap().success());
    assert!(eventually(Duration::from_secs(30), || node_status(&c, "node-2") == "NotReady"), "{}", c.ok(&["get", "nodes"]));
    assert!(
        eventually(Duration::from_secs(30), || (0..2).all(|i| pod_row(&c, &pod(i)).is_some_and(|r| r.1 == "Terminating"))),
        "{}",
        c.ok(&["get", "pods", "-o", "wide"])
    );
    // The containers still run: nobody on node-2 is there to stop them.
    assert!(pids.iter().all(|p| alive(p)), "{pids:?}");
    let err = c.fails(&["delete", "po", &pod(0), "--timeout=2s"]);
    assert!(err.contains("timed out waiting"), "{err}");
    assert_eq!(field(&c, &["get", "pod", &pod(0)], "{.metadata.uid}"), uids[0], "no replacement while the old pod exists");

    let out = c.kubectl(&["delete", "po", &pod(0), "--force", "--grace-period", "0"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains(FORCE_WARNING), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("pod \"{}\" force deleted", pod(0)));
    assert!(eventually(Duration::from_secs(60), || running_on(0, "node-1")), "{}", c.ok(&["get", "pods", "-o", "wide"]));
    assert_eq!(field(&c, &["get", "pod", &pod(0)], "{.spec.volumes[0].persistentVolumeClaim.claimName}"), format!("data-{}", pod(0)));
    let new_ip0 = field(&c, &["get", "pod", &pod(0)], "{.status.podIP}");
    assert!(new_ip0.starts_with("10.251.1."), "{new_ip0}");
    assert_eq!(http(&new_ip0, "GET", ""), format!("You've hit statefulset-kubia-v1-0\nData stored on this pod: {greeting}\n"));
    // The documented danger: the old copy still runs on the silent node.
    assert!(alive(&pids[0]), "old web-0 process {} already gone", pids[0]);

    // node-2 comes back: the agent kills the force-deleted pod's processes without reporting
    // them, finishes web-1's deletion, and the node turns Ready without taints.
    assert!(std::process::Command::new("kill").args(["-CONT", agent.trim()]).status().unwrap().success());
    assert!(eventually(Duration::from_secs(20), || !alive(&pids[0])), "stale process {} of the force-deleted pod survived", pids[0]);
    assert!(eventually(Duration::from_secs(30), || !alive(&pids[1])), "web-1's old process {} survived", pids[1]);
    assert!(eventually(Duration::from_secs(30), || node_status(&c, "node-2") == "Ready"), "{}", c.ok(&["get", "nodes"]));
    assert!(eventually(Duration::from_secs(10), || field(&c, &["get", "node", "node-2"], "{.spec.taints}").is_empty()));
    assert!(
        eventually(Duration::from_secs(120), || {
            field(&c, &["get", "pod", &pod(1)], "{.metadata.uid}") != uids[1] && pod_row(&c, &pod(1)).is_some_and(|r| r.0 == "1/1" && r.1 == "Running")
        }),
        "{}\n{}\n{}",
        c.ok(&["get", "pods", "-o", "wide"]),
        c.ok(&["get", "nodes"]),
        c.ok(&["get", "events", "--sort-by=.lastTimestamp"])
    );
    let wide = rows(&c.ok(&["get", "pods", "--no-headers", "-o", "wide"]));
    assert_eq!(wide.len(), 2, "{wide:?}");
    assert!(wide.iter().all(|r| r[1] == "1/1" && r[2] == "Running"), "{wide:?}");
    assert!(running_on(0, "node-1"), "web-0 stays where it was recreated");
    // The pod the API no longer has was never reported on by node-2 again.
    assert_eq!(field(&c, &["get", "pod", &pod(0)], "{.spec.nodeName}"), "node-1");
}
