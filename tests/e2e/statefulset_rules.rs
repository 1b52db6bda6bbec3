//! The StatefulSet rules of issue 3's "Done when" list, each on `berth up --simulated-nodes 3`
//! with the real kubectl: partitions, OnDelete, rollback and `rollout status` messages,
//! `ordinals.start`, `minReadySeconds`, the four PVC retention policies, halting on an unready
//! pod, and one pod per identity across deletions.
//!
//! A simulated pod is made unready with the annotation `sim.berth.dev/ready=false` (the
//! simulated kubelet flips its Ready condition); the controller never touches pod annotations.

use std::collections::HashMap;
use std::io::BufReader;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{eventually, kubectl_binary, Cluster};

/// A StatefulSet `name` (pods labelled `app: <name>`) with extra `spec` lines (indented two
/// spaces) and a grace period of 1 s so deletions are quick.
fn set(name: &str, image: &str, spec: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: {name}\nspec:\n  serviceName: {name}\n\
         \x20 selector:\n    matchLabels: {{app: {name}}}\n{spec}\
         \x20 template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      terminationGracePeriodSeconds: 1\n\
         \x20     containers:\n      - name: c\n        image: {image}\n"
    )
}

fn cluster() -> Cluster {
    let c = Cluster::start_with(&["--simulated-nodes", "3"]);
    assert!(eventually(Duration::from_secs(20), || c.ok(&["get", "nodes"]).matches(" Ready ").count() == 3));
    c
}

fn apply(c: &Cluster, file: &str, yaml: &str) {
    let f = c.manifest(file, yaml);
    c.ok(&["apply", "-f", &f]);
}

/// Pods of set `app`, by name.
fn pods(c: &Cluster, app: &str) -> HashMap<String, Value> {
    let list = c.json(&["get", "pods", "-l", &format!("app={app}")]);
    list["items"].as_array().unwrap().iter().map(|p| (p["metadata"]["name"].as_str().unwrap().to_string(), p.clone())).collect()
}

fn sorted_names(c: &Cluster, app: &str) -> Vec<String> {
    let mut v: Vec<String> = pods(c, app).into_keys().collect();
    v.sort();
    v
}

fn status(c: &Cluster, name: &str, field: &str) -> String {
    let o = c.kubectl(&["get", "sts", name, "-o", &format!("jsonpath={{.status.{field}}}")]);
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn wait_ready(c: &Cluster, name: &str, n: usize) {
    assert!(
        eventually(Duration::from_secs(30), || status(c, name, "readyReplicas") == n.to_string()),
        "{name} did not reach {n} ready\n{}",
        c.ok(&["get", "pods", "-o", "wide"])
    );
}

fn hash(pod: &Value) -> String {
    pod["metadata"]["labels"]["controller-revision-hash"].as_str().unwrap_or_default().to_string()
}

fn image(pod: &Value) -> String {
    pod["spec"]["containers"][0]["image"].as_str().unwrap_or_default().to_string()
}

/// Delete `pod` and wait until a pod of that name with another uid is Running and Ready.
fn delete_and_wait_replacement(c: &Cluster, app: &str, pod: &str) -> Value {
    let old_uid = pods(c, app)[pod]["metadata"]["uid"].clone();
    c.ok(&["delete", "pod", pod]);
    let mut back = Value::Null;
    assert!(
        eventually(Duration::from_secs(30), || {
            back = pods(c, app).remove(pod).unwrap_or(Value::Null);
            back["metadata"]["uid"] != old_uid
                && back["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|k| k["type"] == "Ready" && k["status"] == "True"))
        }),
        "{pod} did not come back ready"
    );
    back
}

#[test]
fn partition_ondelete_undo_and_rollout_status_messages() {
    let c = cluster();

    // partition: 2 — only ordinal 2 moves to the new revision.
    let part = |img: &str| set("part", img, "  replicas: 3\n  updateStrategy:\n    type: RollingUpdate\n    rollingUpdate: {partition: 2}\n");
    apply(&c, "part.yaml", &part("luksa/kubia-pet"));
    wait_ready(&c, "part", 3);
    let first = status(&c, "part", "currentRevision");
    apply(&c, "part.yaml", &part("luksa/kubia-pet-peers"));
    let out = c.ok(&["rollout", "status", "sts/part", "--timeout=60s"]);
    assert!(out.contains("partitioned roll out complete: 1 new pods have been updated..."), "{out}");
    let update = status(&c, "part", "updateRevision");
    assert_ne!(update, first);
    assert_eq!(status(&c, "part", "currentRevision"), first, "a partitioned rollout leaves currentRevision");
    let p = pods(&c, "part");
    assert_eq!((hash(&p["part-2"]), image(&p["part-2"])), (update.clone(), "luksa/kubia-pet-peers".into()));
    for n in ["part-0", "part-1"] {
        assert_eq!((hash(&p[n]), image(&p[n])), (first.clone(), "luksa/kubia-pet".into()), "{n}");
    }
    assert_eq!(status(&c, "part", "updatedReplicas"), "1");
    assert_eq!(status(&c, "part", "currentReplicas"), "2");
    // A deleted pod below the partition comes back at the old revision.
    let back = delete_and_wait_replacement(&c, "part", "part-0");
    assert_eq!((hash(&back), image(&back)), (first.clone(), "luksa/kubia-pet".into()));
    // ... and the updated one at the new revision.
    let back = delete_and_wait_replacement(&c, "part", "part-2");
    assert_eq!((hash(&back), image(&back)), (update.clone(), "luksa/kubia-pet-peers".into()));

    // OnDelete: nothing changes until a pod is deleted; that one comes back updated.
    let ondelete = |img: &str| set("od", img, "  replicas: 2\n  updateStrategy: {type: OnDelete}\n");
    apply(&c, "od.yaml", &ondelete("luksa/kubia-pet"));
    wait_ready(&c, "od", 2);
    let od_first = status(&c, "od", "currentRevision");
    apply(&c, "od.yaml", &ondelete("luksa/kubia-pet-peers"));
    assert!(eventually(Duration::from_secs(10), || status(&c, "od", "updateRevision") != od_first));
    let od_update = status(&c, "od", "updateRevision");
    std::thread::sleep(Duration::from_secs(2));
    let p = pods(&c, "od");
    for n in ["od-0", "od-1"] {
        assert_eq!((hash(&p[n]), image(&p[n])), (od_first.clone(), "luksa/kubia-pet".into()), "OnDelete updated {n}");
    }
    let back = delete_and_wait_replacement(&c, "od", "od-1");
    assert_eq!((hash(&back), image(&back)), (od_update.clone(), "luksa/kubia-pet-peers".into()));
    assert_eq!(hash(&pods(&c, "od")["od-0"]), od_first, "od-0 untouched");
    let err = c.fails(&["rollout", "status", "sts/od"]);
    assert!(err.contains("rollout status is only available for RollingUpdate strategy type"), "{err}");

    // RollingUpdate without rollingUpdate settings: kubectl's "rolling update complete" form.
    let plain = |img: &str| set("plain", img, "  replicas: 3\n  updateStrategy: {type: RollingUpdate}\n");
    apply(&c, "plain.yaml", &plain("luksa/kubia-pet"));
    wait_ready(&c, "plain", 3);
    apply(&c, "plain.yaml", &plain("luksa/kubia-pet-peers"));
    let out = c.ok(&["rollout", "status", "sts/plain", "--timeout=60s"]);
    let rev2 = status(&c, "plain", "currentRevision");
    assert!(out.contains(&format!("statefulset rolling update complete 3 pods at revision {rev2}...")), "{out}");
    let revisions = |c: &Cluster| c.ok(&["get", "controllerrevisions", "-l", "app=plain", "-o", "name"]).lines().count();
    assert_eq!(revisions(&c), 2);
    let number = |c: &Cluster, rev: &str| c.ok(&["get", "controllerrevision", rev, "-o", "jsonpath={.revision}"]);
    let old = c.ok(&["get", "controllerrevisions", "-l", "app=plain", "-o", "jsonpath={.items[?(@.revision==1)].metadata.name}"]);
    assert!(!old.is_empty() && old != rev2);
    // Undo: the old revision is reused with its number bumped to 3; no new ControllerRevision.
    assert_eq!(c.ok(&["rollout", "undo", "sts/plain"]), "statefulset.apps/plain rolled back\n");
    let out = c.ok(&["rollout", "status", "sts/plain", "--timeout=60s"]);
    assert!(out.contains(&format!("statefulset rolling update complete 3 pods at revision {old}...")), "{out}");
    assert_eq!(revisions(&c), 2);
    assert_eq!(number(&c, &old), "3");
    assert_eq!(number(&c, &rev2), "2");
    assert!(pods(&c, "plain").values().all(|p| hash(p) == old && image(p) == "luksa/kubia-pet"));

    // An unready pod: "Waiting for 1 pods to be ready...".
    c.ok(&["annotate", "pod", "plain-1", "sim.berth.dev/ready=false"]);
    assert!(eventually(Duration::from_secs(10), || status(&c, "plain", "readyReplicas") == "2"));
    let out = c.ok(&["rollout", "status", "sts/plain", "--watch=false"]);
    assert_eq!(out, "Waiting for 1 pods to be ready...\n");
}

#[test]
fn ordinals_start_and_min_ready_seconds() {
    let c = cluster();
    apply(&c, "five.yaml", &set("five", "nginx", "  replicas: 3\n  ordinals: {start: 5}\n"));
    wait_ready(&c, "five", 3);
    assert_eq!(sorted_names(&c, "five"), ["five-5", "five-6", "five-7"]);
    let p = pods(&c, "five");
    assert_eq!(p["five-6"]["metadata"]["labels"]["apps.kubernetes.io/pod-index"], "6");
    c.ok(&["scale", "sts", "five", "--replicas=1"]);
    assert!(eventually(Duration::from_secs(30), || sorted_names(&c, "five") == ["five-5"]), "{:?}", sorted_names(&c, "five"));

    // minReadySeconds: ready pods are not available for 3 s, then they are.
    apply(&c, "slow.yaml", &set("slow", "nginx", "  replicas: 2\n  podManagementPolicy: Parallel\n  minReadySeconds: 3\n"));
    let mut seen_gap = false;
    let mut last = (String::new(), String::new());
    assert!(
        eventually(Duration::from_secs(30), || {
            last = (status(&c, "slow", "readyReplicas"), status(&c, "slow", "availableReplicas"));
            let available: i32 = last.1.parse().unwrap_or(0);
            let ready: i32 = last.0.parse().unwrap_or(0);
            seen_gap |= ready > available;
            seen_gap && ready == 2 && available == 2
        }),
        "ready/available: {last:?}, gap seen: {seen_gap}"
    );
    assert!(c.ok(&["get", "statefulset", "slow", "-o", "yaml"]).contains("availableReplicas: 2"));
}

/// Claims' ownerReferences as (kind, name) pairs.
fn claim_owners(c: &Cluster, claim: &str) -> Vec<(String, String)> {
    let pvc = c.json(&["get", "pvc", claim]);
    pvc["metadata"]["ownerReferences"]
        .as_array()
        .map(|refs| {
            refs.iter()
                .map(|r| {
                    assert_eq!(r["controller"], true, "{r}");
                    (r["kind"].as_str().unwrap().to_string(), r["name"].as_str().unwrap().to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn claim_exists(c: &Cluster, claim: &str) -> bool {
    c.kubectl(&["get", "pvc", claim]).status.success()
}

#[test]
fn the_four_retention_policies() {
    let c = cluster();
    // (set, whenDeleted, whenScaled). Parallel, so all pods and claims are created though the
    // claims stay unbound (no PVs) and the pods Pending.
    let cases = [("rr", "Retain", "Retain"), ("dr", "Delete", "Retain"), ("rd", "Retain", "Delete"), ("dd", "Delete", "Delete")];
    for (name, deleted, scaled) in cases {
        let spec = format!(
            "  replicas: 2\n  podManagementPolicy: Parallel\n  persistentVolumeClaimRetentionPolicy: {{whenDeleted: {deleted}, whenScaled: {scaled}}}\n\
             \x20 volumeClaimTemplates:\n  - metadata: {{name: data}}\n    spec:\n      accessModes: [ReadWriteOnce]\n      resources: {{requests: {{storage: 1Gi}}}}\n"
        );
        apply(&c, &format!("{name}.yaml"), &set(name, "nginx", &spec));
    }
    let set_ref = |name: &str| vec![("StatefulSet".to_string(), name.to_string())];
    let in_range = |name: &str| match name {
        "rr" | "rd" => vec![],
        _ => set_ref(name),
    };
    for (name, _, _) in cases {
        for i in 0..2 {
            let claim = format!("data-{name}-{i}");
            let want = in_range(name);
            let mut got = Vec::new();
            assert!(
                eventually(Duration::from_secs(20), || claim_exists(&c, &claim) && {
                    got = claim_owners(&c, &claim);
                    got == want
                }),
                "{claim}: owners {got:?}, want {want:?}"
            );
        }
        assert!(eventually(Duration::from_secs(20), || sorted_names(&c, name).len() == 2));
    }

    // Scale down to 1: whenScaled=Delete hands the condemned claim to its pod (the GC deletes
    // it with the pod); Retain keeps it with the in-range owners.
    for (name, _, _) in cases {
        c.ok(&["scale", "sts", name, "--replicas=1"]);
    }
    for (name, _, scaled) in cases {
        assert!(eventually(Duration::from_secs(30), || sorted_names(&c, name) == [format!("{name}-0")]), "{name}");
        let claim = format!("data-{name}-1");
        if scaled == "Delete" {
            assert!(eventually(Duration::from_secs(30), || !claim_exists(&c, &claim)), "{claim} kept: {:?}", claim_owners(&c, &claim));
        } else {
            std::thread::sleep(Duration::from_millis(300));
            assert!(claim_exists(&c, &claim), "{claim} deleted on scale-down with whenScaled=Retain");
            assert_eq!(claim_owners(&c, &claim), in_range(name), "{claim}");
        }
    }

    // Delete the sets: whenDeleted=Delete claims go with the set (GC), Retain ones stay, with
    // no owner left that would delete them.
    for (name, _, _) in cases {
        c.ok(&["delete", "sts", name]);
    }
    for (name, deleted, _) in cases {
        let claim = format!("data-{name}-0");
        if deleted == "Delete" {
            assert!(eventually(Duration::from_secs(30), || !claim_exists(&c, &claim)), "{claim} kept after set deletion");
        } else {
            assert!(eventually(Duration::from_secs(30), || sorted_names(&c, name).is_empty()));
            assert!(claim_exists(&c, &claim), "{claim} deleted with whenDeleted=Retain");
            assert!(claim_owners(&c, &claim).is_empty());
        }
    }
    // Claims of scaled-down ordinals follow whenDeleted too: the set still owns dr's.
    assert!(claim_exists(&c, "data-rr-1"), "data-rr-1 deleted");
    assert!(eventually(Duration::from_secs(30), || !claim_exists(&c, "data-dr-1")), "data-dr-1 kept after set deletion");
}

#[test]
fn an_unready_pod_halts_ordered_ready_but_not_parallel() {
    let c = cluster();
    apply(&c, "ord.yaml", &set("ord", "nginx", "  replicas: 3\n"));
    apply(&c, "par.yaml", &set("par", "nginx", "  replicas: 3\n  podManagementPolicy: Parallel\n"));
    wait_ready(&c, "ord", 3);
    wait_ready(&c, "par", 3);
    for p in ["ord-0", "par-0"] {
        c.ok(&["annotate", "pod", p, "sim.berth.dev/ready=false"]);
    }
    assert!(eventually(Duration::from_secs(10), || status(&c, "ord", "readyReplicas") == "2" && status(&c, "par", "readyReplicas") == "2"));

    // Scale up: Parallel creates, OrderedReady waits behind the unready ord-0.
    c.ok(&["scale", "sts", "ord", "--replicas=5"]);
    c.ok(&["scale", "sts", "par", "--replicas=5"]);
    wait_ready(&c, "par", 4);
    assert_eq!(sorted_names(&c, "par").len(), 5);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(sorted_names(&c, "ord"), ["ord-0", "ord-1", "ord-2"], "OrderedReady scaled up past an unready pod");

    // Scale down: Parallel deletes, OrderedReady keeps everything.
    c.ok(&["scale", "sts", "ord", "--replicas=1"]);
    c.ok(&["scale", "sts", "par", "--replicas=1"]);
    assert!(eventually(Duration::from_secs(30), || sorted_names(&c, "par") == ["par-0"]), "{:?}", sorted_names(&c, "par"));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(sorted_names(&c, "ord"), ["ord-0", "ord-1", "ord-2"], "OrderedReady scaled down past an unready pod");

    // Ready again: the scale-down proceeds, highest ordinal first.
    c.ok(&["annotate", "pod", "ord-0", "sim.berth.dev/ready=true", "--overwrite"]);
    assert!(eventually(Duration::from_secs(30), || sorted_names(&c, "ord") == ["ord-0"]), "{:?}", sorted_names(&c, "ord"));
}

/// (event type, pod name, pod uid) of each watch event, in order.
type WatchLog = Arc<Mutex<Vec<(String, String, String)>>>;

/// Watch events of pods (`kubectl get pods -w --output-watch-events -o json`), collected in
/// the background.
fn watch_pods(c: &Cluster, cache: &tempfile::TempDir) -> (std::process::Child, WatchLog) {
    let mut child = Command::new(kubectl_binary())
        .arg("--kubeconfig")
        .arg(c.kubeconfig())
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["get", "pods", "-w", "--output-watch-events", "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    std::thread::spawn(move || {
        for ev in serde_json::Deserializer::from_reader(BufReader::new(stdout)).into_iter::<Value>().map_while(Result::ok) {
            let o = &ev["object"]["metadata"];
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            sink.lock().unwrap().push((s(&ev["type"]), s(&o["name"]), s(&o["uid"])));
        }
    });
    (child, events)
}

#[test]
fn a_deleted_pod_comes_back_with_a_new_uid_and_never_twice() {
    let c = cluster();
    let cache = tempfile::tempdir().unwrap();
    let (mut watcher, events) = watch_pods(&c, &cache);
    std::thread::sleep(Duration::from_millis(800));
    apply(&c, "id.yaml", &set("id", "nginx", "  replicas: 3\n  podManagementPolicy: Parallel\n"));
    wait_ready(&c, "id", 3);
    let before = pods(&c, "id");
    // Delete all three at once (graceful, 1 s) and one again right after it is back.
    c.ok(&["delete", "pod", "id-0", "id-1", "id-2", "--wait=false"]);
    let mut now = HashMap::new();
    assert!(eventually(Duration::from_secs(30), || {
        now = pods(&c, "id");
        now.len() == 3 && now.iter().all(|(n, p)| p["metadata"]["uid"] != before[n]["metadata"]["uid"])
    }));
    delete_and_wait_replacement(&c, "id", "id-1");
    wait_ready(&c, "id", 3);
    std::thread::sleep(Duration::from_millis(500));
    let _ = watcher.kill();
    let _ = watcher.wait();

    // Replay the watch: at every event, each name has at most one live uid.
    let events = events.lock().unwrap().clone();
    let mut live: HashMap<String, String> = HashMap::new();
    let mut uids: HashMap<String, Vec<String>> = HashMap::new();
    for (kind, name, uid) in &events {
        match kind.as_str() {
            "ADDED" | "MODIFIED" => {
                if let Some(other) = live.get(name) {
                    assert_eq!(other, uid, "two pods named {name} at once: {events:?}");
                }
                live.insert(name.clone(), uid.clone());
                let seen = uids.entry(name.clone()).or_default();
                if !seen.contains(uid) {
                    seen.push(uid.clone());
                }
            }
            "DELETED" => {
                assert_eq!(live.remove(name).as_ref(), Some(uid), "{name} deleted while not live: {events:?}");
            }
            other => panic!("unexpected watch event {other}"),
        }
    }
    assert_eq!(uids["id-0"].len(), 2, "{events:?}");
    assert_eq!(uids["id-1"].len(), 3, "{events:?}");
    assert_eq!(uids["id-2"].len(), 2, "{events:?}");
}
