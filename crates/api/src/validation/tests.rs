use serde_json::{json, Value};

use super::{duplicate_fields, unknown_fields, validate_create, validate_update};
use crate::defaults::apply_defaults;
use crate::errors::StatusError;

fn msgs(errs: &[crate::FieldError]) -> Vec<String> {
    errs.iter().map(|e| e.to_string()).collect()
}

fn defaulted(group: &str, kind: &str, mut obj: Value) -> Value {
    apply_defaults(group, kind, &mut obj);
    obj
}

fn sts() -> Value {
    defaulted(
        "apps",
        "StatefulSet",
        json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "5"},
            "spec": {
                "serviceName": "nginx",
                "replicas": 2,
                "selector": {"matchLabels": {"app": "nginx"}},
                "template": {
                    "metadata": {"labels": {"app": "nginx"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25", "volumeMounts": [{"name": "www", "mountPath": "/usr/share/nginx/html"}]}]}
                },
                "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
            }
        }),
    )
}

fn pod() -> Value {
    defaulted(
        "",
        "Pod",
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-0", "namespace": "default", "uid": "p1"},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25", "ports": [{"name": "web", "containerPort": 80}]}]}
        }),
    )
}

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

#[test]
fn valid_objects_pass() {
    assert_eq!(msgs(&validate_create("apps", "StatefulSet", &sts())), Vec::<String>::new());
    assert_eq!(msgs(&validate_create("", "Pod", &pod())), Vec::<String>::new());
    let svc = defaulted("", "Service", json!({"metadata": {"name": "nginx", "namespace": "default"}, "spec": {"clusterIP": "None", "selector": {"app": "nginx"}, "ports": [{"port": 80, "name": "web"}]}}));
    assert_eq!(msgs(&validate_create("", "Service", &svc)), Vec::<String>::new());
    let ns = defaulted("", "Namespace", json!({"metadata": {"name": "team-a"}}));
    assert!(validate_create("", "Namespace", &ns).is_empty());
    assert!(validate_update("apps", "StatefulSet", &sts(), &sts()).is_empty());
}

#[test]
fn object_meta_messages() {
    let mut o = pod();
    o["metadata"] = json!({"namespace": "default"});
    assert_eq!(msgs(&validate_create("", "Pod", &o)), ["metadata.name: Required value: name or generateName is required"]);

    o["metadata"] = json!({"name": "Web_1", "namespace": "default"});
    assert_eq!(msgs(&validate_create("", "Pod", &o)), [format!("metadata.name: Invalid value: \"Web_1\": {SUBDOMAIN_MSG}")]);

    let ns = defaulted("", "Namespace", json!({"metadata": {"name": "a.b"}}));
    assert_eq!(msgs(&validate_create("", "Namespace", &ns)), ["metadata.name: Invalid value: \"a.b\": must not contain dots"]);

    let svc = defaulted("", "Service", json!({"metadata": {"name": "1web"}, "spec": {"ports": [{"port": 80}]}}));
    assert_eq!(
        msgs(&validate_create("", "Service", &svc)),
        ["metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"]
    );

    let mut s = sts();
    s["metadata"]["name"] = json!("web.v1");
    assert_eq!(msgs(&validate_create("apps", "StatefulSet", &s)), ["metadata.name: Invalid value: \"web.v1\": must not contain dots"]);
    s["metadata"]["name"] = json!("Web");
    assert_eq!(msgs(&validate_create("apps", "StatefulSet", &s)), [format!("metadata.name: Invalid value: \"Web\": {LABEL_MSG}")]);

    // generateName: a trailing dash is fine
    let mut o = pod();
    o["metadata"]["generateName"] = json!("web-");
    assert!(validate_create("", "Pod", &o).is_empty());
}

#[test]
fn labels_annotations_finalizers() {
    let mut o = pod();
    o["metadata"]["labels"] = json!({"app": "-bad", "a/b/c": "x"});
    assert_eq!(
        msgs(&validate_create("", "Pod", &o)),
        [
            "metadata.labels: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
            "metadata.labels: Invalid value: \"-bad\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        ]
    );

    let mut o = pod();
    o["metadata"]["annotations"] = json!({"Example.com/ok": "x", "_bad": "y"});
    assert_eq!(
        msgs(&validate_create("", "Pod", &o)),
        ["metadata.annotations: Invalid value: \"_bad\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"]
    );

    let mut o = pod();
    o["metadata"]["finalizers"] = json!(["kubernetes", "foregroundDeletion", "example.com/keep", "custom"]);
    assert_eq!(
        msgs(&validate_create("", "Pod", &o)),
        ["metadata.finalizers[3]: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified"]
    );

    o["metadata"]["finalizers"] = json!(["orphan", "foregroundDeletion"]);
    assert_eq!(
        msgs(&validate_create("", "Pod", &o)),
        ["metadata.finalizers: Invalid value: [\"orphan\",\"foregroundDeletion\"]: finalizer orphan and foregroundDeletion cannot be both set"]
    );

    let mut o = pod();
    o["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": ""}]);
    assert_eq!(msgs(&validate_create("", "Pod", &o)), ["metadata.ownerReferences.uid: Invalid value: \"\": must not be empty"]);
}

#[test]
fn metadata_update_rules() {
    let old = pod();
    let mut new = pod();
    new["metadata"]["name"] = json!("web-1");
    new["metadata"]["uid"] = json!("other");
    assert_eq!(
        msgs(&validate_update("", "Pod", &new, &old)),
        ["metadata.name: Invalid value: \"web-1\": field is immutable", "metadata.uid: Invalid value: \"other\": field is immutable"]
    );

    let mut old = pod();
    old["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
    old["metadata"]["finalizers"] = json!(["example.com/a"]);
    let mut new = old.clone();
    new["metadata"]["finalizers"] = json!(["example.com/a", "example.com/b"]);
    assert_eq!(
        msgs(&validate_update("", "Pod", &new, &old)),
        ["metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"example.com/b\"}"]
    );
}

#[test]
fn statefulset_create_messages() {
    let mut s = sts();
    s["spec"].as_object_mut().unwrap().remove("selector");
    assert_eq!(msgs(&validate_create("apps", "StatefulSet", &s)), ["spec.selector: Required value"]);

    let mut s = sts();
    s["spec"]["selector"] = json!({"matchLabels": {}});
    assert_eq!(msgs(&validate_create("apps", "StatefulSet", &s)), ["spec.selector: Invalid value: {}: empty selector is invalid for statefulset"]);

    let mut s = sts();
    s["spec"]["template"]["metadata"]["labels"] = json!({"tier": "web", "app": "x"});
    let errs = validate_create("apps", "StatefulSet", &s);
    assert_eq!(msgs(&errs), ["spec.template.metadata.labels: Invalid value: {\"app\":\"x\",\"tier\":\"web\"}: `selector` does not match template `labels`"]);
    assert_eq!(
        StatusError::invalid("apps", "StatefulSet", "web", &errs).message,
        "StatefulSet.apps \"web\" is invalid: spec.template.metadata.labels: Invalid value: {\"app\":\"x\",\"tier\":\"web\"}: `selector` does not match template `labels`"
    );

    let mut s = sts();
    s["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
    assert_eq!(msgs(&validate_create("apps", "StatefulSet", &s)), ["spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""]);

    let mut s = sts();
    s["spec"]["replicas"] = json!(-1);
    s["spec"]["podManagementPolicy"] = json!("Random");
    s["spec"]["updateStrategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"partition": -2}});
    assert_eq!(
        msgs(&validate_create("apps", "StatefulSet", &s)),
        [
            "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'",
            "spec.updateStrategy.rollingUpdate.partition: Invalid value: -2: must be greater than or equal to 0",
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        ]
    );

    let mut s = sts();
    s["spec"]["updateStrategy"] = json!({"type": "Sometimes"});
    assert_eq!(
        msgs(&validate_create("apps", "StatefulSet", &s)),
        // json.Marshal of the internal struct: Go field order, no json tags
        ["spec.updateStrategy: Invalid value: {\"Type\":\"Sometimes\",\"RollingUpdate\":null}: must be 'RollingUpdate' or 'OnDelete'"]
    );

    let mut s = sts();
    s["spec"]["updateStrategy"] = json!({"type": "OnDelete", "rollingUpdate": {"partition": 1}});
    assert_eq!(
        msgs(&validate_create("apps", "StatefulSet", &s)),
        ["spec.updateStrategy.rollingUpdate: Invalid value: {\"Partition\":1,\"MaxUnavailable\":null}: only allowed for updateStrategy 'RollingUpdate'"]
    );

    let mut s = sts();
    s["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] = json!("Keep");
    s["spec"]["template"]["spec"]["activeDeadlineSeconds"] = json!(10);
    assert_eq!(
        msgs(&validate_create("apps", "StatefulSet", &s)),
        [
            "spec.persistentVolumeClaimRetentionPolicy.whenDeleted: Unsupported value: \"Keep\": supported values: \"Retain\", \"Delete\"",
            "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in StatefulSet is not Supported",
        ]
    );

    let mut s = sts();
    s["spec"]["selector"] = json!({"matchExpressions": [{"key": "app", "operator": "In"}]});
    assert_eq!(
        msgs(&validate_create("apps", "StatefulSet", &s)),
        [
            "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
            "spec.selector: Invalid value: {\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"In\"}]}",
        ]
    );

    // upstream does not validate the template's PodSpec for StatefulSets
    let mut s = sts();
    s["spec"]["template"]["spec"]["containers"][0]["image"] = json!("");
    assert!(validate_create("apps", "StatefulSet", &s).is_empty());
}

#[test]
fn statefulset_update_messages() {
    let old = sts();
    let mut new = sts();
    new["spec"]["replicas"] = json!(5);
    new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.26");
    new["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
    new["spec"]["minReadySeconds"] = json!(10);
    new["spec"]["ordinals"] = json!({"start": 2});
    new["spec"]["revisionHistoryLimit"] = json!(3);
    new["spec"]["persistentVolumeClaimRetentionPolicy"] = json!({"whenDeleted": "Delete", "whenScaled": "Delete"});
    assert!(validate_update("apps", "StatefulSet", &new, &old).is_empty());

    let forbidden = "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";
    for (field, value) in [
        ("serviceName", json!("other")),
        ("podManagementPolicy", json!("Parallel")),
        ("volumeClaimTemplates", json!([])),
    ] {
        let mut new = sts();
        new["spec"][field] = value;
        assert_eq!(msgs(&validate_update("apps", "StatefulSet", &new, &old)), [forbidden], "{field}");
    }
    let mut new = sts();
    new["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
    let errs = validate_update("apps", "StatefulSet", &new, &old);
    assert_eq!(
        StatusError::invalid("apps", "StatefulSet", "web", &errs).message,
        format!("StatefulSet.apps \"web\" is invalid: {forbidden}")
    );
}

#[test]
fn pod_create_messages() {
    let mut p = pod();
    p["spec"]["containers"] = json!([]);
    assert_eq!(msgs(&validate_create("", "Pod", &p)), ["spec.containers: Required value"]);

    let p = defaulted("", "Pod", json!({"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "Web", "image": "a", "volumeMounts": [{"name": "data", "mountPath": "/d"}, {"name": "data", "mountPath": "/d"}]},
        {"name": "side", "image": ""},
        {"name": "side", "image": "b", "ports": [{"containerPort": 70000, "name": "http"}, {"containerPort": 8080, "name": "http"}]},
    ]}}));
    assert_eq!(
        msgs(&validate_create("", "Pod", &p)),
        [
            format!("spec.containers[0].name: Invalid value: \"Web\": {LABEL_MSG}"),
            "spec.containers[0].volumeMounts[0].name: Not found: \"data\"".to_string(),
            "spec.containers[0].volumeMounts[1].name: Not found: \"data\"".to_string(),
            "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/d\": must be unique".to_string(),
            "spec.containers[1].image: Required value".to_string(),
            "spec.containers[2].name: Duplicate value: \"side\"".to_string(),
            "spec.containers[2].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive".to_string(),
            "spec.containers[2].ports[1].name: Duplicate value: \"http\"".to_string(),
        ]
    );

    let mut p = pod();
    p["spec"]["restartPolicy"] = json!("Sometimes");
    p["spec"]["containers"][0]["ports"][0]["protocol"] = json!("HTTP");
    p["spec"]["volumes"] = json!([{"name": "a", "emptyDir": {}}, {"name": "a", "emptyDir": {}, "hostPath": {"path": "/x"}}]);
    assert_eq!(
        msgs(&validate_create("", "Pod", &p)),
        [
            "spec.volumes[1].hostPath: Forbidden: may not specify more than 1 volume type",
            "spec.volumes[1].name: Duplicate value: \"a\"",
            "spec.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
        ]
    );
}

#[test]
fn pod_update_messages() {
    let old = pod();
    let mut new = pod();
    new["spec"]["containers"][0]["image"] = json!("nginx:1.26");
    new["spec"]["activeDeadlineSeconds"] = json!(30);
    assert!(validate_update("", "Pod", &new, &old).is_empty());

    let mut new = pod();
    new["spec"]["containers"][0]["ports"][0]["containerPort"] = json!(81);
    let errs = validate_update("", "Pod", &new, &old);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].to_string().starts_with(
        "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"
    ));

    let mut new = pod();
    new["spec"]["containers"] = json!([]);
    let m = msgs(&validate_update("", "Pod", &new, &old));
    assert_eq!(m.last().unwrap(), "spec.containers: Forbidden: pod updates may not add or remove containers");
}

#[test]
fn service_messages() {
    let svc = defaulted("", "Service", json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}}}));
    assert_eq!(msgs(&validate_create("", "Service", &svc)), ["spec.ports: Required value"]);
    // headless services may have no ports
    let svc = defaulted("", "Service", json!({"metadata": {"name": "web"}, "spec": {"clusterIP": "None"}}));
    assert!(validate_create("", "Service", &svc).is_empty());

    let svc = defaulted("", "Service", json!({"metadata": {"name": "web"}, "spec": {"type": "Magic", "ports": [{"port": 80}, {"port": 0, "name": "b"}]}}));
    assert_eq!(
        msgs(&validate_create("", "Service", &svc)),
        [
            "spec.ports[0].name: Required value",
            "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.ports[1].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.type: Unsupported value: \"Magic\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
        ]
    );

    let svc = defaulted("", "Service", json!({"metadata": {"name": "web"}, "spec": {"type": "NodePort", "clusterIP": "None", "ports": [{"port": 80}]}}));
    assert_eq!(msgs(&validate_create("", "Service", &svc)), ["spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"]);

    let old = defaulted("", "Service", json!({"metadata": {"name": "web"}, "spec": {"clusterIP": "None", "ports": [{"port": 80}]}}));
    let new = defaulted("", "Service", json!({"metadata": {"name": "web"}, "spec": {"clusterIP": "10.0.0.5", "ports": [{"port": 80}]}}));
    assert_eq!(msgs(&validate_update("", "Service", &new, &old)), ["spec.clusterIPs[0]: Invalid value: [\"10.0.0.5\"]: may not change once set"]);
}

#[test]
fn volume_messages() {
    let pv = defaulted("", "PersistentVolume", json!({"metadata": {"name": "pv-1"}, "spec": {"persistentVolumeReclaimPolicy": "Keep"}}));
    assert_eq!(
        msgs(&validate_create("", "PersistentVolume", &pv)),
        [
            "spec.accessModes: Required value",
            "spec.capacity: Required value",
            "spec.capacity: Unsupported value: null: supported values: \"storage\"",
            "spec.persistentVolumeReclaimPolicy: Unsupported value: \"Keep\": supported values: \"Delete\", \"Recycle\", \"Retain\"",
            "spec: Required value: must specify a volume type",
        ]
    );
    let pv = defaulted("", "PersistentVolume", json!({"metadata": {"name": "pv-1"}, "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/d"}, "nfs": {"server": "s", "path": "/p"}}}));
    assert_eq!(msgs(&validate_create("", "PersistentVolume", &pv)), ["spec.nfs: Forbidden: may not specify more than 1 volume type"]);

    let pvc = defaulted("", "PersistentVolumeClaim", json!({"metadata": {"name": "data", "namespace": "default"}, "spec": {}}));
    assert_eq!(
        msgs(&validate_create("", "PersistentVolumeClaim", &pvc)),
        ["spec.accessModes: Required value: at least 1 access mode is required", "spec.resources[storage]: Required value"]
    );

    let old = defaulted("", "PersistentVolumeClaim", json!({"metadata": {"name": "data", "namespace": "default"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "storageClassName": "local"}}));
    let mut new = old.clone();
    new["spec"]["storageClassName"] = json!("nfs");
    let m = msgs(&validate_update("", "PersistentVolumeClaim", &new, &old));
    assert_eq!(m.len(), 1);
    assert!(m[0].starts_with("spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n"), "{m:?}");
    // binding sets volumeName once
    let mut new = old.clone();
    new["spec"]["volumeName"] = json!("pv-1");
    assert!(validate_update("", "PersistentVolumeClaim", &new, &old).is_empty());
}

#[test]
fn storage_class_messages() {
    let sc = defaulted("storage.k8s.io", "StorageClass", json!({"metadata": {"name": "local"}, "reclaimPolicy": "Recycle"}));
    assert_eq!(
        msgs(&validate_create("storage.k8s.io", "StorageClass", &sc)),
        ["provisioner: Required value", "reclaimPolicy: Unsupported value: \"Recycle\": supported values: \"Delete\", \"Retain\""]
    );
    let old = defaulted("storage.k8s.io", "StorageClass", json!({"metadata": {"name": "local"}, "provisioner": "berth.io/local", "parameters": {"a": "1"}}));
    let mut new = old.clone();
    new["provisioner"] = json!("other.io/x");
    new["parameters"] = json!({"a": "2"});
    new["reclaimPolicy"] = json!("Retain");
    new["volumeBindingMode"] = json!("WaitForFirstConsumer");
    assert_eq!(
        msgs(&validate_update("storage.k8s.io", "StorageClass", &new, &old)),
        [
            "parameters: Forbidden: updates to parameters are forbidden.",
            "provisioner: Forbidden: updates to provisioner are forbidden.",
            "reclaimPolicy: Forbidden: updates to reclaimPolicy are forbidden.",
            "volumeBindingMode: Invalid value: \"WaitForFirstConsumer\": field is immutable",
        ]
    );
}

#[test]
fn other_kinds() {
    let cm = json!({"metadata": {"name": "c", "namespace": "default"}, "data": {"ok.key": "1", "bad key": "2"}});
    assert_eq!(
        msgs(&validate_create("", "ConfigMap", &cm)),
        ["data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"]
    );
    let secret = defaulted("", "Secret", json!({"metadata": {"name": "s", "namespace": "default"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}}));
    assert_eq!(msgs(&validate_create("", "Secret", &secret)), ["data[tls.key]: Required value"]);
    let mut new = secret.clone();
    new["type"] = json!("Opaque");
    assert_eq!(msgs(&validate_update("", "Secret", &new, &secret)), ["type: Invalid value: \"Opaque\": field is immutable"]);

    let lease = json!({"metadata": {"name": "node-1", "namespace": "kube-node-lease"}, "spec": {"leaseDurationSeconds": 0}});
    assert_eq!(msgs(&validate_create("coordination.k8s.io", "Lease", &lease)), ["spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"]);

    let ns = defaulted("", "Namespace", json!({"metadata": {"name": "a"}, "spec": {"finalizers": ["custom"]}}));
    assert_eq!(
        msgs(&validate_create("", "Namespace", &ns)),
        ["spec.finalizers: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified"]
    );

    let slice = defaulted("discovery.k8s.io", "EndpointSlice", json!({"metadata": {"name": "web-abc", "namespace": "default"}, "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.300"]}], "ports": [{"port": 80}]}));
    assert_eq!(msgs(&validate_create("discovery.k8s.io", "EndpointSlice", &slice)), ["endpoints[0].addresses[0]: Invalid value: \"10.0.0.300\": must be a valid IPv4 address"]);

    let ev = json!({"metadata": {"name": "web.1", "namespace": "default"}, "involvedObject": {"kind": "Pod", "namespace": "other", "name": "web-0"}});
    assert_eq!(msgs(&validate_create("", "Event", &ev)), ["involvedObject.namespace: Invalid value: \"other\": does not match event.namespace"]);

    let cr = json!({"metadata": {"name": "web-7b8f6c9d4", "namespace": "default"}, "revision": 1});
    assert_eq!(msgs(&validate_create("apps", "ControllerRevision", &cr)), ["data: Required value: data is mandatory"]);

    let node = json!({"metadata": {"name": "node-1"}, "spec": {"taints": [{"key": "k", "effect": "Sometimes"}]}});
    assert_eq!(
        msgs(&validate_create("", "Node", &node)),
        ["metadata.taints[0].effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""]
    );
}

#[test]
fn strict_unknown_fields() {
    let mut s = sts();
    s["spec"]["foo"] = json!(1);
    s["spec"]["template"]["spec"]["containers"][0]["imagee"] = json!("x");
    s["spec"]["volumeClaimTemplates"][0]["spec"]["sizee"] = json!({"deep": 1});
    s["metadata"]["labelz"] = json!({});
    s["status"] = json!({"replicas": 0});
    s["metadata"]["creationTimestamp"] = Value::Null; // kubectl sends nulls; they are not fields
    // document order: `spec.foo` was appended after the defaulted fields
    assert_eq!(
        unknown_fields("apps", "StatefulSet", &s),
        ["metadata.labelz", "spec.template.spec.containers[0].imagee", "spec.volumeClaimTemplates[0].spec.sizee", "spec.foo"]
    );
    // a clean object, including last-applied annotation and defaulted fields, has none
    let mut clean = sts();
    clean["metadata"]["annotations"] = json!({"kubectl.kubernetes.io/last-applied-configuration": "{}\n"});
    assert!(unknown_fields("apps", "StatefulSet", &clean).is_empty());
    assert!(unknown_fields("", "Pod", &pod()).is_empty());

    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "dta": {"a": "b"}, "data": {"free-form": "keys"}});
    assert_eq!(unknown_fields("", "ConfigMap", &cm), ["dta"]);
    let cr = json!({"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "c"}, "revision": 1, "data": {"spec": {"anything": true}}});
    assert!(unknown_fields("apps", "ControllerRevision", &cr).is_empty());
}

#[test]
fn strict_duplicate_fields() {
    let raw = br#"{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"a","name":"b"},
        "spec":{"replicas":1,"replicas":2,"template":{"spec":{"containers":[{"name":"c","image":"x","image":"y"}]}}}}"#;
    assert_eq!(duplicate_fields(raw), ["metadata.name", "spec.replicas", "spec.template.spec.containers[0].image"]);
    assert!(duplicate_fields(br#"{"a":{"b":1},"c":[{"b":1},{"b":2}],"s":"x\"y"}"#).is_empty());
    assert_eq!(duplicate_fields(br#"{"a\u0062":1,"ab":2}"#), ["ab"]);
    assert!(duplicate_fields(b"{not json").is_empty());
}
