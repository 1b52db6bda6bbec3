use serde_json::{json, Value};

use super::{ago, cells, column_names, mins};
use crate::printers::columns;

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "default", "creationTimestamp": ago(mins(3))})
}

#[test]
fn headless_service_shows_none_and_port() {
    let svc = json!({"metadata": meta("nginx"), "spec": {
        "type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"],
        "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}], "selector": {"app": "nginx"}}});
    assert_eq!(
        column_names("", "services"),
        [
            "Name",
            "Type",
            "Cluster-IP",
            "External-IP",
            "Port(s)",
            "Age",
            "Selector*"
        ]
    );
    assert_eq!(
        cells("", "services", &svc),
        vec![
            json!("nginx"),
            json!("ClusterIP"),
            json!("None"),
            json!("<none>"),
            json!("80/TCP"),
            json!("3m"),
            json!("app=nginx")
        ]
    );
}

#[test]
fn service_types_external_ips_and_ports() {
    let np = json!({"metadata": meta("np"), "spec": {"type": "NodePort", "clusterIP": "10.96.0.10",
        "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
        "selector": {"b": "2", "a": "1"}}});
    let c = cells("", "services", &np);
    assert_eq!(
        c[2],
        json!("10.96.0.10"),
        "clusterIP when clusterIPs is absent"
    );
    assert_eq!(c[4], json!("80:30080/TCP,53/UDP"));
    assert_eq!(c[6], json!("a=1,b=2"));

    let lb = json!({"metadata": meta("lb"), "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.11"]}});
    let c = cells("", "services", &lb);
    assert_eq!(c[3], json!("<pending>"));
    assert_eq!(c[4], json!("<none>"));
    assert_eq!(c[6], json!("<none>"));

    let lb = json!({"metadata": meta("lb"), "spec": {"type": "LoadBalancer", "externalIPs": ["1.2.3.4"]},
        "status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}, {"ip": "5.6.7.8"}]}}});
    assert_eq!(
        cells("", "services", &lb)[3],
        json!("5.6.7.8,lb.example.com,1.2.3.4")
    );

    let ext = json!({"metadata": meta("ext"), "spec": {"type": "ExternalName", "externalName": "db.example.com"}});
    let c = cells("", "services", &ext);
    assert_eq!(c[2], json!("<none>"));
    assert_eq!(c[3], json!("db.example.com"));
}

#[test]
fn endpoints_truncate_after_three() {
    let ep = json!({"metadata": meta("nginx"), "subsets": [{
        "addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "10.0.0.3"}, {"ip": "10.0.0.4"}],
        "ports": [{"port": 80, "protocol": "TCP"}]}]});
    assert_eq!(column_names("", "endpoints"), ["Name", "Endpoints", "Age"]);
    assert_eq!(
        cells("", "endpoints", &ep)[1],
        json!("10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more...")
    );

    let none = json!({"metadata": meta("empty")});
    assert_eq!(cells("", "endpoints", &none)[1], json!("<none>"));

    let headless = json!({"metadata": meta("h"), "subsets": [{"addresses": [{"ip": "fd00::1"}]},
        {"addresses": [{"ip": "fd00::2"}], "ports": [{"port": 8080}]}]});
    assert_eq!(
        cells("", "endpoints", &headless)[1],
        json!("fd00::1,[fd00::2]:8080")
    );
}

#[test]
fn endpoint_slices() {
    assert_eq!(
        column_names("discovery.k8s.io", "endpointslices"),
        ["Name", "AddressType", "Ports", "Endpoints", "Age"]
    );
    let slice = json!({"metadata": meta("nginx-abc12"), "addressType": "IPv4",
        "ports": [{"port": 80, "name": "http"}, {"name": "web"}, {}],
        "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2", "10.0.0.3"]}, {"addresses": ["10.0.0.4"]}]});
    assert_eq!(
        cells("discovery.k8s.io", "endpointslices", &slice),
        vec![
            json!("nginx-abc12"),
            json!("IPv4"),
            json!("80,web,*"),
            json!("10.0.0.1,10.0.0.2,10.0.0.3 + 1 more..."),
            json!("3m")
        ]
    );
    let empty = json!({"metadata": meta("e"), "addressType": "IPv4"});
    let c = cells("discovery.k8s.io", "endpointslices", &empty);
    assert_eq!(
        (c[2].clone(), c[3].clone()),
        (json!("<unset>"), json!("<unset>"))
    );
}

#[test]
fn walkthrough_persistent_volume() {
    assert_eq!(
        column_names("", "persistentvolumes"),
        [
            "Name",
            "Capacity",
            "Access Modes",
            "Reclaim Policy",
            "Status",
            "Claim",
            "StorageClass",
            "VolumeAttributesClass",
            "Reason",
            "Age",
            "VolumeMode*"
        ]
    );
    let pv = json!({"metadata": {"name": "pv-1", "creationTimestamp": ago(mins(3))},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Recycle", "storageClassName": "nfs",
                 "nfs": {"server": "nfs.example.com", "path": "/exports/pv-1"}},
        "status": {"phase": "Available"}});
    assert_eq!(
        cells("", "persistentvolumes", &pv),
        vec![
            json!("pv-1"),
            json!("1Gi"),
            json!("RWO"),
            json!("Recycle"),
            json!("Available"),
            json!(""),
            json!("nfs"),
            json!("<unset>"),
            json!(""),
            json!("3m"),
            json!("<unset>")
        ]
    );
}

#[test]
fn bound_and_deleting_persistent_volume() {
    let mut pv = json!({"metadata": {"name": "pv-0001", "creationTimestamp": ago(mins(3)),
            "annotations": {"volume.beta.kubernetes.io/storage-class": "legacy"}},
        "spec": {"capacity": {"storage": "1024Mi"}, "accessModes": ["ReadWriteMany", "ReadWriteOncePod", "ReadWriteOnce", "ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "standard", "volumeMode": "Filesystem",
                 "claimRef": {"namespace": "default", "name": "www-web-0"}},
        "status": {"phase": "Bound"}});
    let c = cells("", "persistentvolumes", &pv);
    assert_eq!(c[1], json!("1Gi"), "capacity is printed canonically");
    assert_eq!(c[2], json!("RWO,RWX,RWOP"));
    assert_eq!(c[5], json!("default/www-web-0"));
    assert_eq!(
        c[6],
        json!("legacy"),
        "the beta annotation wins over storageClassName"
    );
    assert_eq!(c[10], json!("Filesystem"));
    pv["metadata"]["deletionTimestamp"] = json!(ago(mins(0)));
    assert_eq!(cells("", "persistentvolumes", &pv)[4], json!("Terminating"));
}

#[test]
fn persistent_volume_claims() {
    assert_eq!(
        column_names("", "persistentvolumeclaims"),
        [
            "Name",
            "Status",
            "Volume",
            "Capacity",
            "Access Modes",
            "StorageClass",
            "VolumeAttributesClass",
            "Age",
            "VolumeMode*"
        ]
    );
    let bound = json!({"metadata": meta("www-web-0"),
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "500Mi"}},
                 "storageClassName": "standard", "volumeName": "pv-0001", "volumeMode": "Filesystem"},
        "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}});
    assert_eq!(
        cells("", "persistentvolumeclaims", &bound),
        vec![
            json!("www-web-0"),
            json!("Bound"),
            json!("pv-0001"),
            json!("1Gi"),
            json!("RWO"),
            json!("standard"),
            json!("<unset>"),
            json!("3m"),
            json!("Filesystem")
        ]
    );
    let pending = json!({"metadata": meta("www-web-1"),
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "storageClassName": "standard"},
        "status": {"phase": "Pending"}});
    assert_eq!(
        cells("", "persistentvolumeclaims", &pending),
        vec![
            json!("www-web-1"),
            json!("Pending"),
            json!(""),
            json!(""),
            json!(""),
            json!("standard"),
            json!("<unset>"),
            json!("3m"),
            json!("<unset>")
        ]
    );
}

fn node(conditions: Value, unschedulable: bool) -> Value {
    json!({"metadata": {"name": "node-1", "creationTimestamp": ago(mins(90)),
            "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker", "kubernetes.io/hostname": "node-1"}},
        "spec": {"unschedulable": unschedulable},
        "status": {"conditions": conditions, "nodeInfo": {"kubeletVersion": "v1.32.4", "osImage": "Debian GNU/Linux 12 (bookworm)"},
                   "addresses": [{"type": "Hostname", "address": "node-1"}, {"type": "InternalIP", "address": "192.168.1.10"}]}})
}

#[test]
fn nodes() {
    assert_eq!(
        column_names("", "nodes"),
        [
            "Name",
            "Status",
            "Roles",
            "Age",
            "Version",
            "Internal-IP*",
            "External-IP*",
            "OS-Image*",
            "Kernel-Version*",
            "Container-Runtime*"
        ]
    );
    let n = node(
        json!([{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "Unknown"}]),
        true,
    );
    assert_eq!(
        cells("", "nodes", &n),
        vec![
            json!("node-1"),
            json!("NotReady,SchedulingDisabled"),
            json!("control-plane,worker"),
            json!("90m"),
            json!("v1.32.4"),
            json!("192.168.1.10"),
            json!("<none>"),
            json!("Debian GNU/Linux 12 (bookworm)"),
            json!("<unknown>"),
            json!("<unknown>")
        ]
    );
    assert_eq!(
        cells(
            "",
            "nodes",
            &node(json!([{"type": "Ready", "status": "True"}]), false)
        )[1],
        json!("Ready")
    );
    assert_eq!(
        cells("", "nodes", &node(json!([]), true))[1],
        json!("Unknown,SchedulingDisabled")
    );
    let mut bare = node(json!([]), false);
    bare["metadata"]["labels"] = json!({});
    assert_eq!(cells("", "nodes", &bare)[2], json!("<none>"));
}

#[test]
fn statefulsets() {
    assert_eq!(
        column_names("apps", "statefulsets"),
        ["Name", "Ready", "Age", "Containers*", "Images*"]
    );
    let sts = json!({"metadata": meta("web"), "spec": {"replicas": 3, "serviceName": "nginx",
        "template": {"spec": {"containers": [{"name": "nginx", "image": "registry.k8s.io/nginx-slim:0.8"},
                                             {"name": "sidecar", "image": "busybox"}]}}},
        "status": {"replicas": 0}});
    assert_eq!(
        cells("apps", "statefulsets", &sts),
        vec![
            json!("web"),
            json!("0/3"),
            json!("3m"),
            json!("nginx,sidecar"),
            json!("registry.k8s.io/nginx-slim:0.8,busybox")
        ]
    );
}

#[test]
fn controller_revisions() {
    assert_eq!(
        column_names("apps", "controllerrevisions"),
        ["Name", "Controller", "Revision", "Age"]
    );
    let cr = json!({"metadata": {"name": "web-6945968d9", "creationTimestamp": ago(mins(50)),
        "ownerReferences": [
            {"apiVersion": "v1", "kind": "Pod", "name": "other", "uid": "u0"},
            {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "u1", "controller": true}]},
        "revision": 2, "data": {}});
    assert_eq!(
        cells("apps", "controllerrevisions", &cr),
        vec![
            json!("web-6945968d9"),
            json!("statefulset.apps/web"),
            json!(2),
            json!("50m")
        ]
    );
    let orphan = json!({"metadata": {"name": "web-1"}, "revision": 1});
    let c = cells("apps", "controllerrevisions", &orphan);
    assert_eq!(
        (c[1].clone(), c[3].clone()),
        (json!("<none>"), json!("<unknown>"))
    );
}

#[test]
fn storage_classes() {
    assert_eq!(
        column_names("storage.k8s.io", "storageclasses"),
        [
            "Name",
            "Provisioner",
            "ReclaimPolicy",
            "VolumeBindingMode",
            "AllowVolumeExpansion",
            "Age"
        ]
    );
    let sc = json!({"metadata": {"name": "standard", "creationTimestamp": ago(mins(3)),
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "berth.dev/local-path"});
    assert_eq!(
        cells("storage.k8s.io", "storageclasses", &sc),
        vec![
            json!("standard (default)"),
            json!("berth.dev/local-path"),
            json!("Delete"),
            json!("Immediate"),
            json!(false),
            json!("3m")
        ]
    );
    let beta = json!({"metadata": {"name": "old", "annotations": {"storageclass.beta.kubernetes.io/is-default-class": "true"}},
        "provisioner": "x", "reclaimPolicy": "Retain", "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": true});
    let c = cells("storage.k8s.io", "storageclasses", &beta);
    assert_eq!(
        c[..5],
        [
            json!("old (default)"),
            json!("x"),
            json!("Retain"),
            json!("WaitForFirstConsumer"),
            json!(true)
        ]
    );
    let not_default = json!({"metadata": {"name": "slow", "annotations": {"storageclass.kubernetes.io/is-default-class": "false"}}});
    assert_eq!(
        cells("storage.k8s.io", "storageclasses", &not_default)[0],
        json!("slow")
    );
}

#[test]
fn small_core_kinds() {
    let ns = json!({"metadata": {"name": "default", "creationTimestamp": ago(mins(3))}, "status": {"phase": "Active"}});
    assert_eq!(column_names("", "namespaces"), ["Name", "Status", "Age"]);
    assert_eq!(
        cells("", "namespaces", &ns),
        vec![json!("default"), json!("Active"), json!("3m")]
    );

    let cm =
        json!({"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
    assert_eq!(column_names("", "configmaps"), ["Name", "Data", "Age"]);
    assert_eq!(
        cells("", "configmaps", &cm),
        vec![json!("cfg"), json!(3), json!("3m")]
    );

    let secret = json!({"metadata": meta("s"), "type": "Opaque", "data": {"u": "YQ=="}, "stringData": {"u": "a", "p": "b"}});
    assert_eq!(column_names("", "secrets"), ["Name", "Type", "Data", "Age"]);
    assert_eq!(
        cells("", "secrets", &secret),
        vec![json!("s"), json!("Opaque"), json!(2), json!("3m")]
    );

    let sa = json!({"metadata": meta("default"), "secrets": [{"name": "default-token"}]});
    assert_eq!(
        column_names("", "serviceaccounts"),
        ["Name", "Secrets", "Age"]
    );
    assert_eq!(
        cells("", "serviceaccounts", &sa),
        vec![json!("default"), json!(1), json!("3m")]
    );

    let lease = json!({"metadata": {"name": "node-1", "namespace": "kube-node-lease", "creationTimestamp": ago(mins(3))},
        "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40}});
    assert_eq!(
        column_names("coordination.k8s.io", "leases"),
        ["Name", "Holder", "Age"]
    );
    assert_eq!(
        cells("coordination.k8s.io", "leases", &lease),
        vec![json!("node-1"), json!("node-1"), json!("3m")]
    );
}

#[test]
fn core_events() {
    assert_eq!(
        column_names("", "events"),
        [
            "Last Seen",
            "Type",
            "Reason",
            "Object",
            "Subobject*",
            "Source*",
            "Message",
            "First Seen*",
            "Count*",
            "Name*"
        ]
    );
    assert_eq!(columns("", "events")[9].format, "name");
    let ev = json!({"metadata": meta("web.17a"), "involvedObject": {"kind": "StatefulSet", "name": "web", "namespace": "default"},
        "reason": "SuccessfulCreate", "message": "create Pod web-0 in StatefulSet web successful\n",
        "source": {"component": "statefulset-controller"}, "type": "Normal",
        "firstTimestamp": ago(mins(10)), "lastTimestamp": ago(mins(2)), "count": 4});
    assert_eq!(
        cells("", "events", &ev),
        vec![
            json!("2m"),
            json!("Normal"),
            json!("SuccessfulCreate"),
            json!("statefulset/web"),
            json!(""),
            json!("statefulset-controller"),
            json!("create Pod web-0 in StatefulSet web successful"),
            json!("10m"),
            json!(4),
            json!("web.17a")
        ]
    );

    // New-style event: only eventTime (microtime), a series, the reporting controller.
    let ev = json!({"metadata": meta("web-0.17b"), "involvedObject": {"kind": "Pod", "name": "web-0", "fieldPath": "spec.containers{nginx}"},
        "reason": "Pulled", "message": "ok", "type": "Normal", "eventTime": "2026-11-26T20:57:00.123456Z",
        "series": {"count": 7, "lastObservedTime": "2026-11-26T20:59:29.500000Z"},
        "reportingComponent": "kubelet", "reportingInstance": "node-1"});
    let c = cells("", "events", &ev);
    assert_eq!(c[0], json!("30s"));
    assert_eq!(c[4], json!("spec.containers{nginx}"));
    assert_eq!(c[5], json!("kubelet, node-1"));
    assert_eq!(c[7], json!("2m59s"));
    assert_eq!(c[8], json!(7));

    // Singleton event without timestamps or count.
    let ev = json!({"metadata": meta("x"), "involvedObject": {"kind": "Node"}});
    let c = cells("", "events", &ev);
    assert_eq!(
        (c[0].clone(), c[3].clone(), c[8].clone()),
        (json!("<unknown>"), json!("node"), json!(1))
    );
}

#[test]
fn events_k8s_io_events_use_the_core_printer() {
    assert_eq!(
        column_names("events.k8s.io", "events"),
        column_names("", "events")
    );
    let ev = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": meta("web.17c"),
        "regarding": {"kind": "PersistentVolumeClaim", "name": "www-web-0"}, "note": "waiting for first consumer",
        "reason": "WaitForFirstConsumer", "type": "Normal", "reportingController": "persistentvolume-controller",
        "eventTime": ago(mins(4)), "deprecatedCount": 2, "deprecatedLastTimestamp": ago(mins(1))});
    assert_eq!(
        cells("events.k8s.io", "events", &ev),
        vec![
            json!("60s"),
            json!("Normal"),
            json!("WaitForFirstConsumer"),
            json!("persistentvolumeclaim/www-web-0"),
            json!(""),
            json!("persistentvolume-controller"),
            json!("waiting for first consumer"),
            json!("4m"),
            json!(2),
            json!("web.17c")
        ]
    );
}

#[test]
fn default_table_convertor_for_other_resources() {
    let cols = columns("rbac.authorization.k8s.io", "roles");
    assert_eq!(
        column_names("rbac.authorization.k8s.io", "roles"),
        ["Name", "Created At"]
    );
    assert_eq!((cols[0].format, cols[1].type_), ("name", "date"));
    let role = json!({"metadata": {"name": "reader", "creationTimestamp": "2026-11-26T20:49:11Z"}});
    assert_eq!(
        cells("rbac.authorization.k8s.io", "roles", &role),
        vec![json!("reader"), json!("2026-11-26T20:49:11Z")]
    );
    // Same plural in another group is not the core printer.
    assert_eq!(column_names("example.com", "pods"), ["Name", "Created At"]);
}
