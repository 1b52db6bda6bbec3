//! `berth store migrate`: a cluster grown on SQLite moves onto etcd (over TLS with a client
//! certificate, kube-apiserver's `--etcd-cafile/certfile/keyfile`) and resumes there with the
//! same objects (uids, contents, resourceVersion order), the same credentials, and controllers
//! that still reconcile. The command refuses while the server runs and when the etcd prefix is
//! taken, writing nothing; afterwards `berth up` refuses the stale SQLite copy.

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::Duration;

use berth_store::etcd::testing::EtcdServer;
use berth_store::Store;

use crate::harness::{eventually, Cluster};
use crate::manifests;

const KINDS: &str = "pods,pvc,pv,sts,svc,cm,sa,ns,nodes,leases";

fn berth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth")).args(args).output().expect("run berth")
}

/// Runs berth expecting it to exit by itself; kills it (by its own handle) after `limit`.
fn berth_within(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run berth");
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("berth {args:?} did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// uid → (kind/namespace/name, resourceVersion) of every object of [`KINDS`].
fn objects(c: &Cluster) -> BTreeMap<String, (String, i64)> {
    let list = c.json(&["get", KINDS, "-A"]);
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let m = &o["metadata"];
            let name = format!("{}/{}/{}", o["kind"].as_str().unwrap(), m["namespace"].as_str().unwrap_or(""), m["name"].as_str().unwrap());
            let rv = m["resourceVersion"].as_str().unwrap().parse().unwrap();
            (m["uid"].as_str().unwrap().to_string(), (name, rv))
        })
        .collect()
}

/// uid → mod_revision of every object in the stopped cluster's SQLite store.
fn sqlite_revisions(runtime: &tokio::runtime::Runtime, db: &std::path::Path) -> BTreeMap<String, i64> {
    runtime.block_on(async {
        let store = berth_store::SqliteStore::open(db).unwrap();
        let list = store.list("/", Default::default()).await.unwrap();
        list.items
            .iter()
            .filter_map(|kv| {
                let v: serde_json::Value = serde_json::from_slice(&kv.value).ok()?;
                Some((v["metadata"]["uid"].as_str()?.to_string(), kv.mod_revision))
            })
            .collect()
    })
}

#[test]
fn a_sqlite_cluster_migrates_onto_etcd_and_resumes_there() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(etcd) = runtime.block_on(EtcdServer::start_tls_or_skip()) else { return };
    let mut c = Cluster::start_with(&["--simulated-nodes", "1"]);
    c.ok(&["apply", "-f", &c.manifest("pv.yaml", manifests::PV_LIST)]);
    c.ok(&["apply", "-f", &c.manifest("svc.yaml", manifests::SERVICE)]);
    c.ok(&["apply", "-f", &c.manifest("sts.yaml", &manifests::statefulset("luksa/kubia-pet"))]);
    c.ok(&["create", "configmap", "settings", "--from-literal=mode=grown"]);
    c.ok(&["create", "namespace", "team-a"]);
    c.ok(&["create", "configmap", "other", "-n", "team-a", "--from-literal=k=v"]);
    assert!(
        eventually(Duration::from_secs(90), || {
            let o = c.kubectl(&["get", "sts", "statefulset-kubia-v1", "-o", "jsonpath={.status.readyReplicas}"]);
            String::from_utf8_lossy(&o.stdout) == "3"
        }),
        "{}",
        c.ok(&["get", "pods,pvc,pv"])
    );
    let before = objects(&c);
    let kubeconfig = std::fs::read_to_string(c.kubeconfig()).unwrap();
    let dir = c.dir.path().to_str().unwrap().to_string();
    let endpoint = etcd.endpoint().to_string();
    let pki = etcd.pki().expect("a TLS etcd");
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let (ca, cert, key) = (path(&pki.ca_cert), path(&pki.client_cert), path(&pki.client_key));
    let tls = ["--etcd-cafile", ca.as_str(), "--etcd-certfile", cert.as_str(), "--etcd-keyfile", key.as_str()];
    let migrate = |extra: &[&str]| {
        let mut args = vec!["store", "migrate", "--data-dir", dir.as_str(), "--etcd-endpoints", endpoint.as_str()];
        args.extend(tls);
        args.extend(extra);
        berth(&args)
    };

    // While the server runs, the SQLite file is locked: refused, nothing written.
    let running = migrate(&[]);
    assert!(!running.status.success());
    assert!(text(&running).contains("a berth server is running"), "{}", text(&running));
    assert!(c.stop(), "berth exits cleanly on SIGTERM");

    // A prefix that already holds keys: refused, nothing written, no marker.
    let occupied = runtime.block_on(async {
        let mut options = etcd.options();
        options.prefix = "/occupied".into();
        let store = berth_store::EtcdStore::connect(options).await.unwrap();
        store.create("/registry/core/configmaps/default/squatter", "{}".into()).await.unwrap();
        store
    });
    let revision = runtime.block_on(occupied.current_revision()).unwrap();
    let refused = migrate(&["--etcd-prefix", "/occupied"]);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("already holds keys"), "{}", text(&refused));
    assert_eq!(runtime.block_on(occupied.current_revision()).unwrap(), revision, "nothing was written");
    assert!(!c.dir.path().join("migrated-to-etcd").exists());

    // Starting on the empty etcd before migrating is refused: it would fork the cluster.
    let mut up = vec!["up", "--data-dir", dir.as_str(), "--listen", "127.0.0.1:0", "--etcd-endpoints", endpoint.as_str()];
    up.extend(tls);
    let unmigrated = berth_within(&up, Duration::from_secs(30));
    assert!(!unmigrated.status.success());
    assert!(text(&unmigrated).contains("berth store migrate"), "{}", text(&unmigrated));

    let source = sqlite_revisions(&runtime, &c.dir.path().join("store.db"));
    let migrated = migrate(&[]);
    assert!(migrated.status.success(), "{}", text(&migrated));
    let summary = String::from_utf8_lossy(&migrated.stdout).to_string();
    let copied: usize = summary
        .strip_prefix("copied ")
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("summary counts the objects: {summary}"));
    assert!(copied >= source.len() && source.len() >= before.len(), "{summary}");
    let target_revision: i64 = summary
        .split("etcd revision ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("summary names the etcd revision: {summary}"));

    // The stale SQLite copy is refused from now on.
    let stale = berth_within(&["up", "--data-dir", &dir, "--listen", "127.0.0.1:0"], Duration::from_secs(30));
    assert!(!stale.status.success());
    assert!(text(&stale).contains("migrated to etcd"), "{}", text(&stale));

    let mut flags = vec!["--simulated-nodes", "1", "--etcd-endpoints", endpoint.as_str()];
    flags.extend(tls);
    c.set_flags(&flags);
    c.boot();
    assert_eq!(std::fs::read_to_string(c.kubeconfig()).unwrap(), kubeconfig, "same credentials");
    let after = objects(&c);
    for (uid, (name, _)) in &before {
        let found = after.get(uid).map(|(n, _)| n.as_str());
        assert_eq!(found, Some(name.as_str()), "{name} (uid {uid}) after the migration");
    }
    // Objects not written since the migration keep their relative resourceVersion order.
    let mut unchanged: Vec<(i64, i64, &str)> = after
        .iter()
        .filter(|(_, (_, rv))| *rv <= target_revision)
        .map(|(uid, (name, rv))| (source[uid], *rv, name.as_str()))
        .collect();
    assert!(unchanged.len() >= before.len() / 2, "most objects are untouched: {unchanged:?}");
    unchanged.sort();
    for pair in unchanged.windows(2) {
        assert!(pair[0].1 < pair[1].1, "resourceVersion order changed: {pair:?}");
    }

    // The StatefulSet still reconciles on etcd: a deleted pod comes back (a new uid).
    let old_uid = c.ok(&["get", "pod", "statefulset-kubia-v1-1", "-o", "jsonpath={.metadata.uid}"]);
    c.ok(&["delete", "pod", "statefulset-kubia-v1-1"]);
    assert!(eventually(Duration::from_secs(60), || {
        let o = c.kubectl(&["get", "pod", "statefulset-kubia-v1-1", "-o", "jsonpath={.metadata.uid} {.status.phase}"]);
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        out.ends_with(" Running") && !out.starts_with(&old_uid)
    }));
    assert_eq!(c.ok(&["get", "cm", "other", "-n", "team-a", "-o", "jsonpath={.data.k}"]), "v");
    // The objects are in etcd under upstream's layout.
    let in_etcd = runtime.block_on(async {
        let store = berth_store::EtcdStore::connect(etcd.options()).await.unwrap();
        store.get("/registry/core/configmaps/default/settings").await.unwrap()
    });
    assert!(in_etcd.is_some(), "the ConfigMap is stored in etcd");
    assert!(c.stop());
}
