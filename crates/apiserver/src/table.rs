//! `meta.k8s.io/v1` Table and PartialObjectMetadata responses, which is what `kubectl get`
//! asks for; the columns and cells come from `berth_api::printers`.

use berth_api::ResourceInfo;
use serde_json::{json, Value};

/// What each row's `object` carries (`?includeObject=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn from_query(v: Option<&str>) -> IncludeObject {
        match v {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
    })
}

pub fn column_definitions(info: &ResourceInfo) -> Value {
    Value::Array(
        berth_api::printers::columns(info.group, info.plural)
            .into_iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "type": c.type_,
                    "format": c.format,
                    "description": c.description,
                    "priority": c.priority,
                })
            })
            .collect(),
    )
}

/// A Table of `objs`. `with_columns` is false for watch events after the first, as upstream
/// omits the header then.
pub fn table(info: &ResourceInfo, objs: &[Value], include: IncludeObject, with_columns: bool, list_meta: Value) -> Value {
    let now = chrono::Utc::now();
    let rows: Vec<Value> = objs
        .iter()
        .map(|o| {
            let row = berth_api::printers::row(info.group, info.plural, o, now);
            let mut r = json!({"cells": row.cells});
            if let Some(c) = row.conditions {
                r["conditions"] = c;
            }
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => r["object"] = partial_metadata(o),
                IncludeObject::Object => r["object"] = o.clone(),
            }
            r
        })
        .collect();
    let mut t = json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "rows": rows,
    });
    t["columnDefinitions"] = if with_columns { column_definitions(info) } else { Value::Null };
    t
}
