//! The walkthrough on simulated nodes: static NFS-class PVs (never mounted), the headless
//! service and the StatefulSet — pods come up in order, each bound to its own PV, and keep
//! their claims across deletion.

use std::time::Duration;

use crate::harness::{eventually, Cluster};
use crate::manifests;

#[test]
fn walkthrough_statefulset_runs_with_its_own_volumes() {
    let c = Cluster::start_with(&["--simulated-nodes", "2"]);
    let pv = c.manifest("pv.yaml", manifests::PV_LIST);
    let svc = c.manifest("svc.yaml", manifests::SERVICE);
    let sts = c.manifest("sts.yaml", &manifests::statefulset("luksa/kubia-pet"));
    c.ok(&["apply", "-f", &pv]);
    assert!(eventually(Duration::from_secs(20), || c.ok(&["get", "pv"]).matches("Available").count() == 3));
    c.ok(&["apply", "-f", &svc]);
    c.ok(&["apply", "-f", &sts]);
    assert!(
        eventually(Duration::from_secs(60), || {
            let o = c.kubectl(&["get", "sts", "statefulset-kubia-v1", "-o", "jsonpath={.status.readyReplicas}"]);
            String::from_utf8_lossy(&o.stdout) == "3"
        }),
        "{}",
        c.ok(&["get", "pods,pvc,pv"])
    );
    let pods = c.ok(&["get", "pods"]);
    for i in 0..3 {
        assert!(pods.contains(&format!("statefulset-kubia-v1-{i}   1/1     Running")), "{pods}");
    }
    // Each claim is bound to its own PV.
    let mut volumes = Vec::new();
    for i in 0..3 {
        let pvc = c.json(&["get", "pvc", &format!("data-statefulset-kubia-v1-{i}")]);
        assert_eq!(pvc["status"]["phase"], "Bound");
        volumes.push(pvc["spec"]["volumeName"].as_str().unwrap().to_string());
    }
    volumes.sort();
    assert_eq!(volumes, ["pv-1", "pv-2", "pv-3"]);
    let pvs = c.ok(&["get", "pv"]);
    assert_eq!(pvs.matches("Bound").count(), 3, "{pvs}");

    // A deleted pod comes back with the same claim (and so the same volume).
    let claim_before = c.json(&["get", "pvc", "data-statefulset-kubia-v1-1"])["spec"]["volumeName"].clone();
    c.ok(&["delete", "pod", "statefulset-kubia-v1-1"]);
    assert!(eventually(Duration::from_secs(60), || {
        let o = c.kubectl(&["get", "pod", "statefulset-kubia-v1-1", "-o", "jsonpath={.status.phase}"]);
        String::from_utf8_lossy(&o.stdout) == "Running"
    }));
    let pod = c.json(&["get", "pod", "statefulset-kubia-v1-1"]);
    let vols = pod["spec"]["volumes"].as_array().unwrap();
    assert!(vols.iter().any(|v| v["persistentVolumeClaim"]["claimName"] == "data-statefulset-kubia-v1-1"));
    assert_eq!(c.json(&["get", "pvc", "data-statefulset-kubia-v1-1"])["spec"]["volumeName"], claim_before);

    // The walkthrough's scale 3 → 4 with a fourth PV added: the new replica's claim gets it.
    let pv4 = manifests::PV_LIST.split("  - apiVersion").nth(1).unwrap().replace("pv-1", "pv-4");
    let pv4 = format!("apiVersion: v1\nkind: List\nitems:\n  - apiVersion{pv4}");
    c.ok(&["apply", "-f", &c.manifest("pv4.yaml", &pv4)]);
    c.ok(&["scale", "sts", "statefulset-kubia-v1", "--replicas=4"]);
    assert!(
        eventually(Duration::from_secs(60), || {
            let o = c.kubectl(&["get", "pvc", "data-statefulset-kubia-v1-3", "-o", "jsonpath={.status.phase}/{.spec.volumeName}"]);
            String::from_utf8_lossy(&o.stdout) == "Bound/pv-4"
        }),
        "{}",
        c.ok(&["get", "pods,pvc,pv"])
    );

    // A claim asking for more than any volume offers stays Pending; its class names no
    // StorageClass, so nothing can be provisioned either.
    let big = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: big\nspec:\n  storageClassName: nfs\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 5Gi\n";
    c.ok(&["apply", "-f", &c.manifest("big.yaml", big)]);
    assert!(
        eventually(Duration::from_secs(20), || c.ok(&["describe", "pvc", "big"]).lines().any(|l| l.contains("Warning")
            && l.contains("ProvisioningFailed")
            && l.contains("storageclass.storage.k8s.io \"nfs\" not found"))),
        "{}",
        c.ok(&["describe", "pvc", "big"])
    );
    let o = c.kubectl(&["get", "pvc", "big", "-o", "jsonpath={.status.phase}"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "Pending");
    assert_eq!(c.ok(&["get", "pv"]).matches("Bound").count(), 4, "nothing mis-bound");
}
