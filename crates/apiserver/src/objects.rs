//! Objects as the API server stores them: JSON documents under etcd-style keys, whose
//! `metadata.resourceVersion` is not stored but filled in from the store's revision on read.

use berth_api::ResourceInfo;
use berth_store::{KeyValue, Revision};
use rand::Rng;
use serde_json::{Map, Value};

/// `/registry/<group|core>/<plural>/` — everything of one resource.
pub fn resource_prefix(info: &ResourceInfo) -> String {
    let group = if info.group.is_empty() { "core" } else { info.group };
    // Distinct event resources share a plural; keep them apart by group.
    format!("/registry/{group}/{}/", info.plural)
}

/// Prefix for a list: one namespace, or every namespace/cluster-scoped.
pub fn list_prefix(info: &ResourceInfo, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if info.namespaced() => format!("{}{ns}/", resource_prefix(info)),
        _ => resource_prefix(info),
    }
}

pub fn object_key(info: &ResourceInfo, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if info.namespaced() => format!("{}{ns}/{name}", resource_prefix(info)),
        _ => format!("{}{name}", resource_prefix(info)),
    }
}

/// Decode a stored value and stamp its resourceVersion.
pub fn decode(kv: &KeyValue) -> Result<Value, String> {
    let mut v: Value = serde_json::from_slice(&kv.value).map_err(|e| format!("corrupt object at {}: {e}", kv.key))?;
    set_resource_version(&mut v, kv.mod_revision);
    Ok(v)
}

/// Encode an object for storage (without resourceVersion: the store's revision is the truth).
pub fn encode(obj: &Value) -> bytes::Bytes {
    let mut o = obj.clone();
    if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
        m.remove("selfLink");
    }
    bytes::Bytes::from(serde_json::to_vec(&o).expect("JSON values always serialize"))
}

pub fn set_resource_version(obj: &mut Value, rev: Revision) {
    meta_mut(obj).insert("resourceVersion".into(), Value::String(rev.to_string()));
}

/// `metadata` as a mutable map, created if missing.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let o = obj.as_object_mut().expect("checked above");
    let m = o.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if !m.is_object() {
        *m = Value::Object(Map::new());
    }
    m.as_object_mut().expect("checked above")
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

pub fn name_of(obj: &Value) -> &str {
    meta_str(obj, "name").unwrap_or("")
}

pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

pub fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
}

pub fn labels(obj: &Value) -> Map<String, Value> {
    obj.pointer("/metadata/labels").and_then(Value::as_object).cloned().unwrap_or_default()
}

/// RFC 3339 with second precision, as Kubernetes serializes `metav1.Time`.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn rfc3339_after(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds)).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// upstream `names.SimpleNameGenerator`: prefix (cut to fit 63 chars) + 5 random characters
/// from the alphabet without vowels and confusable digits.
pub fn generate_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    const MAX_GENERATED_NAME_LENGTH: usize = 63 - 5;
    let mut p = prefix.to_string();
    if p.len() > MAX_GENERATED_NAME_LENGTH {
        p.truncate(MAX_GENERATED_NAME_LENGTH);
    }
    let mut rng = rand::rng();
    for _ in 0..5 {
        p.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
    }
    p
}

pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_namespaced_by_group_and_resource() {
        let pods = berth_api::registry::lookup("", "v1", "pods").unwrap();
        assert_eq!(object_key(pods, Some("default"), "web-0"), "/registry/core/pods/default/web-0");
        assert_eq!(list_prefix(pods, None), "/registry/core/pods/");
        let pv = berth_api::registry::lookup("", "v1", "persistentvolumes").unwrap();
        assert_eq!(object_key(pv, None, "pv-1"), "/registry/core/persistentvolumes/pv-1");
    }

    #[test]
    fn generated_names_keep_prefix() {
        let n = generate_name("web-");
        assert!(n.starts_with("web-") && n.len() == 9);
    }

    #[test]
    fn resource_version_is_not_stored() {
        let mut o = serde_json::json!({"metadata": {"name": "a", "resourceVersion": "7"}});
        let bytes = encode(&o);
        assert!(!String::from_utf8_lossy(&bytes).contains("resourceVersion"));
        set_resource_version(&mut o, 9);
        assert_eq!(o["metadata"]["resourceVersion"], "9");
    }
}
