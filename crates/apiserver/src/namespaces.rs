//! Namespace bootstrap and lifecycle: the four namespaces every cluster has, and removal
//! of a terminating namespace's content before the namespace itself goes (upstream's
//! namespace controller, `pkg/controller/namespace/deletion`).

use std::time::Duration;

use berth_api::registry::{lookup, REGISTRY};
use berth_api::StatusError;
use berth_store::{EventKind, StoreError};
use futures::StreamExt;
use serde_json::{json, Value};

use crate::objects::{self, decode, encode, object_key, resource_prefix};
use crate::rest::{delete_object, list_all, DeleteOptions};
use crate::state::Shared;
use crate::strategy;

pub const SYSTEM_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

/// Create the system namespaces that do not exist yet.
pub async fn bootstrap(state: &Shared) -> Result<(), StatusError> {
    let info = lookup("", "v1", "namespaces").expect("namespaces are registered");
    // Concurrent creates share one group commit (one fsync) instead of four.
    let creates = SYSTEM_NAMESPACES.iter().map(|name| {
        let mut ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": name,
            "uid": objects::new_uid(),
            "creationTimestamp": objects::now_rfc3339(),
            "labels": {"kubernetes.io/metadata.name": name},
        }});
        berth_api::defaults::apply_defaults("", "Namespace", &mut ns);
        strategy::prepare_for_create(info, &mut ns);
        let key = object_key(info, None, name);
        async move { state.store.create(&key, encode(&ns)).await }
    });
    for result in futures::future::join_all(creates).await {
        match result {
            Ok(_) | Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(crate::state::storage_failure(e)),
        }
    }
    Ok(())
}

/// Watch namespaces forever and finalize every one that is being deleted.
pub async fn run_lifecycle(state: Shared) {
    let info = lookup("", "v1", "namespaces").expect("namespaces are registered");
    loop {
        let (all, rev) = match list_all(&state, info, None).await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "namespace lifecycle: list failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for ns in all.iter().filter(|n| objects::is_deleting(n)) {
            spawn_finalize(state.clone(), objects::name_of(ns).to_string());
        }
        let mut stream = match state.store.watch(&resource_prefix(info), rev).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "namespace lifecycle: watch failed");
                continue;
            }
        };
        while let Some(ev) = stream.next().await {
            let Ok(ev) = ev else { break };
            if ev.kind == EventKind::Deleted {
                continue;
            }
            let Ok(ns) = decode(&ev.kv) else { continue };
            let was_deleting = ev.prev.as_ref().and_then(|p| decode(p).ok()).is_some_and(|p| objects::is_deleting(&p));
            if objects::is_deleting(&ns) && !was_deleting {
                spawn_finalize(state.clone(), objects::name_of(&ns).to_string());
            }
        }
    }
}

fn spawn_finalize(state: Shared, name: String) {
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(100);
        loop {
            match finalize(&state, &name).await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => tracing::warn!(namespace = %name, error = %e, "namespace finalization failed; retrying"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    });
}

/// Delete everything in the namespace; once it is empty, drop the `kubernetes` finalizer
/// and the namespace itself. Returns true when the namespace is gone.
async fn finalize(state: &Shared, name: &str) -> Result<bool, StatusError> {
    let mut remaining = 0;
    for info in REGISTRY.iter().filter(|r| r.namespaced()) {
        let (items, _) = list_all(state, info, Some(name)).await?;
        for obj in items {
            remaining += 1;
            if objects::is_deleting(&obj) && objects::finalizers(&obj).is_empty() && info.kind != "Pod" {
                continue;
            }
            match delete_object(state, info, Some(name), objects::name_of(&obj), &DeleteOptions::default()).await {
                Ok(_) => {}
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
    }
    if remaining > 0 {
        // Check again: graceful deletions and finalizers may still hold objects.
        let mut left = 0;
        for info in REGISTRY.iter().filter(|r| r.namespaced()) {
            left += list_all(state, info, Some(name)).await?.0.len();
        }
        if left > 0 {
            return Ok(false);
        }
    }
    let info = lookup("", "v1", "namespaces").expect("namespaces are registered");
    let key = object_key(info, None, name);
    let Some(kv) = state.store.get(&key).await.map_err(crate::state::storage_failure)? else {
        return Ok(true);
    };
    let mut ns: Value = decode(&kv).map_err(StatusError::internal)?;
    ns["spec"]["finalizers"] = json!([]);
    let result = if objects::finalizers(&ns).is_empty() {
        state.store.delete(&key, Some(kv.mod_revision)).await.map(|_| ())
    } else {
        state.store.update(&key, encode(&ns), kv.mod_revision).await.map(|_| ())
    };
    match result {
        Ok(()) | Err(StoreError::NotFound(_)) => Ok(objects::finalizers(&ns).is_empty()),
        Err(StoreError::Conflict { .. }) => Ok(false),
        Err(e) => Err(crate::state::storage_failure(e)),
    }
}
