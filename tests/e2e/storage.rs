//! Storage as a new user meets it, with the real kubectl: the default `local-path` class
//! provisioning a directory per StatefulSet replica on simulated nodes, data surviving pod
//! deletion and scale down/up, `whenScaled: Delete`, Delete and Retain reclaim of provisioned
//! volumes, claim protection, expansion, a missing class, and `--default-storage-class none`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::{eventually, rows, Cluster};

const WAIT: Duration = Duration::from_secs(30);

fn web(replicas: u32, retention: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: {replicas}
  podManagementPolicy: Parallel
  persistentVolumeClaimRetentionPolicy:
    whenScaled: {retention}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
      # simulated containers exit at once on SIGTERM (the test waits for no grace period)
      annotations: {{sim.berth.dev/termination-delay: 0s}}
    spec:
      containers:
      - name: nginx
        image: nginx
        volumeMounts:
        - {{name: data, mountPath: /usr/share/nginx/html}}
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: 1Gi
"
    )
}

fn claim(name: &str, class: Option<&str>, size: &str) -> String {
    let class = class.map(|c| format!("  storageClassName: \"{c}\"\n")).unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\nspec:\n{class}  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: {size}\n"
    )
}

fn class(name: &str, mode: &str, policy: &str, expandable: bool) -> String {
    format!(
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: {name}\nprovisioner: berth.dev/local-path\nvolumeBindingMode: {mode}\nreclaimPolicy: {policy}\nallowVolumeExpansion: {expandable}\n"
    )
}

fn jsonpath(c: &Cluster, args: &[&str], path: &str) -> String {
    let mut a = args.to_vec();
    let p = format!("jsonpath={path}");
    a.extend(["-o", &p]);
    let out = c.kubectl(&a);
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn phase(c: &Cluster, kind: &str, name: &str) -> String {
    jsonpath(c, &["get", kind, name], "{.status.phase}")
}

fn gone(c: &Cluster, kind: &str, name: &str) -> bool {
    let out = c.kubectl(&["get", kind, name]);
    !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("NotFound")
}

/// The claim's volume name and that volume's directory, once Bound.
fn bound_dir(c: &Cluster, claim: &str) -> (String, PathBuf) {
    assert!(eventually(WAIT, || phase(c, "pvc", claim) == "Bound"), "{}", c.ok(&["describe", "pvc", claim]));
    let volume = jsonpath(c, &["get", "pvc", claim], "{.spec.volumeName}");
    let path = jsonpath(c, &["get", "pv", &volume], "{.spec.hostPath.path}");
    (volume, PathBuf::from(path))
}

/// `describe` shows an event with these type, reason, source and message.
fn has_event(describe: &str, type_: &str, reason: &str, from: &str, message: &str) -> bool {
    describe.lines().any(|l| l.contains(type_) && l.contains(reason) && l.contains(from) && l.contains(message))
}

fn storage_root(c: &Cluster) -> PathBuf {
    c.dir.path().join("storage")
}

#[test]
fn default_class_gives_each_replica_its_own_directory() {
    let c = Cluster::start_with(&["--simulated-nodes", "2"]);
    // NAME PROVISIONER RECLAIMPOLICY VOLUMEBINDINGMODE ALLOWVOLUMEEXPANSION AGE
    let sc = c.ok(&["get", "storageclass"]);
    let r = rows(&sc).into_iter().find(|r| r.first().map(String::as_str) == Some("local-path")).unwrap_or_default();
    assert_eq!(r[1..6], ["(default)", "berth.dev/local-path", "Delete", "WaitForFirstConsumer", "true"], "{sc}");

    c.ok(&["apply", "-f", &c.manifest("web.yaml", &web(2, "Retain"))]);
    assert!(
        eventually(Duration::from_secs(60), || jsonpath(&c, &["get", "sts", "web"], "{.status.readyReplicas}") == "2"),
        "{}",
        c.ok(&["get", "pods,pvc,pv", "-o", "wide"])
    );
    let mut dirs = Vec::new();
    for i in 0..2 {
        let claim = format!("data-web-{i}");
        let pvc = c.json(&["get", "pvc", &claim]);
        assert_eq!(pvc["spec"]["storageClassName"], "local-path", "DefaultStorageClass admission");
        assert_eq!(pvc["metadata"]["annotations"]["volume.kubernetes.io/storage-provisioner"], "berth.dev/local-path");
        assert_eq!(pvc["metadata"]["finalizers"], serde_json::json!(["kubernetes.io/pvc-protection"]));
        let (volume, dir) = bound_dir(&c, &claim);
        let uid = pvc["metadata"]["uid"].as_str().unwrap();
        assert_eq!(volume, format!("pvc-{uid}"));
        let node = jsonpath(&c, &["get", "pod", &format!("web-{i}")], "{.spec.nodeName}");
        assert_eq!(pvc["metadata"]["annotations"]["volume.kubernetes.io/selected-node"], node.as_str());
        assert_eq!(dir, storage_root(&c).join(&node).join(format!("pvc-{uid}_default_{claim}")));
        assert!(dir.is_dir(), "{}", dir.display());
        let pv = c.json(&["get", "pv", &volume]);
        assert_eq!(pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"], "berth.dev/local-path");
        assert_eq!(pv["metadata"]["finalizers"], serde_json::json!(["kubernetes.io/pv-protection"]));
        assert_eq!(pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"][0], node.as_str());
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Delete");
        assert_eq!(pv["spec"]["claimRef"]["uid"], uid);
        let describe = c.ok(&["describe", "pvc", &claim]);
        assert!(has_event(&describe, "Normal", "ExternalProvisioning", "persistentvolume-controller", "Waiting for a volume to be created either by the external provisioner 'berth.dev/local-path'"), "{describe}");
        let who = "berth.dev/local-path";
        assert!(has_event(&describe, "Normal", "Provisioning", who, &format!("External provisioner is provisioning volume for claim \"default/{claim}\"")), "{describe}");
        assert!(has_event(&describe, "Normal", "ProvisioningSucceeded", who, &format!("Successfully provisioned volume {volume}")), "{describe}");
        dirs.push((volume, dir));
    }
    assert_ne!(dirs[0].1, dirs[1].1);

    // Data written in the volume survives the pod.
    std::fs::write(dirs[0].1.join("index.html"), "web-0 data").unwrap();
    let old_uid = jsonpath(&c, &["get", "pod", "web-0"], "{.metadata.uid}");
    // (--wait=false: the replacement of the same name can appear before kubectl starts
    // waiting, and kubectl then waits for it to go too)
    c.ok(&["delete", "pod", "web-0", "--wait=false"]);
    assert!(eventually(Duration::from_secs(60), || {
        let uid = jsonpath(&c, &["get", "pod", "web-0"], "{.metadata.uid}");
        !uid.is_empty() && uid != old_uid && phase(&c, "pod", "web-0") == "Running"
    }));
    assert_eq!(bound_dir(&c, "data-web-0"), dirs[0]);
    assert_eq!(std::fs::read_to_string(dirs[0].1.join("index.html")).unwrap(), "web-0 data");

    // Scale down keeps the claim and its directory; scale up re-attaches them.
    std::fs::write(dirs[1].1.join("index.html"), "web-1 data").unwrap();
    c.ok(&["scale", "sts", "web", "--replicas=1"]);
    assert!(eventually(WAIT, || gone(&c, "pod", "web-1")));
    assert_eq!(phase(&c, "pvc", "data-web-1"), "Bound");
    assert!(dirs[1].1.join("index.html").exists());
    c.ok(&["scale", "sts", "web", "--replicas=2"]);
    assert!(eventually(Duration::from_secs(60), || phase(&c, "pod", "web-1") == "Running"));
    assert_eq!(bound_dir(&c, "data-web-1"), dirs[1]);
    let pod = c.json(&["get", "pod", "web-1"]);
    assert!(pod["spec"]["volumes"].as_array().unwrap().iter().any(|v| v["persistentVolumeClaim"]["claimName"] == "data-web-1"));
    assert_eq!(std::fs::read_to_string(dirs[1].1.join("index.html")).unwrap(), "web-1 data");

    // whenScaled: Delete — scaling down removes the claim, its volume and its directory.
    c.ok(&["apply", "-f", &c.manifest("web.yaml", &web(1, "Delete"))]);
    assert!(
        eventually(Duration::from_secs(60), || gone(&c, "pvc", "data-web-1") && gone(&c, "pv", &dirs[1].0) && !dirs[1].1.exists()),
        "{}",
        c.ok(&["get", "pods,pvc,pv"])
    );
    assert_eq!(phase(&c, "pvc", "data-web-0"), "Bound");
    assert!(dirs[0].1.join("index.html").exists());
}

#[test]
fn provisioned_volumes_reclaim_protect_expand_and_report_errors() {
    let c = Cluster::start_with(&["--simulated-nodes", "1"]);
    c.ok(&["apply", "-f", &c.manifest("fast.yaml", &class("fast", "Immediate", "Delete", true))]);
    c.ok(&["apply", "-f", &c.manifest("kept.yaml", &class("kept", "Immediate", "Retain", false))]);

    // Immediate: provisioned at once, on the only node.
    c.ok(&["apply", "-f", &c.manifest("quick.yaml", &claim("quick", Some("fast"), "1Gi"))]);
    c.ok(&["apply", "-f", &c.manifest("keep.yaml", &claim("keep", Some("kept"), "1Gi"))]);
    let (quick_pv, quick_dir) = bound_dir(&c, "quick");
    let (keep_pv, keep_dir) = bound_dir(&c, "keep");
    assert!(quick_dir.starts_with(storage_root(&c).join("sim-1")) && quick_dir.is_dir(), "{}", quick_dir.display());
    assert_eq!(jsonpath(&c, &["get", "pv", &keep_pv], "{.spec.persistentVolumeReclaimPolicy}"), "Retain");

    // Expansion: grows the volume and the claim's capacity; shrinking is refused.
    c.ok(&["patch", "pvc", "quick", "-p", r#"{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}"#]);
    assert!(
        eventually(WAIT, || jsonpath(&c, &["get", "pvc", "quick"], "{.status.capacity.storage}") == "2Gi"),
        "{}",
        c.ok(&["describe", "pvc", "quick"])
    );
    assert_eq!(jsonpath(&c, &["get", "pv", &quick_pv], "{.spec.capacity.storage}"), "2Gi");
    let err = c.fails(&["patch", "pvc", "quick", "-p", r#"{"spec":{"resources":{"requests":{"storage":"1Gi"}}}}"#]);
    assert!(err.contains("spec.resources.requests.storage: Forbidden: field can not be less than status.capacity"), "{err}");
    let err = c.fails(&["patch", "pvc", "keep", "-p", r#"{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}"#]);
    assert!(
        err.contains("persistentvolumeclaims \"keep\" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize"),
        "{err}"
    );

    // Protection: a claim in use by a scheduled pod stays Terminating until the pod is gone.
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: user\n  annotations: {sim.berth.dev/termination-delay: 0s}\nspec:\n  containers:\n  - name: c\n    image: busybox\n  volumes:\n  - name: v\n    persistentVolumeClaim: {claimName: quick}\n";
    c.ok(&["apply", "-f", &c.manifest("user.yaml", pod)]);
    assert!(eventually(WAIT, || phase(&c, "pod", "user") == "Running"));
    c.ok(&["delete", "pvc", "quick", "--wait=false"]);
    std::thread::sleep(Duration::from_secs(2));
    let out = c.ok(&["get", "pvc", "quick"]);
    assert_eq!(rows(&out)[1][1], "Terminating", "{out}");
    assert!(quick_dir.is_dir());
    c.ok(&["delete", "pod", "user"]);
    // Delete policy: the claim goes, then the volume and its directory.
    assert!(
        eventually(WAIT, || gone(&c, "pvc", "quick") && gone(&c, "pv", &quick_pv) && !quick_dir.exists()),
        "{}",
        c.ok(&["get", "pvc,pv"])
    );

    // Retain: the volume is Released, its directory kept.
    c.ok(&["delete", "pvc", "keep"]);
    assert!(eventually(WAIT, || phase(&c, "pv", &keep_pv) == "Released"), "{}", c.ok(&["get", "pv"]));
    assert!(keep_dir.is_dir());

    // A missing class.
    c.ok(&["apply", "-f", &c.manifest("lost.yaml", &claim("lost", Some("x"), "1Gi"))]);
    assert!(
        eventually(WAIT, || has_event(&c.ok(&["describe", "pvc", "lost"]), "Warning", "ProvisioningFailed", "persistentvolume-controller", "storageclass.storage.k8s.io \"x\" not found")),
        "{}",
        c.ok(&["describe", "pvc", "lost"])
    );
    assert_eq!(phase(&c, "pvc", "lost"), "Pending");

    // The default class goes only to claims without one: "" stays "".
    c.ok(&["apply", "-f", &c.manifest("none.yaml", &claim("none", Some(""), "1Gi"))]);
    assert_eq!(jsonpath(&c, &["get", "pvc", "none"], "{.spec.storageClassName}"), "");
    c.ok(&["apply", "-f", &c.manifest("dflt.yaml", &claim("dflt", None, "1Gi"))]);
    assert_eq!(jsonpath(&c, &["get", "pvc", "dflt"], "{.spec.storageClassName}"), "local-path");
    // WaitForFirstConsumer: nothing is provisioned without a pod.
    assert!(eventually(WAIT, || has_event(&c.ok(&["describe", "pvc", "dflt"]), "Normal", "WaitForFirstConsumer", "persistentvolume-controller", "waiting for first consumer to be created before binding")));
    assert_eq!(phase(&c, "pvc", "dflt"), "Pending");
    let dirs = |root: &Path| std::fs::read_dir(root.join("sim-1")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(dirs(&storage_root(&c)), 1, "only the retained volume's directory");
}

#[test]
fn without_a_default_class_claims_wait_as_in_the_walkthrough_note() {
    let c = Cluster::start_with(&["--simulated-nodes", "1", "--default-storage-class", "none"]);
    let out = c.kubectl(&["get", "storageclass"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("No resources found"), "{out:?}");
    c.ok(&["apply", "-f", &c.manifest("web.yaml", &web(1, "Retain"))]);
    assert!(
        eventually(WAIT, || has_event(
            &c.ok(&["describe", "pvc", "data-web-0"]),
            "Normal",
            "FailedBinding",
            "persistentvolume-controller",
            "no persistent volumes available for this claim and no storage class is set"
        )),
        "{}",
        c.ok(&["describe", "pvc", "data-web-0"])
    );
    assert_eq!(phase(&c, "pvc", "data-web-0"), "Pending");
    assert!(jsonpath(&c, &["get", "pvc", "data-web-0"], "{.spec.storageClassName}").is_empty());
    assert!(
        eventually(WAIT, || has_event(
            &c.ok(&["describe", "pod", "web-0"]),
            "Warning",
            "FailedScheduling",
            "default-scheduler",
            "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."
        )),
        "{}",
        c.ok(&["describe", "pod", "web-0"])
    );
    assert_eq!(phase(&c, "pod", "web-0"), "Pending");
}
