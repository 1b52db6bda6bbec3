//! rbac.authorization.k8s.io bindings: upstream's `roleBindingColumnDefinitions`
//! (`Name`, `Role`, `Age`, wide `Users`, `Groups`, `ServiceAccounts`). Roles and ClusterRoles
//! use the default `Name`, `Created At` columns, as upstream.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{util, Column, Row};

pub(super) fn binding_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Role", "Role references the Role or ClusterRole."),
        Column::age(),
        Column::string("Users", "Users in the binding.").wide(),
        Column::string("Groups", "Groups in the binding.").wide(),
        Column::string("ServiceAccounts", "ServiceAccounts in the binding.").wide(),
    ]
}

pub(super) fn binding_row(b: &Value, now: DateTime<Utc>) -> Row {
    let role = format!("{}/{}", b["roleRef"]["kind"].as_str().unwrap_or(""), b["roleRef"]["name"].as_str().unwrap_or(""));
    let subjects = b["subjects"].as_array().cloned().unwrap_or_default();
    let of = |kind: &str| -> String {
        subjects
            .iter()
            .filter(|s| s["kind"] == kind)
            .map(|s| {
                let name = s["name"].as_str().unwrap_or("");
                match s["namespace"].as_str() {
                    Some(ns) if kind == "ServiceAccount" => format!("{ns}/{name}"),
                    _ => name.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    Row::new(vec![
        util::name(b),
        Value::String(role),
        util::age(b, now),
        Value::String(of("User")),
        Value::String(of("Group")),
        Value::String(of("ServiceAccount")),
    ])
}
