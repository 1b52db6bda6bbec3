//! `POST pods/<name>/eviction` (policy/v1 `Eviction`, what `kubectl drain` sends): the pod gets
//! the `DisruptionTarget` condition (reason `EvictionByEvictionAPI`, message `Eviction API:
//! evicting`) and an ordinary delete with the Eviction's `deleteOptions`; the answer is
//! `201 Created` with a `Success` Status, as upstream's eviction storage. berth has no
//! PodDisruptionBudgets, so no eviction is ever refused with 429.

use axum::body::Body;
use axum::http::{HeaderMap, Response, StatusCode};
use berth_api::StatusError;
use bytes::Bytes;
use serde_json::{json, Value};

use super::body::parse_object;
use super::delete::{delete_object, DeleteOptions};
use super::write::update_parent;
use crate::objects;
use crate::request::{Query, ResourcePath};
use crate::state::{json_response, Shared};

pub async fn create(state: &Shared, rp: &ResourcePath, q: &Query, headers: &HeaderMap, body: Bytes) -> Result<Response<Body>, StatusError> {
    let eviction = parse_object(headers, &body)?;
    let name = rp.name.clone().unwrap_or_default();
    let named = eviction.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    if named != name {
        return Err(StatusError::bad_request("name in URL does not match name in Eviction object".to_string()));
    }
    let dry_run = q.dry_run()?;
    // The Eviction's deleteOptions, read the way a DELETE body is.
    let opts_body = eviction.get("deleteOptions").map(|o| serde_json::to_vec(o).unwrap_or_default()).unwrap_or_default();
    let mut opts = DeleteOptions::parse(&Query::default(), &HeaderMap::new(), &opts_body)?;
    opts.dry_run |= dry_run;
    let status_rp = ResourcePath { subresource: Some("status".into()), ..rp.clone() };
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let uid = opts.precondition_uid.clone();
    update_parent(
        state,
        &status_rp,
        move |pod| {
            if uid.as_deref().is_some_and(|u| Some(u) != objects::meta_str(pod, "uid")) {
                return Ok(());
            }
            // Terminal or already deleting pods are deleted as they are.
            let phase = pod.pointer("/status/phase").and_then(Value::as_str).unwrap_or("");
            if objects::is_deleting(pod) || matches!(phase, "Succeeded" | "Failed") {
                return Ok(());
            }
            let cond = json!({"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
                "message": "Eviction API: evicting", "lastTransitionTime": now});
            let status = pod.as_object_mut().expect("a pod is an object").entry("status").or_insert_with(|| json!({}));
            let conditions = status.as_object_mut().map(|s| s.entry("conditions").or_insert_with(|| json!([]))).and_then(Value::as_array_mut);
            if let Some(cs) = conditions {
                cs.retain(|c| c["type"] != "DisruptionTarget");
                cs.push(cond);
            }
            Ok(())
        },
        None,
        opts.dry_run,
    )
    .await?;
    delete_object(state, rp.info, rp.namespace.as_deref(), &name, &opts).await?;
    Ok(json_response(StatusCode::CREATED, &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}), &[]))
}
