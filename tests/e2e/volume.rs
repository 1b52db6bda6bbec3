//! The PersistentVolume controller against a real `berth up`, driven by kubectl: binding,
//! `FailedBinding` with repeat counts, Retain → Released, and hostPath Recycle.
//!
//! The controller runs in this test process (a client from the cluster's kubeconfig). Once
//! `berth up` starts it itself, two controllers run; the binder is written for that
//! (every write is a resourceVersion-checked PUT, a lost race is a Conflict and a retry),
//! and the assertions below hold either way — only event counts could grow faster, so they
//! are checked as "at least".

use std::time::Duration;

use crate::harness::{eventually, rows, Cluster};
use crate::manifests;

/// The controller, running on its own runtime until dropped.
struct Controller {
    /// Owns the threads the controller's tasks run on; dropped (and stopped) with it.
    _rt: tokio::runtime::Runtime,
    task: tokio::task::JoinHandle<()>,
}

impl Controller {
    fn start(c: &Cluster) -> Controller {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let client = rt.block_on(async {
            let kubeconfig = kube::config::Kubeconfig::read_from(c.kubeconfig()).unwrap();
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.unwrap();
            kube::Client::try_from(config).unwrap()
        });
        let task = {
            let _runtime = rt.enter();
            let recorder = berth_runtime::EventRecorder::new(client.clone(), berth_controllers::volume::COMPONENT);
            let config = berth_controllers::volume::runner::Config { storage_root: c.dir.path().join("storage") };
            berth_controllers::volume::runner::spawn(client, recorder, config)
        };
        Controller { _rt: rt, task }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The `kubectl get` row whose first column is `name`.
fn row(out: &str, name: &str) -> Vec<String> {
    rows(out).into_iter().find(|r| r.first().map(String::as_str) == Some(name)).unwrap_or_default()
}

fn claim(name: &str, class: Option<&str>) -> String {
    let class = class.map(|c| format!("  storageClassName: \"{c}\"\n")).unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\nspec:\n{class}  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Gi\n"
    )
}

fn host_path_volume(name: &str, class: &str, policy: &str, path: &str) -> String {
    format!(
        "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: {name}\nspec:\n  capacity:\n    storage: 1Gi\n  accessModes: [ReadWriteOnce]\n  persistentVolumeReclaimPolicy: {policy}\n  storageClassName: {class}\n  hostPath:\n    path: {path}\n"
    )
}

/// A scratch directory directly under /tmp (the only place berth recycles), removed on drop.
struct TmpDir(std::path::PathBuf);

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn persistent_volume_controller_binds_releases_and_recycles() {
    let c = Cluster::start_with(&["--disable", "volume", "--default-storage-class", "none"]); // runs its own controller in-process
    let _controller = Controller::start(&c);
    let wait = Duration::from_secs(20);

    // A claim nothing can satisfy, first: its FailedBinding repeats while the rest runs.
    c.ok(&["apply", "-f", &c.manifest("orphan.yaml", &claim("orphan", None))]);

    // The walkthrough's three nfs volumes become Available.
    c.ok(&["apply", "-f", &c.manifest("pvs.yaml", manifests::PV_LIST)]);
    assert!(
        eventually(wait, || {
            let out = c.ok(&["get", "pv"]);
            ["pv-1", "pv-2", "pv-3"].iter().all(|n| row(&out, n).get(4).map(String::as_str) == Some("Available"))
        }),
        "{}",
        c.ok(&["get", "pv"])
    );

    // A 1Gi RWO claim of class nfs binds to one of them.
    c.ok(&["apply", "-f", &c.manifest("data.yaml", &claim("data", Some("nfs")))]);
    assert!(
        eventually(wait, || row(&c.ok(&["get", "pvc", "data"]), "data").get(1).map(String::as_str) == Some("Bound")),
        "{}",
        c.ok(&["describe", "pvc", "data"])
    );
    let r = row(&c.ok(&["get", "pvc", "data"]), "data");
    // NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE
    assert!(r[2].starts_with("pv-"), "{r:?}");
    assert_eq!((r[3].as_str(), r[4].as_str(), r[5].as_str()), ("1Gi", "RWO", "nfs"), "{r:?}");
    let volume = r[2].clone();
    let out = c.ok(&["get", "pv"]);
    let pv = row(&out, &volume);
    // NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS ...
    assert_eq!((pv[4].as_str(), pv[5].as_str()), ("Bound", "default/data"), "{out}");
    let others: Vec<_> = ["pv-1", "pv-2", "pv-3"].into_iter().filter(|n| *n != volume).collect();
    for n in others {
        assert_eq!(row(&out, n)[4], "Available", "{out}");
    }
    let pvc = c.json(&["get", "pvc", "data"]);
    assert_eq!(pvc["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"], "yes");
    assert_eq!(pvc["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"], "yes");
    let pvj = c.json(&["get", "pv", &volume]);
    assert_eq!(pvj["spec"]["claimRef"]["uid"], pvc["metadata"]["uid"]);
    assert_eq!(pvj["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"], "yes");

    // The class-less claim: Normal FailedBinding.
    let describe = c.ok(&["describe", "pvc", "orphan"]);
    assert!(describe.contains("Pending"), "{describe}");
    let failed = |d: &str| {
        d.lines().any(|l| {
            l.contains("Normal")
                && l.contains("FailedBinding")
                && l.contains("persistentvolume-controller")
                && l.contains("no persistent volumes available for this claim and no storage class is set")
        })
    };
    assert!(eventually(wait, || failed(&c.ok(&["describe", "pvc", "orphan"]))), "{}", c.ok(&["describe", "pvc", "orphan"]));

    // Retain: deleting the claim leaves the hostPath volume Released, still naming it.
    let keep = TmpDir(std::path::PathBuf::from(format!("/tmp/berth-e2e-keep-{}", std::process::id())));
    std::fs::create_dir_all(&keep.0).unwrap();
    std::fs::write(keep.0.join("data"), "kept").unwrap();
    c.ok(&["apply", "-f", &c.manifest("keep-pv.yaml", &host_path_volume("keep", "manual", "Retain", keep.0.to_str().unwrap()))]);
    c.ok(&["apply", "-f", &c.manifest("keep-pvc.yaml", &claim("keep-claim", Some("manual")))]);
    assert!(eventually(wait, || row(&c.ok(&["get", "pv", "keep"]), "keep").get(4).map(String::as_str) == Some("Bound")));
    c.ok(&["delete", "pvc", "keep-claim"]);
    assert!(
        eventually(wait, || {
            let r = row(&c.ok(&["get", "pv", "keep"]), "keep");
            r.get(4).map(String::as_str) == Some("Released") && r.get(5).map(String::as_str) == Some("default/keep-claim")
        }),
        "{}",
        c.ok(&["get", "pv", "keep"])
    );
    assert!(keep.0.join("data").exists(), "Retain keeps the data");

    // Recycle: a hostPath volume under /tmp is scrubbed and Available again.
    let scratch = TmpDir(std::path::PathBuf::from(format!("/tmp/berth-e2e-scratch-{}", std::process::id())));
    std::fs::create_dir_all(scratch.0.join("sub")).unwrap();
    std::fs::write(scratch.0.join("file"), "old data").unwrap();
    std::fs::write(scratch.0.join("sub/nested"), "old data").unwrap();
    c.ok(&["apply", "-f", &c.manifest("scratch-pv.yaml", &host_path_volume("scratch", "scratch", "Recycle", scratch.0.to_str().unwrap()))]);
    c.ok(&["apply", "-f", &c.manifest("scratch-pvc.yaml", &claim("scratch-claim", Some("scratch")))]);
    assert!(eventually(wait, || row(&c.ok(&["get", "pv", "scratch"]), "scratch").get(4).map(String::as_str) == Some("Bound")));
    assert!(scratch.0.join("file").exists());
    c.ok(&["delete", "pvc", "scratch-claim"]);
    assert!(
        eventually(wait, || {
            let r = row(&c.ok(&["get", "pv", "scratch"]), "scratch");
            r.get(4).map(String::as_str) == Some("Available")
        }),
        "{}",
        c.ok(&["describe", "pv", "scratch"])
    );
    assert!(!scratch.0.join("file").exists() && !scratch.0.join("sub").exists(), "recycled volume scrubbed");
    assert!(scratch.0.is_dir(), "the directory itself stays");
    let pvj = c.json(&["get", "pv", "scratch"]);
    assert!(pvj["spec"].get("claimRef").is_none(), "{pvj}");
    let describe = c.ok(&["describe", "pv", "scratch"]);
    assert!(describe.lines().any(|l| l.contains("Normal") && l.contains("VolumeRecycled") && l.contains("Volume recycled")), "{describe}");

    // The resync re-emits FailedBinding every 15 s: the event is counted, not duplicated.
    assert!(
        eventually(Duration::from_secs(40), || {
            let d = c.ok(&["describe", "pvc", "orphan"]);
            d.lines().any(|l| l.contains("FailedBinding") && l.contains(" (x") && l.contains(" over "))
        }),
        "{}",
        c.ok(&["describe", "pvc", "orphan"])
    );
    let events = c.ok(&["get", "events", "--field-selector", "involvedObject.name=orphan", "-o", "name"]);
    // One aggregated Event per running controller (see the module docs).
    let n = events.lines().count();
    assert!((1..=2).contains(&n), "aggregated events expected: {events}");
}
