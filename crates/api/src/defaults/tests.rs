use serde_json::json;

use super::apply_defaults;

/// The StatefulSet from the walkthrough (/work/shared/seed/statefulset-walkthrough.md).
fn walkthrough_sts() -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "statefulset-kubia-v1"},
        "spec": {
            "serviceName": "statefulset-kubia-v1",
            "replicas": 3,
            "selector": {"matchLabels": {"app": "statefulset-kubia"}},
            "template": {
                "metadata": {"labels": {"app": "statefulset-kubia"}},
                "spec": {"containers": [{
                    "name": "statefulset-kubia",
                    "image": "luksa/kubia-pet",
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "volumeMounts": [{"name": "data", "mountPath": "/var/data"}]
                }]}
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "data"},
                "spec": {
                    "resources": {"requests": {"storage": "1Gi"}},
                    "storageClassName": "nfs",
                    "accessModes": ["ReadWriteOnce"]
                }
            }]
        }
    })
}

#[test]
fn walkthrough_statefulset_matches_upstream_yaml() {
    let mut sts = walkthrough_sts();
    apply_defaults("apps", "StatefulSet", &mut sts);
    // what `kubectl get sts statefulset-kubia-v1 -o yaml` shows for spec on v1.33
    let expected = json!({
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        "podManagementPolicy": "OrderedReady",
        "replicas": 3,
        "revisionHistoryLimit": 10,
        "selector": {"matchLabels": {"app": "statefulset-kubia"}},
        "serviceName": "statefulset-kubia-v1",
        "template": {
            "metadata": {"creationTimestamp": null, "labels": {"app": "statefulset-kubia"}},
            "spec": {
                "containers": [{
                    "image": "luksa/kubia-pet",
                    "imagePullPolicy": "Always",
                    "name": "statefulset-kubia",
                    "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                    "resources": {},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "volumeMounts": [{"mountPath": "/var/data", "name": "data"}]
                }],
                "dnsPolicy": "ClusterFirst",
                "restartPolicy": "Always",
                "schedulerName": "default-scheduler",
                "securityContext": {},
                "terminationGracePeriodSeconds": 30
            }
        },
        "updateStrategy": {"rollingUpdate": {"partition": 0}, "type": "RollingUpdate"},
        "volumeClaimTemplates": [{
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"creationTimestamp": null, "name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
                "storageClassName": "nfs",
                "volumeMode": "Filesystem"
            },
            "status": {"phase": "Pending"}
        }]
    });
    assert_eq!(sts["spec"], expected);
    // templates do not get Pod-only defaults
    assert!(sts["spec"]["template"]["spec"].get("enableServiceLinks").is_none());
}

#[test]
fn rolling_update_without_rolling_update_stays_nil() {
    let mut sts = walkthrough_sts();
    sts["spec"]["updateStrategy"] = json!({"type": "RollingUpdate"});
    apply_defaults("apps", "StatefulSet", &mut sts);
    assert_eq!(sts["spec"]["updateStrategy"], json!({"type": "RollingUpdate"}));

    let mut sts = walkthrough_sts();
    sts["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
    apply_defaults("apps", "StatefulSet", &mut sts);
    assert_eq!(sts["spec"]["updateStrategy"], json!({"type": "OnDelete"}));

    let mut sts = walkthrough_sts();
    sts["spec"]["updateStrategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2, "maxUnavailable": 2}});
    apply_defaults("apps", "StatefulSet", &mut sts);
    // MaxUnavailableStatefulSet is off in v1.33: dropped
    assert_eq!(sts["spec"]["updateStrategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}));
}

#[test]
fn statefulset_keeps_explicit_values() {
    let mut sts = walkthrough_sts();
    sts["spec"]["podManagementPolicy"] = json!("Parallel");
    sts["spec"]["revisionHistoryLimit"] = json!(0);
    sts["spec"]["persistentVolumeClaimRetentionPolicy"] = json!({"whenScaled": "Delete"});
    apply_defaults("apps", "StatefulSet", &mut sts);
    assert_eq!(sts["spec"]["podManagementPolicy"], "Parallel");
    assert_eq!(sts["spec"]["revisionHistoryLimit"], 0);
    assert_eq!(sts["spec"]["persistentVolumeClaimRetentionPolicy"], json!({"whenScaled": "Delete", "whenDeleted": "Retain"}));
}

#[test]
fn pod_defaults() {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {
            "containers": [{
                "name": "c", "image": "nginx:1.25",
                "ports": [{"containerPort": 80}],
                "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "resources": {"limits": {"cpu": "1"}},
                "readinessProbe": {"httpGet": {"port": 80}},
                "livenessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 5}
            }],
            "volumes": [
                {"name": "a"},
                {"name": "b", "hostPath": {"path": "/x"}},
                {"name": "c", "configMap": {"name": "cm"}},
                {"name": "d", "secret": {"secretName": "s"}}
            ]
        }
    });
    apply_defaults("", "Pod", &mut pod);
    let spec = &pod["spec"];
    assert_eq!(spec["restartPolicy"], "Always");
    assert_eq!(spec["terminationGracePeriodSeconds"], 30);
    assert_eq!(spec["dnsPolicy"], "ClusterFirst");
    assert_eq!(spec["schedulerName"], "default-scheduler");
    assert_eq!(spec["securityContext"], json!({}));
    assert_eq!(spec["enableServiceLinks"], true);
    let c = &spec["containers"][0];
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["terminationMessagePolicy"], "File");
    assert_eq!(c["ports"][0]["protocol"], "TCP");
    assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
    assert_eq!(c["resources"]["requests"], json!({"cpu": "1"}));
    assert_eq!(
        c["readinessProbe"],
        json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
    );
    assert_eq!(c["livenessProbe"]["periodSeconds"], 5);
    assert_eq!(spec["volumes"][0], json!({"name": "a", "emptyDir": {}}));
    assert_eq!(spec["volumes"][1]["hostPath"], json!({"path": "/x", "type": ""}));
    assert_eq!(spec["volumes"][2]["configMap"]["defaultMode"], 420);
    assert_eq!(spec["volumes"][3]["secret"]["defaultMode"], 420);

    let mut latest = json!({"spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    apply_defaults("", "Pod", &mut latest);
    assert_eq!(latest["spec"]["containers"][0]["imagePullPolicy"], "Always");
}

#[test]
fn service_defaults() {
    let mut svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "statefulset-kubia-svc"},
        "spec": {"clusterIP": "None", "selector": {"app": "statefulset-kubia"}, "ports": [{"name": "http", "port": 80}]}
    });
    apply_defaults("", "Service", &mut svc);
    assert_eq!(
        svc["spec"],
        json!({
            "clusterIP": "None",
            "selector": {"app": "statefulset-kubia"},
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80}],
            "sessionAffinity": "None",
            "type": "ClusterIP",
            "internalTrafficPolicy": "Cluster"
        })
    );
    let mut np = json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 80, "targetPort": "http"}]}});
    apply_defaults("", "Service", &mut np);
    assert_eq!(np["spec"]["externalTrafficPolicy"], "Cluster");
    assert_eq!(np["spec"]["allocateLoadBalancerNodePorts"], true);
    assert_eq!(np["spec"]["ports"][0]["targetPort"], "http");
}

#[test]
fn storage_and_namespace_defaults() {
    let mut pv = json!({"metadata": {"name": "pv-1"}, "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "nfs": {"path": "/data", "server": "1.2.3.4"}}});
    apply_defaults("", "PersistentVolume", &mut pv);
    assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
    assert_eq!(pv["spec"]["volumeMode"], "Filesystem");
    assert_eq!(pv["status"], json!({"phase": "Pending"}));

    let mut pvc = json!({"metadata": {"name": "c"}, "spec": {"accessModes": ["ReadWriteOnce"]}});
    apply_defaults("", "PersistentVolumeClaim", &mut pvc);
    assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
    assert_eq!(pvc["status"], json!({"phase": "Pending"}));

    let mut ns = json!({"metadata": {"name": "team-a"}});
    apply_defaults("", "Namespace", &mut ns);
    assert_eq!(ns["metadata"]["labels"], json!({"kubernetes.io/metadata.name": "team-a"}));
    assert_eq!(ns["spec"], json!({"finalizers": ["kubernetes"]}));
    assert_eq!(ns["status"], json!({"phase": "Active"}));

    let mut sc = json!({"metadata": {"name": "local"}, "provisioner": "berth.io/local-path"});
    apply_defaults("storage.k8s.io", "StorageClass", &mut sc);
    assert_eq!(sc["reclaimPolicy"], "Delete");
    assert_eq!(sc["volumeBindingMode"], "Immediate");

    let mut secret = json!({"metadata": {"name": "s"}});
    apply_defaults("", "Secret", &mut secret);
    assert_eq!(secret["type"], "Opaque");

    let mut cm = json!({"metadata": {"name": "c"}});
    apply_defaults("", "ConfigMap", &mut cm);
    assert_eq!(cm, json!({"metadata": {"name": "c"}}));
}

#[test]
fn secret_string_data_is_folded_into_data() {
    let mut s = json!({"kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "eA==", "b": "eQ=="}, "stringData": {"b": "hello", "c": ""}});
    apply_defaults("", "Secret", &mut s);
    assert_eq!(s, json!({"kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "eA==", "b": "aGVsbG8=", "c": ""}}));
    let mut only = json!({"metadata": {"name": "s"}, "type": "kubernetes.io/basic-auth", "stringData": {"username": "u"}});
    apply_defaults("", "Secret", &mut only);
    assert_eq!(only["data"], json!({"username": "dQ=="}));
    assert!(only.get("stringData").is_none());
}
