//! Acknowledged writes survive `kill -9`, and a restart resumes the same cluster.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::{kubectl_binary, Cluster};

#[test]
fn acknowledged_creates_survive_kill_9() {
    let mut c = Cluster::start();
    let acked: Arc<Mutex<BTreeMap<String, (String, String)>>> = Default::default();
    let stop_at = Instant::now() + Duration::from_millis(2500);
    let mut workers = Vec::new();
    for w in 0..4 {
        let acked = acked.clone();
        let kubeconfig = c.kubeconfig();
        let cache = tempfile::tempdir().unwrap();
        workers.push(std::thread::spawn(move || {
            let mut i = 0;
            while Instant::now() < stop_at + Duration::from_secs(2) {
                let name = format!("burst-{w}-{i}");
                i += 1;
                let out = Command::new(kubectl_binary())
                    .arg("--kubeconfig")
                    .arg(&kubeconfig)
                    .arg("--cache-dir")
                    .arg(cache.path())
                    .args(["create", "configmap", &name, "--from-literal=k=v", "-o", "json"])
                    .stdin(Stdio::null())
                    .output()
                    .unwrap();
                if !out.status.success() {
                    continue;
                }
                // Only creates whose full response arrived count as acknowledged.
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) {
                    let uid = v["metadata"]["uid"].as_str().unwrap_or_default().to_string();
                    let rv = v["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string();
                    acked.lock().unwrap().insert(name, (uid, rv));
                }
            }
        }));
    }
    while Instant::now() < stop_at {
        std::thread::sleep(Duration::from_millis(50));
    }
    c.kill9();
    for w in workers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 4, "the burst should have created something before the kill ({})", acked.len());

    c.boot();
    let list = c.json(&["get", "configmaps"]);
    let stored: BTreeMap<String, (String, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["metadata"]["name"].as_str().unwrap().to_string(),
                (
                    i["metadata"]["uid"].as_str().unwrap().to_string(),
                    i["metadata"]["resourceVersion"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect();
    for (name, ids) in &acked {
        assert_eq!(stored.get(name), Some(ids), "acknowledged create of {name} lost or changed");
    }
    // The same cluster resumed: same credentials, same namespaces.
    assert!(c.ok(&["get", "ns", "default", "-o", "name"]).contains("namespace/default"));
    assert!(c.stop(), "berth exits cleanly on SIGTERM");
}
