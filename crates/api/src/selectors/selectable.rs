//! Which fields each kind can be selected on, and their values.
//!
//! Two upstream pieces meet here:
//! - the field-label conversion funcs (`pkg/apis/core/v1/conversion.go`,
//!   `pkg/apis/events/v1/conversion.go`; kinds without one use
//!   `runtime.DefaultMetaV1FieldSelectorConversion`), which decide which labels a request may
//!   use (and rename a few), and
//! - the registries' `ToSelectableFields`/`GetAttrs` (`pkg/registry/core/*/strategy.go`), which
//!   decide the value of each field for an object. A label the conversion accepts but the field
//!   set lacks compares against "" — true upstream of `status.podIPs` on pods today.
//!
//! Values are read from the versioned JSON the way the internal object would hold them after
//! conversion (e.g. a pod's `spec.hostNetwork` defaults to "false").

use super::validation::go_quote;
use crate::registry::{Scope, REGISTRY};
use serde_json::Value;

/// The labels a kind accepts and the internal field each maps to; `None` = the default
/// conversion (metadata.name and metadata.namespace only).
fn conversion_table(group: &str, plural: &str) -> Option<&'static [(&'static str, &'static str)]> {
    Some(match (group, plural) {
        ("", "pods") => &[
            ("metadata.name", "metadata.name"),
            ("metadata.namespace", "metadata.namespace"),
            ("spec.nodeName", "spec.nodeName"),
            ("spec.restartPolicy", "spec.restartPolicy"),
            ("spec.schedulerName", "spec.schedulerName"),
            ("spec.serviceAccountName", "spec.serviceAccountName"),
            ("spec.hostNetwork", "spec.hostNetwork"),
            ("status.phase", "status.phase"),
            ("status.podIP", "status.podIP"),
            ("status.podIPs", "status.podIPs"),
            ("status.nominatedNodeName", "status.nominatedNodeName"),
            // Old v1 clients send spec.host.
            ("spec.host", "spec.nodeName"),
        ],
        ("", "nodes") => &[("metadata.name", "metadata.name"), ("spec.unschedulable", "spec.unschedulable")],
        ("", "replicationcontrollers") => &[
            ("metadata.name", "metadata.name"),
            ("metadata.namespace", "metadata.namespace"),
            ("status.replicas", "status.replicas"),
        ],
        ("", "events") => &[
            ("involvedObject.kind", "involvedObject.kind"),
            ("involvedObject.namespace", "involvedObject.namespace"),
            ("involvedObject.name", "involvedObject.name"),
            ("involvedObject.uid", "involvedObject.uid"),
            ("involvedObject.apiVersion", "involvedObject.apiVersion"),
            ("involvedObject.resourceVersion", "involvedObject.resourceVersion"),
            ("involvedObject.fieldPath", "involvedObject.fieldPath"),
            ("reason", "reason"),
            ("reportingComponent", "reportingComponent"),
            ("source", "source"),
            ("type", "type"),
            ("metadata.namespace", "metadata.namespace"),
            ("metadata.name", "metadata.name"),
        ],
        // events.k8s.io names its fields differently but is stored as the core Event, so its
        // labels map onto the core field set.
        ("events.k8s.io", "events") => &[
            ("reason", "reason"),
            ("regarding.kind", "involvedObject.kind"),
            ("regarding.namespace", "involvedObject.namespace"),
            ("regarding.name", "involvedObject.name"),
            ("regarding.uid", "involvedObject.uid"),
            ("regarding.apiVersion", "involvedObject.apiVersion"),
            ("regarding.resourceVersion", "involvedObject.resourceVersion"),
            ("regarding.fieldPath", "involvedObject.fieldPath"),
            ("reportingController", "reportingComponent"),
            ("source", "source"),
            ("type", "type"),
            ("metadata.namespace", "metadata.namespace"),
            ("metadata.name", "metadata.name"),
        ],
        ("", "namespaces") => &[("status.phase", "status.phase"), ("metadata.name", "metadata.name")],
        ("", "secrets") => &[
            ("type", "type"),
            ("metadata.namespace", "metadata.namespace"),
            ("metadata.name", "metadata.name"),
        ],
        ("", "services") => &[
            ("metadata.namespace", "metadata.namespace"),
            ("metadata.name", "metadata.name"),
            ("spec.clusterIP", "spec.clusterIP"),
            ("spec.type", "spec.type"),
        ],
        _ => return None,
    })
}

/// Upstream `ConvertFieldLabel` for `(group, plural)`: the internal field name, or the error
/// message the API server returns as a 400.
pub(crate) fn convert_field_label(group: &str, plural: &str, label: &str) -> Result<String, String> {
    match conversion_table(group, plural) {
        Some(table) => table
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, internal)| internal.to_string())
            .ok_or_else(|| format!("field label not supported: {label}")),
        None => match label {
            "metadata.name" | "metadata.namespace" => Ok(label.to_string()),
            _ => Err(format!(
                "{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
                go_quote(label)
            )),
        },
    }
}

fn at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |v, k| v.get(k))
}

/// A field as its Go string: missing or null is "", scalars print as Go would.
fn text(obj: &Value, path: &[&str]) -> String {
    match at(obj, path) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A boolean field as `strconv.FormatBool` / `fmt.Sprint` prints it; missing is false.
fn boolean(obj: &Value, path: &[&str]) -> String {
    at(obj, path).and_then(Value::as_bool).unwrap_or(false).to_string()
}

/// The first of several spellings that is present (core vs events.k8s.io field names).
fn first_text(obj: &Value, paths: &[&[&str]]) -> String {
    paths
        .iter()
        .find_map(|p| at(obj, p).filter(|v| !v.is_null()).map(|_| text(obj, p)))
        .unwrap_or_default()
}

fn cluster_scoped(group: &str, plural: &str) -> bool {
    REGISTRY.iter().any(|r| r.group == group && r.plural == plural && r.scope == Scope::Cluster)
}

/// The value of internal field `field` for `obj`, or `None` when the kind's field set has no
/// such key.
pub(crate) fn field_value(group: &str, plural: &str, field: &str, obj: &Value) -> Option<String> {
    match field {
        "metadata.name" => return Some(text(obj, &["metadata", "name"])),
        // Cluster-scoped kinds build their field set without a namespace key.
        "metadata.namespace" if cluster_scoped(group, plural) => return None,
        "metadata.namespace" => return Some(text(obj, &["metadata", "namespace"])),
        _ => {}
    }
    Some(match (group, plural) {
        ("", "pods") => match field {
            "spec.nodeName" => text(obj, &["spec", "nodeName"]),
            "spec.restartPolicy" => text(obj, &["spec", "restartPolicy"]),
            "spec.schedulerName" => text(obj, &["spec", "schedulerName"]),
            // v1 → internal conversion: the deprecated serviceAccount stands in when
            // serviceAccountName is empty.
            "spec.serviceAccountName" => match text(obj, &["spec", "serviceAccountName"]) {
                s if s.is_empty() => text(obj, &["spec", "serviceAccount"]),
                s => s,
            },
            "spec.hostNetwork" => boolean(obj, &["spec", "hostNetwork"]),
            "status.phase" => text(obj, &["status", "phase"]),
            // Internally the primary IP is podIPs[0]; v1 podIP fills podIPs when that is empty.
            "status.podIP" => match at(obj, &["status", "podIPs"]).and_then(Value::as_array) {
                Some(ips) if !ips.is_empty() => text(&ips[0], &["ip"]),
                _ => text(obj, &["status", "podIP"]),
            },
            "status.nominatedNodeName" => text(obj, &["status", "nominatedNodeName"]),
            _ => return None,
        },
        ("", "nodes") => match field {
            "spec.unschedulable" => boolean(obj, &["spec", "unschedulable"]),
            _ => return None,
        },
        ("", "replicationcontrollers") => match field {
            "status.replicas" => at(obj, &["status", "replicas"]).and_then(Value::as_i64).unwrap_or(0).to_string(),
            _ => return None,
        },
        ("", "events") | ("events.k8s.io", "events") => event_field(field, obj)?,
        ("", "namespaces") => match field {
            "status.phase" => text(obj, &["status", "phase"]),
            _ => return None,
        },
        ("", "secrets") => match field {
            "type" => text(obj, &["type"]),
            _ => return None,
        },
        ("", "services") => match field {
            "spec.clusterIP" => text(obj, &["spec", "clusterIP"]),
            "spec.type" => text(obj, &["spec", "type"]),
            _ => return None,
        },
        _ => return None,
    })
}

/// `EventToSelectableFields`, reading either the core (`involvedObject`, `source`,
/// `reportingComponent`) or the events.k8s.io (`regarding`, `deprecatedSource`,
/// `reportingController`) spelling of each field, since both serve the same stored events.
fn event_field(field: &str, obj: &Value) -> Option<String> {
    if let Some(sub) = field.strip_prefix("involvedObject.") {
        return Some(first_text(obj, &[&["involvedObject", sub], &["regarding", sub]]));
    }
    Some(match field {
        "reason" => text(obj, &["reason"]),
        "type" => text(obj, &["type"]),
        "source" => first_text(obj, &[&["source", "component"], &["deprecatedSource", "component"]]),
        "reportingComponent" => first_text(obj, &[&["reportingComponent"], &["reportingController"]]),
        _ => return None,
    })
}
