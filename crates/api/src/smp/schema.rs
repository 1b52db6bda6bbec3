//! The type graph strategic merge patch walks: for each OpenAPI definition, the shape of each
//! field (scalar, object of another definition, list, map) and its merge metadata.
//!
//! The graph is derived once, lazily, from `k8s-openapi`'s `schemars` schemas: their
//! `schema_name()` is the upstream OpenAPI definition name (`io.k8s.api.core.v1.PodSpec`), and
//! every nested type is emitted as a `$ref` into the generator's definitions, so walking them
//! reaches every field of every kind berth serves without a hand-maintained field table. Only
//! the patch metadata (which schemars does not carry) comes from [`super::meta`].

use std::collections::HashMap;
use std::sync::OnceLock;

use k8s_openapi::api;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

use super::meta::{PatchMeta, PATCH_META};

/// The shape of a value position in an object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ty {
    /// No schema information: maps merge recursively, lists are replaced.
    Unknown,
    /// A string, number or boolean (also `Quantity`, `Time`, `IntOrString`).
    Scalar,
    /// An object of the named definition.
    Struct(String),
    /// A map with arbitrary keys whose values have this shape (`labels`, `resources.limits`).
    Map(Box<Ty>),
    /// A list whose elements have this shape.
    List(Box<Ty>),
}

pub(crate) static UNKNOWN: Ty = Ty::Unknown;

/// One field of a definition.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub ty: Ty,
    pub meta: Option<PatchMeta>,
}

/// Definition name -> field name -> field.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    pub defs: HashMap<String, HashMap<String, Field>>,
}

impl Graph {
    /// The shape and metadata of key `name` inside a value of shape `ty`. Keys the schema does
    /// not know get [`Ty::Unknown`] and no metadata, which is upstream's behaviour for
    /// schema-less data.
    pub fn field<'g>(&'g self, ty: &'g Ty, name: &str) -> (&'g Ty, Option<PatchMeta>) {
        match ty {
            Ty::Struct(def) => self
                .defs
                .get(def)
                .and_then(|fields| fields.get(name))
                .map(|f| (&f.ty, f.meta))
                .unwrap_or((&UNKNOWN, None)),
            Ty::Map(value) => (value, None),
            _ => (&UNKNOWN, None),
        }
    }

    pub fn has_definition(&self, def: &str) -> bool {
        self.defs.contains_key(def)
    }
}

/// The element shape of a list shape (unknown for anything else).
pub(crate) fn element(ty: &Ty) -> &Ty {
    match ty {
        Ty::List(e) => e,
        _ => &UNKNOWN,
    }
}

/// (API group, kind, OpenAPI definition) of every root berth serves. The core group is "".
pub(crate) const ROOTS: &[(&str, &str, &str)] = &[
    ("", "Namespace", "io.k8s.api.core.v1.Namespace"),
    ("", "Pod", "io.k8s.api.core.v1.Pod"),
    ("", "Service", "io.k8s.api.core.v1.Service"),
    ("", "Endpoints", "io.k8s.api.core.v1.Endpoints"),
    ("", "PersistentVolume", "io.k8s.api.core.v1.PersistentVolume"),
    ("", "PersistentVolumeClaim", "io.k8s.api.core.v1.PersistentVolumeClaim"),
    ("", "Node", "io.k8s.api.core.v1.Node"),
    ("", "Event", "io.k8s.api.core.v1.Event"),
    ("", "ConfigMap", "io.k8s.api.core.v1.ConfigMap"),
    ("", "Secret", "io.k8s.api.core.v1.Secret"),
    ("", "ServiceAccount", "io.k8s.api.core.v1.ServiceAccount"),
    ("events.k8s.io", "Event", "io.k8s.api.events.v1.Event"),
    ("apps", "StatefulSet", "io.k8s.api.apps.v1.StatefulSet"),
    ("apps", "ControllerRevision", "io.k8s.api.apps.v1.ControllerRevision"),
    ("policy", "PodDisruptionBudget", "io.k8s.api.policy.v1.PodDisruptionBudget"),
    ("storage.k8s.io", "StorageClass", "io.k8s.api.storage.v1.StorageClass"),
    ("coordination.k8s.io", "Lease", "io.k8s.api.coordination.v1.Lease"),
    ("discovery.k8s.io", "EndpointSlice", "io.k8s.api.discovery.v1.EndpointSlice"),
    ("autoscaling", "Scale", "io.k8s.api.autoscaling.v1.Scale"),
    ("rbac.authorization.k8s.io", "ClusterRole", "io.k8s.api.rbac.v1.ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding", "io.k8s.api.rbac.v1.ClusterRoleBinding"),
    ("rbac.authorization.k8s.io", "Role", "io.k8s.api.rbac.v1.Role"),
    ("rbac.authorization.k8s.io", "RoleBinding", "io.k8s.api.rbac.v1.RoleBinding"),
];

/// The OpenAPI definition name of a served kind's root, e.g. `("apps", "StatefulSet")` ->
/// `"io.k8s.api.apps.v1.StatefulSet"`. The core group may be given as `""` or `"core"`.
pub fn root_definition(group: &str, kind: &str) -> Option<&'static str> {
    let group = if group == "core" { "" } else { group };
    ROOTS.iter().find(|(g, k, _)| *g == group && *k == kind).map(|(_, _, d)| *d)
}

/// The graph of every definition reachable from [`ROOTS`], built on first use.
pub(crate) fn kubernetes_graph() -> &'static Graph {
    static GRAPH: OnceLock<Graph> = OnceLock::new();
    GRAPH.get_or_init(build_kubernetes_graph)
}

fn build_kubernetes_graph() -> Graph {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    // One call per root; every nested type lands in the generator's definitions.
    generator.subschema_for::<api::core::v1::Namespace>();
    generator.subschema_for::<api::core::v1::Pod>();
    generator.subschema_for::<api::core::v1::Service>();
    generator.subschema_for::<api::core::v1::Endpoints>();
    generator.subschema_for::<api::core::v1::PersistentVolume>();
    generator.subschema_for::<api::core::v1::PersistentVolumeClaim>();
    generator.subschema_for::<api::core::v1::Node>();
    generator.subschema_for::<api::core::v1::Event>();
    generator.subschema_for::<api::core::v1::ConfigMap>();
    generator.subschema_for::<api::core::v1::Secret>();
    generator.subschema_for::<api::core::v1::ServiceAccount>();
    generator.subschema_for::<api::events::v1::Event>();
    generator.subschema_for::<api::apps::v1::StatefulSet>();
    generator.subschema_for::<api::apps::v1::ControllerRevision>();
    generator.subschema_for::<api::policy::v1::PodDisruptionBudget>();
    generator.subschema_for::<api::storage::v1::StorageClass>();
    generator.subschema_for::<api::coordination::v1::Lease>();
    generator.subschema_for::<api::discovery::v1::EndpointSlice>();
    generator.subschema_for::<api::autoscaling::v1::Scale>();
    generator.subschema_for::<api::rbac::v1::ClusterRole>();
    generator.subschema_for::<api::rbac::v1::ClusterRoleBinding>();
    generator.subschema_for::<api::rbac::v1::Role>();
    generator.subschema_for::<api::rbac::v1::RoleBinding>();
    // Not served, but their patch metadata is in the table; keeping them in the graph lets the
    // table's consistency test cover every row.
    generator.subschema_for::<api::apps::v1::Deployment>();
    generator.subschema_for::<api::apps::v1::DaemonSet>();
    generator.subschema_for::<api::apps::v1::ReplicaSet>();
    generator.subschema_for::<api::core::v1::ReplicationController>();
    generator.subschema_for::<api::core::v1::ComponentStatus>();
    generator.subschema_for::<api::storage::v1::CSINode>();
    let definitions = generator.take_definitions(false);
    graph_from_definitions(&definitions)
}

/// Builds a graph from JSON-schema definitions keyed by OpenAPI definition name, then attaches
/// the patch metadata table.
pub(crate) fn graph_from_definitions(definitions: &Map<String, Value>) -> Graph {
    let mut graph = Graph::default();
    for (name, schema) in definitions {
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
            continue;
        };
        let fields = properties
            .iter()
            .map(|(field, prop)| {
                let ty = shape_of(prop, definitions);
                (field.clone(), Field { ty, meta: None })
            })
            .collect();
        graph.defs.insert(name.clone(), fields);
    }
    for &(prefix, def, field, strategy, merge_key) in PATCH_META {
        let name = format!("{prefix}{def}");
        if let Some(f) = graph.defs.get_mut(&name).and_then(|fields| fields.get_mut(field)) {
            f.meta = Some(PatchMeta { strategy, merge_key });
        }
    }
    graph
}

fn shape_of(schema: &Value, definitions: &Map<String, Value>) -> Ty {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = definition_name(reference);
        return match definitions.get(&name) {
            Some(def) if def.get("properties").is_some() => Ty::Struct(name),
            // Quantity, Time, IntOrString, MicroTime … are strings (or ints) on the wire.
            Some(def) if is_scalar_type(def) => Ty::Scalar,
            // RawExtension and friends: arbitrary JSON.
            _ => Ty::Unknown,
        };
    }
    match type_name(schema) {
        Some("array") => Ty::List(Box::new(
            schema.get("items").map_or(Ty::Unknown, |items| shape_of(items, definitions)),
        )),
        Some("object") => match schema.get("additionalProperties") {
            Some(values @ Value::Object(_)) => Ty::Map(Box::new(shape_of(values, definitions))),
            _ => Ty::Unknown,
        },
        Some("string" | "integer" | "number" | "boolean") => Ty::Scalar,
        _ => Ty::Unknown,
    }
}

fn is_scalar_type(schema: &Value) -> bool {
    matches!(type_name(schema), Some("string" | "integer" | "number" | "boolean"))
        // Quantity and IntOrString carry no `type`, only this marker.
        || schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
}

/// The schema's `type`, ignoring a `"null"` alternative when it is given as a list.
fn type_name(schema: &Value) -> Option<&str> {
    match schema.get("type")? {
        Value::String(s) => Some(s),
        Value::Array(types) => types.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ => None,
    }
}

/// `#/$defs/io.k8s.api.core.v1.PodSpec` -> `io.k8s.api.core.v1.PodSpec` (JSON-pointer unescaped).
fn definition_name(reference: &str) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    last.replace("~1", "/").replace("~0", "~")
}
