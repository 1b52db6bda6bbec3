//! Swagger 2.0 rendering of the same model (`/openapi/v2`): one document for all
//! group-versions, definitions under `#/definitions/`. kubectl falls back to it when
//! `/openapi/v3` is unavailable, and `kubectl explain --output=plaintext-openapiv2` reads it.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::kinds;
use super::params::{In, Param};
use super::paths::{Body, Operation, PathItem, Response};
use super::schemas::{closure, collect_refs_with, Definitions, V3_REF_PREFIX};
use super::v3::{PATCH_CONTENT_TYPES, RESPONSE_CONTENT_TYPES, WATCH_CONTENT_TYPES};

const V2_REF_PREFIX: &str = "#/definitions/";

fn reference(definition: &str) -> Value {
    json!({"$ref": format!("{V2_REF_PREFIX}{definition}")})
}

/// Rewrites `#/components/schemas/X` references to `#/definitions/X`, in place.
fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if k == "$ref" {
                    if let Some(name) = v.as_str().and_then(|s| s.strip_prefix(V3_REF_PREFIX)) {
                        *v = format!("{V2_REF_PREFIX}{name}").into();
                    }
                } else {
                    rewrite_refs(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

/// Swagger 2.0 has no `oneOf`; upstream publishes both scalars as strings there.
fn v2_scalar(name: &str, schema: &Value) -> Option<Value> {
    let description = schema.get("description").cloned().unwrap_or(Value::Null);
    match name {
        kinds::INT_OR_STRING => {
            Some(json!({"description": description, "format": "int-or-string", "type": "string"}))
        }
        kinds::QUANTITY => Some(json!({"description": description, "type": "string"})),
        _ => None,
    }
}

fn param(p: &Param) -> Value {
    let mut out = json!({
        "description": p.description,
        "in": match p.location { In::Path => "path", In::Query => "query" },
        "name": p.name,
        "type": p.ty.as_str(),
        "uniqueItems": true,
    });
    if p.repeated {
        out["type"] = "array".into();
        out["items"] = json!({"type": p.ty.as_str()});
        out.as_object_mut().expect("object").remove("uniqueItems");
    }
    if p.location == In::Path {
        out["required"] = true.into();
    }
    out
}

fn operation(op: &Operation) -> Value {
    let mut params: Vec<Value> = Vec::new();
    let consumes: Vec<&str> = match &op.body {
        Some(Body::Object(def)) => {
            params.push(
                json!({"in": "body", "name": "body", "required": true, "schema": reference(def)}),
            );
            vec!["*/*"]
        }
        Some(Body::Patch) => {
            params.push(json!({"in": "body", "name": "body", "required": true, "schema": reference(kinds::PATCH)}));
            PATCH_CONTENT_TYPES.to_vec()
        }
        Some(Body::Delete) => {
            params.push(
                json!({"in": "body", "name": "body", "schema": reference(kinds::DELETE_OPTIONS)}),
            );
            vec!["*/*"]
        }
        None => vec!["*/*"],
    };
    params.extend(op.params.iter().map(param));
    let (schema, produces): (Value, Vec<&str>) = match &op.response {
        Response::Object(def) => (reference(def), RESPONSE_CONTENT_TYPES.to_vec()),
        Response::List(def) => (
            reference(def),
            RESPONSE_CONTENT_TYPES
                .iter()
                .chain(WATCH_CONTENT_TYPES)
                .copied()
                .collect(),
        ),
        Response::Text => (json!({"type": "string"}), vec!["*/*"]),
    };
    let mut responses = Map::new();
    for &code in op.codes {
        let description = match code {
            200 => "OK",
            201 => "Created",
            202 => "Accepted",
            _ => "",
        };
        responses.insert(
            code.to_string(),
            json!({"description": description, "schema": schema}),
        );
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    let mut out = Map::new();
    out.insert("consumes".into(), json!(consumes));
    out.insert("description".into(), op.description.clone().into());
    out.insert("operationId".into(), op.id.clone().into());
    if !params.is_empty() {
        out.insert("parameters".into(), Value::Array(params));
    }
    out.insert("produces".into(), json!(produces));
    out.insert("responses".into(), Value::Object(responses));
    out.insert("schemes".into(), json!(["https"]));
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

pub(crate) fn document(defs: &Definitions, paths: &[PathItem]) -> Value {
    let rendered: BTreeMap<&str, Value> = paths
        .iter()
        .map(|p| (p.path.as_str(), path_item(p)))
        .collect();
    let mut roots = Vec::new();
    for item in rendered.values() {
        collect_refs_with(item, V2_REF_PREFIX, &mut |r| roots.push(r.to_string()));
    }
    let definitions: Map<String, Value> = closure(defs, roots)
        .into_iter()
        .map(|name| {
            let mut schema = v2_scalar(&name, &defs[&name]).unwrap_or_else(|| defs[&name].clone());
            rewrite_refs(&mut schema);
            (name, schema)
        })
        .collect();
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": super::KUBERNETES_VERSION},
        "paths": rendered,
        "definitions": definitions,
        "securityDefinitions": {
            "BearerToken": {"description": "Bearer Token authentication", "in": "header", "name": "authorization", "type": "apiKey"}
        },
        "security": [{"BearerToken": []}]
    })
}
