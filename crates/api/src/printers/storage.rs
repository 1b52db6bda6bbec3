//! Printers for persistentvolumes, persistentvolumeclaims and storage.k8s.io storageclasses.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::descriptions as d;
use super::quantity;
use super::util::{self, arr_at, opt_str_at, str_at};
use super::{Column, Row};

/// The beta annotation that still overrides `spec.storageClassName` when present.
const BETA_STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

pub(super) fn persistent_volume_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Capacity", d::PV_SPEC_CAPACITY),
        Column::string("Access Modes", d::PV_SPEC_ACCESS_MODES),
        Column::string("Reclaim Policy", d::PV_SPEC_RECLAIM_POLICY),
        Column::string("Status", d::PV_STATUS_PHASE),
        Column::string("Claim", d::PV_SPEC_CLAIM_REF),
        Column::string("StorageClass", "StorageClass of the pv"),
        Column::string("VolumeAttributesClass", "VolumeAttributesClass of the pv"),
        Column::string("Reason", d::PV_STATUS_REASON),
        Column::age(),
        Column::string("VolumeMode", d::PV_SPEC_VOLUME_MODE).wide(),
    ]
}

/// Upstream `GetPersistentVolumeClass` / `GetPersistentVolumeClaimClass`: the beta annotation
/// if present (even empty), else `spec.storageClassName`, else `""`.
fn storage_class(obj: &Value) -> String {
    if let Some(class) = opt_str_at(
        obj,
        &["metadata", "annotations", BETA_STORAGE_CLASS_ANNOTATION],
    ) {
        return class.to_string();
    }
    str_at(obj, &["spec", "storageClassName"]).to_string()
}

/// `<ns>/<name>` of the claim a volume is bound to, `""` when unbound.
fn claim_ref(pv: &Value) -> String {
    match util::get(pv, &["spec", "claimRef"]) {
        Some(r) if r.is_object() => {
            format!("{}/{}", str_at(r, &["namespace"]), str_at(r, &["name"]))
        }
        _ => String::new(),
    }
}

/// The phase, or `Terminating` once deletion has been requested.
fn phase(obj: &Value) -> String {
    if util::is_deleting(obj) {
        "Terminating".to_string()
    } else {
        str_at(obj, &["status", "phase"]).to_string()
    }
}

fn unset_or(obj: &Value, path: &[&str]) -> String {
    opt_str_at(obj, path).unwrap_or("<unset>").to_string()
}

pub(super) fn persistent_volume_row(pv: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![
        util::name(pv),
        Value::String(quantity::canonical(str_at(
            pv,
            &["spec", "capacity", "storage"],
        ))),
        Value::String(util::access_modes(arr_at(pv, &["spec", "accessModes"]))),
        Value::String(str_at(pv, &["spec", "persistentVolumeReclaimPolicy"]).to_string()),
        Value::String(phase(pv)),
        Value::String(claim_ref(pv)),
        Value::String(storage_class(pv)),
        Value::String(unset_or(pv, &["spec", "volumeAttributesClassName"])),
        Value::String(str_at(pv, &["status", "reason"]).to_string()),
        util::age(pv, now),
        Value::String(unset_or(pv, &["spec", "volumeMode"])),
    ])
}

pub(super) fn persistent_volume_claim_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Status", d::PVC_STATUS_PHASE),
        Column::string("Volume", d::PVC_SPEC_VOLUME_NAME),
        Column::string("Capacity", d::PVC_STATUS_CAPACITY),
        Column::string("Access Modes", d::PVC_STATUS_ACCESS_MODES),
        Column::string("StorageClass", "StorageClass of the pvc"),
        Column::string("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
        Column::age(),
        Column::string("VolumeMode", d::PVC_SPEC_VOLUME_MODE).wide(),
    ]
}

pub(super) fn persistent_volume_claim_row(pvc: &Value, now: DateTime<Utc>) -> Row {
    let volume_name = str_at(pvc, &["spec", "volumeName"]);
    // Capacity and modes come from status, and only once the claim names a volume.
    let (capacity, access_modes) = if volume_name.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity::canonical(str_at(pvc, &["status", "capacity", "storage"])),
            util::access_modes(arr_at(pvc, &["status", "accessModes"])),
        )
    };
    Row::new(vec![
        util::name(pvc),
        Value::String(phase(pvc)),
        Value::String(volume_name.to_string()),
        Value::String(capacity),
        Value::String(access_modes),
        Value::String(storage_class(pvc)),
        Value::String(unset_or(pvc, &["spec", "volumeAttributesClassName"])),
        util::age(pvc, now),
        Value::String(unset_or(pvc, &["spec", "volumeMode"])),
    ])
}

pub(super) fn storage_class_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Provisioner", d::STORAGE_CLASS_PROVISIONER),
        Column::string("ReclaimPolicy", d::STORAGE_CLASS_RECLAIM_POLICY),
        Column::string("VolumeBindingMode", d::STORAGE_CLASS_VOLUME_BINDING_MODE),
        Column::string(
            "AllowVolumeExpansion",
            d::STORAGE_CLASS_ALLOW_VOLUME_EXPANSION,
        ),
        Column::age(),
    ]
}

/// Upstream `storageutil.IsDefaultAnnotation`: the GA or beta annotation set to `"true"`.
fn is_default_class(sc: &Value) -> bool {
    [
        "storageclass.kubernetes.io/is-default-class",
        "storageclass.beta.kubernetes.io/is-default-class",
    ]
    .iter()
    .any(|a| str_at(sc, &["metadata", "annotations", a]) == "true")
}

pub(super) fn storage_class_row(sc: &Value, now: DateTime<Utc>) -> Row {
    let mut name = str_at(sc, &["metadata", "name"]).to_string();
    if is_default_class(sc) {
        name.push_str(" (default)");
    }
    Row::new(vec![
        Value::String(name),
        Value::String(str_at(sc, &["provisioner"]).to_string()),
        Value::String(
            opt_str_at(sc, &["reclaimPolicy"])
                .unwrap_or("Delete")
                .to_string(),
        ),
        Value::String(
            opt_str_at(sc, &["volumeBindingMode"])
                .unwrap_or("Immediate")
                .to_string(),
        ),
        // A JSON boolean although the column says string: upstream emits the Go bool.
        Value::Bool(util::bool_at(sc, &["allowVolumeExpansion"])),
        util::age(sc, now),
    ])
}
