//! Printers for the small core kinds (namespaces, nodes, configmaps, secrets, service
//! accounts) and coordination.k8s.io leases.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::descriptions as d;
use super::util::{self, arr_at, get, len_at, str_at};
use super::{Column, Row};

pub(super) fn namespace_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Status", "The status of the namespace"),
        Column::age(),
    ]
}

pub(super) fn namespace_row(ns: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![
        util::name(ns),
        Value::String(str_at(ns, &["status", "phase"]).to_string()),
        util::age(ns, now),
    ])
}

pub(super) fn node_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Status", "The status of the node"),
        Column::string("Roles", "The roles of the node"),
        Column::age(),
        Column::string("Version", d::NODE_SYSTEM_INFO_KUBELET_VERSION),
        Column::string("Internal-IP", d::NODE_STATUS_ADDRESSES).wide(),
        Column::string("External-IP", d::NODE_STATUS_ADDRESSES).wide(),
        Column::string("OS-Image", d::NODE_SYSTEM_INFO_OS_IMAGE).wide(),
        Column::string("Kernel-Version", d::NODE_SYSTEM_INFO_KERNEL_VERSION).wide(),
        Column::string(
            "Container-Runtime",
            d::NODE_SYSTEM_INFO_CONTAINER_RUNTIME_VERSION,
        )
        .wide(),
    ]
}

/// `Ready` / `NotReady` (any status but True) / `Unknown` (no Ready condition), then
/// `,SchedulingDisabled` when cordoned.
fn node_status(node: &Value) -> String {
    // Upstream builds a map by type, so the last Ready condition in the list wins.
    let ready = arr_at(node, &["status", "conditions"])
        .iter()
        .rfind(|c| str_at(c, &["type"]) == "Ready");
    let mut status = vec![match ready {
        Some(c) if str_at(c, &["status"]) == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if util::bool_at(node, &["spec", "unschedulable"]) {
        status.push("SchedulingDisabled");
    }
    status.join(",")
}

/// Roles from `node-role.kubernetes.io/<role>` label keys and the `kubernetes.io/role`
/// label value, sorted and de-duplicated.
fn node_roles(node: &Value) -> String {
    let mut roles = BTreeSet::new();
    if let Some(Value::Object(labels)) = get(node, &["metadata", "labels"]) {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.insert(role.to_string());
                }
            } else if k == "kubernetes.io/role" {
                if let Some(v) = v.as_str().filter(|v| !v.is_empty()) {
                    roles.insert(v.to_string());
                }
            }
        }
    }
    if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    }
}

fn node_address(node: &Value, type_: &str) -> String {
    arr_at(node, &["status", "addresses"])
        .iter()
        .find(|a| str_at(a, &["type"]) == type_)
        .map(|a| str_at(a, &["address"]).to_string())
        .unwrap_or_else(|| "<none>".to_string())
}

pub(super) fn node_row(node: &Value, now: DateTime<Utc>) -> Row {
    let info = |field: &str| str_at(node, &["status", "nodeInfo", field]);
    Row::new(vec![
        util::name(node),
        Value::String(node_status(node)),
        Value::String(node_roles(node)),
        util::age(node, now),
        Value::String(info("kubeletVersion").to_string()),
        Value::String(node_address(node, "InternalIP")),
        Value::String(node_address(node, "ExternalIP")),
        Value::String(util::or(info("osImage"), "<unknown>")),
        Value::String(util::or(info("kernelVersion"), "<unknown>")),
        Value::String(util::or(info("containerRuntimeVersion"), "<unknown>")),
    ])
}

pub(super) fn config_map_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Data", d::CONFIG_MAP_DATA),
        Column::age(),
    ]
}

pub(super) fn config_map_row(cm: &Value, now: DateTime<Utc>) -> Row {
    let data = len_at(cm, &["data"]) + len_at(cm, &["binaryData"]);
    Row::new(vec![
        util::name(cm),
        Value::from(data as i64),
        util::age(cm, now),
    ])
}

pub(super) fn secret_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Type", d::SECRET_TYPE),
        Column::string("Data", d::SECRET_DATA),
        Column::age(),
    ]
}

/// Keys of `data` plus any `stringData` keys: upstream's conversion merges `stringData` into
/// `data` before anything is stored or printed.
fn secret_data_len(secret: &Value) -> usize {
    let mut keys = BTreeSet::new();
    for field in ["data", "stringData"] {
        if let Some(Value::Object(m)) = get(secret, &[field]) {
            keys.extend(m.keys().cloned());
        }
    }
    keys.len()
}

pub(super) fn secret_row(secret: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![
        util::name(secret),
        Value::String(str_at(secret, &["type"]).to_string()),
        Value::from(secret_data_len(secret) as i64),
        util::age(secret, now),
    ])
}

pub(super) fn service_account_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Secrets", d::SERVICE_ACCOUNT_SECRETS),
        Column::age(),
    ]
}

pub(super) fn service_account_row(sa: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![
        util::name(sa),
        Value::from(len_at(sa, &["secrets"]) as i64),
        util::age(sa, now),
    ])
}

pub(super) fn lease_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Holder", d::LEASE_SPEC_HOLDER_IDENTITY),
        Column::age(),
    ]
}

pub(super) fn lease_row(lease: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![
        util::name(lease),
        Value::String(str_at(lease, &["spec", "holderIdentity"]).to_string()),
        util::age(lease, now),
    ])
}
