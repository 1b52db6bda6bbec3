//! delete and deletecollection, with upstream's graceful deletion for pods
//! (`pkg/registry/core/pod/strategy.go` CheckGracefulDelete, `rest.BeforeDelete`) and
//! finalizers.

use axum::body::Body;
use axum::http::{HeaderMap, Response, StatusCode};
use berth_api::{ResourceInfo, StatusError};
use berth_store::StoreError;
use bytes::Bytes;
use serde_json::{json, Value};

use super::read::{get_object, list_page};
use crate::objects::{self, encode, meta_mut, object_key, set_resource_version};
use crate::request::{Query, ResourcePath};
use crate::state::{json_response, store_error, Shared};

const DELETE_RETRIES: usize = 8;

/// The parts of `DeleteOptions` the server acts on.
#[derive(Debug, Default, Clone)]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub propagation_policy: Option<String>,
    /// Deprecated `orphanDependents`; when set it overrides `propagationPolicy`'s effect.
    pub orphan_dependents: Option<bool>,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
    pub dry_run: bool,
}

impl DeleteOptions {
    pub fn parse(q: &Query, headers: &HeaderMap, body: &[u8]) -> Result<DeleteOptions, StatusError> {
        let mut o = DeleteOptions { dry_run: q.dry_run()?, ..Default::default() };
        if !body.iter().all(u8::is_ascii_whitespace) {
            let v: Value = super::body::parse_object(headers, body)
                .map_err(|e| StatusError::bad_request(format!("error decoding DeleteOptions: {}", e.message)))?;
            o.grace_period_seconds = v.get("gracePeriodSeconds").and_then(Value::as_i64);
            o.propagation_policy = v.get("propagationPolicy").and_then(Value::as_str).map(str::to_string);
            o.orphan_dependents = v.get("orphanDependents").and_then(Value::as_bool);
            o.precondition_uid = v.pointer("/preconditions/uid").and_then(Value::as_str).map(str::to_string);
            o.precondition_resource_version =
                v.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(str::to_string);
            if v.get("dryRun").and_then(Value::as_array).is_some_and(|a| a.iter().any(|x| x == "All")) {
                o.dry_run = true;
            }
        }
        if let Some(g) = q.int("gracePeriodSeconds")? {
            o.grace_period_seconds = Some(g);
        }
        if let Some(p) = q.get("propagationPolicy") {
            o.propagation_policy = Some(p.to_string());
        }
        if let Some(b) = q.get("orphanDependents") {
            o.orphan_dependents = Some(b == "true");
        }
        if o.orphan_dependents.is_some() && o.propagation_policy.is_some() {
            // upstream ValidateDeleteOptions
            return Err(StatusError::invalid(
                "",
                "DeleteOptions",
                "",
                &[berth_api::FieldError::invalid(
                    "propagationPolicy",
                    json!(o.propagation_policy),
                    "orphanDependents and deletionPropagation cannot be both set",
                )],
            ));
        }
        if let Some(p) = &o.propagation_policy {
            if !matches!(p.as_str(), "Orphan" | "Background" | "Foreground") {
                return Err(StatusError::invalid(
                    "",
                    "DeleteOptions",
                    "",
                    &[berth_api::FieldError::not_supported("propagationPolicy", p.as_str(), &["Foreground", "Background", "Orphan", "nil"])],
                ));
            }
        }
        Ok(o)
    }
}

pub const FINALIZER_ORPHAN: &str = "orphan";
pub const FINALIZER_FOREGROUND: &str = "foregroundDeletion";

/// upstream `rest.GarbageCollectionPolicy` of a resource's delete strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GcPolicy {
    /// `DeleteDependents`: Background unless asked otherwise (core kinds, apps/v1).
    DeleteDependents,
    /// `Unsupported`: the GC finalizers are never added (events).
    Unsupported,
}

fn default_gc_policy(info: &ResourceInfo) -> GcPolicy {
    match (info.group, info.plural) {
        ("", "events") | ("events.k8s.io", "events") => GcPolicy::Unsupported,
        // apps/v1beta1 and v1beta2 StatefulSets would be OrphanDependents; berth serves apps/v1 only.
        _ => GcPolicy::DeleteDependents,
    }
}

/// upstream store.go `shouldOrphanDependents`.
fn should_orphan(policy: GcPolicy, finalizers: &[String], opts: &DeleteOptions) -> bool {
    if policy == GcPolicy::Unsupported {
        return false;
    }
    if let Some(b) = opts.orphan_dependents {
        return b;
    }
    match opts.propagation_policy.as_deref() {
        Some("Orphan") => return true,
        Some("Background") | Some("Foreground") => return false,
        _ => {}
    }
    for f in finalizers {
        match f.as_str() {
            FINALIZER_ORPHAN => return true,
            FINALIZER_FOREGROUND => return false,
            _ => {}
        }
    }
    false // no berth resource defaults to OrphanDependents
}

/// upstream store.go `shouldDeleteDependents`.
fn should_delete_dependents(policy: GcPolicy, finalizers: &[String], opts: &DeleteOptions) -> bool {
    if policy == GcPolicy::Unsupported || opts.orphan_dependents.is_some() {
        return false;
    }
    match opts.propagation_policy.as_deref() {
        Some("Foreground") => return true,
        Some("Background") | Some("Orphan") => return false,
        _ => {}
    }
    for f in finalizers {
        match f.as_str() {
            FINALIZER_FOREGROUND => return true,
            FINALIZER_ORPHAN => return false,
            _ => {}
        }
    }
    false
}

/// upstream store.go `deletionFinalizersForGarbageCollection`: the finalizers after this
/// delete, if they change (compared as sets).
fn gc_finalizers(info: &ResourceInfo, finalizers: &[String], opts: &DeleteOptions) -> Option<Vec<String>> {
    let policy = default_gc_policy(info);
    let orphan = should_orphan(policy, finalizers, opts);
    let foreground = should_delete_dependents(policy, finalizers, opts);
    let mut out: Vec<String> =
        finalizers.iter().filter(|f| *f != FINALIZER_ORPHAN && *f != FINALIZER_FOREGROUND).cloned().collect();
    if orphan {
        out.push(FINALIZER_ORPHAN.to_string());
    }
    if foreground {
        out.push(FINALIZER_FOREGROUND.to_string());
    }
    let old: std::collections::BTreeSet<&String> = finalizers.iter().collect();
    let new: std::collections::BTreeSet<&String> = out.iter().collect();
    (old != new).then_some(out)
}

/// What a delete did.
pub enum Deleted {
    /// Removed from storage; the last state (resourceVersion = the delete's revision).
    Removed(Value),
    /// Still stored, now (or already) marked for deletion.
    Pending(Value),
}

/// upstream `CheckGracefulDelete` for pods: the grace period to use.
fn pod_grace_period(pod: &Value, requested: Option<i64>) -> i64 {
    let mut grace = requested
        .or_else(|| pod.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64))
        .unwrap_or(30);
    let unscheduled = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("").is_empty();
    let phase = pod.pointer("/status/phase").and_then(Value::as_str).unwrap_or("");
    if unscheduled || phase == "Failed" || phase == "Succeeded" {
        grace = 0;
    }
    if grace < 0 {
        grace = 1;
    }
    grace
}

/// Delete one object, following graceful deletion and finalizer rules.
pub async fn delete_object(
    state: &Shared,
    info: &'static ResourceInfo,
    ns: Option<&str>,
    name: &str,
    opts: &DeleteOptions,
) -> Result<Deleted, StatusError> {
    let key = object_key(info, ns, name);
    for _ in 0..DELETE_RETRIES {
        let (current, rev) = get_object(state, info, ns, name).await?;
        if let Some(uid) = &opts.precondition_uid {
            let actual = objects::meta_str(&current, "uid").unwrap_or("");
            if uid != actual {
                return Err(StatusError::conflict(
                    info.group,
                    info.plural,
                    name,
                    &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"),
                ));
            }
        }
        if let Some(rv) = &opts.precondition_resource_version {
            if *rv != rev.to_string() {
                return Err(StatusError::conflict(
                    info.group,
                    info.plural,
                    name,
                    &format!("Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {rev}"),
                ));
            }
        }
        let mut marked = current.clone();
        let mut finalizers = objects::finalizers(&current);
        let already = objects::is_deleting(&current);
        let graceful = (info.group, info.kind) == ("", "Pod");
        // The GC finalizers follow the options unless a graceful deletion is already pending
        // (upstream: BeforeDelete's pendingGraceful short-circuits before they are touched).
        let existing_grace = current.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(0);
        let pending_graceful =
            graceful && already && existing_grace != 0 && pod_grace_period(&current, opts.grace_period_seconds) >= existing_grace;
        let gc_update = if pending_graceful { None } else { gc_finalizers(info, &finalizers, opts) };
        if let Some(f) = &gc_update {
            meta_mut(&mut marked).insert("finalizers".into(), json!(f));
            finalizers = f.clone();
        }
        let namespace_finalizers = (info.group, info.kind) == ("", "Namespace")
            && current.pointer("/spec/finalizers").and_then(Value::as_array).is_some_and(|a| !a.is_empty());

        // Decide: remove now, or mark (or re-mark with a shorter grace) and keep.
        let remove_now = if graceful {
            let grace = pod_grace_period(&current, opts.grace_period_seconds);
            let existing = current.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64);
            if already && existing.unwrap_or(0) == 0 {
                finalizers.is_empty()
            } else if already && grace >= existing.unwrap_or(0) {
                // Same or longer grace than already pending: nothing to do.
                return Ok(Deleted::Pending(current));
            } else {
                let m = meta_mut(&mut marked);
                m.insert("deletionTimestamp".into(), json!(objects::rfc3339_after(grace)));
                m.insert("deletionGracePeriodSeconds".into(), json!(grace));
                grace == 0 && finalizers.is_empty()
            }
        } else if finalizers.is_empty() && !namespace_finalizers {
            true
        } else {
            if already && gc_update.is_none() {
                return Ok(Deleted::Pending(current));
            }
            let m = meta_mut(&mut marked);
            if !already {
                m.insert("deletionTimestamp".into(), json!(objects::now_rfc3339()));
            }
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
            if namespace_finalizers {
                marked["status"]["phase"] = json!("Terminating");
            }
            false
        };
        if opts.dry_run {
            return Ok(if remove_now { Deleted::Removed(current) } else { Deleted::Pending(marked) });
        }
        if remove_now {
            match state.store.delete(&key, Some(rev)).await {
                Ok(kv) => {
                    let mut last = current;
                    set_resource_version(&mut last, kv.mod_revision);
                    return Ok(Deleted::Removed(last));
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound(_)) => return Err(StatusError::not_found(info.group, info.plural, name)),
                Err(e) => return Err(store_error(e, info.group, info.plural, name)),
            }
        }
        if let Some(g) = marked.pointer("/metadata/generation").and_then(Value::as_i64) {
            if g > 0 && graceful {
                meta_mut(&mut marked).insert("generation".into(), json!(g + 1));
            }
        }
        match state.store.update(&key, encode(&marked), rev).await {
            Ok(new_rev) => {
                set_resource_version(&mut marked, new_rev);
                return Ok(Deleted::Pending(marked));
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(store_error(e, info.group, info.plural, name)),
        }
    }
    Err(StatusError::conflict(info.group, info.plural, name, StatusError::OPTIMISTIC_LOCK))
}

/// Kinds whose DELETE answers with the deleted object (upstream `ReturnDeletedObject`).
fn returns_deleted_object(info: &ResourceInfo) -> bool {
    matches!((info.group, info.kind), ("", "Pod") | ("", "Namespace") | ("", "Service") | ("", "PersistentVolume") | ("", "PersistentVolumeClaim"))
}

pub async fn delete(state: &Shared, rp: &ResourcePath, q: &Query, headers: &HeaderMap, body: Bytes) -> Result<Response<Body>, StatusError> {
    let info = rp.info;
    let name = rp.name.clone().unwrap_or_default();
    if (info.group, info.kind) == ("", "Namespace") && matches!(name.as_str(), "default" | "kube-system" | "kube-public") {
        return Err(StatusError::forbidden("", "namespaces", &name, "this namespace may not be deleted"));
    }
    let opts = DeleteOptions::parse(q, headers, &body)?;
    crate::node_restriction::check_delete(state, rp).await?;
    match delete_object(state, info, rp.namespace.as_deref(), &name, &opts).await? {
        Deleted::Pending(obj) => Ok(json_response(StatusCode::OK, &obj, &[])),
        Deleted::Removed(obj) if returns_deleted_object(info) => Ok(json_response(StatusCode::OK, &obj, &[])),
        Deleted::Removed(obj) => {
            let mut details = json!({"name": name, "kind": info.plural, "uid": objects::meta_str(&obj, "uid").unwrap_or("")});
            if !info.group.is_empty() {
                details["group"] = json!(info.group);
            }
            Ok(json_response(
                StatusCode::OK,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}),
                &[],
            ))
        }
    }
}

pub async fn delete_collection(state: &Shared, rp: &ResourcePath, q: &Query, headers: &HeaderMap, body: Bytes) -> Result<Response<Body>, StatusError> {
    let info = rp.info;
    let opts = DeleteOptions::parse(q, headers, &body)?;
    // deletecollection takes list options (selectors) but not paging.
    let mut lq = q.clone();
    lq.remove("limit");
    lq.remove("continue");
    let page = list_page(state, rp, &lq).await?;
    let mut out = Vec::new();
    for obj in page.items {
        let name = objects::name_of(&obj).to_string();
        let ns = objects::meta_str(&obj, "namespace").map(str::to_string);
        match delete_object(state, info, ns.as_deref(), &name, &opts).await {
            Ok(Deleted::Removed(o)) | Ok(Deleted::Pending(o)) => out.push(o),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"kind": info.list_kind(), "apiVersion": info.api_version(), "metadata": {"resourceVersion": page.revision.to_string()}, "items": out}),
        &[],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_period_rules() {
        let scheduled = json!({"spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 30}, "status": {"phase": "Running"}});
        assert_eq!(pod_grace_period(&scheduled, None), 30);
        assert_eq!(pod_grace_period(&scheduled, Some(5)), 5);
        assert_eq!(pod_grace_period(&scheduled, Some(-3)), 1);
        let unscheduled = json!({"spec": {"terminationGracePeriodSeconds": 30}, "status": {"phase": "Pending"}});
        assert_eq!(pod_grace_period(&unscheduled, None), 0);
        let failed = json!({"spec": {"nodeName": "n1"}, "status": {"phase": "Failed"}});
        assert_eq!(pod_grace_period(&failed, Some(10)), 0);
    }

    #[test]
    fn gc_finalizers_follow_upstream_store() {
        let cm = berth_api::registry::lookup("", "v1", "configmaps").unwrap();
        let ev = berth_api::registry::lookup("", "v1", "events").unwrap();
        let opts = |p: Option<&str>, orphan: Option<bool>| DeleteOptions {
            propagation_policy: p.map(str::to_string),
            orphan_dependents: orphan,
            ..Default::default()
        };
        let none: Vec<String> = vec![];
        let own = vec!["example.com/x".to_string()];
        assert_eq!(gc_finalizers(cm, &none, &opts(None, None)), None);
        assert_eq!(gc_finalizers(cm, &none, &opts(Some("Background"), None)), None);
        assert_eq!(gc_finalizers(cm, &own, &opts(Some("Orphan"), None)), Some(vec!["example.com/x".into(), "orphan".into()]));
        assert_eq!(gc_finalizers(cm, &none, &opts(Some("Foreground"), None)), Some(vec!["foregroundDeletion".into()]));
        assert_eq!(gc_finalizers(cm, &none, &opts(None, Some(true))), Some(vec!["orphan".into()]));
        // An explicit policy replaces a recorded one; without one the recorded one stays.
        let orphaning = vec!["orphan".to_string()];
        assert_eq!(gc_finalizers(cm, &orphaning, &opts(Some("Foreground"), None)), Some(vec!["foregroundDeletion".into()]));
        assert_eq!(gc_finalizers(cm, &orphaning, &opts(None, None)), None);
        assert_eq!(gc_finalizers(cm, &orphaning, &opts(None, Some(false))), Some(vec![]));
        // Events never get GC finalizers.
        assert_eq!(gc_finalizers(ev, &none, &opts(Some("Orphan"), None)), None);
    }

    #[test]
    fn options_from_body_and_query() {
        let q = Query::parse(Some("gracePeriodSeconds=3"));
        let h = HeaderMap::new();
        let o = DeleteOptions::parse(&q, &h, br#"{"propagationPolicy":"Background","preconditions":{"uid":"u1"}}"#).unwrap();
        assert_eq!(o.grace_period_seconds, Some(3));
        assert_eq!(o.propagation_policy.as_deref(), Some("Background"));
        assert_eq!(o.precondition_uid.as_deref(), Some("u1"));
        assert!(DeleteOptions::parse(&Query::default(), &h, br#"{"propagationPolicy":"Sideways"}"#).is_err());
        let o = DeleteOptions::parse(&Query::default(), &h, br#"{"orphanDependents":true}"#).unwrap();
        assert_eq!((o.orphan_dependents, o.propagation_policy), (Some(true), None));
        assert!(DeleteOptions::parse(&Query::default(), &h, br#"{"orphanDependents":true,"propagationPolicy":"Orphan"}"#).is_err());
    }
}
