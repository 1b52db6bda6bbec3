//! Losing a node (walkthrough's last section) on simulated nodes: a `berth node --simulated`
//! process frozen with SIGSTOP stops heartbeating, so its node goes `NotReady`, its pods
//! `Terminating` (taint eviction with the DefaultTolerationSeconds tolerations); a plain
//! delete waits, a force delete lets the StatefulSet recreate the pod elsewhere with its
//! claim; SIGCONT brings the node back and everything settles. Also cordon/drain/uncordon
//! (the eviction subresource) and pod GC on an out-of-service node.
//!
//! Short settings keep it fast: grace 4 s, tolerations 2 s, leases renewed every 0.5 s.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::{eventually, rows, Cluster};

pub const FAST: &[&str] = &[
    "--node-monitor-grace-period",
    "4s",
    "--node-monitor-period",
    "500ms",
    "--default-not-ready-toleration-seconds",
    "2",
    "--default-unreachable-toleration-seconds",
    "2",
    "--node-lease-duration-seconds",
    "2",
];

/// kubectl's warning (v1.33 prints it as `Warning: …`; the walkthrough's v1.17 as `warning: …`).
pub const FORCE_WARNING: &str = "Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.";

/// A `berth node --simulated` process; SIGSTOP takes it off the network.
struct NodeProcess(Child);

impl NodeProcess {
    fn start(c: &Cluster, name: &str) -> NodeProcess {
        let child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["node", "--simulated", "--name", name, "--node-lease-duration-seconds", "2", "--kubeconfig"])
            .arg(c.kubeconfig())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start berth node");
        NodeProcess(child)
    }

    fn signal(&self, sig: &str) {
        assert!(Command::new("kill").args([sig, &self.0.id().to_string()]).status().unwrap().success());
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn node_status(c: &Cluster, name: &str) -> String {
    rows(&c.ok(&["get", "nodes", "--no-headers"])).into_iter().find(|r| r[0] == name).map(|r| r[1].clone()).unwrap_or_default()
}

/// `kubectl get pods -o wide` rows by name: (READY, STATUS, NODE).
pub fn pod_row(c: &Cluster, name: &str) -> Option<(String, String, String)> {
    let out = c.kubectl(&["get", "pod", name, "--no-headers", "-o", "wide"]);
    let r = rows(&String::from_utf8_lossy(&out.stdout)).into_iter().next()?;
    Some((r[1].clone(), r[2].clone(), r[6].clone()))
}

pub fn field(c: &Cluster, what: &[&str], path: &str) -> String {
    let p = format!("jsonpath={path}");
    let mut args = what.to_vec();
    args.extend(["-o", &p]);
    String::from_utf8_lossy(&c.kubectl(&args).stdout).to_string()
}

fn sts(storage: bool) -> String {
    let claims = if storage {
        "  volumeClaimTemplates:\n  - metadata: {name: data}\n    spec:\n      storageClassName: manual\n      accessModes: [ReadWriteOnce]\n      resources: {requests: {storage: 1Gi}}\n"
    } else {
        ""
    };
    format!(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: web}}\nspec:\n  serviceName: web\n  replicas: 2\n  podManagementPolicy: Parallel\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      terminationGracePeriodSeconds: 2\n      containers: [{{name: c, image: nginx}}]\n{claims}"
    )
}

fn pv(name: &str, pinned_to: Option<&str>) -> String {
    let affinity = pinned_to
        .map(|n| format!("  nodeAffinity:\n    required:\n      nodeSelectorTerms:\n      - matchExpressions:\n        - {{key: kubernetes.io/hostname, operator: In, values: [{n}]}}\n"))
        .unwrap_or_default();
    format!("apiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: {name}}}\nspec:\n  capacity: {{storage: 1Gi}}\n  accessModes: [ReadWriteOnce]\n  storageClassName: manual\n  hostPath: {{path: /tmp/berth-e2e-{name}}}\n{affinity}")
}

#[test]
fn a_lost_node_goes_not_ready_its_pods_terminating_until_force_deleted_then_recovers() {
    let mut flags = vec!["--simulated-nodes", "1"];
    flags.extend(FAST);
    let c = Cluster::start_with(&flags);
    let node = NodeProcess::start(&c, "sim-2");
    assert!(eventually(Duration::from_secs(20), || node_status(&c, "sim-2") == "Ready"), "{}", c.ok(&["get", "nodes"]));
    // Both replicas on sim-2, as in the walkthrough where node-2 runs two of them.
    c.ok(&["cordon", "sim-1"]);
    for i in 1..=2 {
        c.ok(&["apply", "-f", &c.manifest(&format!("pv{i}.yaml"), &pv(&format!("pv-{i}"), None))]);
    }
    c.ok(&["apply", "-f", &c.manifest("sts.yaml", &sts(true))]);
    let running_on = |name: &str, node: &str| pod_row(&c, name).is_some_and(|(r, s, n)| r == "1/1" && s == "Running" && n == node);
    assert!(
        eventually(Duration::from_secs(30), || running_on("web-0", "sim-2") && running_on("web-1", "sim-2")),
        "{}",
        c.ok(&["get", "pods,pvc", "-o", "wide"])
    );
    c.ok(&["uncordon", "sim-1"]);
    let uid0 = field(&c, &["get", "pod", "web-0"], "{.metadata.uid}");
    let uid1 = field(&c, &["get", "pod", "web-1"], "{.metadata.uid}");
    let volume0 = field(&c, &["get", "pvc", "data-web-0"], "{.spec.volumeName}");
    // DefaultTolerationSeconds gave the pods the two NoExecute tolerations (2 s here).
    let tolerations = field(&c, &["get", "pod", "web-0"], "{.spec.tolerations}");
    assert!(tolerations.contains(r#""key":"node.kubernetes.io/unreachable","operator":"Exists","tolerationSeconds":2"#), "{tolerations}");

    // node-2 goes off the network.
    node.signal("-STOP");
    assert!(eventually(Duration::from_secs(30), || node_status(&c, "sim-2") == "NotReady"), "{}", c.ok(&["get", "nodes"]));
    let ready = c.json(&["get", "node", "sim-2"])["status"]["conditions"].as_array().unwrap().iter().find(|x| x["type"] == "Ready").cloned().unwrap();
    assert_eq!((ready["status"].as_str(), ready["reason"].as_str()), (Some("Unknown"), Some("NodeStatusUnknown")));
    assert_eq!(ready["message"], "Kubelet stopped posting node status.");
    assert!(eventually(Duration::from_secs(10), || {
        let t = field(&c, &["get", "node", "sim-2"], "{.spec.taints}");
        t.contains(r#""effect":"NoExecute","key":"node.kubernetes.io/unreachable""#) && t.contains(r#""effect":"NoSchedule","key":"node.kubernetes.io/unreachable""#)
    }));
    // Its pods turn Terminating (taint eviction after their 2 s) and stay so.
    assert!(
        eventually(Duration::from_secs(30), || ["web-0", "web-1"].iter().all(|p| pod_row(&c, p).is_some_and(|r| r.1 == "Terminating"))),
        "{}",
        c.ok(&["get", "pods", "-o", "wide"])
    );
    let conditions = field(&c, &["get", "pod", "web-0"], "{.status.conditions}");
    assert!(conditions.contains(r#""reason":"DeletionByTaintManager""#) && conditions.contains(r#""status":"False","type":"Ready""#), "{conditions}");
    let events = c.ok(&["get", "events", "-o", "custom-columns=REASON:.reason,OBJECT:.involvedObject.name,MESSAGE:.message"]);
    assert!(events.contains("Marking for deletion Pod default/web-0"), "{events}");
    assert!(events.contains("Node sim-2 status is now: NodeNotReady"), "{events}");
    assert!(events.contains("Node is not ready"), "{events}");

    // At most one: no replacement while the old pod object exists; a plain delete waits.
    let err = c.fails(&["delete", "po", "web-0", "--timeout=2s"]);
    assert!(err.contains("timed out waiting"), "{err}");
    assert_eq!(field(&c, &["get", "pod", "web-0"], "{.metadata.uid}"), uid0);
    assert_eq!(pod_row(&c, "web-0").unwrap().1, "Terminating");

    // A force delete prints upstream's warning and the pod comes back on sim-1.
    let out = c.kubectl(&["delete", "po", "web-0", "--force", "--grace-period", "0"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(FORCE_WARNING), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), r#"pod "web-0" force deleted"#);
    assert!(eventually(Duration::from_secs(30), || running_on("web-0", "sim-1")), "{}", c.ok(&["get", "pods", "-o", "wide"]));
    assert_ne!(field(&c, &["get", "pod", "web-0"], "{.metadata.uid}"), uid0);
    assert_eq!(field(&c, &["get", "pod", "web-0"], "{.spec.volumes[0].persistentVolumeClaim.claimName}"), "data-web-0");
    assert_eq!(field(&c, &["get", "pvc", "data-web-0"], "{.spec.volumeName}"), volume0);
    assert_eq!(pod_row(&c, "web-1").unwrap().1, "Terminating", "the other pod stays until its node returns");

    // A claim whose volume only sim-2 reaches keeps its pod Pending, with the scheduler's why.
    c.ok(&["apply", "-f", &c.manifest("pinned-pv.yaml", &pv("pinned", Some("sim-2")))]);
    let claim = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: pinned}\nspec:\n  storageClassName: manual\n  volumeName: pinned\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: pinned}\nspec:\n  containers: [{name: c, image: nginx}]\n  volumes: [{name: d, persistentVolumeClaim: {claimName: pinned}}]\n";
    c.ok(&["apply", "-f", &c.manifest("pinned.yaml", claim)]);
    // Upstream v1.33: VolumeBinding's PreFilter narrows the nodes to the volume's (sim-2), which
    // the unreachable taint then rules out.
    let want = "0/2 nodes are available: 1 node(s) didn't satisfy plugin(s) [VolumeBinding], 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.";
    let msg = || field(&c, &["get", "pod", "pinned"], "{.status.conditions[?(@.type==\"PodScheduled\")].message}");
    assert!(eventually(Duration::from_secs(20), || msg() == want), "{}", msg());
    assert_eq!(pod_row(&c, "pinned").unwrap().1, "Pending");

    // sim-2 comes back: Ready, taints gone, web-1 finishes terminating and is recreated.
    node.signal("-CONT");
    assert!(eventually(Duration::from_secs(30), || node_status(&c, "sim-2") == "Ready"), "{}", c.ok(&["get", "nodes"]));
    assert!(eventually(Duration::from_secs(10), || field(&c, &["get", "node", "sim-2"], "{.spec.taints}").is_empty()));
    assert!(
        eventually(Duration::from_secs(30), || {
            field(&c, &["get", "pod", "web-1"], "{.metadata.uid}") != uid1 && pod_row(&c, "web-1").is_some_and(|r| r.0 == "1/1" && r.1 == "Running")
        }),
        "{}",
        c.ok(&["get", "pods", "-o", "wide"])
    );
    assert!(eventually(Duration::from_secs(20), || pod_row(&c, "pinned").is_some_and(|r| r.1 == "Running")), "{}", c.ok(&["get", "pods", "-o", "wide"]));
    let events = c.ok(&["get", "events", "-o", "custom-columns=REASON:.reason,MESSAGE:.message"]);
    assert!(events.contains("Node sim-2 status is now: NodeReady"), "{events}");
    assert!(running_on("web-0", "sim-1"));
}

#[test]
fn cordon_drain_and_uncordon() {
    let c = Cluster::start_with(&["--simulated-nodes", "2"]);
    assert!(eventually(Duration::from_secs(20), || node_status(&c, "sim-2") == "Ready"));
    c.ok(&["apply", "-f", &c.manifest("sts.yaml", &sts(false))]);
    let running = |name: &str| pod_row(&c, name).is_some_and(|r| r.1 == "Running");
    assert!(eventually(Duration::from_secs(30), || running("web-0") && running("web-1")), "{}", c.ok(&["get", "pods", "-o", "wide"]));
    assert_eq!(c.ok(&["cordon", "sim-2"]).trim(), "node/sim-2 cordoned");
    assert_eq!(node_status(&c, "sim-2"), "Ready,SchedulingDisabled");
    assert!(eventually(Duration::from_secs(10), || field(&c, &["get", "node", "sim-2"], "{.spec.taints}")
        .contains(r#""effect":"NoSchedule","key":"node.kubernetes.io/unschedulable""#)));
    let on_sim2: Vec<String> = rows(&c.ok(&["get", "pods", "--no-headers", "-o", "wide"])).into_iter().filter(|r| r[6] == "sim-2").map(|r| r[0].clone()).collect();
    let out = c.ok(&["drain", "sim-2", "--timeout=60s"]);
    for p in &on_sim2 {
        assert!(out.contains(&format!("pod/{p} evicted")), "{out}");
    }
    assert!(out.contains("node/sim-2 drained"), "{out}");
    assert!(
        eventually(Duration::from_secs(30), || {
            let r = rows(&c.ok(&["get", "pods", "--no-headers", "-o", "wide"]));
            r.len() == 2 && r.iter().all(|r| r[2] == "Running" && r[6] == "sim-1")
        }),
        "{}",
        c.ok(&["get", "pods", "-o", "wide"])
    );
    // The eviction subresource answers 201 with a Success Status, as upstream.
    let body = r#"{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"web-0","namespace":"default"}}"#;
    let f = c.manifest("eviction.json", body);
    let out = c.ok(&["create", "--raw", "/api/v1/namespaces/default/pods/web-0/eviction", "-f", &f]);
    assert!(out.contains(r#""status":"Success""#), "{out}");
    let cond = field(&c, &["get", "pod", "web-0"], "{.status.conditions[?(@.type==\"DisruptionTarget\")].reason}");
    assert!(cond == "EvictionByEvictionAPI" || cond.is_empty(), "{cond}");
    assert_eq!(c.ok(&["uncordon", "sim-2"]).trim(), "node/sim-2 uncordoned");
    assert_eq!(node_status(&c, "sim-2"), "Ready");
    assert!(eventually(Duration::from_secs(10), || field(&c, &["get", "node", "sim-2"], "{.spec.taints}").is_empty()));
}

#[test]
fn pod_gc_force_deletes_terminating_pods_of_an_out_of_service_node() {
    let mut flags = vec!["--simulated-nodes", "0"];
    flags.extend(FAST);
    let c = Cluster::start_with(&flags);
    let node = NodeProcess::start(&c, "sim-2");
    assert!(eventually(Duration::from_secs(20), || node_status(&c, "sim-2") == "Ready"));
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: lonely}\nspec:\n  containers: [{name: c, image: nginx}]\n";
    c.ok(&["apply", "-f", &c.manifest("pod.yaml", pod)]);
    assert!(eventually(Duration::from_secs(20), || pod_row(&c, "lonely").is_some_and(|r| r.1 == "Running")));
    node.signal("-STOP");
    assert!(eventually(Duration::from_secs(30), || pod_row(&c, "lonely").is_some_and(|r| r.1 == "Terminating")), "{}", c.ok(&["get", "pods"]));
    // Non-graceful node shutdown: the operator marks the node out of service.
    c.ok(&["taint", "node", "sim-2", "node.kubernetes.io/out-of-service=nodeshutdown:NoExecute"]);
    assert!(eventually(Duration::from_secs(30), || pod_row(&c, "lonely").is_none()), "{}", c.ok(&["get", "pods"]));
}
