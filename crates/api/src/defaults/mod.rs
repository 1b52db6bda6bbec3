//! Upstream's API defaulting per kind (`pkg/apis/*/v1/defaults.go` plus the generated
//! `SetObjectDefaults_*` wiring), applied in place to the JSON of a decoded object so that
//! `kubectl get -o yaml` shows what it shows against a real v1.33 cluster.
//!
//! Go's "unset" is the zero value: a missing key, a JSON null, or (for non-pointer string
//! fields) an empty string. The helpers below encode those three cases explicitly.
//!
//! Not defaulting, therefore not here: Service clusterIP/ipFamilies allocation, admission
//! (service account token volume, default tolerations, priority), and the status the
//! controllers write.

mod pod;

#[cfg(test)]
mod tests;

use serde_json::{json, Map, Value};

pub use pod::PodSpecContext;

/// Apply upstream's defaults for (group, kind) in place. Unknown kinds are left untouched.
pub fn apply_defaults(group: &str, kind: &str, obj: &mut Value) {
    if !obj.is_object() {
        return;
    }
    match (group, kind) {
        ("", "Pod") => {
            if let Some(spec) = obj.get_mut("spec") {
                pod::default_pod_spec(spec, PodSpecContext::Pod);
            }
        }
        ("", "Service") => default_service(obj),
        ("", "PersistentVolume") => default_pv(obj),
        ("", "PersistentVolumeClaim") => default_pvc(obj),
        ("", "Namespace") => default_namespace(obj),
        ("", "Secret") => {
            merge_string_data(root(obj));
            set_if_empty_str(root(obj), "type", "Opaque");
        }
        ("", "Endpoints") => {
            for subset in obj.get_mut("subsets").and_then(Value::as_array_mut).into_iter().flatten() {
                default_port_protocols(subset);
            }
        }
        ("", "Node") => default_node(obj),
        ("apps", "StatefulSet") => default_statefulset(obj),
        ("storage.k8s.io", "StorageClass") => {
            let m = root(obj);
            set_if_absent(m, "reclaimPolicy", json!("Delete"));
            set_if_absent(m, "volumeBindingMode", json!("Immediate"));
        }
        ("discovery.k8s.io", "EndpointSlice") => {
            for port in obj.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten() {
                if let Some(pm) = port.as_object_mut() {
                    set_if_absent(pm, "name", json!(""));
                    set_if_absent(pm, "protocol", json!("TCP"));
                }
            }
        }
        // ConfigMap (upstream's `data = {}` is omitted on the wire), ServiceAccount,
        // ControllerRevision, Lease, Events: no defaults that show up in the object.
        _ => {}
    }
}

fn root(obj: &mut Value) -> &mut Map<String, Value> {
    obj.as_object_mut().expect("checked by apply_defaults")
}

/// Set `key` when missing or null (a nil pointer / nil map in Go).
pub(crate) fn set_if_absent(m: &mut Map<String, Value>, key: &str, v: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), v);
    }
}

/// Set `key` when missing, null or `""` (a non-pointer string field in Go).
pub(crate) fn set_if_empty_str(m: &mut Map<String, Value>, key: &str, v: &str) {
    if m.get(key).is_none_or(|x| x.is_null() || x.as_str() == Some("")) {
        m.insert(key.to_string(), json!(v));
    }
}

/// Set `key` when missing, null or 0 (a non-pointer int field in Go).
pub(crate) fn set_if_zero(m: &mut Map<String, Value>, key: &str, v: i64) {
    if m.get(key).is_none_or(|x| x.is_null() || x.as_i64() == Some(0)) {
        m.insert(key.to_string(), json!(v));
    }
}

/// The object at `key`, created (or replacing a null/non-object) when needed.
pub(crate) fn ensure_obj<'a>(m: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    if !m.get(key).is_some_and(Value::is_object) {
        m.insert(key.to_string(), json!({}));
    }
    m.get_mut(key).and_then(Value::as_object_mut).expect("just ensured")
}

fn default_port_protocols(v: &mut Value) {
    for port in v.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten() {
        if let Some(pm) = port.as_object_mut() {
            set_if_empty_str(pm, "protocol", "TCP");
        }
    }
}

fn default_service(obj: &mut Value) {
    let spec = ensure_obj(root(obj), "spec");
    set_if_empty_str(spec, "sessionAffinity", "None");
    match spec.get("sessionAffinity").and_then(Value::as_str) {
        Some("None") => {
            spec.remove("sessionAffinityConfig");
        }
        Some("ClientIP") => {
            let has_timeout = spec
                .get("sessionAffinityConfig")
                .and_then(|c| c.get("clientIP"))
                .and_then(|c| c.get("timeoutSeconds"))
                .is_some_and(|t| !t.is_null());
            if !has_timeout {
                spec.insert("sessionAffinityConfig".into(), json!({"clientIP": {"timeoutSeconds": 10800}}));
            }
        }
        _ => {}
    }
    set_if_empty_str(spec, "type", "ClusterIP");
    for port in spec.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten() {
        let Some(pm) = port.as_object_mut() else { continue };
        set_if_empty_str(pm, "protocol", "TCP");
        let unset = match pm.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(n) => n.as_i64() == Some(0),
        };
        if unset {
            let port = pm.get("port").cloned().unwrap_or(json!(0));
            pm.insert("targetPort".into(), port);
        }
    }
    let ty = spec.get("type").and_then(Value::as_str).unwrap_or("").to_string();
    if ty == "NodePort" || ty == "LoadBalancer" {
        set_if_empty_str(spec, "externalTrafficPolicy", "Cluster");
    }
    if matches!(ty.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP") {
        set_if_absent(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        set_if_absent(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
}

fn default_pv(obj: &mut Value) {
    let status = ensure_obj(root(obj), "status");
    set_if_empty_str(status, "phase", "Pending");
    let spec = ensure_obj(root(obj), "spec");
    set_if_empty_str(spec, "persistentVolumeReclaimPolicy", "Retain");
    set_if_absent(spec, "volumeMode", json!("Filesystem"));
    if let Some(h) = spec.get_mut("hostPath").and_then(Value::as_object_mut) {
        set_if_absent(h, "type", json!(""));
    }
    pod::default_legacy_plugins(spec);
}

fn default_pvc(obj: &mut Value) {
    let status = ensure_obj(root(obj), "status");
    set_if_empty_str(status, "phase", "Pending");
    set_if_absent(ensure_obj(root(obj), "spec"), "volumeMode", json!("Filesystem"));
}

fn default_namespace(obj: &mut Value) {
    let m = root(obj);
    let name = m.get("metadata").and_then(|md| md.get("name")).and_then(Value::as_str).unwrap_or("").to_string();
    // `kubernetes.io/metadata.name` is set whenever the name is known (not for generateName)
    if !name.is_empty() {
        let labels = ensure_obj(ensure_obj(m, "metadata"), "labels");
        labels.insert("kubernetes.io/metadata.name".into(), json!(name));
    }
    // The namespace strategy (PrepareForCreate) always sets the `kubernetes` finalizer.
    let spec = ensure_obj(m, "spec");
    if spec.get("finalizers").and_then(Value::as_array).is_none_or(Vec::is_empty) {
        spec.insert("finalizers".into(), json!(["kubernetes"]));
    }
    set_if_empty_str(ensure_obj(m, "status"), "phase", "Active");
}

fn default_node(obj: &mut Value) {
    let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut) else { return };
    if status.get("allocatable").is_none_or(Value::is_null) {
        if let Some(cap) = status.get("capacity").filter(|c| c.is_object()).cloned() {
            status.insert("allocatable".into(), cap);
        }
    }
}

fn default_statefulset(obj: &mut Value) {
    let spec = ensure_obj(root(obj), "spec");
    set_if_empty_str(spec, "podManagementPolicy", "OrderedReady");

    let strategy = ensure_obj(spec, "updateStrategy");
    if strategy.get("type").and_then(Value::as_str).unwrap_or("").is_empty() {
        strategy.insert("type".into(), json!("RollingUpdate"));
        set_if_absent(strategy, "rollingUpdate", json!({}));
    }
    // `type: RollingUpdate` sent without `rollingUpdate` keeps it nil, as upstream does.
    if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
        if let Some(ru) = strategy.get_mut("rollingUpdate").and_then(Value::as_object_mut) {
            set_if_absent(ru, "partition", json!(0));
            // MaxUnavailableStatefulSet is alpha (off) in v1.33: the field is dropped on
            // create (strategy's dropStatefulSetDisabledFields) and never defaulted.
            ru.remove("maxUnavailable");
        }
    }

    let policy = ensure_obj(spec, "persistentVolumeClaimRetentionPolicy");
    set_if_empty_str(policy, "whenDeleted", "Retain");
    set_if_empty_str(policy, "whenScaled", "Retain");
    set_if_absent(spec, "replicas", json!(1));
    set_if_absent(spec, "revisionHistoryLimit", json!(10));

    let template = ensure_obj(spec, "template");
    // Go encodes the template's zero `creationTimestamp` as null; kubectl shows it and the
    // ControllerRevision data carries it, so keep the bytes identical.
    set_if_absent(ensure_obj(template, "metadata"), "creationTimestamp", Value::Null);
    pod::default_pod_spec(
        template.entry("spec").or_insert_with(|| json!({})),
        PodSpecContext::Template,
    );

    for claim in spec.get_mut("volumeClaimTemplates").and_then(Value::as_array_mut).into_iter().flatten() {
        let Some(c) = claim.as_object_mut() else { continue };
        // apps/v1 conversion fills apiVersion/kind of embedded claims (pre-1.17 behaviour kept)
        set_if_empty_str(c, "apiVersion", "v1");
        set_if_empty_str(c, "kind", "PersistentVolumeClaim");
        set_if_absent(ensure_obj(c, "metadata"), "creationTimestamp", Value::Null);
        let cspec = ensure_obj(c, "spec");
        set_if_absent(cspec, "volumeMode", json!("Filesystem"));
        set_if_absent(cspec, "resources", json!({}));
        set_if_empty_str(ensure_obj(c, "status"), "phase", "Pending");
    }
}

/// `stringData` is write-only: upstream's conversion to the internal type folds it into `data`
/// (base64-encoded, a `stringData` key winning over the same `data` key) and drops it, so it is
/// never stored, validated only as `data`, and never returned.
fn merge_string_data(secret: &mut Map<String, Value>) {
    use base64::Engine;
    let Some(Value::Object(strings)) = secret.remove("stringData") else {
        return;
    };
    let data = secret.entry("data").or_insert_with(|| json!({}));
    if !data.is_object() {
        *data = json!({});
    }
    let data = data.as_object_mut().expect("data is an object");
    for (k, v) in strings {
        let text = v.as_str().unwrap_or_default();
        data.insert(k, Value::String(base64::engine::general_purpose::STANDARD.encode(text)));
    }
}
