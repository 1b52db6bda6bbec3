//! Server-side table printers: the columns and cells `kubectl get` shows.
//!
//! kubectl asks for `application/json;as=Table;v=v1;g=meta.k8s.io` and prints whatever columns
//! the server sends, so these must be upstream's exactly. The facts come from upstream's
//! `pkg/printers/internalversion/printers.go` (≈v1.32/1.33); the API server builds the
//! `meta.k8s.io/v1 Table` envelope around what [`columns`] and [`row`] return.
//!
//! Like upstream's API server (which always prints with `Wide: true`), rows carry every
//! column, including the `priority: 1` ones that kubectl only shows with `-o wide`.
//!
//! Objects arrive as `serde_json::Value` in their v1 wire form. Printers never panic on odd
//! input: a missing field prints as upstream prints the Go zero value or placeholder.

mod apps;
mod core;
mod descriptions;
mod duration;
mod events;
mod network;
mod pod;
mod policy;
mod quantity;
mod rbac;
mod storage;
mod util;

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use duration::human_duration;

/// One column definition of a `meta.k8s.io/v1 Table` (`TableColumnDefinition`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    /// OpenAPI type: `"string"`, `"integer"`, `"boolean"`, `"date"`, …
    pub type_: &'static str,
    /// `"name"` for the column holding the object's name, else `""`.
    pub format: &'static str,
    pub description: &'static str,
    /// 0 = always shown; 1 = only shown by kubectl with `-o wide`.
    pub priority: i32,
}

impl Column {
    /// A plain `string` column shown by default.
    pub(crate) const fn string(name: &'static str, description: &'static str) -> Column {
        Column {
            name,
            type_: "string",
            format: "",
            description,
            priority: 0,
        }
    }

    /// A column with another OpenAPI type (`integer`, `boolean`, `date`).
    pub(crate) const fn typed(
        name: &'static str,
        type_: &'static str,
        description: &'static str,
    ) -> Column {
        Column {
            name,
            type_,
            format: "",
            description,
            priority: 0,
        }
    }

    /// The `Name` column every printer starts with (format `name`).
    pub(crate) const fn name() -> Column {
        Column {
            name: "Name",
            type_: "string",
            format: "name",
            description: descriptions::OBJECT_META_NAME,
            priority: 0,
        }
    }

    /// The `Age` column (`translateTimestampSince(creationTimestamp)`).
    pub(crate) const fn age() -> Column {
        Column::string("Age", descriptions::OBJECT_META_CREATION_TIMESTAMP)
    }

    /// The same column, shown only with `-o wide`.
    pub(crate) const fn wide(self) -> Column {
        Column {
            priority: 1,
            ..self
        }
    }
}

/// One row of a Table: the cells (one per column, in order) and the optional row conditions
/// (`[{type: Completed, …}]` for finished pods; kubectl still lists such rows by default).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub cells: Vec<Value>,
    pub conditions: Option<Value>,
}

impl Row {
    pub(crate) fn new(cells: Vec<Value>) -> Row {
        Row {
            cells,
            conditions: None,
        }
    }
}

/// The printers berth has, keyed by API group ("" = core) and resource plural.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Printer {
    Namespace,
    Pod,
    Service,
    Endpoints,
    PersistentVolume,
    PersistentVolumeClaim,
    Node,
    Event,
    ConfigMap,
    Secret,
    ServiceAccount,
    StatefulSet,
    ControllerRevision,
    StorageClass,
    Lease,
    EndpointSlice,
    PodDisruptionBudget,
    RoleBinding,
    /// Upstream's `rest.DefaultTableConvertor`: `Name`, `Created At`.
    Default,
}

fn printer_for(group: &str, plural: &str) -> Printer {
    match (group, plural) {
        ("", "namespaces") => Printer::Namespace,
        ("", "pods") => Printer::Pod,
        ("", "services") => Printer::Service,
        ("", "endpoints") => Printer::Endpoints,
        ("", "persistentvolumes") => Printer::PersistentVolume,
        ("", "persistentvolumeclaims") => Printer::PersistentVolumeClaim,
        ("", "nodes") => Printer::Node,
        ("", "events") => Printer::Event,
        ("", "configmaps") => Printer::ConfigMap,
        ("", "secrets") => Printer::Secret,
        ("", "serviceaccounts") => Printer::ServiceAccount,
        ("apps", "statefulsets") => Printer::StatefulSet,
        ("apps", "controllerrevisions") => Printer::ControllerRevision,
        ("storage.k8s.io", "storageclasses") => Printer::StorageClass,
        ("coordination.k8s.io", "leases") => Printer::Lease,
        ("discovery.k8s.io", "endpointslices") => Printer::EndpointSlice,
        ("policy", "poddisruptionbudgets") => Printer::PodDisruptionBudget,
        // Upstream serves events.k8s.io Events from the core Event storage, so both groups
        // share one printer; the row converts the events.k8s.io field names first.
        ("events.k8s.io", "events") => Printer::Event,
        ("rbac.authorization.k8s.io", "rolebindings" | "clusterrolebindings") => Printer::RoleBinding,
        _ => Printer::Default,
    }
}

/// Columns for a resource, by API group (`""` = core) and plural. Resources without a
/// specific printer get upstream's default table convertor columns (`Name`, `Created At`).
pub fn columns(group: &str, plural: &str) -> Vec<Column> {
    match printer_for(group, plural) {
        Printer::Namespace => core::namespace_columns(),
        Printer::Pod => pod::columns(),
        Printer::Service => network::service_columns(),
        Printer::Endpoints => network::endpoints_columns(),
        Printer::PersistentVolume => storage::persistent_volume_columns(),
        Printer::PersistentVolumeClaim => storage::persistent_volume_claim_columns(),
        Printer::Node => core::node_columns(),
        Printer::Event => events::columns(),
        Printer::ConfigMap => core::config_map_columns(),
        Printer::Secret => core::secret_columns(),
        Printer::ServiceAccount => core::service_account_columns(),
        Printer::StatefulSet => apps::stateful_set_columns(),
        Printer::ControllerRevision => apps::controller_revision_columns(),
        Printer::StorageClass => storage::storage_class_columns(),
        Printer::Lease => core::lease_columns(),
        Printer::EndpointSlice => network::endpoint_slice_columns(),
        Printer::PodDisruptionBudget => policy::pdb_columns(),
        Printer::RoleBinding => rbac::binding_columns(),
        Printer::Default => default_columns(),
    }
}

/// One row for `obj` (a full object as JSON, e.g. a Pod), computed as of `now`.
pub fn row(group: &str, plural: &str, obj: &Value, now: DateTime<Utc>) -> Row {
    match printer_for(group, plural) {
        Printer::Namespace => core::namespace_row(obj, now),
        Printer::Pod => pod::row(obj, now),
        Printer::Service => network::service_row(obj, now),
        Printer::Endpoints => network::endpoints_row(obj, now),
        Printer::PersistentVolume => storage::persistent_volume_row(obj, now),
        Printer::PersistentVolumeClaim => storage::persistent_volume_claim_row(obj, now),
        Printer::Node => core::node_row(obj, now),
        Printer::Event if group == "events.k8s.io" => events::events_v1_row(obj, now),
        Printer::Event => events::row(obj, now),
        Printer::ConfigMap => core::config_map_row(obj, now),
        Printer::Secret => core::secret_row(obj, now),
        Printer::ServiceAccount => core::service_account_row(obj, now),
        Printer::StatefulSet => apps::stateful_set_row(obj, now),
        Printer::ControllerRevision => apps::controller_revision_row(obj, now),
        Printer::StorageClass => storage::storage_class_row(obj, now),
        Printer::Lease => core::lease_row(obj, now),
        Printer::EndpointSlice => network::endpoint_slice_row(obj, now),
        Printer::PodDisruptionBudget => policy::pdb_row(obj, now),
        Printer::RoleBinding => rbac::binding_row(obj, now),
        Printer::Default => default_row(obj),
    }
}

/// Upstream `rest.DefaultTableConvertor` columns.
fn default_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::typed(
            "Created At",
            "date",
            descriptions::OBJECT_META_CREATION_TIMESTAMP,
        ),
    ]
}

/// Upstream `rest.DefaultTableConvertor` cells: the name and the creation time as RFC 3339 in
/// UTC (Go's zero time when unset, as upstream formats an unset `metav1.Time`).
fn default_row(obj: &Value) -> Row {
    let created = util::parse_time(util::str_at(obj, &["metadata", "creationTimestamp"]))
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string());
    Row::new(vec![util::name(obj), Value::String(created)])
}

#[cfg(test)]
mod tests;
