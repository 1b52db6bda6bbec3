//! berth's automatic failover on real nodes (`--auto-failover-after 3s --auto-failover-margin
//! 2s`): node-2's agent is frozen; its pods' sandbox watchdogs kill them once no Lease
//! renewal has succeeded for 3 s; the control plane fences node-2's Lease after 5 s of
//! silence and force-deletes its StatefulSet pods, which come back on node-1 with their data —
//! no human involved. A watcher thread checks the processes (not the API) all along: never
//! two live copies of one pod identity. Then the race: node-1 (now running both) is frozen
//! until its watchdogs have fired, and thawed around the time the control plane would fence
//! it; whichever side wins, still never two copies, and everything settles.
//! Needs root; skipped otherwise. Cluster CIDR 10.251.128.0/17 (node_lifecycle_real uses
//! 10.251.1.0/24 and 10.251.2.0/24).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::harness::{eventually, rows, Cluster};
use crate::manifests;
use crate::node_lifecycle::{field, node_status, pod_row, FAST};
use crate::real_node::{can_run_real_nodes, container_pid, hostpath_pvs, http, Teardown};

const STS: &str = "statefulset-kubia-v1";

fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).is_ok_and(|s| !s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')))
}

/// Live container processes of pod `name` on every node of the cluster at `data`.
fn live_copies(data: &Path, name: &str) -> usize {
    let mut n = 0;
    for node in std::fs::read_dir(data.join("nodes")).into_iter().flatten().flatten() {
        for pod in std::fs::read_dir(node.path().join("pods")).into_iter().flatten().flatten() {
            for c in std::fs::read_dir(pod.path().join("containers")).into_iter().flatten().flatten() {
                let spec = std::fs::read_to_string(c.path().join("spec.json")).unwrap_or_default();
                let pid = std::fs::read_to_string(c.path().join("pid")).unwrap_or_default();
                if spec.contains(name) && !pid.trim().is_empty() && alive(&pid) {
                    n += 1;
                }
            }
        }
    }
    n
}

/// Polls [`live_copies`] for both pods until dropped; remembers the worst count seen.
struct Watcher {
    stop: Arc<AtomicBool>,
    worst: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watcher {
    fn start(data: PathBuf) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let worst = Arc::new(AtomicUsize::new(0));
        let (s, w) = (stop.clone(), worst.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                for i in 0..2 {
                    w.fetch_max(live_copies(&data, &format!("{STS}-{i}")), Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Watcher { stop, worst, thread: Some(thread) }
    }

    fn worst(&self) -> usize {
        self.worst.load(Ordering::SeqCst)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn agent_signal(c: &Cluster, node: &str, sig: &str) {
    let pid = std::fs::read_to_string(c.dir.path().join(format!("nodes/{node}/pid"))).unwrap();
    assert!(std::process::Command::new("kill").args([sig, pid.trim()]).status().unwrap().success());
}

#[test]
fn automatic_failover_without_a_human_and_never_two_copies() {
    if !can_run_real_nodes() {
        return;
    }
    let mut flags = vec!["--nodes", "2", "--simulated-nodes", "0", "--cluster-cidr", "10.251.128.0/17"];
    flags.extend(FAST);
    flags.extend(["--auto-failover-after", "3s", "--auto-failover-margin", "2s"]);
    let c = Teardown(Cluster::start_with(&flags));
    assert!(eventually(Duration::from_secs(30), || node_status(&c, "node-1") == "Ready" && node_status(&c, "node-2") == "Ready"), "{}", c.ok(&["get", "nodes"]));
    c.ok(&["cordon", "node-1"]);
    c.ok(&["apply", "-f", &c.manifest("pv.yaml", &hostpath_pvs(c.dir.path()))]);
    let sts = manifests::statefulset("luksa/kubia-pet").replace("replicas: 3", "replicas: 2");
    c.ok(&["apply", "-f", &c.manifest("sts.yaml", &sts)]);
    let pod = |i: usize| format!("{STS}-{i}");
    let running_on = |i: usize, node: &str| pod_row(&c, &pod(i)).is_some_and(|(r, s, n)| r == "1/1" && s == "Running" && n == node);
    assert!(eventually(Duration::from_secs(90), || running_on(0, "node-2") && running_on(1, "node-2")), "{}", c.ok(&["get", "pods", "-o", "wide"]));
    c.ok(&["uncordon", "node-1"]);
    let greeting = "stored before node-2 was lost";
    assert_eq!(http(&field(&c, &["get", "pod", &pod(0)], "{.status.podIP}"), "POST", greeting), "Data stored on pod statefulset-kubia-v1-0\n");
    let old_uids: Vec<String> = (0..2).map(|i| field(&c, &["get", "pod", &pod(i)], "{.metadata.uid}")).collect();
    let watcher = Watcher::start(c.dir.path().to_path_buf());

    // node-2 is lost; nobody runs kubectl delete.
    agent_signal(&c, "node-2", "-STOP");
    assert!(
        eventually(Duration::from_secs(60), || running_on(0, "node-1") && running_on(1, "node-1")),
        "{}",
        c.ok(&["get", "pods", "-o", "wide"])
    );
    for (i, old) in old_uids.iter().enumerate() {
        assert_ne!(&field(&c, &["get", "pod", &pod(i)], "{.metadata.uid}"), old);
    }
    let ip0 = field(&c, &["get", "pod", &pod(0)], "{.status.podIP}");
    assert_eq!(http(&ip0, "GET", ""), format!("You've hit statefulset-kubia-v1-0\nData stored on this pod: {greeting}\n"));
    let events = c.ok(&["get", "events", "-o", "custom-columns=REASON:.reason,MESSAGE:.message"]);
    assert!(events.contains("NodeFenced") && events.contains("Node node-2 fenced: no heartbeat for 5s"), "{events}");
    assert!(events.contains("AutoFailover"), "{events}");
    assert_eq!(watcher.worst(), 1, "two live copies of one pod at some point");

    // node-2 comes back: it takes its fenced Lease back, turns Ready; nothing of its old
    // pods is left.
    agent_signal(&c, "node-2", "-CONT");
    assert!(eventually(Duration::from_secs(30), || node_status(&c, "node-2") == "Ready"), "{}", c.ok(&["get", "nodes"]));
    assert!(eventually(Duration::from_secs(10), || !field(&c, &["get", "lease", "node-2", "-n", "kube-node-lease"], "{.metadata.annotations}").contains("fenced-at")));
    for old in &old_uids {
        let dir = c.dir.path().join(format!("nodes/node-2/pods/{old}"));
        assert!(eventually(Duration::from_secs(20), || !dir.exists()), "{} left behind", dir.display());
    }

    // The race: node-1 frozen past its watchdogs, thawed about when it would be fenced.
    agent_signal(&c, "node-1", "-STOP");
    std::thread::sleep(Duration::from_millis(4500));
    agent_signal(&c, "node-1", "-CONT");
    assert!(
        eventually(Duration::from_secs(90), || {
            let r = rows(&c.ok(&["get", "pods", "--no-headers"]));
            r.len() == 2 && r.iter().all(|r| r[1] == "1/1" && r[2] == "Running")
        }),
        "{}",
        c.ok(&["get", "pods", "-o", "wide"])
    );
    assert!(eventually(Duration::from_secs(30), || node_status(&c, "node-1") == "Ready" && node_status(&c, "node-2") == "Ready"));
    let ip0 = field(&c, &["get", "pod", &pod(0)], "{.status.podIP}");
    assert!(http(&ip0, "GET", "").contains(greeting));
    assert_eq!(watcher.worst(), 1, "two live copies of one pod at some point");

    // An ordinary agent restart, inside the fencing period, kills nothing.
    let (node, uid) = (field(&c, &["get", "pod", &pod(0)], "{.spec.nodeName}"), field(&c, &["get", "pod", &pod(0)], "{.metadata.uid}"));
    let pid = container_pid(&c, &node, &uid, "statefulset-kubia").expect("container pid file");
    let agent_file = c.dir.path().join(format!("nodes/{node}/pid"));
    let agent = std::fs::read_to_string(&agent_file).unwrap();
    agent_signal(&c, &node, "-TERM");
    assert!(eventually(Duration::from_secs(20), || std::fs::read_to_string(&agent_file).is_ok_and(|p| p != agent)), "agent not restarted");
    std::thread::sleep(Duration::from_secs(4));
    assert!(alive(&pid), "a restarted agent's pods were fenced");
    assert_eq!(container_pid(&c, &node, &uid, "statefulset-kubia").as_deref(), Some(pid.as_str()));
}
