//! The garbage collector (`berth_controllers::gc`) against a real `berth up`: ownerReferences
//! written with `kubectl apply`, owners deleted with `kubectl delete`, the collector running
//! in-process with a kube client from the cluster's kubeconfig.

use std::time::Duration;

use berth_controllers::gc;
use serde_json::Value;

use crate::harness::{eventually, Cluster};

/// The collector running on its own runtime for as long as this lives.
struct RunningGc {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    rt: Option<tokio::runtime::Runtime>,
}

impl RunningGc {
    fn start(c: &Cluster, options: gc::Options) -> RunningGc {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let kubeconfig = kube::config::Kubeconfig::read_from(c.kubeconfig()).unwrap();
        let client = rt.block_on(async {
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.unwrap();
            kube::Client::try_from(config).unwrap()
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        rt.spawn(gc::run_with(client, options, async {
            let _ = rx.await;
        }));
        RunningGc { stop: Some(tx), rt: Some(rt) }
    }
}

impl Drop for RunningGc {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

fn uid_of(c: &Cluster, kind: &str, name: &str) -> String {
    c.json(&["get", kind, name])["metadata"]["uid"].as_str().unwrap().to_string()
}

fn exists(c: &Cluster, kind: &str, name: &str) -> bool {
    let out = c.kubectl(&["get", kind, name, "-o", "name"]);
    if out.status.success() {
        return true;
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("NotFound") || stderr.contains("not found"), "kubectl get {kind} {name}: {stderr}");
    false
}

/// A ConfigMap manifest owned by the given (apiVersion, kind, name, uid, blockOwnerDeletion).
fn owned_configmap(name: &str, owners: &[(&str, &str, &str, &str, bool)], finalizers: &[&str]) -> String {
    let mut y = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n");
    if !finalizers.is_empty() {
        y.push_str("  finalizers:\n");
        for f in finalizers {
            y.push_str(&format!("  - {f}\n"));
        }
    }
    y.push_str("  ownerReferences:\n");
    for (api_version, kind, owner, uid, block) in owners {
        y.push_str(&format!(
            "  - apiVersion: {api_version}\n    kind: {kind}\n    name: {owner}\n    uid: {uid}\n    blockOwnerDeletion: {block}\n"
        ));
    }
    y.push_str("data:\n  k: v\n");
    y
}

fn apply(c: &Cluster, file: &str, yaml: &str) {
    let path = c.manifest(file, yaml);
    c.ok(&["apply", "-f", &path]);
}

fn owner_uids(c: &Cluster, kind: &str, name: &str) -> Vec<String> {
    let o = c.json(&["get", kind, name]);
    o["metadata"]["ownerReferences"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["uid"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn background_deletion_collects_dependents_and_prunes_shared_ones() {
    let c = Cluster::start_with(&["--disable", "gc"]);
    let _gc = RunningGc::start(&c, gc::Options::default());
    c.ok(&["create", "configmap", "owner", "--from-literal=a=1"]);
    c.ok(&["create", "configmap", "keeper", "--from-literal=a=1"]);
    let owner = uid_of(&c, "configmap", "owner");
    let keeper = uid_of(&c, "configmap", "keeper");
    apply(&c, "dep.yaml", &owned_configmap("dep", &[("v1", "ConfigMap", "owner", &owner, false)], &[]));
    apply(
        &c,
        "shared.yaml",
        &owned_configmap(
            "shared",
            &[("v1", "ConfigMap", "owner", &owner, true), ("v1", "ConfigMap", "keeper", &keeper, false)],
            &[],
        ),
    );
    // Owners alive: the collector leaves everything alone.
    std::thread::sleep(Duration::from_secs(2));
    assert!(exists(&c, "configmap", "dep"));
    assert_eq!(owner_uids(&c, "configmap", "shared"), vec![owner.clone(), keeper.clone()]);

    c.ok(&["delete", "configmap", "owner"]);
    assert!(eventually(WAIT, || !exists(&c, "configmap", "dep")), "dep outlived its only owner");
    assert!(
        eventually(WAIT, || owner_uids(&c, "configmap", "shared") == vec![keeper.clone()]),
        "shared should keep only its live owner's ref: {:?}",
        owner_uids(&c, "configmap", "shared")
    );
    assert!(exists(&c, "configmap", "shared"));
    assert!(exists(&c, "configmap", "keeper"));
}

#[test]
fn dangling_refs_are_collected_only_after_a_live_check() {
    let c = Cluster::start_with(&["--disable", "gc"]);
    // Secrets unwatched: the collector never observes a Secret owner, so only its live GET
    // can tell that the owner exists.
    let options = gc::Options {
        resync_period: Duration::from_secs(2),
        ignored_resources: vec![(String::new(), "events".into()), (String::new(), "secrets".into())],
        ..gc::Options::default()
    };
    c.ok(&["create", "secret", "generic", "unseen-owner", "--from-literal=a=1"]);
    c.ok(&["create", "configmap", "namesake", "--from-literal=a=1"]);
    let secret = uid_of(&c, "secret", "unseen-owner");
    apply(&c, "of-secret.yaml", &owned_configmap("of-secret", &[("v1", "Secret", "unseen-owner", &secret, false)], &[]));
    apply(
        &c,
        "of-ghost.yaml",
        &owned_configmap("of-ghost", &[("v1", "ConfigMap", "ghost", "6a1c5fd2-0000-4000-8000-000000000000", false)], &[]),
    );
    // The owner's name exists, but with another uid: it is not the owner.
    apply(
        &c,
        "of-namesake.yaml",
        &owned_configmap("of-namesake", &[("v1", "ConfigMap", "namesake", "6a1c5fd2-0000-4000-8000-000000000001", false)], &[]),
    );
    let _gc = RunningGc::start(&c, options);
    assert!(eventually(WAIT, || !exists(&c, "configmap", "of-ghost")), "owner that never existed");
    assert!(eventually(WAIT, || !exists(&c, "configmap", "of-namesake")), "owner with another uid");
    // Several resyncs later the dependent of the live but unobserved owner is still there.
    std::thread::sleep(Duration::from_secs(5));
    assert!(exists(&c, "configmap", "of-secret"), "collected although its owner exists");
    assert!(exists(&c, "configmap", "namesake"));

    // The collector does not see this delete; its next resync GETs the owner and finds it gone.
    c.ok(&["delete", "secret", "unseen-owner"]);
    assert!(eventually(WAIT, || !exists(&c, "configmap", "of-secret")), "dependent of a deleted unobserved owner");
}

// Orphan and Foreground need the API server to add the `orphan` / `foregroundDeletion`
// finalizers on DELETE (upstream `deletionFinalizersForGarbageCollection`); until
// crates/apiserver/src/rest/delete.rs does, it treats both like Background.

#[test]
fn orphan_deletion_keeps_dependents_without_the_ref() {
    let c = Cluster::start_with(&["--disable", "gc"]);
    let _gc = RunningGc::start(&c, gc::Options::default());
    c.ok(&["create", "configmap", "owner", "--from-literal=a=1"]);
    c.ok(&["create", "configmap", "other", "--from-literal=a=1"]);
    let owner = uid_of(&c, "configmap", "owner");
    let other = uid_of(&c, "configmap", "other");
    apply(&c, "dep.yaml", &owned_configmap("dep", &[("v1", "ConfigMap", "owner", &owner, true)], &[]));
    apply(
        &c,
        "both.yaml",
        &owned_configmap(
            "both",
            &[("v1", "ConfigMap", "owner", &owner, false), ("v1", "ConfigMap", "other", &other, false)],
            &[],
        ),
    );
    c.ok(&["delete", "configmap", "owner", "--cascade=orphan"]);
    assert!(eventually(WAIT, || !exists(&c, "configmap", "owner")), "owner kept by its orphan finalizer");
    assert!(exists(&c, "configmap", "dep"));
    assert_eq!(owner_uids(&c, "configmap", "dep"), Vec::<String>::new());
    assert_eq!(owner_uids(&c, "configmap", "both"), vec![other]);
}

#[test]
fn foreground_deletion_waits_for_blocking_dependents() {
    let c = Cluster::start_with(&["--disable", "gc"]);
    let _gc = RunningGc::start(&c, gc::Options::default());
    c.ok(&["create", "configmap", "owner", "--from-literal=a=1"]);
    let owner = uid_of(&c, "configmap", "owner");
    // The blocking dependent is held in Terminating by a finalizer of ours.
    apply(
        &c,
        "blocking.yaml",
        &owned_configmap("blocking", &[("v1", "ConfigMap", "owner", &owner, true)], &["example.com/hold"]),
    );
    apply(&c, "loose.yaml", &owned_configmap("loose", &[("v1", "ConfigMap", "owner", &owner, false)], &[]));
    c.ok(&["delete", "configmap", "owner", "--cascade=foreground", "--wait=false"]);
    let deleting = |name: &str| -> bool {
        let o: Value = c.json(&["get", "configmap", name]);
        o["metadata"]["deletionTimestamp"].is_string()
    };
    assert!(eventually(WAIT, || deleting("blocking")), "the blocking dependent is deleted first");
    assert!(eventually(WAIT, || !exists(&c, "configmap", "loose")), "non-blocking dependents are deleted too");
    // The owner waits, in Terminating with its finalizer, while the blocking dependent exists.
    std::thread::sleep(Duration::from_secs(2));
    let o = c.json(&["get", "configmap", "owner"]);
    assert!(o["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(o["metadata"]["finalizers"], serde_json::json!(["foregroundDeletion"]));

    c.ok(&["patch", "configmap", "blocking", "--type=merge", "-p", r#"{"metadata":{"finalizers":null}}"#]);
    assert!(eventually(WAIT, || !exists(&c, "configmap", "blocking")));
    assert!(eventually(WAIT, || !exists(&c, "configmap", "owner")), "owner kept after its dependents went");
}
