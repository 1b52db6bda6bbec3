//! The StatefulSet controller inside `berth up`, before any pod can run: identity, claims,
//! revisions, events, OrderedReady waiting on pod 0, and replacement after deletion.

use std::time::Duration;

use crate::harness::{eventually, Cluster};
use crate::manifests;

#[test]
fn statefulset_creates_first_pod_with_identity_claim_and_revision() {
    let c = Cluster::start();
    let sts = c.manifest("sts.yaml", &manifests::statefulset("luksa/kubia-pet"));
    c.ok(&["apply", "-f", &sts]);
    assert!(
        eventually(Duration::from_secs(20), || c.kubectl(&["get", "pod", "statefulset-kubia-v1-0"]).status.success()),
        "pod 0 was not created"
    );
    let pod = c.json(&["get", "pod", "statefulset-kubia-v1-0"]);
    let labels = &pod["metadata"]["labels"];
    assert_eq!(labels["app"], "statefulset-kubia");
    assert_eq!(labels["statefulset.kubernetes.io/pod-name"], "statefulset-kubia-v1-0");
    assert_eq!(labels["apps.kubernetes.io/pod-index"], "0");
    let revision = labels["controller-revision-hash"].as_str().unwrap().to_string();
    assert!(revision.starts_with("statefulset-kubia-v1-"), "{revision}");
    assert_eq!(pod["spec"]["hostname"], "statefulset-kubia-v1-0");
    assert_eq!(pod["spec"]["subdomain"], "statefulset-kubia-v1");
    let owner = &pod["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "StatefulSet");
    assert_eq!(owner["controller"], true);
    let volumes = pod["spec"]["volumes"].as_array().unwrap();
    assert!(volumes.iter().any(|v| v["name"] == "data" && v["persistentVolumeClaim"]["claimName"] == "data-statefulset-kubia-v1-0"));

    let pvc = c.json(&["get", "pvc", "data-statefulset-kubia-v1-0"]);
    assert_eq!(pvc["metadata"]["labels"]["app"], "statefulset-kubia");
    assert_eq!(pvc["spec"]["storageClassName"], "nfs");

    let out = c.ok(&["get", "controllerrevisions"]);
    assert!(out.contains(&revision) && out.contains("statefulset.apps/statefulset-kubia-v1"), "{out}");

    // OrderedReady: pod 0 cannot become Ready (nothing runs it), so pod 1 never appears.
    std::thread::sleep(Duration::from_millis(1500));
    let err = c.fails(&["get", "pod", "statefulset-kubia-v1-1"]);
    assert!(err.contains("NotFound"), "{err}");
    assert!(eventually(Duration::from_secs(10), || {
        let s = c.json(&["get", "sts", "statefulset-kubia-v1"]);
        s["status"]["replicas"] == 1 && s["status"]["updateRevision"] == revision.as_str() && s["status"]["observedGeneration"] == 1
    }));

    let out = c.ok(&["describe", "sts", "statefulset-kubia-v1"]);
    assert!(out.contains("create Claim data-statefulset-kubia-v1-0 Pod statefulset-kubia-v1-0 in StatefulSet statefulset-kubia-v1 success"), "{out}");
    assert!(out.contains("create Pod statefulset-kubia-v1-0 in StatefulSet statefulset-kubia-v1 successful"), "{out}");

    // A deleted pod comes back with the same name and a new uid.
    let uid = pod["metadata"]["uid"].as_str().unwrap().to_string();
    c.ok(&["delete", "pod", "statefulset-kubia-v1-0"]);
    assert!(eventually(Duration::from_secs(20), || {
        let o = c.kubectl(&["get", "pod", "statefulset-kubia-v1-0", "-o", "jsonpath={.metadata.uid}"]);
        o.status.success() && !o.stdout.is_empty() && String::from_utf8_lossy(&o.stdout) != uid
    }));
}
