//! berth's scheduler loop (`berth_scheduler::runner::run`) in-process against a real `berth up`:
//! Node objects made with kubectl stand in for node agents, pods are created and inspected with
//! kubectl, and a test plays the PV controller where one is needed.

use std::time::{Duration, Instant};

use crate::harness::{eventually, Cluster};

/// The scheduler running on its own runtime; stopped on drop.
struct InProcessScheduler {
    rt: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl InProcessScheduler {
    fn start(c: &Cluster) -> InProcessScheduler {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let kubeconfig = c.kubeconfig();
        let client = rt.block_on(async move {
            let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.unwrap();
            kube::Client::try_from(config).unwrap()
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        rt.spawn(berth_scheduler::runner::run(client, async move {
            let _ = stopped.await;
        }));
        InProcessScheduler { rt: Some(rt), stop: Some(stop) }
    }
}

impl Drop for InProcessScheduler {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

/// A Node as a node agent registers it: Ready, with allocatable resources.
fn create_node(c: &Cluster, name: &str, cpu: &str, labels: &[(&str, &str)]) {
    let mut label_lines = format!("    kubernetes.io/hostname: {name}\n");
    for (k, v) in labels {
        label_lines.push_str(&format!("    {k}: {v}\n"));
    }
    let yaml = format!(
        "apiVersion: v1
kind: Node
metadata:
  name: {name}
  labels:
{label_lines}status:
  capacity: {{cpu: \"{cpu}\", memory: 8Gi, pods: \"110\"}}
  allocatable: {{cpu: \"{cpu}\", memory: 8Gi, pods: \"110\"}}
  conditions:
  - type: Ready
    status: \"True\"
    reason: KubeletReady
    message: kubelet is posting ready status
"
    );
    let file = c.manifest(&format!("node-{name}.yaml"), &yaml);
    assert_eq!(c.ok(&["create", "-f", &file]), format!("node/{name} created\n"));
    // A node agent's Node keeps the status it registers with (upstream's node strategy does
    // not reset status on create).
    let allocatable = c.ok(&["get", "node", name, "-o", "jsonpath={.status.allocatable.cpu}"]);
    assert_eq!(allocatable, cpu, "status.allocatable kept on create");
}

fn create_pod(c: &Cluster, name: &str, extra_spec: &str, cpu: &str) {
    let yaml = format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
{extra_spec}  containers:
  - name: main
    image: luksa/kubia-pet
    resources:
      requests:
        cpu: {cpu}
"
    );
    let file = c.manifest(&format!("pod-{name}.yaml"), &yaml);
    c.ok(&["create", "-f", &file]);
}

fn node_of(c: &Cluster, pod: &str) -> String {
    c.ok(&["get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"])
}

fn wait_bound(c: &Cluster, pod: &str, timeout: Duration) -> String {
    let mut node = String::new();
    assert!(eventually(timeout, || {
        node = node_of(c, pod);
        !node.is_empty()
    }), "pod {pod} was not scheduled within {timeout:?}:\n{}", c.ok(&["describe", "pod", pod]));
    node
}

/// `(type, reason, message, source.component, count)` of the events about a pod.
fn pod_events(c: &Cluster, pod: &str) -> Vec<(String, String, String, String, i64)> {
    let list = c.json(&["get", "events", "--field-selector", &format!("involvedObject.name={pod}")]);
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["involvedObject"]["name"] == pod)
        .map(|e| {
            let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
            (s(&e["type"]), s(&e["reason"]), s(&e["message"]), s(&e["source"]["component"]), e["count"].as_i64().unwrap_or(0))
        })
        .collect()
}

fn pod_scheduled_condition(c: &Cluster, pod: &str) -> Option<serde_json::Value> {
    let p = c.json(&["get", "pod", pod]);
    p["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == "PodScheduled").cloned()
}


/// These tests run the scheduler in-process, so `berth up` must not run its own; and their pods
/// carry owner references to objects that do not exist, which the GC would collect.
const OWN_SCHEDULER: &[&str] = &["--disable", "scheduler,gc"];

#[test]
fn pods_are_bound_with_a_scheduled_event() {
    let c = Cluster::start_with(OWN_SCHEDULER);
    create_node(&c, "node-a", "4", &[]);
    create_node(&c, "node-b", "4", &[]);
    let _s = InProcessScheduler::start(&c);

    create_pod(&c, "web", "", "100m");
    let node = wait_bound(&c, "web", Duration::from_secs(10));
    assert!(node == "node-a" || node == "node-b", "{node}");
    let want = format!("Successfully assigned default/web to {node}");
    assert!(eventually(Duration::from_secs(5), || pod_events(&c, "web")
        .iter()
        .any(|(t, r, m, src, _)| t == "Normal" && r == "Scheduled" && *m == want && src == "default-scheduler")));
    let describe = c.ok(&["describe", "pod", "web"]);
    assert!(describe.contains(&format!("Node:             {node}/")) || describe.contains(&format!("Node:         {node}")), "{describe}");
    assert!(describe.lines().any(|l| l.contains("Normal") && l.contains("Scheduled") && l.contains("default-scheduler") && l.contains(&want)), "{describe}");
    // No failure was ever reported.
    assert!(!pod_events(&c, "web").iter().any(|e| e.1 == "FailedScheduling"));

    // A pod for another scheduler is left alone; one created bound is not touched.
    create_pod(&c, "other", "  schedulerName: my-scheduler\n", "100m");
    create_pod(&c, "pinned", "  nodeName: node-b\n", "100m");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(node_of(&c, "other"), "");
    assert_eq!(node_of(&c, "pinned"), "node-b");
    assert!(pod_events(&c, "other").is_empty());
    assert!(pod_events(&c, "pinned").is_empty());
}

#[test]
fn unmatched_node_selector_reports_failed_scheduling_then_binds_when_a_node_matches() {
    let c = Cluster::start_with(OWN_SCHEDULER);
    create_node(&c, "node-a", "4", &[]);
    create_node(&c, "node-b", "4", &[]);
    let _s = InProcessScheduler::start(&c);

    create_pod(&c, "picky", "  nodeSelector:\n    disktype: ssd\n", "100m");
    let message = "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. \
                   preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.";
    assert!(eventually(Duration::from_secs(10), || c.ok(&["describe", "pod", "picky"]).contains(message)));
    let describe = c.ok(&["describe", "pod", "picky"]);
    let line = describe.lines().find(|l| l.contains(message)).unwrap();
    assert!(line.trim_start().starts_with("Warning  FailedScheduling") && line.contains("default-scheduler"), "{describe}");
    let cond = pod_scheduled_condition(&c, "picky").expect("PodScheduled condition set");
    assert_eq!((cond["status"].as_str(), cond["reason"].as_str(), cond["message"].as_str()), (Some("False"), Some("Unschedulable"), Some(message)));
    assert!(cond["lastTransitionTime"].is_string(), "{cond}");
    assert!(c.ok(&["get", "pod", "picky"]).contains("Pending"));

    // Unrelated pod churn does not retry it (the failure is unresolvable by pods leaving), and
    // nothing retries it on a timer: the event is written once.
    create_pod(&c, "filler", "", "100m");
    wait_bound(&c, "filler", Duration::from_secs(10));
    c.ok(&["delete", "pod", "filler", "--force", "--grace-period=0"]);
    std::thread::sleep(Duration::from_millis(1500));
    let failures: Vec<_> = pod_events(&c, "picky").into_iter().filter(|e| e.1 == "FailedScheduling").collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].4, 1, "no repeated attempts: {failures:?}");

    // A node gaining the label is a cluster event: the pod is placed there at once.
    c.ok(&["label", "node", "node-b", "disktype=ssd"]);
    let started = Instant::now();
    assert_eq!(wait_bound(&c, "picky", Duration::from_secs(5)), "node-b");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[test]
fn cordoned_nodes_get_no_new_pods_and_one_owner_spreads() {
    let c = Cluster::start_with(OWN_SCHEDULER);
    for n in ["node-a", "node-b", "node-c"] {
        create_node(&c, n, "4", &[]);
    }
    let _s = InProcessScheduler::start(&c);

    // Three pods of one controller, created in one go: one per node.
    let mut pods = String::new();
    for i in 0..3 {
        pods.push_str(&format!(
            "---
apiVersion: v1
kind: Pod
metadata:
  name: web-{i}
  ownerReferences:
  - apiVersion: apps/v1
    kind: StatefulSet
    name: web
    uid: 5f0e2f58-4d39-4a7b-9a53-2b8a4e3c1d11
    controller: true
spec:
  containers:
  - name: main
    image: luksa/kubia-pet
"
        ));
    }
    c.ok(&["create", "-f", &c.manifest("owned.yaml", &pods)]);
    let mut nodes: Vec<String> = (0..3).map(|i| wait_bound(&c, &format!("web-{i}"), Duration::from_secs(10))).collect();
    nodes.sort();
    assert_eq!(nodes, ["node-a", "node-b", "node-c"]);

    assert_eq!(c.ok(&["cordon", "node-a"]), "node/node-a cordoned\n");
    for i in 0..4 {
        create_pod(&c, &format!("after-cordon-{i}"), "", "100m");
    }
    for i in 0..4 {
        let node = wait_bound(&c, &format!("after-cordon-{i}"), Duration::from_secs(10));
        assert_ne!(node, "node-a", "after-cordon-{i}");
    }

    // Everything cordoned: upstream's message for it.
    c.ok(&["cordon", "node-b"]);
    c.ok(&["cordon", "node-c"]);
    create_pod(&c, "nowhere", "", "100m");
    let message = "0/3 nodes are available: 3 node(s) were unschedulable. \
                   preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
    assert!(eventually(Duration::from_secs(10), || c.ok(&["describe", "pod", "nowhere"]).contains(message)));
    c.ok(&["uncordon", "node-c"]);
    assert_eq!(wait_bound(&c, "nowhere", Duration::from_secs(5)), "node-c");
}

#[test]
fn pod_waits_for_cpu_and_is_placed_within_a_second_of_a_node_gaining_it() {
    let c = Cluster::start_with(OWN_SCHEDULER);
    create_node(&c, "node-a", "1", &[]);
    create_node(&c, "node-b", "1", &[]);
    let _s = InProcessScheduler::start(&c);

    // Two pods that each fit alone but not together on one node, and a third that fits nowhere.
    c.ok(&["create", "-f", &c.manifest("half.yaml", &two_pods("half", "600m"))]);
    let a = wait_bound(&c, "half-0", Duration::from_secs(10));
    let b = wait_bound(&c, "half-1", Duration::from_secs(10));
    assert_ne!(a, b, "assumed pods count: two 600m pods never share a 1-CPU node");

    create_pod(&c, "big", "", "2");
    let message = "0/2 nodes are available: 2 Insufficient cpu. \
                   preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.";
    assert!(eventually(Duration::from_secs(10), || c.ok(&["describe", "pod", "big"]).contains(message)));
    let cond = pod_scheduled_condition(&c, "big").unwrap();
    assert_eq!(cond["reason"], "Unschedulable");

    // Another pod leaving frees 600m: a retry, but still no fit (same message, aggregated).
    c.ok(&["delete", "pod", "half-0", "--force", "--grace-period=0"]);
    assert!(eventually(Duration::from_secs(5), || pod_events(&c, "big")
        .iter()
        .any(|e| e.1 == "FailedScheduling" && e.4 >= 2)), "{:?}", pod_events(&c, "big"));
    assert_eq!(pod_events(&c, "big").iter().filter(|e| e.1 == "FailedScheduling").count(), 1, "aggregated into one Event");

    // The node gains CPU: the scheduler reacts to the Node update, not to a timer.
    // Let the pod's backoff after its second failure (2 s) pass, so what is measured below is
    // the reaction to the Node update alone.
    std::thread::sleep(Duration::from_secs(2));
    c.ok(&["patch", "node", "node-b", "--subresource=status", "--type=merge", "-p", r#"{"status":{"allocatable":{"cpu":"4"}}}"#]);
    let started = Instant::now();
    assert_eq!(wait_bound(&c, "big", Duration::from_secs(5)), "node-b");
    assert!(started.elapsed() < Duration::from_secs(1), "placed {:?} after the node gained CPU", started.elapsed());
}

fn two_pods(prefix: &str, cpu: &str) -> String {
    (0..2)
        .map(|i| {
            format!(
                "---
apiVersion: v1
kind: Pod
metadata:
  name: {prefix}-{i}
spec:
  containers:
  - name: main
    image: luksa/kubia-pet
    resources:
      requests:
        cpu: {cpu}
"
            )
        })
        .collect()
}

const LOCAL_VOLUMES: &str = "apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: dynamic
provisioner: example.com/hostpath
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: local-b
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: local
  local: {path: /mnt/disk}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - {key: kubernetes.io/hostname, operator: In, values: [node-b]}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  storageClassName: local
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: scratch
spec:
  storageClassName: dynamic
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
";

#[test]
fn volume_binding_waits_for_the_claims_to_be_bound() {
    let c = Cluster::start_with(OWN_SCHEDULER);
    create_node(&c, "node-a", "4", &[]);
    create_node(&c, "node-b", "4", &[]);
    c.ok(&["create", "-f", &c.manifest("volumes.yaml", LOCAL_VOLUMES)]);
    // The PV controller would make the PV Available; none runs here, so play it.
    c.ok(&["patch", "pv", "local-b", "--subresource=status", "--type=merge", "-p", r#"{"status":{"phase":"Available"}}"#]);
    let _s = InProcessScheduler::start(&c);

    let volumes = "  volumes:\n  - name: data\n    persistentVolumeClaim: {claimName: data}\n  - name: scratch\n    persistentVolumeClaim: {claimName: scratch}\n";
    create_pod(&c, "db", volumes, "100m");

    // PreBind: the local PV is pre-bound to its claim (the PV lives on node-b) and the dynamic
    // claim is handed to its provisioner for node-b.
    assert!(eventually(Duration::from_secs(10), || {
        let pv = c.json(&["get", "pv", "local-b"]);
        pv["spec"]["claimRef"]["name"] == "data"
    }));
    let pv = c.json(&["get", "pv", "local-b"]);
    let data = c.json(&["get", "pvc", "data"]);
    let r = &pv["spec"]["claimRef"];
    assert_eq!(
        (r["kind"].as_str(), r["apiVersion"].as_str(), r["namespace"].as_str(), r["uid"].as_str()),
        (Some("PersistentVolumeClaim"), Some("v1"), Some("default"), data["metadata"]["uid"].as_str()),
        "{pv}"
    );
    assert!(r["resourceVersion"].is_string(), "{pv}");
    assert_eq!(pv["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"], "yes");
    assert!(eventually(Duration::from_secs(5), || {
        c.ok(&["get", "pvc", "scratch", "-o", "jsonpath={.metadata.annotations.volume\\.kubernetes\\.io/selected-node}"]) == "node-b"
    }));

    // Until the claims are bound the pod is not: no PV controller runs.
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(node_of(&c, "db"), "");

    // Play the PV controller: complete both bindings.
    bind_claim(&c, "data", "local-b");
    assert_eq!(node_of(&c, "db"), "", "still waiting for the provisioned claim");
    c.ok(&["create", "-f", &c.manifest("provisioned.yaml", "apiVersion: v1
kind: PersistentVolume
metadata:
  name: pvc-scratch
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: dynamic
  hostPath: {path: /tmp/pvc-scratch}
  claimRef: {namespace: default, name: scratch}
")]);
    bind_claim(&c, "scratch", "pvc-scratch");
    let started = Instant::now();
    assert_eq!(wait_bound(&c, "db", Duration::from_secs(5)), "node-b");
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    assert!(eventually(Duration::from_secs(5), || pod_events(&c, "db")
        .iter()
        .any(|e| e.1 == "Scheduled" && e.2 == "Successfully assigned default/db to node-b")));
}

/// What the PV controller does when it completes a binding: the claim names the volume, carries
/// `bind-completed`, and is Bound.
fn bind_claim(c: &Cluster, claim: &str, pv: &str) {
    c.ok(&[
        "patch",
        "pvc",
        claim,
        "--type=merge",
        "-p",
        &format!(r#"{{"metadata":{{"annotations":{{"pv.kubernetes.io/bind-completed":"yes"}}}},"spec":{{"volumeName":"{pv}"}}}}"#),
    ]);
    c.ok(&["patch", "pvc", claim, "--subresource=status", "--type=merge", "-p", r#"{"status":{"phase":"Bound"}}"#]);
}

/// The server side of binding the scheduler relies on (upstream `BindingREST`): the Binding
/// sets `spec.nodeName` and `PodScheduled=True`; a second Binding is a 409 Conflict.
#[test]
fn binding_subresource_assigns_the_pod_once() {
    let c = Cluster::start_with(OWN_SCHEDULER);
    create_pod(&c, "manual", "", "100m");
    let binding = c.manifest(
        "binding.json",
        r#"{"apiVersion":"v1","kind":"Binding","metadata":{"name":"manual"},"target":{"apiVersion":"v1","kind":"Node","name":"node-a"}}"#,
    );
    let out = c.ok(&["create", "--raw", "/api/v1/namespaces/default/pods/manual/binding", "-f", &binding]);
    assert!(out.contains(r#""status":"Success""#), "{out}");
    assert_eq!(node_of(&c, "manual"), "node-a");
    let cond = pod_scheduled_condition(&c, "manual").expect("binding sets PodScheduled");
    assert_eq!(cond["status"], "True", "{cond}");
    let err = c.fails(&["create", "--raw", "/api/v1/namespaces/default/pods/manual/binding", "-f", &binding]);
    assert!(err.contains("Conflict") && err.contains("already assigned"), "{err}");
}
