//! PodDisruptionBudgets: `kubectl create/get/describe pdb`, the disruption controller's status,
//! and evictions honouring the budget, so `kubectl drain` of a node holding two replicas of a
//! 3-replica StatefulSet with `--max-unavailable=1` takes them down one at a time.

use std::time::Duration;

use crate::harness::{eventually, rows, Cluster};

const STS: &str = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: web}\nspec:\n  serviceName: web\n  replicas: 3\n  podManagementPolicy: Parallel\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers: [{name: c, image: nginx}]\n";

/// `kubectl get pdb web` columns after NAME: MIN AVAILABLE, MAX UNAVAILABLE, ALLOWED DISRUPTIONS.
fn pdb_row(c: &Cluster) -> Vec<String> {
    rows(&c.ok(&["get", "pdb", "web", "--no-headers"])).into_iter().next().unwrap_or_default()
}

fn pods_wide(c: &Cluster) -> Vec<Vec<String>> {
    rows(&c.ok(&["get", "pods", "--no-headers", "-o", "wide"]))
}

fn all_ready(c: &Cluster) -> bool {
    let r = pods_wide(c);
    r.len() == 3 && r.iter().all(|r| r[1] == "1/1" && r[2] == "Running")
}

fn evict(c: &Cluster, pod: &str) -> std::process::Output {
    let body = format!(r#"{{"apiVersion":"policy/v1","kind":"Eviction","metadata":{{"name":"{pod}","namespace":"default"}}}}"#);
    let f = c.manifest(&format!("evict-{pod}.json"), &body);
    c.kubectl(&["create", "--raw", &format!("/api/v1/namespaces/default/pods/{pod}/eviction"), "-f", &f])
}

#[test]
fn drain_respects_the_disruption_budget() {
    let c = Cluster::start_with(&["--simulated-nodes", "2"]);
    assert!(eventually(Duration::from_secs(20), || c.ok(&["get", "nodes", "--no-headers"]).matches(" Ready ").count() == 2));
    c.ok(&["apply", "-f", &c.manifest("sts.yaml", STS)]);
    let out = c.ok(&["create", "pdb", "web", "--selector=app=web", "--max-unavailable=1"]);
    assert_eq!(out.trim(), "poddisruptionbudget.policy/web created");
    assert!(eventually(Duration::from_secs(60), || all_ready(&c)), "{}", c.ok(&["get", "pods", "-o", "wide"]));
    let header = c.ok(&["get", "pdb"]);
    assert!(header.starts_with("NAME   MIN AVAILABLE   MAX UNAVAILABLE   ALLOWED DISRUPTIONS   AGE"), "{header}");
    assert!(eventually(Duration::from_secs(20), || pdb_row(&c)[1..4] == ["N/A", "1", "1"]), "{:?}", pdb_row(&c));
    let status = c.json(&["get", "pdb", "web"])["status"].clone();
    assert_eq!((status["expectedPods"].as_i64(), status["desiredHealthy"].as_i64(), status["currentHealthy"].as_i64()), (Some(3), Some(2), Some(3)));
    assert_eq!(status["conditions"][0]["reason"], "SufficientPods");
    let described = c.ok(&["describe", "pdb", "web"]);
    assert!(described.contains("Max unavailable:") && described.contains("Allowed disruptions:  1"), "{described}");

    // Drain the node holding two replicas: the second eviction is refused until the first
    // pod's replacement is Ready elsewhere.
    let on = |node: &str| pods_wide(&c).into_iter().filter(|r| r[6] == node).count();
    let busy = if on("sim-1") >= 2 { "sim-1" } else { "sim-2" };
    let out = c.kubectl(&["drain", busy, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=90s"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("Cannot evict pod as it would violate the pod's disruption budget."), "{stderr}");
    assert!(stdout.contains(&format!("node/{busy} drained")), "{stdout}");
    assert!(eventually(Duration::from_secs(60), || all_ready(&c) && on(busy) == 0), "{}", c.ok(&["get", "pods", "-o", "wide"]));

    // Direct evictions: the first spends the budget, the next is refused with 429. Both
    // nodes cordoned, so the evicted pod's replacement cannot come back and refill it.
    assert!(eventually(Duration::from_secs(20), || pdb_row(&c)[3] == "1"), "{:?}", pdb_row(&c));
    c.ok(&["cordon", "sim-1", "sim-2"]);
    let first = evict(&c, "web-0");
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let second = evict(&c, "web-1");
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success());
    assert!(err.contains("TooManyRequests") || err.contains("429"), "{err}");
    assert!(err.contains("Cannot evict pod as it would violate the pod's disruption budget."), "{err}");
    let status = |f: &str| c.json(&["get", "pdb", "web"])["status"][f].as_i64();
    assert!(eventually(Duration::from_secs(20), || status("currentHealthy") == Some(2)), "{:?}", c.json(&["get", "pdb", "web"]));
    assert_eq!(status("disruptionsAllowed"), Some(0));
    assert_eq!(pdb_row(&c)[3], "0");

    // Exactly one of minAvailable and maxUnavailable.
    let bad = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: bad}\nspec:\n  minAvailable: 1\n  maxUnavailable: 1\n  selector: {matchLabels: {app: web}}\n";
    let err = c.fails(&["create", "-f", &c.manifest("bad.yaml", bad)]);
    assert!(err.contains(r#"The PodDisruptionBudget "bad" is invalid: spec: Invalid value"#), "{err}");
    assert!(err.contains("minAvailable and maxUnavailable cannot be both set"), "{err}");
}
