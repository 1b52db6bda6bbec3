//! The RBAC objects in memory, kept current from the store's watch (upstream's informers), so
//! authorizing a request reads a lock-protected map instead of the store. The same loop runs
//! the ClusterRole aggregation controller on every ClusterRole change.

use std::collections::BTreeMap;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use berth_api::registry::lookup;
use berth_api::StatusError;
use berth_store::{EventKind, ListOptions, Revision};
use futures::StreamExt;
use serde_json::Value;

use super::aggregate;
use super::rules::{Binding, Policy, Rule};
use crate::objects::{decode, encode, object_key};
use crate::state::Shared;

pub const GROUP: &str = "rbac.authorization.k8s.io";
const PREFIX: &str = "/registry/rbac.authorization.k8s.io/";
const PLURALS: [&str; 4] = ["clusterroles", "roles", "clusterrolebindings", "rolebindings"];

#[derive(Default)]
pub struct Cache {
    policy: RwLock<Policy>,
    /// ClusterRoles as stored, with their revisions, for the aggregation controller.
    cluster_roles: Mutex<BTreeMap<String, (Value, Revision)>>,
}

fn plural_of(key: &str) -> &str {
    key.strip_prefix(PREFIX).and_then(|r| r.split('/').next()).unwrap_or("")
}

impl Cache {
    pub fn read<R>(&self, f: impl FnOnce(&Policy) -> R) -> R {
        f(&self.policy.read().expect("rbac cache lock"))
    }

    /// Apply one object (`None`: deleted) of `plural`.
    fn apply(&self, plural: &str, obj: &Value, deleted: bool, rev: Revision) {
        let meta = &obj["metadata"];
        let name = meta["name"].as_str().unwrap_or("").to_string();
        let ns = meta["namespace"].as_str().unwrap_or("").to_string();
        let mut p = self.policy.write().expect("rbac cache lock");
        match (plural, deleted) {
            ("clusterroles", false) => {
                p.cluster_roles.insert(name.clone(), Rule::list(obj));
                self.cluster_roles.lock().expect("rbac cache lock").insert(name, (obj.clone(), rev));
            }
            ("clusterroles", true) => {
                p.cluster_roles.remove(&name);
                self.cluster_roles.lock().expect("rbac cache lock").remove(&name);
            }
            ("roles", false) => {
                p.roles.insert((ns, name), Rule::list(obj));
            }
            ("roles", true) => {
                p.roles.remove(&(ns, name));
            }
            ("clusterrolebindings", false) => {
                p.cluster_bindings.insert(name, Binding::from_json(obj));
            }
            ("clusterrolebindings", true) => {
                p.cluster_bindings.remove(&name);
            }
            ("rolebindings", false) => {
                p.bindings.entry(ns).or_default().insert(name, Binding::from_json(obj));
            }
            ("rolebindings", true) => {
                if let Some(m) = p.bindings.get_mut(&ns) {
                    m.remove(&name);
                }
            }
            _ => {}
        }
    }
}

/// Fill the cache from a list of every RBAC object; returns the revision to watch from.
pub async fn sync(state: &Shared) -> Result<Revision, StatusError> {
    let rev = state.store.current_revision().await.map_err(crate::state::storage_failure)?;
    let listed = state
        .store
        .list(PREFIX, ListOptions { revision: Some(rev), ..Default::default() })
        .await
        .map_err(crate::state::storage_failure)?;
    // Build aside and swap, so a re-list never shows requests an empty policy.
    let fresh = Cache::default();
    for kv in &listed.items {
        if let Ok(obj) = decode(kv) {
            fresh.apply(plural_of(&kv.key), &obj, false, kv.mod_revision);
        }
    }
    let Cache { policy, cluster_roles } = fresh;
    *state.rbac.policy.write().expect("rbac cache lock") = policy.into_inner().expect("rbac cache lock");
    *state.rbac.cluster_roles.lock().expect("rbac cache lock") = cluster_roles.into_inner().expect("rbac cache lock");
    Ok(listed.revision)
}

/// One pass of the aggregation controller: write the ClusterRoles whose aggregated rules
/// changed. The writes come back through the watch; they are applied to the cache at once
/// too, so a request right after start-up already sees `view`'s rules.
pub async fn aggregate_once(state: &Shared) {
    let info = lookup(GROUP, "v1", "clusterroles").expect("clusterroles are registered");
    let snapshot = state.rbac.cluster_roles.lock().expect("rbac cache lock").clone();
    let objs: BTreeMap<String, Value> = snapshot.iter().map(|(k, (v, _))| (k.clone(), v.clone())).collect();
    for (name, rules) in aggregate::changes(&objs) {
        let (mut obj, rev) = snapshot[&name].clone();
        obj["rules"] = Value::Array(rules);
        match state.store.update(&object_key(info, None, &name), encode(&obj), rev).await {
            Ok(new_rev) => state.rbac.apply("clusterroles", &obj, false, new_rev),
            // A concurrent write: its watch event triggers another pass.
            Err(e) => tracing::debug!(role = %name, error = %e, "clusterrole aggregation: update failed"),
        }
    }
}

/// Watch every RBAC object forever (re-listing after a broken watch).
pub async fn run(state: Shared, mut from: Revision) {
    loop {
        let mut stream = match state.store.watch(PREFIX, from).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "rbac cache: watch failed, re-listing");
                tokio::time::sleep(Duration::from_millis(200)).await;
                match sync(&state).await {
                    Ok(r) => from = r,
                    Err(e) => tracing::warn!(error = %e, "rbac cache: list failed"),
                }
                continue;
            }
        };
        while let Some(ev) = stream.next().await {
            let Ok(ev) = ev else { break };
            from = ev.revision();
            let plural = plural_of(&ev.kv.key).to_string();
            if !PLURALS.contains(&plural.as_str()) {
                continue;
            }
            let Ok(obj) = decode(&ev.kv) else { continue };
            state.rbac.apply(&plural, &obj, ev.kind == EventKind::Deleted, ev.kv.mod_revision);
            if plural == "clusterroles" {
                aggregate_once(&state).await;
            }
        }
    }
}
