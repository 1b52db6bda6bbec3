//! Pod and pod-template defaults (`pkg/apis/core/v1/defaults.go` as wired by the generated
//! `SetObjectDefaults_*`): PodSpec, containers, probes, ports, env, volumes.

use serde_json::{json, Map, Value};

use super::{ensure_obj, set_if_absent, set_if_empty_str, set_if_zero};

/// Whether defaults are for a Pod or for a template embedded in a workload. Only Pods get
/// `SetDefaults_Pod` (enableServiceLinks, requests from limits, hostNetwork ports):
/// upstream keeps those out of templates so they don't churn workload revisions.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PodSpecContext {
    Pod,
    Template,
}

pub fn default_pod_spec(spec: &mut Value, ctx: PodSpecContext) {
    let Some(m) = spec.as_object_mut() else { return };
    set_if_empty_str(m, "dnsPolicy", "ClusterFirst");
    set_if_empty_str(m, "restartPolicy", "Always");
    set_if_absent(m, "securityContext", json!({}));
    set_if_absent(m, "terminationGracePeriodSeconds", json!(30));
    set_if_empty_str(m, "schedulerName", "default-scheduler");

    if let Some(vols) = m.get_mut("volumes").and_then(Value::as_array_mut) {
        vols.iter_mut().for_each(default_volume);
    }
    for key in ["initContainers", "containers", "ephemeralContainers"] {
        if let Some(cs) = m.get_mut(key).and_then(Value::as_array_mut) {
            cs.iter_mut().for_each(default_container);
        }
    }

    if ctx == PodSpecContext::Pod {
        for key in ["containers", "initContainers"] {
            if let Some(cs) = m.get_mut(key).and_then(Value::as_array_mut) {
                cs.iter_mut().for_each(requests_from_limits);
            }
        }
        set_if_absent(m, "enableServiceLinks", json!(true));
        if m.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
            for key in ["containers", "initContainers"] {
                for c in m.get_mut(key).and_then(Value::as_array_mut).into_iter().flatten() {
                    for port in c.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten() {
                        if port.get("hostPort").and_then(Value::as_i64).unwrap_or(0) == 0 {
                            port["hostPort"] = port.get("containerPort").cloned().unwrap_or(json!(0));
                        }
                    }
                }
            }
        }
    }
}

/// The tag `parsers.ParseImageName` finds: `latest` when the reference has neither a tag
/// nor a digest, empty when it has only a digest.
fn image_tag(image: &str) -> &str {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.rfind(':') {
        Some(pos) => &last[pos + 1..],
        None if digest.is_some() => "",
        None => "latest",
    }
}

fn default_container(c: &mut Value) {
    let Some(m) = c.as_object_mut() else { return };
    if m.get("imagePullPolicy").and_then(Value::as_str).unwrap_or("").is_empty() {
        let image = m.get("image").and_then(Value::as_str).unwrap_or("");
        let policy = if image_tag(image) == "latest" { "Always" } else { "IfNotPresent" };
        m.insert("imagePullPolicy".into(), json!(policy));
    }
    // `resources` is a non-pointer struct in Go, so the wire always shows `resources: {}`
    set_if_absent(m, "resources", json!({}));
    set_if_empty_str(m, "terminationMessagePath", "/dev/termination-log");
    set_if_empty_str(m, "terminationMessagePolicy", "File");
    for port in m.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten() {
        if let Some(pm) = port.as_object_mut() {
            set_if_empty_str(pm, "protocol", "TCP");
        }
    }
    for env in m.get_mut("env").and_then(Value::as_array_mut).into_iter().flatten() {
        if let Some(fr) = env.pointer_mut("/valueFrom/fieldRef").and_then(Value::as_object_mut) {
            set_if_empty_str(fr, "apiVersion", "v1");
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = m.get_mut(probe).and_then(Value::as_object_mut) {
            set_if_zero(p, "timeoutSeconds", 1);
            set_if_zero(p, "periodSeconds", 10);
            set_if_zero(p, "successThreshold", 1);
            set_if_zero(p, "failureThreshold", 3);
            default_http_get(p);
            if let Some(g) = p.get_mut("grpc").and_then(Value::as_object_mut) {
                set_if_absent(g, "service", json!(""));
            }
        }
    }
    if let Some(lc) = m.get_mut("lifecycle").and_then(Value::as_object_mut) {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = lc.get_mut(hook).and_then(Value::as_object_mut) {
                default_http_get(h);
            }
        }
    }
}

fn default_http_get(handler: &mut Map<String, Value>) {
    if let Some(h) = handler.get_mut("httpGet").and_then(Value::as_object_mut) {
        set_if_empty_str(h, "path", "/");
        set_if_empty_str(h, "scheme", "HTTP");
    }
}

/// `SetDefaults_Pod`: requests default to limits for resources that only have a limit.
fn requests_from_limits(c: &mut Value) {
    let Some(limits) = c.pointer("/resources/limits").and_then(Value::as_object).cloned() else { return };
    let resources = c["resources"].as_object_mut().expect("resources is an object when limits are");
    let requests = ensure_obj(resources, "requests");
    for (k, v) in limits {
        requests.entry(k).or_insert(v);
    }
}

const VOLUME_SOURCE_KEYS: &[&str] = &[
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs", "iscsi", "glusterfs",
    "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI", "fc", "azureFile",
    "configMap", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "projected", "portworxVolume",
    "scaleIO", "storageos", "csi", "ephemeral", "image",
];

pub fn default_volume(v: &mut Value) {
    let Some(m) = v.as_object_mut() else { return };
    if VOLUME_SOURCE_KEYS.iter().all(|k| m.get(*k).is_none_or(Value::is_null)) {
        m.insert("emptyDir".into(), json!({}));
    }
    if let Some(h) = m.get_mut("hostPath").and_then(Value::as_object_mut) {
        set_if_absent(h, "type", json!(""));
    }
    for key in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(s) = m.get_mut(key).and_then(Value::as_object_mut) {
            set_if_absent(s, "defaultMode", json!(420));
        }
    }
    if let Some(items) = m.get_mut("downwardAPI").and_then(|d| d.get_mut("items")).and_then(Value::as_array_mut) {
        items.iter_mut().for_each(default_field_ref);
    }
    for src in m.get_mut("projected").and_then(|p| p.get_mut("sources")).and_then(Value::as_array_mut).into_iter().flatten() {
        if let Some(items) = src.get_mut("downwardAPI").and_then(|d| d.get_mut("items")).and_then(Value::as_array_mut) {
            items.iter_mut().for_each(default_field_ref);
        }
        if let Some(t) = src.get_mut("serviceAccountToken").and_then(Value::as_object_mut) {
            set_if_absent(t, "expirationSeconds", json!(3600));
        }
    }
    default_legacy_plugins(m);
    if let Some(spec) = m.get_mut("ephemeral").and_then(|e| e.get_mut("volumeClaimTemplate")).and_then(|t| t.get_mut("spec")).and_then(Value::as_object_mut) {
        set_if_absent(spec, "volumeMode", json!("Filesystem"));
    }
}

fn default_field_ref(item: &mut Value) {
    if let Some(fr) = item.get_mut("fieldRef").and_then(Value::as_object_mut) {
        set_if_empty_str(fr, "apiVersion", "v1");
    }
}

/// Defaults of in-tree volume plugins shared by pod volumes and PersistentVolumes.
pub fn default_legacy_plugins(m: &mut Map<String, Value>) {
    if let Some(i) = m.get_mut("iscsi").and_then(Value::as_object_mut) {
        set_if_empty_str(i, "iscsiInterface", "default");
    }
    if let Some(r) = m.get_mut("rbd").and_then(Value::as_object_mut) {
        set_if_empty_str(r, "pool", "rbd");
        set_if_empty_str(r, "user", "admin");
        set_if_empty_str(r, "keyring", "/etc/ceph/keyring");
    }
    if let Some(a) = m.get_mut("azureDisk").and_then(Value::as_object_mut) {
        set_if_absent(a, "cachingMode", json!("ReadWrite"));
        set_if_absent(a, "kind", json!("Shared"));
        set_if_absent(a, "fsType", json!("ext4"));
        set_if_absent(a, "readOnly", json!(false));
    }
    if let Some(s) = m.get_mut("scaleIO").and_then(Value::as_object_mut) {
        set_if_empty_str(s, "storageMode", "ThinProvisioned");
        set_if_empty_str(s, "fsType", "xfs");
    }
}

#[cfg(test)]
mod tests {
    use super::image_tag;

    #[test]
    fn image_tags_like_parse_image_name() {
        assert_eq!(image_tag("nginx"), "latest");
        assert_eq!(image_tag("nginx:1.25"), "1.25");
        assert_eq!(image_tag("localhost:5000/nginx"), "latest");
        assert_eq!(image_tag("localhost:5000/nginx:v1"), "v1");
        assert_eq!(image_tag("nginx@sha256:abc"), "");
        assert_eq!(image_tag("nginx:latest"), "latest");
    }
}
