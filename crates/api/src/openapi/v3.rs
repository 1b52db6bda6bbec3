//! OpenAPI 3.0 rendering: one document per group-version (`/openapi/v3/apis/apps/v1`) and the
//! root index (`/openapi/v3`) that lists them with a content hash.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::params::{In, Param};
use super::paths::{Body, Operation, PathItem, Response};
use super::schemas::{closure, collect_refs, Definitions, V3_REF_PREFIX};

/// Content types kubectl and other clients may send as a PATCH body. kubectl computes apply
/// patches from the OpenAPI v3 schema only when strategic merge patch is listed here.
pub(crate) const PATCH_CONTENT_TYPES: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];
/// Content types berth answers with. (No protobuf: berth speaks JSON and YAML only.)
pub(crate) const RESPONSE_CONTENT_TYPES: &[&str] = &["application/json", "application/yaml"];
pub(crate) const WATCH_CONTENT_TYPES: &[&str] = &["application/json;stream=watch"];

pub(crate) fn reference(definition: &str) -> Value {
    json!({"$ref": format!("{V3_REF_PREFIX}{definition}")})
}

fn param(p: &Param) -> Value {
    let mut schema = json!({"type": p.ty.as_str(), "uniqueItems": true});
    if p.repeated {
        schema = json!({"type": "array", "items": {"type": p.ty.as_str()}});
    }
    let mut out = json!({
        "description": p.description,
        "in": match p.location { In::Path => "path", In::Query => "query" },
        "name": p.name,
        "schema": schema,
    });
    if p.location == In::Path {
        out["required"] = true.into();
    }
    out
}

fn content(types: &[&str], schema: &Value) -> Value {
    Value::Object(
        types
            .iter()
            .map(|t| (t.to_string(), json!({"schema": schema})))
            .collect(),
    )
}

fn status_text(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        _ => "",
    }
}

fn operation(op: &Operation) -> Value {
    let mut out = Map::new();
    out.insert("description".into(), op.description.clone().into());
    out.insert("operationId".into(), op.id.clone().into());
    if !op.params.is_empty() {
        out.insert("parameters".into(), op.params.iter().map(param).collect());
    }
    match &op.body {
        Some(Body::Object(def)) => {
            out.insert(
                "requestBody".into(),
                json!({"content": content(&["*/*"], &reference(def)), "required": true}),
            );
        }
        Some(Body::Patch) => {
            let schema = reference(super::kinds::PATCH);
            out.insert(
                "requestBody".into(),
                json!({"content": content(PATCH_CONTENT_TYPES, &schema), "required": true}),
            );
        }
        Some(Body::Delete) => {
            let schema = reference(super::kinds::DELETE_OPTIONS);
            out.insert(
                "requestBody".into(),
                json!({"content": content(&["*/*"], &schema)}),
            );
        }
        None => {}
    }
    let body = match &op.response {
        Response::Object(def) => content(RESPONSE_CONTENT_TYPES, &reference(def)),
        Response::List(def) => {
            let types: Vec<&str> = RESPONSE_CONTENT_TYPES
                .iter()
                .chain(WATCH_CONTENT_TYPES)
                .copied()
                .collect();
            content(&types, &reference(def))
        }
        Response::Text => content(&["*/*"], &json!({"type": "string"})),
    };
    let mut responses = Map::new();
    for &code in op.codes {
        responses.insert(
            code.to_string(),
            json!({"content": body, "description": status_text(code)}),
        );
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    out.insert("responses".into(), Value::Object(responses));
    out.insert("tags".into(), json!([op.tag]));
    if !op.action.is_empty() {
        out.insert("x-kubernetes-action".into(), op.action.into());
        out.insert("x-kubernetes-group-version-kind".into(), op.gvk.to_json());
    }
    Value::Object(out)
}

fn path_item(item: &PathItem) -> Value {
    let mut out = Map::new();
    for op in &item.ops {
        out.insert(op.method.into(), operation(op));
    }
    if !item.params.is_empty() {
        out.insert("parameters".into(), item.params.iter().map(param).collect());
    }
    Value::Object(out)
}

/// The group-version document for `paths`, carrying exactly the definitions they reach.
pub(crate) fn document(defs: &Definitions, paths: &[PathItem]) -> Value {
    let rendered: BTreeMap<&str, Value> = paths
        .iter()
        .map(|p| (p.path.as_str(), path_item(p)))
        .collect();
    let mut roots = Vec::new();
    for item in rendered.values() {
        collect_refs(item, &mut |r| roots.push(r.to_string()));
    }
    let schemas: Map<String, Value> = closure(defs, roots)
        .into_iter()
        .map(|name| {
            let mut schema = defs[&name].clone();
            wrap_ref_siblings(&mut schema);
            (name, schema)
        })
        .collect();
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": super::KUBERNETES_VERSION},
        "paths": rendered,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "BearerToken": {"description": "Bearer Token authentication", "in": "header", "name": "authorization", "type": "apiKey"}
            }
        },
        "security": [{"BearerToken": []}]
    })
}

/// Rewrites `{"$ref": R, "description": D}` as `{"allOf": [{"$ref": R}], "description": D}`,
/// the form upstream's v3 documents use for a field of a named type. kubectl explain depends
/// on it: its description template prints a schema's own description and then walks `allOf`,
/// whereas a bare `$ref` is replaced by its target, losing the field's description (`FIELD:
/// updateStrategy` would show only the StatefulSetUpdateStrategy type's text).
fn wrap_ref_siblings(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.len() > 1 {
                if let Some(reference) = map.remove("$ref") {
                    map.insert("allOf".into(), json!([{"$ref": reference}]));
                }
            }
            map.values_mut().for_each(wrap_ref_siblings);
        }
        Value::Array(items) => items.iter_mut().for_each(wrap_ref_siblings),
        _ => {}
    }
}

/// The `/openapi/v3` index: `{"paths": {"apis/apps/v1": {"serverRelativeURL": "/openapi/v3/apis/apps/v1?hash=…"}}}`.
pub(crate) fn root<'a>(docs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    let paths: BTreeMap<&str, Value> = docs
        .into_iter()
        .map(|(path, hash)| {
            (
                path,
                json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
            )
        })
        .collect();
    json!({"paths": paths})
}
