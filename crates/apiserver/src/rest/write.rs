//! create, update (PUT), patch and pod binding.

use axum::body::Body;
use axum::http::{HeaderMap, Response, StatusCode};
use berth_api::{FieldError, ResourceInfo, StatusError};
use berth_store::{Revision, StoreError};
use bytes::Bytes;
use serde_json::{json, Value};

use super::body::{check_type_meta, content_type, field_validation, json_raw, parse_object};
use super::read::get_object;
use crate::admission;
use crate::objects::{self, encode, meta_mut, object_key, set_resource_version};
use crate::request::{FieldValidation, Query, ResourcePath};
use crate::state::{json_response, store_error, Shared};
use crate::strategy;

/// How many times a patch is re-applied when the object changes underneath it.
const PATCH_RETRIES: usize = 8;

fn invalid(info: &ResourceInfo, name: &str, errs: &[FieldError]) -> StatusError {
    StatusError::invalid(info.group, info.kind, name, errs)
}

pub async fn create(state: &Shared, rp: &ResourcePath, q: &Query, headers: &HeaderMap, body: Bytes) -> Result<Response<Body>, StatusError> {
    let info = rp.info;
    if info.namespaced() && rp.namespace.is_none() {
        return Err(StatusError::method_not_supported(info.group, info.plural, "create"));
    }
    let dry_run = q.dry_run()?;
    let (mut obj, warnings) = decode_body(info, q, headers, &body)?;

    // Namespace: from the URL; a different one in the body is refused.
    if let Some(ns) = rp.namespace.as_deref() {
        match objects::meta_str(&obj, "namespace") {
            Some(b) if !b.is_empty() && b != ns => {
                return Err(StatusError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
            _ => {}
        }
        meta_mut(&mut obj).insert("namespace".into(), json!(ns));
    } else {
        meta_mut(&mut obj).remove("namespace");
    }
    {
        let m = meta_mut(&mut obj);
        let has_name = m.get("name").and_then(Value::as_str).is_some_and(|s| !s.is_empty());
        if !has_name {
            if let Some(prefix) = m.get("generateName").and_then(Value::as_str).filter(|s| !s.is_empty()) {
                let n = objects::generate_name(prefix);
                m.insert("name".into(), json!(n));
            }
        }
        m.insert("uid".into(), json!(objects::new_uid()));
        m.insert("creationTimestamp".into(), json!(objects::now_rfc3339()));
        for f in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"] {
            m.remove(f);
        }
    }
    let name = objects::name_of(&obj).to_string();
    berth_api::defaults::apply_defaults(info.group, info.kind, &mut obj);
    crate::node_restriction::check(info, "", crate::node_restriction::Op::Create, Some(&obj), None)?;
    strategy::prepare_for_create(info, &mut obj);
    let errs = berth_api::validation::validate_create(info.group, info.kind, &obj);
    if !errs.is_empty() {
        return Err(invalid(info, &name, &errs));
    }
    if let Some(ns) = rp.namespace.as_deref() {
        admission::check_namespace_accepts(state, info, ns, &name).await?;
    }
    admission::admit_create(state, info, &mut obj).await?;
    if dry_run {
        return Ok(json_response(StatusCode::CREATED, &obj, &warnings));
    }
    let key = object_key(info, rp.namespace.as_deref(), &name);
    let rev = state
        .store
        .create(&key, encode(&obj))
        .await
        .map_err(|e| store_error(e, info.group, info.plural, &name))?;
    set_resource_version(&mut obj, rev);
    Ok(json_response(StatusCode::CREATED, &obj, &warnings))
}

/// A create or update body as an object of the URL's type, with unknown fields handled per
/// `?fieldValidation=`; returns the object and the warnings to send.
fn decode_body(info: &ResourceInfo, q: &Query, headers: &HeaderMap, body: &[u8]) -> Result<(Value, Vec<String>), StatusError> {
    let mode = FieldValidation::from_query(q)?;
    let mut obj = parse_object(headers, body)?;
    check_type_meta(info, &mut obj, info.kind, &info.api_version())?;
    let warnings = field_validation(info, mode, &mut obj, json_raw(headers, body), true)?;
    Ok((obj, warnings))
}

/// What part of the object a write may change.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    Main,
    Status,
    Finalize,
    /// `pods/binding`: spec.nodeName, annotations and the PodScheduled condition, written
    /// directly as upstream's binding storage does (no pod update rules, status included).
    Binding,
}

fn target(rp: &ResourcePath) -> Target {
    match rp.subresource.as_deref() {
        Some("status") => Target::Status,
        Some("finalize") => Target::Finalize,
        Some("binding") => Target::Binding,
        _ => Target::Main,
    }
}

/// Kinds whose PUT may create the object (upstream `AllowCreateOnUpdate`).
fn allow_create_on_update(info: &ResourceInfo) -> bool {
    matches!((info.group, info.kind), ("", "Endpoints") | ("", "Event") | ("coordination.k8s.io", "Lease") | ("events.k8s.io", "Event"))
}

pub async fn update(state: &Shared, rp: &ResourcePath, q: &Query, headers: &HeaderMap, body: Bytes) -> Result<Response<Body>, StatusError> {
    let info = rp.info;
    let name = rp.name.clone().unwrap_or_default();
    let dry_run = q.dry_run()?;
    let (mut obj, warnings) = decode_body(info, q, headers, &body)?;
    check_identity(rp, &mut obj)?;
    let precondition: Option<Revision> = match objects::meta_str(&obj, "resourceVersion") {
        Some(rv) if !rv.is_empty() => Some(
            rv.parse()
                .map_err(|_| StatusError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
        ),
        _ => None,
    };
    berth_api::defaults::apply_defaults(info.group, info.kind, &mut obj);
    let key = object_key(info, rp.namespace.as_deref(), &name);
    loop {
        let current = match get_object(state, info, rp.namespace.as_deref(), &name).await {
            Ok(c) => c,
            Err(e) if e.code == 404 && allow_create_on_update(info) && target(rp) == Target::Main => {
                return create(state, rp, q, headers, body).await;
            }
            Err(e) => return Err(e),
        };
        if let Some(p) = precondition {
            if p != current.1 {
                return Err(StatusError::conflict(info.group, info.plural, &name, StatusError::OPTIMISTIC_LOCK));
            }
        }
        match commit(state, rp, &key, obj.clone(), current, dry_run).await {
            Err(CommitError::Raced) if precondition.is_none() => continue,
            Err(CommitError::Raced) => {
                return Err(StatusError::conflict(info.group, info.plural, &name, StatusError::OPTIMISTIC_LOCK))
            }
            Err(CommitError::Api(e)) => return Err(e),
            Ok(out) => return Ok(json_response(StatusCode::OK, &out, &warnings)),
        }
    }
}

/// The body's name must be the URL's; its namespace, if any, too.
fn check_identity(rp: &ResourcePath, obj: &mut Value) -> Result<(), StatusError> {
    let url_name = rp.name.as_deref().unwrap_or("");
    match objects::meta_str(obj, "name") {
        Some(n) if n == url_name => {}
        None | Some("") => {
            meta_mut(obj).insert("name".into(), json!(url_name));
        }
        Some(n) => {
            return Err(StatusError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({url_name})"
            )))
        }
    }
    if let Some(ns) = rp.namespace.as_deref() {
        match objects::meta_str(obj, "namespace") {
            Some(b) if !b.is_empty() && b != ns => {
                return Err(StatusError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
            _ => {
                meta_mut(obj).insert("namespace".into(), json!(ns));
            }
        }
    }
    Ok(())
}

enum CommitError {
    /// The object changed between read and write.
    Raced,
    Api(StatusError),
}

impl From<StatusError> for CommitError {
    fn from(e: StatusError) -> Self {
        CommitError::Api(e)
    }
}

/// Apply the strategy for `rp`'s target to `new` against `current`, validate, and write it
/// if the stored object is still at `current`'s revision.
async fn commit(
    state: &Shared,
    rp: &ResourcePath,
    key: &str,
    new: Value,
    current: (Value, Revision),
    dry_run: bool,
) -> Result<Value, CommitError> {
    let info = rp.info;
    let (old, old_rev) = current;
    let name = objects::name_of(&old).to_string();
    let sub = rp.subresource.as_deref().unwrap_or("");
    crate::node_restriction::check(info, sub, crate::node_restriction::Op::Update, Some(&new), Some(&old))?;
    let mut new = match target(rp) {
        Target::Main => {
            let mut n = new;
            strategy::prepare_for_update(info, &mut n, &old);
            n
        }
        Target::Status => strategy::prepare_for_status_update(&new, &old),
        Target::Finalize => strategy::prepare_for_finalize(&new, &old),
        Target::Binding => {
            let mut n = new;
            strategy::preserve_system_metadata(&mut n, &old);
            n
        }
    };
    set_resource_version(&mut new, old_rev);
    let mut errs = strategy::validate_generic_update(&new, &old);
    if target(rp) != Target::Binding {
        errs.extend(berth_api::validation::validate_update(info.group, info.kind, &new, &old));
    }
    if !errs.is_empty() {
        return Err(StatusError::invalid(info.group, info.kind, &name, &errs).into());
    }
    if target(rp) == Target::Main {
        admission::admit_update(state, info, &new, &old).await?;
    }
    if new == old {
        // Nothing changed: upstream skips the write and keeps the resourceVersion.
        return Ok(old);
    }
    if dry_run {
        return Ok(new);
    }
    // The last finalizer of an object being deleted is gone: remove it for good.
    if objects::is_deleting(&new) && objects::finalizers(&new).is_empty() && !namespace_still_finalizing(info, &new) {
        return match state.store.delete(key, Some(old_rev)).await {
            Ok(_) => Ok(new),
            Err(StoreError::Conflict { .. }) | Err(StoreError::NotFound(_)) => Err(CommitError::Raced),
            Err(e) => Err(store_error(e, info.group, info.plural, &name).into()),
        };
    }
    match state.store.update(key, encode(&new), old_rev).await {
        Ok(rev) => {
            set_resource_version(&mut new, rev);
            Ok(new)
        }
        Err(StoreError::Conflict { .. }) => Err(CommitError::Raced),
        Err(e) => Err(store_error(e, info.group, info.plural, &name).into()),
    }
}

/// A terminating namespace stays until its `spec.finalizers` are empty too.
fn namespace_still_finalizing(info: &ResourceInfo, obj: &Value) -> bool {
    (info.group, info.kind) == ("", "Namespace")
        && obj.pointer("/spec/finalizers").and_then(Value::as_array).is_some_and(|a| !a.is_empty())
}

/// Apply a patch body of the request's patch type to `current`.
pub fn apply_patch(ct: &str, current: &Value, patch: &[u8], root_definition: Option<&str>) -> Result<Value, StatusError> {
    let bad = |e: String| StatusError::bad_request(e);
    match ct {
        "application/json-patch+json" => {
            let p: json_patch::Patch = serde_json::from_slice(patch).map_err(|e| bad(format!("error decoding patch: {e}")))?;
            let mut doc = current.clone();
            json_patch::patch(&mut doc, &p).map_err(|e| StatusError::new(422, "Invalid", format!("the server rejected our request due to an error in our request: {e}")))?;
            Ok(doc)
        }
        "application/merge-patch+json" => {
            let p: Value = serde_json::from_slice(patch).map_err(|e| bad(format!("error decoding patch: {e}")))?;
            let mut doc = current.clone();
            json_patch::merge(&mut doc, &p);
            Ok(doc)
        }
        "application/strategic-merge-patch+json" => {
            let p: Value = serde_json::from_slice(patch).map_err(|e| bad(format!("error decoding patch: {e}")))?;
            let root = root_definition.ok_or_else(|| {
                StatusError::unsupported_media_type("application/strategic-merge-patch+json")
            })?;
            berth_api::smp::strategic_merge_patch(current, &p, root).map_err(|e| {
                let code = e.status_code();
                let reason = match code { 422 => "Invalid", 500 => "InternalError", _ => "BadRequest" };
                StatusError::new(code, reason, e.to_string())
            })
        }
        other => Err(StatusError::unsupported_media_type(other)),
    }
}

pub async fn patch(state: &Shared, rp: &ResourcePath, q: &Query, headers: &HeaderMap, body: Bytes) -> Result<Response<Body>, StatusError> {
    let info = rp.info;
    let name = rp.name.clone().unwrap_or_default();
    let mode = FieldValidation::from_query(q)?;
    let dry_run = q.dry_run()?;
    let ct = content_type(headers);
    let root = berth_api::smp::root_definition(info.group, info.kind);
    let key = object_key(info, rp.namespace.as_deref(), &name);
    // A resourceVersion inside the patch is a precondition, not a value to write.
    let patch_rv: Option<String> = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|p| p.pointer("/metadata/resourceVersion").and_then(Value::as_str).map(str::to_string));
    for _ in 0..PATCH_RETRIES {
        let (current, rev) = get_object(state, info, rp.namespace.as_deref(), &name).await?;
        if let Some(rv) = &patch_rv {
            if *rv != rev.to_string() {
                return Err(StatusError::conflict(info.group, info.plural, &name, StatusError::OPTIMISTIC_LOCK));
            }
        }
        let mut patched = apply_patch(&ct, &current, &body, root)?;
        if !patched.is_object() {
            return Err(StatusError::bad_request("the patch must produce a JSON object"));
        }
        check_type_meta(info, &mut patched, info.kind, &info.api_version())?;
        let warnings = field_validation(info, mode, &mut patched, None, false)?;
        check_identity(rp, &mut patched)?;
        berth_api::defaults::apply_defaults(info.group, info.kind, &mut patched);
        match commit(state, rp, &key, patched, (current, rev), dry_run).await {
            Ok(out) => return Ok(json_response(StatusCode::OK, &out, &warnings)),
            Err(CommitError::Raced) if patch_rv.is_none() => continue,
            Err(CommitError::Raced) => {
                return Err(StatusError::conflict(info.group, info.plural, &name, StatusError::OPTIMISTIC_LOCK))
            }
            Err(CommitError::Api(e)) => return Err(e),
        }
    }
    Err(StatusError::conflict(info.group, info.plural, &name, StatusError::OPTIMISTIC_LOCK))
}

/// Change the parent object of a subresource with `mutate` and write it with the update
/// strategy of `rp`: the main resource's for scale, the binding's own for `pods/binding`,
/// the status strategy for `status` (pods/eviction's DisruptionTarget condition).
pub async fn update_parent(
    state: &Shared,
    rp: &ResourcePath,
    mutate: impl Fn(&mut Value) -> Result<(), StatusError>,
    precondition: Option<Revision>,
    dry_run: bool,
) -> Result<Value, StatusError> {
    let info = rp.info;
    let name = rp.name.clone().unwrap_or_default();
    let key = object_key(info, rp.namespace.as_deref(), &name);
    // The parent is written as the main resource, except a binding, which has its own rules.
    let main = match rp.subresource.as_deref() {
        Some("binding" | "status") => rp.clone(),
        _ => ResourcePath { subresource: None, ..rp.clone() },
    };
    for _ in 0..PATCH_RETRIES {
        let (current, rev) = get_object(state, info, rp.namespace.as_deref(), &name).await?;
        if precondition.is_some_and(|p| p != rev) {
            return Err(StatusError::conflict(info.group, info.plural, &name, StatusError::OPTIMISTIC_LOCK));
        }
        let mut new = current.clone();
        mutate(&mut new)?;
        match commit(state, &main, &key, new, (current, rev), dry_run).await {
            Ok(out) => return Ok(out),
            Err(CommitError::Raced) if precondition.is_none() => continue,
            Err(CommitError::Raced) => {
                return Err(StatusError::conflict(info.group, info.plural, &name, StatusError::OPTIMISTIC_LOCK))
            }
            Err(CommitError::Api(e)) => return Err(e),
        }
    }
    Err(StatusError::conflict(info.group, info.plural, &name, StatusError::OPTIMISTIC_LOCK))
}

/// `POST pods/<name>/binding`: assign a node to an unscheduled pod (what the scheduler does).
pub async fn bind(state: &Shared, rp: &ResourcePath, q: &Query, headers: &HeaderMap, body: Bytes) -> Result<Response<Body>, StatusError> {
    let binding = parse_object(headers, &body)?;
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            StatusError::invalid("", "Binding", rp.name.as_deref().unwrap_or(""), &[FieldError::required("target.name", "")])
        })?
        .to_string();
    let pod_name = rp.name.clone().unwrap_or_default();
    let dry_run = q.dry_run()?;
    let node_for_closure = node.clone();
    let binding_annotations = binding.pointer("/metadata/annotations").cloned().unwrap_or(Value::Null);
    let pod_for_closure = pod_name.clone();
    update_parent(
        state,
        rp,
        move |pod| {
            if let Some(existing) = pod.pointer("/spec/nodeName").and_then(Value::as_str).filter(|s| !s.is_empty()) {
                return Err(StatusError::conflict(
                    "",
                    "pods",
                    &pod_for_closure,
                    &format!("pod {pod_for_closure} is already assigned to node {existing:?}"),
                ));
            }
            if objects::is_deleting(pod) {
                return Err(StatusError::conflict("", "pods", &pod_for_closure, "pod is being deleted, cannot be assigned to a host"));
            }
            pod["spec"]["nodeName"] = json!(node_for_closure);
            // As upstream's binding storage: the binding's annotations are copied and the pod's
            // PodScheduled condition turns True.
            if let Some(annotations) = binding_annotations.as_object() {
                let meta = objects::meta_mut(pod);
                let target = meta.entry("annotations").or_insert_with(|| json!({}));
                for (k, v) in annotations {
                    target[k] = v.clone();
                }
            }
            set_pod_condition(pod, "PodScheduled", "True");
            Ok(())
        },
        None,
        dry_run,
    )
    .await?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        &[],
    ))
}

/// Set a pod condition's status (upstream `podutil.UpdatePodCondition`): the transition time
/// moves only when the status changes; a stale reason/message from a failed attempt is cleared.
fn set_pod_condition(pod: &mut Value, type_: &str, status: &str) {
    let now = objects::now_rfc3339();
    let Some(o) = pod.as_object_mut() else { return };
    let st = o.entry("status").or_insert_with(|| json!({}));
    if !st.is_object() {
        *st = json!({});
    }
    let conds = st.as_object_mut().expect("checked").entry("conditions").or_insert_with(|| json!([]));
    if !conds.is_array() {
        *conds = json!([]);
    }
    let list = conds.as_array_mut().expect("checked");
    match list.iter_mut().find(|c| c["type"] == type_) {
        Some(c) => {
            if c["status"] != status {
                c["lastTransitionTime"] = json!(now);
            }
            c["status"] = json!(status);
            if let Some(m) = c.as_object_mut() {
                m.remove("reason");
                m.remove("message");
            }
        }
        None => list.push(json!({"type": type_, "status": status, "lastProbeTime": null, "lastTransitionTime": now})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_and_json_patches() {
        let cur = json!({"spec": {"replicas": 1, "x": "y"}});
        let out = apply_patch("application/merge-patch+json", &cur, br#"{"spec":{"replicas":4,"x":null}}"#, None).unwrap();
        assert_eq!(out, json!({"spec": {"replicas": 4}}));
        let out = apply_patch("application/json-patch+json", &cur, br#"[{"op":"replace","path":"/spec/replicas","value":2}]"#, None).unwrap();
        assert_eq!(out["spec"]["replicas"], 2);
        assert_eq!(apply_patch("application/apply-patch+yaml", &cur, b"{}", None).unwrap_err().code, 415);
    }
}
