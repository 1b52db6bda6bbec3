//! Two API servers on one etcd: either serves any request and they show the same state; a
//! watch through one sees writes made through the other; optimistic concurrency holds across
//! them; the controllers and the scheduler run in exactly one of them (Leases
//! `kube-system/kube-controller-manager` and `kube-scheduler`), and when the leading server is
//! killed the other takes over and the cluster keeps reconciling.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use berth_store::etcd::testing::EtcdServer;

use crate::harness::{eventually, kubectl_binary, Cluster};
use crate::manifests;

/// Short election timings so a takeover takes seconds (upstream: 15 s / 10 s / 2 s).
const ELECTION: [&str; 6] =
    ["--leader-elect-lease-duration", "3s", "--leader-elect-renew-deadline", "2s", "--leader-elect-retry-period", "500ms"];

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn holder(c: &Cluster, lease: &str) -> String {
    let out = c.kubectl(&["get", "lease", lease, "-n", "kube-system", "-o", "jsonpath={.spec.holderIdentity}"]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn pod_uid(c: &Cluster, name: &str) -> String {
    let out = c.kubectl(&["get", "pod", name, "-o", "jsonpath={.metadata.uid}"]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `kubectl get configmaps --watch` through `c`, its lines arriving on the returned channel.
fn watch_configmaps(c: &Cluster) -> (Killed, mpsc::Receiver<String>) {
    let mut child = Command::new(kubectl_binary())
        .arg("--kubeconfig")
        .arg(c.kubeconfig())
        .args(["get", "configmaps", "--watch-only", "-o", "name"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start kubectl --watch");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (Killed(child), rx)
}

#[test]
fn two_servers_on_one_etcd_share_state_and_hand_over_leadership() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(etcd) = runtime.block_on(EtcdServer::start_or_skip()) else { return };
    let mut flags = vec!["--etcd-endpoints", etcd.endpoint(), "--simulated-nodes", "0"];
    flags.extend(ELECTION);
    let mut a = Cluster::start_with(&flags);
    // The node's token is minted before `b` copies `a`'s credentials, so both servers know it.
    let token = Command::new(env!("CARGO_BIN_EXE_berth")).args(["token", "node", "ha-node", "--data-dir"]).arg(a.dir.path()).output().unwrap();
    assert!(token.status.success(), "{}", String::from_utf8_lossy(&token.stderr));
    let token_file = a.dir.path().join("ha-node.token");
    std::fs::write(&token_file, &token.stdout).unwrap();
    let b = a.join(&flags);

    // `a` started first and leads both groups; `b` campaigns without taking over.
    let leader = holder(&b, "kube-controller-manager");
    assert!(leader.contains('_'), "upstream's <hostname>_<uuid> identity: {leader:?}");
    assert_eq!(holder(&b, "kube-scheduler"), leader);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(holder(&a, "kube-controller-manager"), leader, "a live leader keeps its lease");
    let lease = b.json(&["get", "lease", "kube-controller-manager", "-n", "kube-system"]);
    assert_eq!(lease["spec"]["leaseTransitions"], 0, "{lease}");
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 3, "{lease}");

    // Each server has its identity Lease; the `kubernetes` Endpoints list the live servers on the
    // port most share (here: one each, so the lower port), the same whichever server writes.
    let identities = b.ok(&["get", "leases", "-n", "kube-system", "-l", "apiserver.kubernetes.io/identity=kube-apiserver", "-o", "name"]);
    assert_eq!(identities.lines().count(), 2, "{identities}");
    let endpoint_port = || b.ok(&["get", "endpoints", "kubernetes", "-o", "jsonpath={.subsets[0].ports[0].port}"]);
    let advertised = !endpoint_port().is_empty(); // a host without a non-loopback address has none
    if advertised {
        assert!(eventually(Duration::from_secs(15), || endpoint_port() == a.port.min(b.port).to_string()), "{}", endpoint_port());
    }

    // A watch through `b` sees a write made through `a`.
    let (_watch, lines) = watch_configmaps(&b);
    std::thread::sleep(Duration::from_millis(500));
    a.ok(&["create", "configmap", "shared", "--from-literal=k=1"]);
    let seen = lines.recv_timeout(Duration::from_secs(20)).expect("the watch through b sees the create through a");
    assert_eq!(seen, "configmap/shared");

    // Optimistic concurrency across servers: an update through `b` makes `a`'s copy stale.
    let stale = a.ok(&["get", "configmap", "shared", "-o", "yaml"]);
    b.ok(&["patch", "configmap", "shared", "-p", r#"{"data":{"k":"2"}}"#]);
    let err = a.fails(&["replace", "-f", &a.manifest("stale.yaml", &stale)]);
    assert!(err.contains("the object has been modified; please apply your changes to the latest version and try again"), "{err}");
    assert_eq!(a.ok(&["get", "configmap", "shared", "-o", "jsonpath={.data.k}"]), "2");

    // A node (its own process) given both servers, `a` first; and the walkthrough's
    // StatefulSet through `a`.
    let servers = format!("https://127.0.0.1:{},https://127.0.0.1:{}", a.port, b.port);
    let _node = Killed(
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["node", "--simulated", "--name", "ha-node", "--server", &servers, "--token-file"])
            .arg(&token_file)
            .arg("--ca-file")
            .arg(a.dir.path().join("pki/ca.crt"))
            .args(["--pod-cidr", "10.244.60.0/24", "--node-ip", "10.250.0.60", "--node-lease-duration-seconds", "4"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start berth node"),
    );
    a.ok(&["apply", "-f", &a.manifest("pv.yaml", manifests::PV_LIST)]);
    a.ok(&["apply", "-f", &a.manifest("sts.yaml", &manifests::statefulset("luksa/kubia-pet"))]);
    let all_running = |c: &Cluster| {
        let pods = c.ok(&["get", "pods"]);
        (0..3).all(|i| pods.contains(&format!("statefulset-kubia-v1-{i}   1/1     Running")))
    };
    assert!(eventually(Duration::from_secs(90), || all_running(&b)), "{}", b.ok(&["get", "pods,pvc,pv"]));
    // Both servers show the same objects at the same resourceVersions.
    for what in ["pods", "pvc", "statefulsets"] {
        let names = ["get", what, "-o", "jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}"];
        assert!(eventually(Duration::from_secs(10), || a.ok(&names) == b.ok(&names)), "{what}: {} vs {}", a.ok(&names), b.ok(&names));
    }

    // The leader dies: `b` takes both leases within the lease duration (plus a retry) …
    a.kill9();
    assert!(
        eventually(Duration::from_secs(30), || {
            let now = holder(&b, "kube-controller-manager");
            !now.is_empty() && now != leader && holder(&b, "kube-scheduler") == now
        }),
        "leadership did not move: {}",
        b.ok(&["get", "leases", "-n", "kube-system", "-o", "wide"])
    );
    let lease = b.json(&["get", "lease", "kube-controller-manager", "-n", "kube-system"]);
    assert_eq!(lease["spec"]["leaseTransitions"], 1, "{lease}");
    // The node moved to `b` too: its heartbeat Lease keeps being renewed (every second).
    let renewed = || b.ok(&["get", "lease", "ha-node", "-n", "kube-node-lease", "-o", "jsonpath={.spec.renewTime}"]);
    let before = renewed();
    assert!(eventually(Duration::from_secs(15), || renewed() != before), "the node stopped renewing after its server died");
    let events = b.ok(&["get", "events", "-n", "kube-system"]);
    assert!(events.contains(&format!("{} became leader", holder(&b, "kube-scheduler"))), "{events}");

    // … and keeps reconciling: a deleted pod is recreated (a new uid) and runs again.
    let old = pod_uid(&b, "statefulset-kubia-v1-1");
    b.ok(&["delete", "pod", "statefulset-kubia-v1-1", "--wait=false"]);
    assert!(
        eventually(Duration::from_secs(60), || {
            let uid = pod_uid(&b, "statefulset-kubia-v1-1");
            !uid.is_empty() && uid != old && all_running(&b)
        }),
        "{}",
        b.ok(&["get", "pods", "-o", "wide"])
    );
    // The dead server drops out of the `kubernetes` Endpoints once its Lease is 15 s old.
    if advertised {
        assert!(eventually(Duration::from_secs(40), || endpoint_port() == b.port.to_string()), "{}", endpoint_port());
    }
    // Declared first, etcd goes last: the servers and the node stop before it.
}
