//! StatefulSets on `berth up --simulated-nodes 3`: ordered creation, scaling, rolling update,
//! rollout status/history/undo — the whole control plane (controller, scheduler, simulated
//! kubelets) as kubectl sees it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::harness::{eventually, kubectl_binary, Cluster};

const WEB: &str = r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: luksa/kubia-pet
"#;

fn pod_names(c: &Cluster) -> Vec<String> {
    let out = c.ok(&["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}"]);
    let mut v: Vec<String> = out.split_whitespace().map(str::to_string).collect();
    v.sort();
    v
}

fn ready(c: &Cluster, want: &str) -> bool {
    let o = c.kubectl(&["get", "sts", "web", "-o", "jsonpath={.status.readyReplicas}/{.spec.replicas}"]);
    String::from_utf8_lossy(&o.stdout) == want
}

#[test]
fn ordered_creation_scaling_and_rolling_update_on_simulated_nodes() {
    let c = Cluster::start_with(&["--simulated-nodes", "3"]);
    assert!(eventually(Duration::from_secs(20), || c.ok(&["get", "nodes"]).matches(" Ready ").count() == 3));

    // Watch pod additions to see creation order.
    let cache = tempfile::tempdir().unwrap();
    let mut watcher = Command::new(kubectl_binary())
        .arg("--kubeconfig")
        .arg(c.kubeconfig())
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["get", "pods", "-w", "-o", "name"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = watcher.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    std::thread::sleep(Duration::from_millis(1000));
    let f = c.manifest("web.yaml", WEB);
    c.ok(&["apply", "-f", &f]);
    assert!(eventually(Duration::from_secs(30), || ready(&c, "3/3")), "web did not become 3/3");
    let out = c.ok(&["get", "pods", "-l", "app=web"]);
    assert_eq!(out.matches("1/1     Running").count(), 3, "{out}");
    let _ = watcher.kill();
    let _ = watcher.wait();
    let mut first_seen: Vec<String> = Vec::new();
    while let Ok(l) = rx.try_recv() {
        if !first_seen.contains(&l) {
            first_seen.push(l);
        }
    }
    assert_eq!(first_seen, ["pod/web-0", "pod/web-1", "pod/web-2"], "creation order");

    // Scale 3 → 5 → 2: the highest ordinals go.
    c.ok(&["scale", "sts", "web", "--replicas=5"]);
    assert!(eventually(Duration::from_secs(30), || ready(&c, "5/5")));
    c.ok(&["scale", "sts", "web", "--replicas=2"]);
    assert!(eventually(Duration::from_secs(30), || pod_names(&c) == ["web-0", "web-1"]), "{:?}", pod_names(&c));

    // Rolling update: rollout status waits for it and prints upstream's message.
    c.ok(&["set", "image", "sts/web", "c=luksa/kubia-pet-peers"]);
    let out = c.ok(&["rollout", "status", "sts/web", "--timeout=60s"]);
    assert!(out.contains("partitioned roll out complete: 2 new pods have been updated..."), "{out}");
    let sts = c.json(&["get", "sts", "web"]);
    let update = sts["status"]["updateRevision"].as_str().unwrap().to_string();
    assert_eq!(sts["status"]["currentRevision"], update.as_str());
    for p in ["web-0", "web-1"] {
        let pod = c.json(&["get", "pod", p]);
        assert_eq!(pod["spec"]["containers"][0]["image"], "luksa/kubia-pet-peers");
        assert_eq!(pod["metadata"]["labels"]["controller-revision-hash"], update.as_str());
    }
    let history = c.ok(&["rollout", "history", "sts/web"]);
    assert!(history.contains("1         <none>") && history.contains("2         <none>"), "{history}");

    // Undo reuses revision 1 (renumbered 3); no new ControllerRevision.
    assert_eq!(c.ok(&["rollout", "undo", "sts/web"]), "statefulset.apps/web rolled back\n");
    c.ok(&["rollout", "status", "sts/web", "--timeout=60s"]);
    let revisions = c.ok(&["get", "controllerrevisions", "-o", "name"]);
    assert_eq!(revisions.lines().count(), 2, "{revisions}");
    let pod = c.json(&["get", "pod", "web-0"]);
    assert_eq!(pod["spec"]["containers"][0]["image"], "luksa/kubia-pet");

    // Deleting a pod brings back one with the same name and a new uid.
    let uid = pod["metadata"]["uid"].as_str().unwrap().to_string();
    c.ok(&["delete", "pod", "web-0"]);
    assert!(eventually(Duration::from_secs(30), || {
        let p = c.json(&["get", "pods", "-l", "app=web"]);
        p["items"].as_array().unwrap().iter().any(|i| i["metadata"]["name"] == "web-0" && i["metadata"]["uid"] != uid.as_str() && i["status"]["phase"] == "Running")
    }));
}
