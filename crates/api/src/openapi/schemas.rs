//! The schema definitions shared by all documents, generated from `k8s-openapi`'s schemars
//! implementations and reshaped to what upstream's apiserver publishes.
//!
//! `k8s-openapi` already names every schema after its upstream definition
//! (`io.k8s.api.apps.v1.StatefulSet`) and attaches the field descriptions; what it does not do
//! is mark kinds with `x-kubernetes-group-version-kind`, carry the strategic-merge-patch
//! extensions, or describe list kinds (its `List<T>` has no schema). Those are added here.
//!
//! Definitions are kept in the OpenAPI v3 flavour (`#/components/schemas/…` references);
//! `v2.rs` rewrites a copy for swagger 2.0.

use std::collections::{BTreeMap, BTreeSet};

use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use super::kinds::{self, Gvk, KIND_TYPES};
use super::{patch_meta, PatchMeta};
use crate::registry::{group_versions, REGISTRY};

pub(crate) const V3_REF_PREFIX: &str = "#/components/schemas/";

/// All definitions by upstream name, sorted (sorted keys make the documents and their
/// hashes deterministic).
pub(crate) type Definitions = BTreeMap<String, Value>;

/// Upstream definition name of a registry kind's list, e.g. `io.k8s.api.apps.v1.StatefulSetList`.
pub(crate) fn list_definition(item_definition: &str) -> String {
    format!("{item_definition}List")
}

pub(crate) fn generate() -> Definitions {
    // No transforms: k8s-openapi writes its schemas by hand in OpenAPI style already, and
    // schemars' OpenAPI transforms would turn `$ref`-with-description into `allOf`, which
    // current upstream no longer does.
    let settings = SchemaSettings::openapi3().with(|s| {
        s.transforms.clear();
        s.meta_schema = None;
    });
    let mut generator = settings.into_generator();
    for t in KIND_TYPES {
        (t.register)(&mut generator);
    }
    kinds::register_meta_types(&mut generator);
    let mut defs: Definitions = generator.take_definitions(false).into_iter().collect();

    for t in KIND_TYPES {
        set_gvks(&mut defs, &(t.definition)(), &[t.gvk()]);
    }
    for info in REGISTRY {
        let t = kinds::kind_type(info.group, info.version, info.kind)
            .unwrap_or_else(|| panic!("no k8s-openapi type for registry kind {}", info.kind));
        let item = (t.definition)().into_owned();
        let list = list_definition(&item);
        defs.insert(list.clone(), list_schema(info.kind, &item));
        let list_gvk =
            json!({"group": info.group, "kind": info.list_kind(), "version": info.version});
        set_gvk_values(&mut defs, &list, vec![list_gvk]);
    }
    // Upstream registers DeleteOptions in every group-version; kubectl sends it as the body
    // of deletes in any of them.
    let mut delete_gvks = vec![Gvk::new("", "v1", "DeleteOptions")];
    for (group, version) in group_versions() {
        if !group.is_empty() {
            delete_gvks.push(Gvk::new(group, version, "DeleteOptions"));
        }
    }
    set_gvks(&mut defs, kinds::DELETE_OPTIONS, &delete_gvks);
    set_gvks(&mut defs, kinds::STATUS, &[Gvk::new("", "v1", "Status")]);
    set_gvks(
        &mut defs,
        kinds::API_RESOURCE_LIST,
        &[Gvk::new("", "v1", "APIResourceList")],
    );

    reshape_scalars(&mut defs);
    for (name, schema) in defs.iter_mut() {
        fix_definition(name, schema);
    }
    defs
}

fn set_gvks(defs: &mut Definitions, definition: &str, gvks: &[Gvk]) {
    set_gvk_values(defs, definition, gvks.iter().map(|g| g.to_json()).collect());
}

fn set_gvk_values(defs: &mut Definitions, definition: &str, gvks: Vec<Value>) {
    let schema = defs
        .get_mut(definition)
        .unwrap_or_else(|| panic!("definition {definition} was not generated"));
    object(schema).insert("x-kubernetes-group-version-kind".into(), Value::Array(gvks));
}

/// The `<Kind>List` schema upstream publishes for every listable kind.
fn list_schema(kind: &str, item_definition: &str) -> Value {
    json!({
        "description": format!("{kind}List is a list of {kind} objects."),
        "type": "object",
        "properties": {
            "apiVersion": {
                "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
                "type": "string"
            },
            "items": {
                "description": format!("List of {kind} objects."),
                "type": "array",
                "items": {"$ref": format!("{V3_REF_PREFIX}{item_definition}")}
            },
            "kind": {
                "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                "type": "string"
            },
            "metadata": {
                "$ref": format!("{V3_REF_PREFIX}{}", kinds::LIST_META),
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
            }
        },
        "required": ["items"]
    })
}

/// Upstream's v3 shapes for the two scalar types k8s-openapi marks only with
/// `x-kubernetes-int-or-string`: both become `oneOf` alternatives (that is also what makes
/// `kubectl explain` print `<IntOrString>` and `<Quantity>` rather than `<string>`).
fn reshape_scalars(defs: &mut Definitions) {
    if let Some(schema) = defs.get_mut(kinds::INT_OR_STRING) {
        let description = schema.get("description").cloned().unwrap_or(Value::Null);
        *schema = json!({
            "description": description,
            "format": "int-or-string",
            "oneOf": [{"type": "integer"}, {"type": "string"}]
        });
    }
    if let Some(schema) = defs.get_mut(kinds::QUANTITY) {
        let description = schema.get("description").cloned().unwrap_or(Value::Null);
        *schema = json!({
            "description": description,
            "oneOf": [{"type": "string"}, {"type": "number"}]
        });
    }
}

/// Per-definition fix-ups on the object's own properties.
fn fix_definition(name: &str, schema: &mut Value) {
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    let mut optional_metadata = false;
    for (field, prop) in props.iter_mut() {
        if field == "metadata" && refs_meta(prop) {
            optional_metadata = true;
        }
        if let Some(PatchMeta {
            strategy,
            merge_key,
        }) = patch_meta(name, field)
        {
            let prop = object(prop);
            prop.insert("x-kubernetes-patch-strategy".into(), strategy.into());
            if let Some(key) = merge_key {
                prop.insert("x-kubernetes-patch-merge-key".into(), key.into());
            }
        }
    }
    // k8s-openapi models `metadata` as a required Rust field; upstream never lists it as
    // required (kubectl explain would otherwise print `metadata <ObjectMeta> -required-`).
    if optional_metadata {
        let obj = object(schema);
        if let Some(Value::Array(required)) = obj.get_mut("required") {
            required.retain(|r| r != "metadata");
            if required.is_empty() {
                obj.remove("required");
            }
        }
    }
}

fn refs_meta(prop: &Value) -> bool {
    prop.get("$ref").and_then(Value::as_str).is_some_and(|r| {
        r == format!("{V3_REF_PREFIX}{}", kinds::OBJECT_META)
            || r == format!("{V3_REF_PREFIX}{}", kinds::LIST_META)
    })
}

pub(crate) fn object(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    value.as_object_mut().expect("just made an object")
}

/// Every definition name `$ref`erenced (transitively) from `roots`, roots included.
pub(crate) fn closure(
    defs: &Definitions,
    roots: impl IntoIterator<Item = String>,
) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<String> = roots.into_iter().collect();
    while let Some(name) = stack.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let schema = defs
            .get(&name)
            .unwrap_or_else(|| panic!("reference to missing definition {name}"));
        collect_refs(schema, &mut |r| {
            if !seen.contains(r) {
                stack.push(r.to_string());
            }
        });
    }
    seen
}

/// Calls `f` with the definition name of every v3 `$ref` inside `value`.
pub(crate) fn collect_refs(value: &Value, f: &mut dyn FnMut(&str)) {
    collect_refs_with(value, V3_REF_PREFIX, f)
}

/// Calls `f` with the definition name of every `$ref` spelled `<prefix><name>` inside `value`.
pub(crate) fn collect_refs_with(value: &Value, prefix: &str, f: &mut dyn FnMut(&str)) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    if let Some(name) = v.as_str().and_then(|s| s.strip_prefix(prefix)) {
                        f(name);
                    }
                } else {
                    collect_refs_with(v, prefix, f);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs_with(v, prefix, f)),
        _ => {}
    }
}
