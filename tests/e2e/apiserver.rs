//! API server behaviour seen through kubectl: errors, watch, auth, namespaces.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::harness::{eventually, kubectl_binary, Cluster};
use crate::manifests;

const BAD_SELECTOR_STS: &str = r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  selector:
    matchLabels:
      app: other
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: c
        image: luksa/kubia-pet
"#;

#[test]
fn invalid_input_gets_upstream_errors_and_changes_nothing() {
    let c = Cluster::start();
    let sts = c.manifest("sts.yaml", &manifests::statefulset("luksa/kubia-pet"));
    c.ok(&["apply", "-f", &sts]);
    let before = c.json(&["get", "sts", "statefulset-kubia-v1"]);

    let err = c.fails(&["create", "configmap", "Bad_Name"]);
    assert!(err.contains("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of"), "{err}");

    let no_selector = manifests::statefulset("x").replace("  selector:\n    matchLabels:\n       app: statefulset-kubia\n", "").replace("statefulset-kubia-v1", "nosel");
    let f = c.manifest("nosel.yaml", &no_selector);
    let err = c.fails(&["apply", "-f", &f]);
    assert!(err.contains("spec.selector: Required value"), "{err}");

    let f = c.manifest("badsel.yaml", BAD_SELECTOR_STS);
    let err = c.fails(&["apply", "-f", &f]);
    assert!(err.contains("`selector` does not match template `labels`"), "{err}");

    let unknown = manifests::statefulset("x").replace("  replicas: 3\n", "  replicas: 3\n  foo: bar\n").replace("statefulset-kubia-v1", "unknown");
    let f = c.manifest("unknown.yaml", &unknown);
    let err = c.fails(&["apply", "-f", &f]);
    assert!(err.contains("strict decoding error: unknown field \"spec.foo\""), "{err}");
    assert!(err.contains("Error from server (BadRequest)"), "{err}");

    // A stale update: replace with an old resourceVersion after someone else wrote.
    let stale = c.manifest("stale.json", &before.to_string());
    c.ok(&["label", "sts", "statefulset-kubia-v1", "tier=db"]);
    let err = c.fails(&["replace", "-f", &stale]);
    assert!(
        err.contains("Error from server (Conflict)") && err.contains("Operation cannot be fulfilled on statefulsets.apps \"statefulset-kubia-v1\": the object has been modified; please apply your changes to the latest version and try again"),
        "{err}"
    );

    let err = c.fails(&["get", "sts", "nope"]);
    assert!(err.contains("Error from server (NotFound): statefulsets.apps \"nope\" not found"), "{err}");

    // None of the refused requests stored anything.
    let after = c.json(&["get", "sts", "statefulset-kubia-v1"]);
    assert_eq!(after["spec"], before["spec"]);
    let names = c.ok(&["get", "sts", "-o", "name"]);
    assert_eq!(names, "statefulset.apps/statefulset-kubia-v1\n");
    let err = c.fails(&["get", "cm", "Bad_Name"]);
    assert!(err.contains("NotFound"), "{err}");
}

#[test]
fn requests_without_valid_credentials_get_401() {
    let c = Cluster::start();
    let err = c.fails(&["--token", "not-the-token", "get", "ns"]);
    assert!(err.contains("error: You must be logged in to the server"), "{err}");
    // The kubeconfig is private to its owner.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(c.kubeconfig()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn get_watch_streams_changes() {
    let c = Cluster::start();
    let cache = tempfile::tempdir().unwrap();
    let mut watcher = Command::new(kubectl_binary())
        .arg("--kubeconfig")
        .arg(c.kubeconfig())
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["get", "pods", "-w"])
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
    // Give the watch time to start, then create pods and expect their rows to stream in.
    std::thread::sleep(Duration::from_millis(1500));
    c.ok(&["run", "pet-a", "--image=luksa/kubia-pet", "--restart=Never"]);
    c.ok(&["run", "pet-b", "--image=luksa/kubia-pet", "--restart=Never"]);
    let mut seen = String::new();
    let got_both = eventually(Duration::from_secs(20), || {
        while let Ok(l) = rx.try_recv() {
            seen.push_str(&l);
            seen.push('\n');
        }
        seen.contains("pet-a") && seen.contains("pet-b")
    });
    let _ = watcher.kill();
    let _ = watcher.wait();
    assert!(got_both, "watch printed:\n{seen}");
    assert!(seen.contains("Pending"), "{seen}");
}

#[test]
fn deleting_a_namespace_deletes_its_content() {
    let c = Cluster::start();
    assert_eq!(c.ok(&["create", "namespace", "scratch"]), "namespace/scratch created\n");
    c.ok(&["-n", "scratch", "create", "configmap", "settings", "--from-literal=a=b"]);
    c.ok(&["-n", "scratch", "run", "pet", "--image=luksa/kubia-pet", "--restart=Never"]);
    assert_eq!(c.ok(&["delete", "namespace", "scratch"]), "namespace \"scratch\" deleted\n");
    let err = c.fails(&["get", "namespace", "scratch"]);
    assert!(err.contains("NotFound"), "{err}");
    let out = c.ok(&["-n", "scratch", "get", "configmaps,pods"]);
    assert!(!out.contains("settings") && !out.contains("pet"), "{out}");
    let err = c.fails(&["delete", "namespace", "default"]);
    assert!(err.contains("Forbidden"), "{err}");
    let err = c.fails(&["-n", "nowhere", "create", "configmap", "x"]);
    assert!(err.contains("namespaces \"nowhere\" not found"), "{err}");
}

const EVENT: &str = r#"apiVersion: v1
kind: Event
metadata:
  name: pet.17a1b2c3d4e5f601
involvedObject:
  kind: Pod
  name: pet
  namespace: default
reason: Testing
message: kept until the TTL passes
type: Normal
source:
  component: e2e
"#;

#[test]
fn events_expire_after_the_event_ttl() {
    let c = Cluster::start_with(&["--event-ttl", "3s"]);
    c.ok(&["create", "-f", &c.manifest("event.yaml", EVENT)]);
    let stored = c.ok(&["get", "events", "pet.17a1b2c3d4e5f601", "-o", "jsonpath={.reason}"]);
    assert_eq!(stored, "Testing");
    // Gone some seconds later (swept every 1 s), as an etcd lease would drop it upstream.
    assert!(
        eventually(Duration::from_secs(20), || !c.kubectl(&["get", "events", "pet.17a1b2c3d4e5f601"]).status.success()),
        "{}",
        c.ok(&["get", "events"])
    );
    let err = c.fails(&["get", "events", "pet.17a1b2c3d4e5f601"]);
    assert!(err.contains(r#"events "pet.17a1b2c3d4e5f601" not found"#), "{err}");
}
