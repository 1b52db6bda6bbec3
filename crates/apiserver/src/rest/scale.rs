//! The `scale` subresource of StatefulSets, served as `autoscaling/v1 Scale`.

use axum::body::Body;
use axum::http::{HeaderMap, Response, StatusCode};
use berth_api::selectors::LabelSelector;
use berth_api::{FieldError, StatusError};
use berth_store::Revision;
use bytes::Bytes;
use serde_json::{json, Value};

use super::body::{content_type, parse_object};
use super::read::get_object;
use super::write::{apply_patch, update_parent};
use crate::objects;
use crate::request::{Query, ResourcePath};
use crate::state::{json_response, Shared};

/// The Scale view of a StatefulSet.
pub fn scale_of(sts: &Value) -> Value {
    let meta = sts.get("metadata").cloned().unwrap_or(json!({}));
    let mut m = serde_json::Map::new();
    for f in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if let Some(v) = meta.get(f) {
            m.insert(f.into(), v.clone());
        }
    }
    let selector = sts
        .pointer("/spec/selector")
        .and_then(|s| LabelSelector::from_label_selector(s).ok())
        .map(|s| s.to_string())
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": m,
        "spec": {"replicas": sts.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)},
        "status": {
            "replicas": sts.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector,
        },
    })
}

pub async fn get(state: &Shared, rp: &ResourcePath) -> Result<Response<Body>, StatusError> {
    let (sts, _) = get_object(state, rp.info, rp.namespace.as_deref(), rp.name.as_deref().unwrap_or("")).await?;
    Ok(json_response(StatusCode::OK, &scale_of(&sts), &[]))
}

fn replicas_of(scale: &Value, name: &str) -> Result<i64, StatusError> {
    let r = scale.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0);
    if r < 0 {
        return Err(StatusError::invalid(
            "autoscaling",
            "Scale",
            name,
            &[FieldError::invalid("spec.replicas", r, "must be greater than or equal to 0")],
        ));
    }
    Ok(r)
}

async fn set_replicas(state: &Shared, rp: &ResourcePath, replicas: i64, precondition: Option<Revision>, dry_run: bool) -> Result<Response<Body>, StatusError> {
    let sts = update_parent(
        state,
        rp,
        move |sts| {
            sts["spec"]["replicas"] = json!(replicas);
            Ok(())
        },
        precondition,
        dry_run,
    )
    .await?;
    Ok(json_response(StatusCode::OK, &scale_of(&sts), &[]))
}

fn precondition_of(scale: &Value) -> Result<Option<Revision>, StatusError> {
    match objects::meta_str(scale, "resourceVersion") {
        Some(rv) if !rv.is_empty() => rv
            .parse()
            .map(Some)
            .map_err(|_| StatusError::bad_request(format!("invalid resourceVersion {rv:?}"))),
        _ => Ok(None),
    }
}

pub async fn update(state: &Shared, rp: &ResourcePath, q: &Query, headers: &HeaderMap, body: Bytes) -> Result<Response<Body>, StatusError> {
    let name = rp.name.clone().unwrap_or_default();
    let scale = parse_object(headers, &body)?;
    let replicas = replicas_of(&scale, &name)?;
    set_replicas(state, rp, replicas, precondition_of(&scale)?, q.dry_run()?).await
}

pub async fn patch(state: &Shared, rp: &ResourcePath, q: &Query, headers: &HeaderMap, body: Bytes) -> Result<Response<Body>, StatusError> {
    let name = rp.name.clone().unwrap_or_default();
    let (sts, _) = get_object(state, rp.info, rp.namespace.as_deref(), &name).await?;
    let current = scale_of(&sts);
    let patched = apply_patch(&content_type(headers), &current, &body, berth_api::smp::root_definition("autoscaling", "Scale"))?;
    let replicas = replicas_of(&patched, &name)?;
    let precondition = match objects::meta_str(&patched, "resourceVersion") {
        Some(rv) if Some(rv) != objects::meta_str(&current, "resourceVersion") => precondition_of(&patched)?,
        _ => None,
    };
    set_replicas(state, rp, replicas, precondition, q.dry_run()?).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_view_of_a_statefulset() {
        let sts = json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u", "resourceVersion": "7", "labels": {"x": "y"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "nginx"}}},
            "status": {"replicas": 2},
        });
        let s = scale_of(&sts);
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(s["status"]["replicas"], 2);
        assert_eq!(s["status"]["selector"], "app=nginx");
        assert_eq!(s["metadata"]["resourceVersion"], "7");
        assert!(s["metadata"].get("labels").is_none());
    }
}
