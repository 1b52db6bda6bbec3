//! Create/update validation and strict decoding per kind, with upstream's messages and
//! field paths so kubectl prints what it prints against a real v1.33 API server.
//!
//! Call order matches upstream's: decode → [`crate::defaults::apply_defaults`] → validate.
//! Validators assume defaults were applied (e.g. StatefulSet `podManagementPolicy` or
//! Pod `restartPolicy` are then reported as `Required` only when really missing).
//!
//! Bad values that are not scalars (maps, structs, lists) are rendered as JSON, which is
//! what current API servers print (`Invalid value: {"app":"x"}`); map keys are sorted like
//! Go's `json.Marshal`. Where upstream iterates a Go map, we go in key order.

mod apps;
mod core;
mod meta;
mod names;
mod other;
mod pod;
mod policy;
mod quantity;
mod rbac;
mod strict;
mod util;

#[cfg(test)]
mod tests;

use serde_json::Value;

use crate::errors::FieldError;

pub use strict::{duplicate_fields, unknown_fields};

/// Validation of a new object (`strategy.Validate`).
pub fn validate_create(group: &str, kind: &str, obj: &Value) -> Vec<FieldError> {
    match (group, kind) {
        ("", "Namespace") => core::validate_namespace(obj),
        ("", "Pod") => pod::validate_pod_create(obj),
        ("", "Service") => core::validate_service(obj),
        ("", "Endpoints") => core::validate_endpoints(obj),
        ("", "PersistentVolume") => core::validate_pv(obj),
        ("", "PersistentVolumeClaim") => core::validate_pvc(obj),
        ("", "Node") => core::validate_node(obj),
        ("", "Event") => core::validate_core_event(obj),
        ("", "ConfigMap") => core::validate_config_map(obj),
        ("", "Secret") => core::validate_secret(obj),
        ("", "ServiceAccount") => meta::validate_object_meta(obj, true, names::NameRule::Subdomain),
        ("apps", "StatefulSet") => apps::validate_statefulset_create(obj),
        ("apps", "ControllerRevision") => apps::validate_controller_revision_create(obj),
        ("policy", "PodDisruptionBudget") => policy::validate_pdb(obj),
        ("storage.k8s.io", "StorageClass") => other::validate_storage_class(obj),
        ("coordination.k8s.io", "Lease") => other::validate_lease(obj),
        ("discovery.k8s.io", "EndpointSlice") => other::validate_endpoint_slice(obj),
        ("events.k8s.io", "Event") => other::validate_new_event(obj, "reportingController"),
        ("rbac.authorization.k8s.io", _) => rbac::validate(kind, obj),
        _ => Vec::new(),
    }
}

/// Validation of an update (`strategy.ValidateUpdate`); `old` is the stored object.
pub fn validate_update(group: &str, kind: &str, new: &Value, old: &Value) -> Vec<FieldError> {
    let with_meta = |f: fn(&Value) -> Vec<FieldError>| {
        let mut errs = meta::validate_object_meta_update(new, old);
        errs.extend(f(new));
        errs
    };
    match (group, kind) {
        ("", "Namespace") => meta::validate_object_meta_update(new, old),
        ("", "Pod") => pod::validate_pod_update(new, old),
        ("", "Service") => core::validate_service_update(new, old),
        ("", "Endpoints") => with_meta(core::validate_endpoints),
        ("", "PersistentVolume") => core::validate_pv_update(new, old),
        ("", "PersistentVolumeClaim") => core::validate_pvc_update(new, old),
        ("", "Node") => core::validate_node_update(new, old),
        ("", "Event") => with_meta(core::validate_core_event),
        ("", "ConfigMap") => core::validate_config_map_update(new, old),
        ("", "Secret") => core::validate_secret_update(new, old),
        ("", "ServiceAccount") => with_meta(|o| meta::validate_object_meta(o, true, names::NameRule::Subdomain)),
        ("apps", "StatefulSet") => apps::validate_statefulset_update(new, old),
        ("apps", "ControllerRevision") => apps::validate_controller_revision_update(new, old),
        ("policy", "PodDisruptionBudget") => policy::validate_pdb_update(new, old),
        ("storage.k8s.io", "StorageClass") => other::validate_storage_class_update(new, old),
        ("coordination.k8s.io", "Lease") => with_meta(other::validate_lease),
        ("discovery.k8s.io", "EndpointSlice") => other::validate_endpoint_slice_update(new, old),
        ("events.k8s.io", "Event") => with_meta(|o| other::validate_new_event(o, "reportingController")),
        ("rbac.authorization.k8s.io", _) => rbac::validate_update(kind, new, old),
        _ => Vec::new(),
    }
}
