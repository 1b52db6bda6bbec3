//! Upstream's storage admission plugins, run on PersistentVolumeClaims and PersistentVolumes:
//! `DefaultStorageClass` (plugin/pkg/admission/storage/storageclass/setdefault),
//! `StorageObjectInUseProtection` (…/storage/storageobjectinuseprotection) and
//! `PersistentVolumeClaimResize` (…/storage/persistentvolume/resize).

use std::cmp::Ordering;

use berth_api::quantity::Quantity;
use berth_api::registry::lookup;
use berth_api::StatusError;
use serde_json::{json, Value};

use crate::objects;
use crate::rest::list_all;
use crate::state::Shared;

pub const PVC_PROTECTION_FINALIZER: &str = "kubernetes.io/pvc-protection";
pub const PV_PROTECTION_FINALIZER: &str = "kubernetes.io/pv-protection";
const ANN_IS_DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
const ANN_BETA_IS_DEFAULT_CLASS: &str = "storageclass.beta.kubernetes.io/is-default-class";
const ANN_BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations").and_then(|a| a.get(key)).and_then(Value::as_str)
}

fn is_default_class(class: &Value) -> bool {
    [ANN_IS_DEFAULT_CLASS, ANN_BETA_IS_DEFAULT_CLASS].iter().any(|k| annotation(class, k) == Some("true"))
}

/// `GetDefaultClass`: among the classes annotated as default, the newest by
/// creationTimestamp, ties to the first name.
pub fn default_class_name(classes: &[Value]) -> Option<String> {
    let created = |c: &Value| c.pointer("/metadata/creationTimestamp").and_then(Value::as_str).unwrap_or("").to_string();
    classes
        .iter()
        .filter(|c| is_default_class(c))
        .min_by(|a, b| {
            // RFC 3339 UTC timestamps of one format compare as strings.
            created(b).cmp(&created(a)).then_with(|| objects::name_of(a).cmp(objects::name_of(b)))
        })
        .map(|c| objects::name_of(c).to_string())
}

/// `PersistentVolumeClaimHasClass`: the field is present (even as "") or the beta annotation is.
fn claim_has_class(pvc: &Value) -> bool {
    annotation(pvc, ANN_BETA_STORAGE_CLASS).is_some() || pvc.pointer("/spec/storageClassName").is_some_and(|v| !v.is_null())
}

/// `GetPersistentVolumeClaimClass`: the beta annotation wins; "" is no class.
fn claim_class(pvc: &Value) -> &str {
    annotation(pvc, ANN_BETA_STORAGE_CLASS).or_else(|| pvc.pointer("/spec/storageClassName").and_then(Value::as_str)).unwrap_or("")
}

/// Add `finalizer` unless present (StorageObjectInUseProtection).
pub fn add_finalizer(obj: &mut Value, finalizer: &str) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    let list = meta.entry("finalizers").or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    let arr = list.as_array_mut().expect("an array");
    if !arr.iter().any(|f| f.as_str() == Some(finalizer)) {
        arr.push(json!(finalizer));
    }
}

/// On create: the default class for a claim that names none, and the protection finalizers.
pub async fn admit_create(state: &Shared, group: &str, kind: &str, obj: &mut Value) -> Result<(), StatusError> {
    match (group, kind) {
        ("", "PersistentVolumeClaim") => {
            if !claim_has_class(obj) {
                let classes = lookup("storage.k8s.io", "v1", "storageclasses").expect("storageclasses are registered");
                let (all, _) = list_all(state, classes, None).await?;
                if let Some(name) = default_class_name(&all) {
                    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                        spec.insert("storageClassName".into(), json!(name));
                    }
                }
            }
            add_finalizer(obj, PVC_PROTECTION_FINALIZER);
        }
        ("", "PersistentVolume") => add_finalizer(obj, PV_PROTECTION_FINALIZER),
        _ => {}
    }
    Ok(())
}

fn storage_request(pvc: &Value) -> Quantity {
    pvc.pointer("/spec/resources/requests/storage")
        .and_then(Value::as_str)
        .and_then(|s| Quantity::parse(s).ok())
        .unwrap_or(Quantity::ZERO)
}

/// PersistentVolumeClaimResize on an update of a claim: growing needs a Bound claim whose
/// class (unchanged) allows expansion.
pub async fn admit_pvc_update(state: &Shared, new: &Value, old: &Value) -> Result<(), StatusError> {
    if storage_request(new).cmp(&storage_request(old)) != Ordering::Greater {
        return Ok(());
    }
    let name = objects::name_of(new);
    let forbidden = |why: &str| StatusError::forbidden("", "persistentvolumeclaims", name, why);
    if old.pointer("/status/phase").and_then(Value::as_str) != Some("Bound") {
        return Err(forbidden("Only bound persistent volume claims can be expanded"));
    }
    let refused = || forbidden("only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize");
    let (class, old_class) = (claim_class(new), claim_class(old));
    if class.is_empty() || class != old_class {
        return Err(refused());
    }
    let info = lookup("storage.k8s.io", "v1", "storageclasses").expect("storageclasses are registered");
    let key = objects::object_key(info, None, class);
    let stored = state.store.get(&key).await.map_err(crate::state::storage_failure)?;
    let allows = match stored {
        Some(kv) => objects::decode(&kv).map_err(StatusError::internal)?.get("allowVolumeExpansion").and_then(Value::as_bool) == Some(true),
        None => false,
    };
    if allows {
        Ok(())
    } else {
        Err(refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, created: &str, default: bool) -> Value {
        let mut c = json!({"metadata": {"name": name, "creationTimestamp": created}});
        if default {
            c["metadata"]["annotations"] = json!({ANN_IS_DEFAULT_CLASS: "true"});
        }
        c
    }

    #[test]
    fn the_newest_default_class_wins() {
        let classes = [
            class("a", "2026-01-01T00:00:00Z", true),
            class("b", "2026-02-01T00:00:00Z", true),
            class("c", "2026-03-01T00:00:00Z", false),
            class("d", "2026-02-01T00:00:00Z", true),
        ];
        assert_eq!(default_class_name(&classes).as_deref(), Some("b"));
        assert_eq!(default_class_name(&classes[2..3]), None);
        let mut beta = class("e", "2026-01-01T00:00:00Z", false);
        beta["metadata"]["annotations"] = json!({ANN_BETA_IS_DEFAULT_CLASS: "true"});
        assert_eq!(default_class_name(&[beta]).as_deref(), Some("e"));
    }

    #[test]
    fn only_a_missing_class_counts_as_none() {
        assert!(!claim_has_class(&json!({"spec": {}})));
        assert!(!claim_has_class(&json!({"spec": {"storageClassName": null}})));
        assert!(claim_has_class(&json!({"spec": {"storageClassName": ""}})));
        assert!(claim_has_class(&json!({"metadata": {"annotations": {ANN_BETA_STORAGE_CLASS: "x"}}, "spec": {}})));
    }

    #[test]
    fn finalizers_are_added_once() {
        let mut o = json!({"metadata": {"name": "x", "finalizers": ["a"]}});
        add_finalizer(&mut o, PVC_PROTECTION_FINALIZER);
        add_finalizer(&mut o, PVC_PROTECTION_FINALIZER);
        assert_eq!(o["metadata"]["finalizers"], json!(["a", PVC_PROTECTION_FINALIZER]));
        let mut o = json!({"metadata": {"name": "x"}});
        add_finalizer(&mut o, PV_PROTECTION_FINALIZER);
        assert_eq!(o["metadata"]["finalizers"], json!([PV_PROTECTION_FINALIZER]));
    }
}
