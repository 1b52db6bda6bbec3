//! The garbage collector's API calls (upstream `operations.go`, `patch.go`), by object
//! identity, through `kube::Api<DynamicObject>`. Every write is guarded: DELETEs carry
//! `preconditions.uid` and `preconditions.resourceVersion`; patches carry the
//! `metadata.resourceVersion` they were computed from (the server answers 409 if the object
//! moved on; we re-read and recompute), so no concurrent change is overwritten.

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions, PropagationPolicy};
use kube::Client;
use serde_json::{json, Value};

use super::model::{split_api_version, Object, ObjectRef};
use super::plan::{Action, Propagation};
use berth_api::registry::{lookup_kind, ResourceInfo};

/// How often a patch is recomputed after a 409 before the item is requeued with backoff.
const PATCH_ATTEMPTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error("{0}")]
    Api(#[from] kube::Error),
    /// Upstream's `restMappingError`: retried, since the kind may be served later.
    #[error("unable to get REST mapping for {kind}.{api_version}")]
    UnknownKind { api_version: String, kind: String },
    /// Upstream's `namespacedOwnerOfClusterScopedObjectErr`: never resolves by retrying.
    #[error("cluster-scoped objects cannot refer to namespaced owners")]
    NamespacedOwnerOfClusterScoped,
    #[error("{0} kept conflicting after {PATCH_ATTEMPTS} attempts")]
    Conflicts(String),
}

/// The `ApiResource` of a registry entry.
pub fn api_resource(info: &ResourceInfo) -> ApiResource {
    ApiResource {
        group: info.group.to_string(),
        version: info.version.to_string(),
        api_version: info.api_version(),
        kind: info.kind.to_string(),
        plural: info.plural.to_string(),
    }
}

/// Map an ownerReference's or object's apiVersion and kind to the served resource (upstream
/// `apiResource` through the REST mapper: group, kind and version must all be served).
pub fn resolve(api_version: &str, kind: &str) -> Result<&'static ResourceInfo, GcError> {
    let (group, version) = split_api_version(api_version);
    lookup_kind(group, kind)
        .filter(|i| i.version == version)
        .ok_or_else(|| GcError::UnknownKind { api_version: api_version.to_string(), kind: kind.to_string() })
}

fn api(client: &Client, info: &ResourceInfo, namespace: Option<&str>) -> Api<DynamicObject> {
    let ar = api_resource(info);
    match namespace {
        Some(ns) if info.namespaced() => Api::namespaced_with(client.clone(), ns, &ar),
        _ => Api::all_with(client.clone(), &ar),
    }
}

pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// GET `kind`/`name` (in `namespace` if the kind is namespaced) as the GC sees it.
pub async fn get(
    client: &Client,
    info: &ResourceInfo,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<Object>, GcError> {
    let found = api(client, info, namespace).get_opt(name).await?;
    Ok(found.and_then(|o| Object::from_meta(&info.api_version(), info.kind, &o.metadata)))
}

/// The live state of `id`, or `None` if it is gone (not found, or a new object with the same
/// name and another uid).
pub async fn get_latest(client: &Client, id: &ObjectRef) -> Result<Option<Object>, GcError> {
    let info = resolve(&id.api_version, &id.kind)?;
    Ok(get(client, info, id.namespace.as_deref(), &id.name).await?.filter(|o| o.id.uid == id.uid))
}

/// Perform one planned action. A target that is already gone counts as done.
pub async fn execute(client: &Client, action: &Action) -> Result<(), GcError> {
    match action {
        Action::Delete { target, resource_version, propagation } => {
            delete(client, target, resource_version, *propagation).await
        }
        Action::RemoveOwnerRefs { target, owner_uids } => {
            let uids = owner_uids.clone();
            patch_latest(client, target, "remove ownerReferences", move |latest| {
                if !latest.owners.iter().any(|r| uids.contains(&r.uid)) {
                    return None;
                }
                // Strategic merge: ownerReferences merge by uid; `$patch: delete` drops one.
                let refs: Vec<Value> = uids.iter().map(|u| json!({"$patch": "delete", "uid": u})).collect();
                Some(Patch::Strategic(json!({"metadata": {
                    "uid": latest.id.uid, "resourceVersion": latest.resource_version, "ownerReferences": refs
                }})))
            })
            .await
        }
        Action::UnblockOwnerRefs { target } => {
            patch_latest(client, target, "unblock ownerReferences", |latest| {
                let refs: Vec<Value> = latest
                    .owners
                    .iter()
                    .filter(|r| r.block_owner_deletion)
                    .map(|r| {
                        json!({"apiVersion": r.api_version, "kind": r.kind, "name": r.name, "uid": r.uid,
                               "controller": r.controller, "blockOwnerDeletion": false})
                    })
                    .collect();
                if refs.is_empty() {
                    return None;
                }
                Some(Patch::Strategic(json!({"metadata": {
                    "uid": latest.id.uid, "resourceVersion": latest.resource_version, "ownerReferences": refs
                }})))
            })
            .await
        }
        Action::RemoveFinalizer { target, finalizer } => {
            let finalizer = *finalizer;
            patch_latest(client, target, "remove finalizer", move |latest| {
                if !latest.has_finalizer(finalizer) {
                    return None;
                }
                let rest: Vec<&String> = latest.finalizers.iter().filter(|f| *f != finalizer).collect();
                // A merge patch replaces the whole list; the resourceVersion makes that safe.
                Some(Patch::Merge(json!({"metadata": {
                    "resourceVersion": latest.resource_version, "finalizers": rest
                }})))
            })
            .await
        }
    }
}

async fn delete(client: &Client, target: &ObjectRef, resource_version: &str, propagation: Propagation) -> Result<(), GcError> {
    let info = resolve(&target.api_version, &target.kind)?;
    let dp = DeleteParams {
        propagation_policy: Some(match propagation {
            Propagation::Background => PropagationPolicy::Background,
            Propagation::Foreground => PropagationPolicy::Foreground,
            Propagation::Orphan => PropagationPolicy::Orphan,
        }),
        preconditions: Some(Preconditions {
            uid: Some(target.uid.clone()),
            resource_version: Some(resource_version.to_string()).filter(|rv| !rv.is_empty()),
        }),
        ..DeleteParams::default()
    };
    match api(client, info, target.namespace.as_deref()).delete(&target.name, &dp).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        // The object changed since it was classified (or was replaced): the caller requeues
        // and the next attempt decides again from its new state.
        Err(e) => Err(e.into()),
    }
}

/// GET `target`, build a patch from its live state (`None`: nothing to do), send it; on 409
/// start again from a fresh GET.
async fn patch_latest(
    client: &Client,
    target: &ObjectRef,
    what: &str,
    build: impl Fn(&Object) -> Option<Patch<Value>>,
) -> Result<(), GcError> {
    let info = resolve(&target.api_version, &target.kind)?;
    let api = api(client, info, target.namespace.as_deref());
    for _ in 0..PATCH_ATTEMPTS {
        let Some(latest) = get_latest(client, target).await? else { return Ok(()) };
        let Some(patch) = build(&latest) else { return Ok(()) };
        match api.patch(&target.name, &PatchParams::default(), &patch).await {
            Ok(_) => return Ok(()),
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) if is_conflict(&e) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(GcError::Conflicts(format!("{what} of {target}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_served_kinds_only() {
        assert_eq!(resolve("apps/v1", "StatefulSet").unwrap().plural, "statefulsets");
        assert_eq!(resolve("v1", "ConfigMap").unwrap().plural, "configmaps");
        assert!(matches!(resolve("apps/v1beta1", "StatefulSet"), Err(GcError::UnknownKind { .. })));
        assert!(matches!(resolve("v1", "Widget"), Err(GcError::UnknownKind { .. })));
        let ar = api_resource(resolve("apps/v1", "StatefulSet").unwrap());
        assert_eq!((ar.api_version.as_str(), ar.plural.as_str()), ("apps/v1", "statefulsets"));
    }
}
