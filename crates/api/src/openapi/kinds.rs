//! Which Rust type describes which Kubernetes kind.
//!
//! The registry says *what* berth serves; this table says which `k8s-openapi` type carries the
//! schema of each kind. Group, version and kind are read from the type's own
//! `k8s_openapi::Resource` constants, so an entry cannot drift from the type it names.

use k8s_openapi::api::{
    apps, authentication, autoscaling, coordination, core, discovery, events, policy, rbac, storage,
};
use k8s_openapi::Resource;
use schemars::{JsonSchema, Schema, SchemaGenerator};

/// A group/version/kind triple as it appears in `x-kubernetes-group-version-kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Gvk {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
}

impl Gvk {
    pub fn new(group: &'static str, version: &'static str, kind: &'static str) -> Gvk {
        Gvk {
            group,
            version,
            kind,
        }
    }

    pub fn to_json(self) -> serde_json::Value {
        serde_json::json!({"group": self.group, "kind": self.kind, "version": self.version})
    }
}

/// One kind with a schema: its GVK, its upstream definition name and how to register its
/// schema (and everything it references) with a generator.
pub(crate) struct KindType {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Registers the schema with the generator; returns the `$ref` schema.
    pub register: fn(&mut SchemaGenerator) -> Schema,
    /// Upstream definition name, e.g. `io.k8s.api.apps.v1.StatefulSet`.
    pub definition: fn() -> std::borrow::Cow<'static, str>,
}

impl KindType {
    pub fn gvk(&self) -> Gvk {
        Gvk::new(self.group, self.version, self.kind)
    }
}

fn register<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

macro_rules! kind_types {
    ($($t:ty),* $(,)?) => {
        &[$(KindType {
            group: <$t as Resource>::GROUP,
            version: <$t as Resource>::VERSION,
            kind: <$t as Resource>::KIND,
            register: register::<$t>,
            definition: <$t as JsonSchema>::schema_name,
        }),*]
    };
}

/// Every kind berth serves as a top-level resource (see `registry::REGISTRY`) plus the kinds
/// its subresources take and return (Scale, Binding, Eviction, TokenRequest).
pub(crate) static KIND_TYPES: &[KindType] = kind_types![
    core::v1::Namespace,
    core::v1::Pod,
    core::v1::Service,
    core::v1::Endpoints,
    core::v1::PersistentVolume,
    core::v1::PersistentVolumeClaim,
    core::v1::Node,
    core::v1::Event,
    core::v1::ConfigMap,
    core::v1::Secret,
    core::v1::ServiceAccount,
    core::v1::Binding,
    apps::v1::StatefulSet,
    apps::v1::ControllerRevision,
    policy::v1::PodDisruptionBudget,
    storage::v1::StorageClass,
    coordination::v1::Lease,
    discovery::v1::EndpointSlice,
    events::v1::Event,
    rbac::v1::ClusterRole,
    rbac::v1::ClusterRoleBinding,
    rbac::v1::Role,
    rbac::v1::RoleBinding,
    autoscaling::v1::Scale,
    policy::v1::Eviction,
    authentication::v1::TokenRequest,
];

pub(crate) fn kind_type(group: &str, version: &str, kind: &str) -> Option<&'static KindType> {
    KIND_TYPES
        .iter()
        .find(|t| t.group == group && t.version == version && t.kind == kind)
}

/// Definitions every group-version document carries regardless of its kinds, because the
/// operations reference them (delete bodies, error and delete responses, patch bodies,
/// discovery).
pub(crate) fn register_meta_types(generator: &mut SchemaGenerator) -> Vec<String> {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
    fn name<T: JsonSchema>(generator: &mut SchemaGenerator) -> String {
        generator.subschema_for::<T>();
        T::schema_name().into_owned()
    }
    vec![
        name::<meta::DeleteOptions>(generator),
        name::<meta::Status>(generator),
        name::<meta::Patch>(generator),
        name::<meta::APIResourceList>(generator),
    ]
}

/// Upstream definition names of the meta types, used when picking a document's roots.
pub(crate) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub(crate) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub(crate) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub(crate) const API_RESOURCE_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";
pub(crate) const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
pub(crate) const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
pub(crate) const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
pub(crate) const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
