//! The walkthrough's objects, as far as the API server alone takes them.

use regex::Regex;

use crate::harness::{rows, Cluster};
use crate::manifests;

#[test]
fn system_namespaces_exist() {
    let c = Cluster::start();
    let out = c.ok(&["get", "ns"]);
    let names: Vec<String> = rows(&out).into_iter().skip(1).map(|r| r[0].clone()).collect();
    assert_eq!(names, ["default", "kube-node-lease", "kube-public", "kube-system"], "{out}");
    assert!(out.starts_with("NAME"), "{out}");
    assert!(out.contains("Active"), "{out}");
}

#[test]
fn walkthrough_pvs_service_and_statefulset() {
    let c = Cluster::start();
    let pv = c.manifest("pv.yaml", manifests::PV_LIST);
    let out = c.ok(&["apply", "-f", &pv]);
    assert_eq!(
        out,
        "persistentvolume/pv-1 created\npersistentvolume/pv-2 created\npersistentvolume/pv-3 created\n"
    );
    let out = c.ok(&["get", "pv"]);
    let header = Regex::new(r"^NAME\s+CAPACITY\s+ACCESS MODES\s+RECLAIM POLICY\s+STATUS\s+CLAIM\s+STORAGECLASS\s+VOLUMEATTRIBUTESCLASS\s+REASON\s+AGE$").unwrap();
    assert!(header.is_match(out.lines().next().unwrap()), "{out}");
    let row = Regex::new(r"^pv-1\s+1Gi\s+RWO\s+Recycle\s+\w+\s+nfs\s+<unset>\s+\d+s$").unwrap();
    assert!(row.is_match(out.lines().nth(1).unwrap()), "{out}");

    let svc = c.manifest("svc.yaml", manifests::SERVICE);
    assert_eq!(c.ok(&["apply", "-f", &svc]), "service/statefulset-kubia-svc created\n");
    let out = c.ok(&["get", "svc"]);
    let row = Regex::new(r"(?m)^statefulset-kubia-svc\s+ClusterIP\s+None\s+<none>\s+80/TCP\s+\d+s$").unwrap();
    assert!(row.is_match(&out), "{out}");

    let sts = c.manifest("sts.yaml", &manifests::statefulset("luksa/kubia-pet"));
    assert_eq!(c.ok(&["apply", "-f", &sts]), "statefulset.apps/statefulset-kubia-v1 created\n");
    let out = c.ok(&["get", "sts"]);
    let row = Regex::new(r"(?m)^statefulset-kubia-v1\s+0/3\s+\d+s$").unwrap();
    assert!(row.is_match(&out), "{out}");

    // Upstream's defaults are visible.
    let yaml = c.ok(&["get", "sts", "statefulset-kubia-v1", "-o", "yaml"]);
    for want in [
        "podManagementPolicy: OrderedReady",
        "revisionHistoryLimit: 10",
        "partition: 0",
        "type: RollingUpdate",
        "whenDeleted: Retain",
        "whenScaled: Retain",
        "restartPolicy: Always",
        "dnsPolicy: ClusterFirst",
        "terminationGracePeriodSeconds: 30",
        "schedulerName: default-scheduler",
        "imagePullPolicy: Always",
        "terminationMessagePath: /dev/termination-log",
        "volumeMode: Filesystem",
    ] {
        assert!(yaml.contains(want), "missing {want:?} in\n{yaml}");
    }

    // Re-applying with another image is a strategic merge patch: ports and mounts stay.
    let sts2 = c.manifest("sts2.yaml", &manifests::statefulset("luksa/kubia-pet-peers"));
    assert_eq!(c.ok(&["apply", "-f", &sts2]), "statefulset.apps/statefulset-kubia-v1 configured\n");
    let obj = c.json(&["get", "sts", "statefulset-kubia-v1"]);
    let container = &obj["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "luksa/kubia-pet-peers");
    assert_eq!(container["ports"][0]["containerPort"], 8080);
    assert_eq!(container["volumeMounts"][0]["mountPath"], "/var/data");
    assert_eq!(obj["metadata"]["generation"], 2);

    assert_eq!(
        c.ok(&["scale", "sts", "statefulset-kubia-v1", "--replicas=4"]),
        "statefulset.apps/statefulset-kubia-v1 scaled\n"
    );
    let obj = c.json(&["get", "sts", "statefulset-kubia-v1"]);
    assert_eq!(obj["spec"]["replicas"], 4);

    let err = c.fails(&["patch", "sts", "statefulset-kubia-v1", "-p", r#"{"spec":{"serviceName":"other"}}"#]);
    assert!(
        err.contains("The StatefulSet \"statefulset-kubia-v1\" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"),
        "{err}"
    );
    let after = c.json(&["get", "sts", "statefulset-kubia-v1"]);
    assert_eq!(after["spec"]["serviceName"], "statefulset-kubia-v1");

    // describe, get all, delete -f.
    let out = c.ok(&["describe", "sts", "statefulset-kubia-v1"]);
    assert!(out.contains("Name:") && out.contains("statefulset-kubia-v1"), "{out}");
    assert!(out.contains("Update Strategy:") && out.contains("RollingUpdate"), "{out}");
    let out = c.ok(&["get", "all"]);
    assert!(out.contains("service/statefulset-kubia-svc"), "{out}");
    assert!(out.contains("statefulset.apps/statefulset-kubia-v1"), "{out}");
    assert_eq!(c.ok(&["delete", "-f", &sts2]), "statefulset.apps \"statefulset-kubia-v1\" deleted\n");
    let err = c.fails(&["get", "sts", "statefulset-kubia-v1"]);
    assert!(err.contains("Error from server (NotFound): statefulsets.apps \"statefulset-kubia-v1\" not found"), "{err}");
}
