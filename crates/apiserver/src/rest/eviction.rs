//! `POST pods/<name>/eviction` (policy/v1 `Eviction`, what `kubectl drain` sends): the pod gets
//! the `DisruptionTarget` condition (reason `EvictionByEvictionAPI`, message `Eviction API:
//! evicting`) and an ordinary delete with the Eviction's `deleteOptions`; the answer is
//! `201 Created` with a `Success` Status, as upstream's eviction storage.
//!
//! A running pod covered by a PodDisruptionBudget is evicted only if the budget allows it:
//! one disruption is spent, and the pod recorded in `disruptedPods`, in one
//! resourceVersion-checked write of the budget's status before the pod is deleted (conflicts
//! re-read and retry); otherwise the answer is 429 `TooManyRequests`, which `kubectl drain`
//! retries. The decisions are in [`super::eviction_budget`].

use axum::body::Body;
use axum::http::{HeaderMap, Response, StatusCode};
use berth_api::StatusError;
use berth_store::Revision;
use bytes::Bytes;
use serde_json::{json, Value};

use super::body::parse_object;
use super::delete::{delete_object, DeleteOptions};
use super::eviction_budget::{self as budget, can_ignore_pdb};
use super::read::{get_object, list_all};
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
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let ns = rp.namespace.clone().unwrap_or_default();
    let success = || Ok(json_response(StatusCode::CREATED, &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}), &[]));
    let user_rv = opts.precondition_resource_version.is_some();
    for _ in 0..IGNORE_RETRIES {
        let (pod, pod_rev) = get_object(state, rp.info, Some(&ns), &name).await?;
        if !can_ignore_pdb(&pod) {
            // An unready pod let go without spending the budget is deleted only if it has
            // not changed (become ready) since: upstream's resourceVersion precondition.
            return match check_budgets(state, &ns, &pod, &name, &now, opts.dry_run).await? {
                Budgets::Several => {
                    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.", "code": 500});
                    Ok(json_response(StatusCode::INTERNAL_SERVER_ERROR, &body, &[]))
                }
                Budgets::UnhealthyMayGo(pdb_name) if !user_rv => match mark_and_delete(state, rp, &opts, &now, Some(pod_rev)).await {
                    Err(e) if e.code == 409 => Err(budget::still_processing(&pdb_name)),
                    r => r.and_then(|_| success()),
                },
                _ => mark_and_delete(state, rp, &opts, &now, None).await.and_then(|_| success()),
            };
        }
        // Pending pods skip the budget, so they go only as read: a pod that started running
        // in between is looked at again (upstream's shouldEnforceResourceVersion + retry).
        let enforce = !objects::is_deleting(&pod) && !budget::is_terminal(&pod) && !user_rv;
        match mark_and_delete(state, rp, &opts, &now, enforce.then_some(pod_rev)).await {
            Err(e) if e.code == 409 && enforce => continue,
            r => return r.and_then(|_| success()),
        }
    }
    Err(StatusError::conflict(rp.info.group, rp.info.plural, &name, StatusError::OPTIMISTIC_LOCK))
}

/// Mark the pod with `DisruptionTarget` and delete it; with `guard`, both only if the pod is
/// still at that revision (then the delete is conditional on the revision the mark wrote).
async fn mark_and_delete(state: &Shared, rp: &ResourcePath, opts: &DeleteOptions, now: &str, guard: Option<Revision>) -> Result<(), StatusError> {
    let status_rp = ResourcePath { subresource: Some("status".into()), ..rp.clone() };
    let name = rp.name.clone().unwrap_or_default();
    let uid = opts.precondition_uid.clone();
    let now = now.to_string();
    let updated = update_parent(
        state,
        &status_rp,
        move |pod| {
            if uid.as_deref().is_some_and(|u| Some(u) != objects::meta_str(pod, "uid")) {
                return Ok(());
            }
            // Terminal or already deleting pods are deleted as they are.
            if objects::is_deleting(pod) || budget::is_terminal(pod) {
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
        guard,
        opts.dry_run,
    )
    .await?;
    let mut opts = opts.clone();
    if guard.is_some() {
        opts.precondition_resource_version = objects::meta_str(&updated, "resourceVersion").map(str::to_string);
    }
    delete_object(state, rp.info, rp.namespace.as_deref(), &name, &opts).await?;
    Ok(())
}

enum Budgets {
    /// No budget covers the pod, or one did and a disruption was spent.
    Passed,
    /// The pod is unready and its budget (named) lets it go without spending a disruption.
    UnhealthyMayGo(String),
    Several,
}

const BUDGET_RETRIES: usize = 20;
/// Re-reads of a pending pod that changed under its conditional delete.
const IGNORE_RETRIES: usize = 20;

/// Find the pod's budget and spend one disruption of it (upstream's retry-on-conflict loop
/// around `checkAndDecrement`).
async fn check_budgets(state: &Shared, ns: &str, pod: &Value, pod_name: &str, now: &str, dry_run: bool) -> Result<Budgets, StatusError> {
    let info = berth_api::registry::lookup("policy", "v1", "poddisruptionbudgets").expect("poddisruptionbudgets are registered");
    let (all, _) = list_all(state, info, Some(ns)).await?;
    let covering = budget::matching(&all, pod);
    let pdb = match covering.as_slice() {
        [] => return Ok(Budgets::Passed),
        [one] => *one,
        _ => return Ok(Budgets::Several),
    };
    let pdb_name = objects::name_of(pdb).to_string();
    if budget::unhealthy_pod_may_go(pod, pdb) {
        return Ok(Budgets::UnhealthyMayGo(pdb_name));
    }
    let rp = ResourcePath { info, namespace: Some(ns.to_string()), name: Some(pdb_name.clone()), subresource: Some("status".into()), watch_prefix: false };
    for _ in 0..BUDGET_RETRIES {
        let (current, rev) = get_object(state, info, Some(ns), &pdb_name).await?;
        let spent = budget::check_and_decrement(&current, pod_name, now, dry_run)?;
        match update_parent(state, &rp, move |o| { *o = spent.clone(); Ok(()) }, Some(rev), dry_run).await {
            Ok(_) => return Ok(Budgets::Passed),
            Err(e) if e.code == 409 => continue,
            Err(e) => return Err(e),
        }
    }
    let mut e = StatusError::new(504, "Timeout", format!("Timeout: couldn't update PodDisruptionBudget {pdb_name:?} due to conflicts"));
    e.details = Some(json!({"retryAfterSeconds": 10}));
    Err(e)
}
