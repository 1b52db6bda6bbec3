//! Strategic merge patch over the real Kubernetes types: the reference document's worked
//! examples, what kubectl sends, the merge metadata of every served kind, and error cases.

use serde_json::{json, Value};

use super::schema::{kubernetes_graph, Ty};
use super::*;

const POD: &str = "io.k8s.api.core.v1.Pod";
const STS: &str = "io.k8s.api.apps.v1.StatefulSet";
const SVC: &str = "io.k8s.api.core.v1.Service";
const NODE: &str = "io.k8s.api.core.v1.Node";
const NS: &str = "io.k8s.api.core.v1.Namespace";
const PVC: &str = "io.k8s.api.core.v1.PersistentVolumeClaim";
const SA: &str = "io.k8s.api.core.v1.ServiceAccount";
const CR: &str = "io.k8s.api.apps.v1.ControllerRevision";
const SLICE: &str = "io.k8s.api.discovery.v1.EndpointSlice";
const SCALE: &str = "io.k8s.api.autoscaling.v1.Scale";

/// Expected outcome of one case: the patched object, or an error whose message contains the
/// given text.
enum Want {
    Ok(Value),
    Err(&'static str),
}

struct Case {
    name: &'static str,
    root: &'static str,
    original: Value,
    patch: Value,
    want: Want,
}

fn ok(name: &'static str, root: &'static str, original: Value, patch: Value, want: Value) -> Case {
    Case { name, root, original, patch, want: Want::Ok(want) }
}

fn err(name: &'static str, root: &'static str, original: Value, patch: Value, msg: &'static str) -> Case {
    Case { name, root, original, patch, want: Want::Err(msg) }
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-0"}, "spec": spec})
}

fn run(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in &cases {
        let got = strategic_merge_patch(&case.original, &case.patch, case.root);
        match (&case.want, got) {
            (Want::Ok(want), Ok(got)) if *want == got => {}
            (Want::Err(msg), Err(e)) if e.to_string().contains(msg) => {}
            (Want::Ok(want), got) => failures.push(format!(
                "{}:\n  want {}\n  got  {:?}",
                case.name,
                want,
                got.map(|v| v.to_string())
            )),
            (Want::Err(msg), got) => failures.push(format!(
                "{}:\n  want error containing {msg:?}\n  got  {:?}",
                case.name,
                got.map(|v| v.to_string())
            )),
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn smp_worked_examples_and_kubectl_bodies() {
    run(vec![
        ok(
            "worked example 1: apply changes image, keeps ports and mounts",
            POD,
            pod(json!({"containers": [{"name": "c", "image": "a",
                "ports": [{"containerPort": 8080}],
                "volumeMounts": [{"name": "d", "mountPath": "/var/data"}]}]})),
            json!({"spec": {"$setElementOrder/containers": [{"name": "c"}],
                "containers": [{"image": "b", "name": "c"}]}}),
            pod(json!({"containers": [{"name": "c", "image": "b",
                "ports": [{"containerPort": 8080}],
                "volumeMounts": [{"name": "d", "mountPath": "/var/data"}]}]})),
        ),
        ok(
            "worked example 2: remove one env var",
            POD,
            pod(json!({"containers": [{"name": "c", "image": "a",
                "env": [{"name": "A", "value": "1"}, {"name": "DEBUG", "value": "1"}, {"name": "B", "value": "2"}]}]})),
            json!({"spec": {"containers": [{"name": "c", "env": [{"$patch": "delete", "name": "DEBUG"}]}]}}),
            pod(json!({"containers": [{"name": "c", "image": "a",
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]})),
        ),
        ok(
            "worked example 3 / rollout undo: template replaced whole, other spec fields kept",
            STS,
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
                "spec": {"replicas": 3, "serviceName": "db",
                    "selector": {"matchLabels": {"app": "db"}},
                    "template": {"metadata": {"labels": {"app": "db"},
                            "annotations": {"kubectl.kubernetes.io/restartedAt": "t1"}},
                        "spec": {"containers": [{"name": "c", "image": "new", "args": ["x"],
                            "env": [{"name": "E", "value": "1"}]}]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"]}}]}}),
            json!({"spec": {"template": {"$patch": "replace",
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "c", "image": "old"}]}}}}),
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
                "spec": {"replicas": 3, "serviceName": "db",
                    "selector": {"matchLabels": {"app": "db"}},
                    "template": {"metadata": {"labels": {"app": "db"}},
                        "spec": {"containers": [{"name": "c", "image": "old"}]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"]}}]}}),
        ),
        ok(
            "worked example 4: volume source change with retainKeys",
            POD,
            pod(json!({"containers": [{"name": "c"}],
                "volumes": [{"name": "v", "hostPath": {"path": "/x"}}, {"name": "w", "emptyDir": {}}]})),
            json!({"spec": {"volumes": [{"$retainKeys": ["emptyDir", "name"], "emptyDir": {}, "name": "v"}]}}),
            pod(json!({"containers": [{"name": "c"}],
                "volumes": [{"name": "v", "emptyDir": {}}, {"name": "w", "emptyDir": {}}]})),
        ),
        ok(
            "worked example 5: drop a finalizer",
            PVC,
            json!({"metadata": {"name": "data", "finalizers": ["kubernetes.io/pvc-protection", "example.com/f"]}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/f"]}}),
            json!({"metadata": {"name": "data", "finalizers": ["kubernetes.io/pvc-protection"]}}),
        ),
        ok(
            "kubectl apply body from clients-on-the-wire keeps image",
            POD,
            json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "web-0", "labels": {"tier": "web"},
                    "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "old"}},
                "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}}),
            json!({"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "new"},
                    "labels": {"tier": "db"}},
                "spec": {"$setElementOrder/containers": [{"name": "c"}],
                    "containers": [{"command": ["sleep", "7200"], "name": "c"}]}}),
            json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "web-0", "labels": {"tier": "db"},
                    "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "new"}},
                "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "7200"]}]}}),
        ),
        ok(
            "rollout restart adds the restartedAt annotation only",
            STS,
            json!({"spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "db"},
                    "annotations": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
            json!({"spec": {"template": {"metadata": {"annotations":
                {"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}}}}}),
            json!({"spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "db"},
                    "annotations": {"a": "b", "kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
        ),
        ok(
            "kubectl apply adding a second container and env via the template",
            STS,
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "ia",
                "env": [{"name": "X", "value": "1"}]}]}}}}),
            json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                "containers": [
                    {"name": "a", "$setElementOrder/env": [{"name": "X"}, {"name": "Y"}],
                        "env": [{"name": "Y", "value": "2"}]},
                    {"name": "b", "image": "ib"}]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "a", "image": "ia", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
                {"name": "b", "image": "ib"}]}}}}),
        ),
    ]);
}

#[test]
fn smp_merge_metadata_of_served_kinds() {
    run(vec![
        ok(
            "ownerReferences merge by uid",
            POD,
            json!({"metadata": {"ownerReferences": [{"uid": "a", "name": "x", "kind": "StatefulSet"}]}}),
            json!({"metadata": {"ownerReferences": [{"uid": "a", "controller": true}, {"uid": "b", "name": "y"}]}}),
            json!({"metadata": {"ownerReferences": [
                {"uid": "a", "name": "x", "kind": "StatefulSet", "controller": true},
                {"uid": "b", "name": "y"}]}}),
        ),
        ok(
            "ownerReferences delete by uid",
            POD,
            json!({"metadata": {"ownerReferences": [{"uid": "a", "name": "x"}, {"uid": "b", "name": "y"}]}}),
            json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": "a"}]}}),
            json!({"metadata": {"ownerReferences": [{"uid": "b", "name": "y"}]}}),
        ),
        ok(
            "finalizers union keeps stored ones",
            POD,
            json!({"metadata": {"finalizers": ["a", "b"]}}),
            json!({"metadata": {"finalizers": ["c", "a"]}}),
            // Upstream order: the patch's elements in its order, stored-only ones slotted in
            // by their stored position.
            json!({"metadata": {"finalizers": ["c", "a", "b"]}}),
        ),
        ok(
            "pod status conditions merge by type in place",
            POD,
            json!({"status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}]}}),
            json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "reason": null}]}}),
            json!({"status": {"phase": "Running", "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": "True"}]}}),
        ),
        ok(
            "pod status podIPs merge by ip",
            POD,
            json!({"status": {"podIPs": [{"ip": "10.0.0.1"}]}}),
            json!({"status": {"podIPs": [{"ip": "fd00::1"}]}}),
            // Without $setElementOrder upstream puts elements the patch names before
            // server-only ones unless the stored list orders them (mergeSortedSlice), so a
            // new element lands first.
            json!({"status": {"podIPs": [{"ip": "fd00::1"}, {"ip": "10.0.0.1"}]}}),
        ),
        ok(
            "service ports merge by port",
            SVC,
            json!({"spec": {"type": "ClusterIP", "ports": [
                {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}]}}),
            json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}),
            json!({"spec": {"type": "ClusterIP", "ports": [
                {"name": "http", "port": 80, "targetPort": 9090, "protocol": "TCP"},
                {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}]}}),
        ),
        ok(
            "service status conditions merge by type",
            SVC,
            json!({"status": {"conditions": [{"type": "A", "status": "False"}]}}),
            json!({"status": {"conditions": [{"type": "B", "status": "True"}]}}),
            json!({"status": {"conditions": [{"type": "B", "status": "True"}, {"type": "A", "status": "False"}]}}),
        ),
        ok(
            "container ports merge by containerPort, 8080 equals 8080.0",
            POD,
            pod(json!({"containers": [{"name": "c", "ports": [{"containerPort": 8080, "name": "http"}]}]})),
            json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 8080.0, "protocol": "TCP"}]}]}}),
            // Matched by value; the patch's scalar then replaces the stored one.
            pod(json!({"containers": [{"name": "c", "ports": [{"containerPort": 8080.0, "name": "http", "protocol": "TCP"}]}]})),
        ),
        ok(
            "node podCIDRs primitive union",
            NODE,
            json!({"spec": {"podCIDRs": ["10.244.1.0/24"]}}),
            json!({"spec": {"podCIDRs": ["fd00:1::/64"]}}),
            json!({"spec": {"podCIDRs": ["fd00:1::/64", "10.244.1.0/24"]}}),
        ),
        ok(
            "node taints are replaced whole",
            NODE,
            json!({"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}}),
            json!({"spec": {"taints": [{"key": "b", "effect": "NoExecute"}]}}),
            json!({"spec": {"taints": [{"key": "b", "effect": "NoExecute"}]}}),
        ),
        ok(
            "node status addresses and conditions merge by type",
            NODE,
            json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n1"}],
                "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "t1"}, {"type": "DiskPressure", "status": "False"}]}}),
            json!({"status": {"conditions": [{"type": "Ready", "lastHeartbeatTime": "t2"}],
                "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]}}),
            json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}, {"type": "Hostname", "address": "n1"}],
                "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "t2"}, {"type": "DiskPressure", "status": "False"}]}}),
        ),
        ok(
            "namespace status conditions merge by type",
            NS,
            json!({"status": {"phase": "Terminating", "conditions": [{"type": "A", "status": "True"}]}}),
            json!({"status": {"conditions": [{"type": "B", "status": "False"}]}}),
            json!({"status": {"phase": "Terminating", "conditions": [{"type": "B", "status": "False"}, {"type": "A", "status": "True"}]}}),
        ),
        ok(
            "pvc status conditions merge by type; accessModes replaced",
            PVC,
            json!({"spec": {"accessModes": ["ReadWriteOnce", "ReadOnlyMany"]},
                "status": {"conditions": [{"type": "Resizing", "status": "True"}]}}),
            json!({"spec": {"accessModes": ["ReadWriteOnce"]},
                "status": {"conditions": [{"type": "Resizing", "status": "False"}]}}),
            json!({"spec": {"accessModes": ["ReadWriteOnce"]},
                "status": {"conditions": [{"type": "Resizing", "status": "False"}]}}),
        ),
        ok(
            "statefulset status conditions merge by type",
            STS,
            json!({"status": {"replicas": 1, "conditions": [{"type": "X", "status": "True"}]}}),
            json!({"status": {"replicas": 2, "conditions": [{"type": "X", "status": "False"}]}}),
            json!({"status": {"replicas": 2, "conditions": [{"type": "X", "status": "False"}]}}),
        ),
        ok(
            "serviceaccount secrets merge by name",
            SA,
            json!({"secrets": [{"name": "a"}]}),
            json!({"secrets": [{"name": "b"}]}),
            json!({"secrets": [{"name": "b"}, {"name": "a"}]}),
        ),
        ok(
            "volumeClaimTemplates are replaced whole",
            STS,
            json!({"spec": {"volumeClaimTemplates": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]}}),
            json!({"spec": {"volumeClaimTemplates": [{"metadata": {"name": "c"}}]}}),
            json!({"spec": {"volumeClaimTemplates": [{"metadata": {"name": "c"}}]}}),
        ),
        ok(
            "tolerations and container args are replaced whole",
            POD,
            pod(json!({"tolerations": [{"key": "a"}], "containers": [{"name": "c", "args": ["1", "2"]}]})),
            json!({"spec": {"tolerations": [{"key": "b"}], "containers": [{"name": "c", "args": ["3"]}]}}),
            pod(json!({"tolerations": [{"key": "b"}], "containers": [{"name": "c", "args": ["3"]}]})),
        ),
        ok(
            "resources.limits map merges, null deletes",
            POD,
            pod(json!({"containers": [{"name": "c", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1"}}}]})),
            json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "2"}, "requests": null}}]}}),
            pod(json!({"containers": [{"name": "c", "resources": {"limits": {"cpu": "2", "memory": "1Gi"}}}]})),
        ),
        ok(
            "hostAliases merge by ip, imagePullSecrets by name",
            POD,
            pod(json!({"containers": [{"name": "c"}], "hostAliases": [{"ip": "1.1.1.1", "hostnames": ["a"]}],
                "imagePullSecrets": [{"name": "r1"}]})),
            json!({"spec": {"hostAliases": [{"ip": "1.1.1.1", "hostnames": ["b"]}], "imagePullSecrets": [{"name": "r2"}]}}),
            pod(json!({"containers": [{"name": "c"}], "hostAliases": [{"ip": "1.1.1.1", "hostnames": ["b"]}],
                "imagePullSecrets": [{"name": "r2"}, {"name": "r1"}]})),
        ),
        ok(
            "init containers merge by name; volumeMounts by mountPath",
            POD,
            pod(json!({"initContainers": [{"name": "i", "volumeMounts": [{"name": "a", "mountPath": "/a"}]}]})),
            json!({"spec": {"initContainers": [{"name": "i", "volumeMounts": [{"name": "b", "mountPath": "/a", "readOnly": true}]}]}}),
            pod(json!({"initContainers": [{"name": "i", "volumeMounts": [{"name": "b", "mountPath": "/a", "readOnly": true}]}]})),
        ),
        ok(
            "labels: null deletes, new keys appended",
            POD,
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
            json!({"metadata": {"labels": {"a": null, "c": "3"}}}),
            json!({"metadata": {"labels": {"b": "2", "c": "3"}}}),
        ),
        ok(
            "absent map taken from the patch without its nulls",
            POD,
            json!({"metadata": {"name": "p"}}),
            json!({"metadata": {"labels": {"a": "1", "b": null}}}),
            json!({"metadata": {"name": "p", "labels": {"a": "1"}}}),
        ),
        ok(
            "new container's directives are processed, not stored",
            POD,
            pod(json!({"containers": [{"name": "a"}]})),
            json!({"spec": {"containers": [{"name": "b", "env": [{"$patch": "delete", "name": "X"}, {"name": "Y", "value": "1"}]}]}}),
            pod(json!({"containers": [{"name": "b", "env": [{"name": "Y", "value": "1"}]}, {"name": "a"}]})),
        ),
        ok(
            "controllerrevision data is schema-less: its lists are replaced",
            CR,
            json!({"revision": 1, "data": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}}}),
            json!({"revision": 2, "data": {"spec": {"template": {"spec": {"containers": [{"name": "a"}]}}}}}),
            json!({"revision": 2, "data": {"spec": {"template": {"spec": {"containers": [{"name": "a"}]}}}}}),
        ),
        ok(
            "endpointslice endpoints are atomic",
            SLICE,
            json!({"addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}]}),
            json!({"endpoints": [{"addresses": ["10.0.0.2"]}]}),
            json!({"addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.2"]}]}),
        ),
        ok(
            "scale spec.replicas",
            SCALE,
            json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": 1}, "status": {"replicas": 1}}),
            json!({"spec": {"replicas": 3}}),
            json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": 3}, "status": {"replicas": 1}}),
        ),
        ok(
            "delete a status condition by type",
            POD,
            json!({"status": {"conditions": [{"type": "A"}, {"type": "B"}]}}),
            json!({"status": {"conditions": [{"$patch": "delete", "type": "A"}]}}),
            json!({"status": {"conditions": [{"type": "B"}]}}),
        ),
        ok(
            "$deleteFromPrimitiveList on an absent list is a no-op (upstream would add)",
            POD,
            json!({"metadata": {"name": "p"}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
            json!({"metadata": {"name": "p"}}),
        ),
    ]);
}

#[test]
fn smp_directives_and_ordering() {
    run(vec![
        ok(
            "$setElementOrder alone reorders stored containers",
            POD,
            pod(json!({"containers": [{"name": "a"}, {"name": "b"}]})),
            json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}),
            pod(json!({"containers": [{"name": "b"}, {"name": "a"}]})),
        ),
        ok(
            "$setElementOrder places a new container in the middle",
            POD,
            pod(json!({"containers": [{"name": "a"}, {"name": "c"}]})),
            json!({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
                "containers": [{"name": "b", "image": "ib"}]}}),
            pod(json!({"containers": [{"name": "a"}, {"name": "b", "image": "ib"}, {"name": "c"}]})),
        ),
        ok(
            "$setElementOrder: server-only element keeps its place relative to stored order",
            POD,
            pod(json!({"containers": [{"name": "a"}, {"name": "x"}, {"name": "b"}]})),
            json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}),
            // upstream mergeSortedSlice: x (stored 1) precedes b (stored 2), so it goes first.
            pod(json!({"containers": [{"name": "x"}, {"name": "b"}, {"name": "a"}]})),
        ),
        ok(
            "$setElementOrder on a primitive merging list",
            POD,
            json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            json!({"metadata": {"$setElementOrder/finalizers": ["c", "a", "b"]}}),
            json!({"metadata": {"finalizers": ["c", "a", "b"]}}),
        ),
        ok(
            "$setElementOrder with deletion list for finalizers",
            POD,
            json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            json!({"metadata": {"$setElementOrder/finalizers": ["a", "c"], "$deleteFromPrimitiveList/finalizers": ["b"]}}),
            json!({"metadata": {"finalizers": ["a", "c"]}}),
        ),
        err(
            "$setElementOrder contradicting the patch list",
            POD,
            pod(json!({"containers": [{"name": "a"}, {"name": "b"}]})),
            json!({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                "containers": [{"name": "b", "image": "x"}, {"name": "a", "image": "y"}]}}),
            "doesn't match $setElementOrder list",
        ),
        ok(
            "$patch: delete on a map leaves an empty map (upstream)",
            POD,
            pod(json!({"containers": [{"name": "a"}], "securityContext": {"runAsUser": 1}})),
            json!({"spec": {"securityContext": {"$patch": "delete"}}}),
            pod(json!({"containers": [{"name": "a"}], "securityContext": {}})),
        ),
        ok(
            "$patch: replace element replaces the list",
            POD,
            pod(json!({"containers": [{"name": "a", "image": "ia"}, {"name": "b"}]})),
            json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "z", "image": "iz"}]}}),
            pod(json!({"containers": [{"name": "z", "image": "iz"}]})),
        ),
        ok(
            "$patch: replace at the root",
            NS,
            json!({"metadata": {"name": "a", "labels": {"x": "y"}}, "spec": {"finalizers": ["kubernetes"]}}),
            json!({"$patch": "replace", "metadata": {"name": "a"}}),
            json!({"metadata": {"name": "a"}}),
        ),
        ok(
            "$retainKeys in a volume keeps only listed keys, other volumes untouched",
            STS,
            json!({"spec": {"template": {"spec": {"volumes": [
                {"name": "v", "hostPath": {"path": "/x"}, "secret": {"secretName": "s"}},
                {"name": "w", "configMap": {"name": "cm"}}]}}}}),
            json!({"spec": {"template": {"spec": {"volumes": [
                {"$retainKeys": ["name", "persistentVolumeClaim"], "name": "v",
                 "persistentVolumeClaim": {"claimName": "c"}}]}}}}),
            json!({"spec": {"template": {"spec": {"volumes": [
                {"name": "v", "persistentVolumeClaim": {"claimName": "c"}},
                {"name": "w", "configMap": {"name": "cm"}}]}}}}),
        ),
        err(
            "$retainKeys must list every key the patch sets",
            POD,
            pod(json!({"volumes": [{"name": "v", "emptyDir": {}}]})),
            json!({"spec": {"volumes": [{"$retainKeys": ["name"], "name": "v", "emptyDir": {}}]}}),
            "invalid patch format of retainKeys",
        ),
        err(
            "$retainKeys must be a list",
            POD,
            pod(json!({"volumes": [{"name": "v", "emptyDir": {}}]})),
            json!({"spec": {"volumes": [{"$retainKeys": "name", "name": "v"}]}}),
            "invalid patch format of retainKeys",
        ),
        err(
            "unknown directive",
            POD,
            pod(json!({})),
            json!({"spec": {"$foo": 1}}),
            "unknown strategic merge patch directive \"$foo\" in spec",
        ),
        err(
            "$patch: merge in a map is rejected as upstream does",
            POD,
            pod(json!({})),
            json!({"spec": {"$patch": "merge", "hostname": "h"}}),
            "unknown patch type: merge",
        ),
        err(
            "$patch: merge in a list is rejected as upstream does",
            POD,
            pod(json!({"containers": [{"name": "a"}]})),
            json!({"spec": {"containers": [{"$patch": "merge"}]}}),
            "merging lists cannot yet be specified in the patch",
        ),
        err(
            "unknown $patch value in a list element",
            POD,
            pod(json!({"containers": [{"name": "a"}]})),
            json!({"spec": {"containers": [{"$patch": "bogus", "name": "a"}]}}),
            "unknown patch type: bogus",
        ),
        err(
            "$patch: delete element without merge key",
            POD,
            pod(json!({"containers": [{"name": "a"}]})),
            json!({"spec": {"containers": [{"$patch": "delete"}]}}),
            "does not contain declared merge key: name",
        ),
        err(
            "$deleteFromPrimitiveList value must be a list",
            POD,
            json!({"metadata": {"finalizers": ["a"]}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}),
            "invalid patch format of primitive list",
        ),
        err(
            "$deleteFromPrimitiveList without a field name",
            POD,
            json!({"metadata": {"finalizers": ["a"]}}),
            json!({"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}}),
            "invalid patch format of primitive list",
        ),
        err(
            "$setElementOrder value must be a list",
            POD,
            pod(json!({"containers": [{"name": "a"}]})),
            json!({"spec": {"$setElementOrder/containers": {"name": "a"}}}),
            "invalid patch format of setElementOrder list",
        ),
    ]);
}

#[test]
fn smp_rejects_malformed_patches() {
    run(vec![
        err(
            "containers given as a map",
            POD,
            pod(json!({"containers": [{"name": "a"}]})),
            json!({"spec": {"containers": {"name": "a"}}}),
            "spec.containers: expected list, but received object",
        ),
        err(
            "metadata given as a list",
            POD,
            pod(json!({})),
            json!({"metadata": ["x"]}),
            "metadata: expected object, but received list",
        ),
        err(
            "image given as a map",
            POD,
            pod(json!({"containers": [{"name": "a"}]})),
            json!({"spec": {"containers": [{"name": "a", "image": {"x": 1}}]}}),
            "expected scalar, but received object",
        ),
        err(
            "container given as a string",
            POD,
            pod(json!({"containers": [{"name": "a"}]})),
            json!({"spec": {"containers": ["a"]}}),
            "spec.containers: expected object, but received string",
        ),
        err(
            "container without merge key",
            POD,
            pod(json!({"containers": [{"name": "a"}]})),
            json!({"spec": {"containers": [{"image": "x"}]}}),
            "does not contain declared merge key: name",
        ),
        err(
            "list of lists in a merging primitive list",
            POD,
            json!({"metadata": {"finalizers": ["a"]}}),
            json!({"metadata": {"finalizers": [["b"]]}}),
            "lists of lists are not supported",
        ),
        err(
            "mixed element types in a merging primitive list",
            POD,
            json!({"metadata": {"finalizers": ["a"]}}),
            json!({"metadata": {"finalizers": [1]}}),
            "list element types are not identical",
        ),
        err(
            "kind change",
            POD,
            pod(json!({})),
            json!({"kind": "Service"}),
            "patch may not change kind from \"Pod\" to \"Service\"",
        ),
        err(
            "apiVersion change",
            POD,
            pod(json!({})),
            json!({"apiVersion": "v2"}),
            "patch may not change apiVersion",
        ),
        ok(
            "restating apiVersion and kind is fine",
            POD,
            pod(json!({})),
            json!({"apiVersion": "v1", "kind": "Pod", "spec": {"hostname": "h"}}),
            pod(json!({"hostname": "h"})),
        ),
        err("patch that is not an object", POD, pod(json!({})), json!([1]), "invalid JSON document"),
        err("unknown root definition", "io.k8s.api.core.v1.Nope", json!({}), json!({}), "no schema"),
    ]);
}

#[test]
fn smp_error_status_codes() {
    let e = strategic_merge_patch(&json!({}), &json!({"metadata": {"finalizers": [["x"]]}}), POD).unwrap_err();
    assert_eq!(e.status_code(), 422);
    let e = strategic_merge_patch(&json!({}), &json!({"$x": 1}), POD).unwrap_err();
    assert_eq!(e.status_code(), 400);
    let e = strategic_merge_patch(&json!({}), &json!({}), "nope").unwrap_err();
    assert_eq!(e.status_code(), 500);
}

#[test]
fn smp_root_definitions() {
    assert_eq!(root_definition("apps", "StatefulSet"), Some("io.k8s.api.apps.v1.StatefulSet"));
    assert_eq!(root_definition("autoscaling", "Scale"), Some("io.k8s.api.autoscaling.v1.Scale"));
    assert_eq!(root_definition("", "Pod"), Some("io.k8s.api.core.v1.Pod"));
    assert_eq!(root_definition("core", "Event"), Some("io.k8s.api.core.v1.Event"));
    assert_eq!(root_definition("events.k8s.io", "Event"), Some("io.k8s.api.events.v1.Event"));
    assert_eq!(root_definition("apps", "Pod"), None);
    assert_eq!(root_definition("example.com", "Widget"), None);
    let graph = kubernetes_graph();
    for (group, kind, def) in schema::ROOTS {
        assert!(graph.has_definition(def), "{group}/{kind}: {def} missing from the schema graph");
    }
}

#[test]
fn smp_patch_meta_lookup() {
    assert_eq!(
        patch_meta("io.k8s.api.core.v1.PodSpec", "containers"),
        Some(PatchMeta { strategy: "merge", merge_key: Some("name") })
    );
    assert_eq!(
        patch_meta("io.k8s.api.core.v1.PodSpec", "volumes"),
        Some(PatchMeta { strategy: "merge,retainKeys", merge_key: Some("name") })
    );
    assert_eq!(
        patch_meta("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers"),
        Some(PatchMeta { strategy: "merge", merge_key: None })
    );
    assert_eq!(patch_meta("io.k8s.api.core.v1.PodSpec", "tolerations"), None);
    assert_eq!(patch_meta("io.k8s.api.core.v1.PodSpecX", "containers"), None);
}

/// Every metadata row must name an existing field of the right shape, or it silently does
/// nothing (a typo would bring back the "apply drops the image" bug).
#[test]
fn smp_meta_table_matches_schema_graph() {
    let graph = kubernetes_graph();
    for &(prefix, def, field, strategy, merge_key) in meta::PATCH_META {
        let name = format!("{prefix}{def}");
        let ty = Ty::Struct(name.clone());
        let (field_ty, meta) = graph.field(&ty, field);
        assert_eq!(meta.map(|m| m.strategy), Some(strategy), "{name}.{field} not in the graph");
        if strategy.contains("merge") {
            let Ty::List(elem) = field_ty else { panic!("{name}.{field} is not a list: {field_ty:?}") };
            match merge_key {
                Some(key) => {
                    let Ty::Struct(elem_def) = &**elem else { panic!("{name}.{field} elements are not objects") };
                    let (key_ty, _) = graph.field(elem, key);
                    assert_eq!(*key_ty, Ty::Scalar, "{elem_def}.{key} (merge key) is not a scalar");
                }
                None => assert_eq!(**elem, Ty::Scalar, "{name}.{field} is not a list of scalars"),
            }
        } else {
            assert!(matches!(field_ty, Ty::Struct(_)), "{name}.{field} is not an object");
        }
    }
}

/// Spot checks that the graph derived from k8s-openapi reaches the nested types.
#[test]
fn smp_schema_graph_paths() {
    let graph = kubernetes_graph();
    let walk = |root: &str, path: &[&str]| -> Ty {
        let mut ty = Ty::Struct(root.to_string());
        for seg in path {
            let (next, _) = graph.field(&ty, seg);
            ty = match next {
                Ty::List(e) => (**e).clone(),
                other => other.clone(),
            };
        }
        ty
    };
    let core = |n: &str| Ty::Struct(format!("io.k8s.api.core.v1.{n}"));
    assert_eq!(walk(STS, &["spec"]), Ty::Struct("io.k8s.api.apps.v1.StatefulSetSpec".into()));
    assert_eq!(walk(STS, &["spec", "template"]), core("PodTemplateSpec"));
    assert_eq!(walk(STS, &["spec", "volumeClaimTemplates"]), core("PersistentVolumeClaim"));
    assert_eq!(walk(STS, &["spec", "template", "spec", "containers", "env"]), core("EnvVar"));
    assert_eq!(
        walk(STS, &["spec", "volumeClaimTemplates", "metadata"]),
        Ty::Struct("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta".into())
    );
    assert_eq!(walk(POD, &["spec", "containers", "resources", "limits"]), Ty::Map(Box::new(Ty::Scalar)));
    assert_eq!(walk(POD, &["metadata", "labels"]), Ty::Map(Box::new(Ty::Scalar)));
    assert_eq!(walk(POD, &["spec", "containers", "ports", "containerPort"]), Ty::Scalar);
    assert_eq!(walk(CR, &["data"]), Ty::Unknown);
    assert_eq!(walk(SVC, &["spec", "ports", "targetPort"]), Ty::Scalar);
}
