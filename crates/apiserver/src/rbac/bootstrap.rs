//! Upstream's bootstrap policy (`plugin/pkg/auth/authorizer/rbac/bootstrappolicy`), for the
//! kinds berth serves, created at start-up when missing. Existing objects annotated
//! `rbac.authorization.kubernetes.io/autoupdate: "true"` get missing rules and subjects added
//! back (upstream's non-destructive reconcile-on-start); others are left as the user made them.

use berth_api::registry::lookup;
use berth_api::StatusError;
use berth_store::StoreError;
use serde_json::{json, Value};

use super::cache::GROUP;
use crate::objects::{self, decode, encode, object_key};
use crate::state::Shared;
use crate::strategy;

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
const AUTHENTICATED: &str = "system:authenticated";
const UNAUTHENTICATED: &str = "system:unauthenticated";

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> Value {
    json!({"verbs": verbs, "apiGroups": groups, "resources": resources})
}

fn urls(verbs: &[&str], urls: &[&str]) -> Value {
    json!({"verbs": verbs, "nonResourceURLs": urls})
}

fn meta(name: &str, extra_labels: &[(&str, &str)]) -> Value {
    let mut labels = serde_json::Map::new();
    labels.insert("kubernetes.io/bootstrapping".into(), json!("rbac-defaults"));
    for (k, v) in extra_labels {
        labels.insert(k.to_string(), json!(v));
    }
    json!({"name": name, "labels": labels, "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}})
}

fn cluster_role(name: &str, labels: &[(&str, &str)], rules: Vec<Value>) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta(name, labels), "rules": rules})
}

fn aggregated(name: &str, labels: &[(&str, &str)], selects: &str) -> Value {
    let mut r = cluster_role(name, labels, vec![]);
    r["aggregationRule"] = json!({"clusterRoleSelectors": [{"matchLabels": {selects: "true"}}]});
    r
}

const TO_ADMIN: &str = "rbac.authorization.k8s.io/aggregate-to-admin";
const TO_EDIT: &str = "rbac.authorization.k8s.io/aggregate-to-edit";
const TO_VIEW: &str = "rbac.authorization.k8s.io/aggregate-to-view";

pub fn cluster_roles() -> Vec<Value> {
    let rw: Vec<&str> = READ.iter().chain(WRITE).copied().collect();
    vec![
        cluster_role("cluster-admin", &[], vec![rule(&["*"], &["*"], &["*"]), urls(&["*"], &["*"])]),
        cluster_role(
            "system:discovery",
            &[],
            vec![urls(&["get"], &["/livez", "/readyz", "/healthz", "/version", "/version/", "/openapi", "/openapi/*", "/api", "/api/*", "/apis", "/apis/*"])],
        ),
        cluster_role(
            "system:basic-user",
            &[],
            vec![
                rule(&["create"], &["authorization.k8s.io"], &["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
                rule(&["create"], &["authentication.k8s.io"], &["selfsubjectreviews"]),
            ],
        ),
        cluster_role("system:public-info-viewer", &[], vec![urls(&["get"], &["/livez", "/readyz", "/healthz", "/version", "/version/"])]),
        // Upstream's kube-proxy role (also what berth's agents need for `--proxy` and
        // `--pod-routes`; see `user_binding`).
        cluster_role(
            "system:node-proxier",
            &[],
            vec![
                rule(&["list", "watch"], &[""], &["endpoints", "services"]),
                rule(&["get", "list", "watch"], &[""], &["nodes"]),
                rule(&["create", "patch", "update"], &["", "events.k8s.io"], &["events"]),
                rule(&["list", "watch"], &["discovery.k8s.io"], &["endpointslices"]),
            ],
        ),
        aggregated("admin", &[], TO_ADMIN),
        aggregated("edit", &[(TO_ADMIN, "true")], TO_EDIT),
        aggregated("view", &[(TO_EDIT, "true")], TO_VIEW),
        cluster_role(
            "system:aggregate-to-admin",
            &[(TO_ADMIN, "true")],
            vec![rule(&["create"], &["authorization.k8s.io"], &["localsubjectaccessreviews"]), rule(&rw, &[GROUP], &["roles", "rolebindings"])],
        ),
        cluster_role(
            "system:aggregate-to-edit",
            &[(TO_EDIT, "true")],
            vec![
                rule(READ, &[""], &["pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets", "services/proxy"]),
                rule(&["impersonate"], &[""], &["serviceaccounts"]),
                rule(WRITE, &[""], &["pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward"]),
                rule(&["create"], &[""], &["pods/eviction"]),
                rule(WRITE, &[""], &["replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services", "services/proxy", "persistentvolumeclaims", "configmaps", "secrets"]),
                rule(&["create"], &[""], &["serviceaccounts/token"]),
                rule(WRITE, &["apps"], &["statefulsets", "statefulsets/scale", "daemonsets", "deployments", "deployments/scale", "deployments/rollback", "replicasets", "replicasets/scale"]),
                rule(WRITE, &["policy"], &["poddisruptionbudgets"]),
            ],
        ),
        cluster_role(
            "system:aggregate-to-view",
            &[(TO_VIEW, "true")],
            vec![
                rule(READ, &[""], &["pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services", "services/status", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "configmaps"]),
                rule(READ, &[""], &["limitranges", "resourcequotas", "bindings", "events", "pods/status", "resourcequotas/status", "namespaces/status", "replicationcontrollers/status", "pods/log"]),
                rule(READ, &[""], &["namespaces"]),
                rule(READ, &["discovery.k8s.io"], &["endpointslices"]),
                rule(READ, &["apps"], &["controllerrevisions", "statefulsets", "statefulsets/status", "statefulsets/scale", "daemonsets", "daemonsets/status", "deployments", "deployments/status", "deployments/scale", "replicasets", "replicasets/status", "replicasets/scale"]),
                rule(READ, &["policy"], &["poddisruptionbudgets", "poddisruptionbudgets/status"]),
            ],
        ),
    ]
}

fn binding(name: &str, role: &str, groups: &[&str]) -> Value {
    let subjects: Vec<Value> = groups.iter().map(|g| json!({"apiGroup": GROUP, "kind": "Group", "name": g})).collect();
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta(name, &[]),
        "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role}, "subjects": subjects})
}

/// As upstream, for kube-proxy's identity. berth's node agents run the proxy (`--proxy`) and
/// the host-gw routes with their node credentials, which the Node authorizer keeps to their
/// own Node; granting them this role is an explicit step (see the README).
fn user_binding(name: &str, role: &str, user: &str) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta(name, &[]),
        "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role}, "subjects": [{"apiGroup": GROUP, "kind": "User", "name": user}]})
}

pub fn cluster_role_bindings() -> Vec<Value> {
    vec![
        binding("cluster-admin", "cluster-admin", &["system:masters"]),
        binding("system:discovery", "system:discovery", &[AUTHENTICATED]),
        binding("system:basic-user", "system:basic-user", &[AUTHENTICATED]),
        binding("system:public-info-viewer", "system:public-info-viewer", &[AUTHENTICATED, UNAUTHENTICATED]),
        user_binding("system:node-proxier", "system:node-proxier", "system:kube-proxy"),
    ]
}

/// Add what `want` has in `list_key` (rules or subjects) that `have` lacks; `None`: nothing to add.
pub fn reconciled(have: &Value, want: &Value, list_key: &str) -> Option<Value> {
    if have["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"] != "true" {
        return None;
    }
    let mut out = have.clone();
    let mut list = have[list_key].as_array().cloned().unwrap_or_default();
    let before = list.len();
    for item in want[list_key].as_array().into_iter().flatten() {
        if !list.contains(item) {
            list.push(item.clone());
        }
    }
    (list.len() != before).then(|| {
        out[list_key] = Value::Array(list);
        out
    })
}

/// Create (or reconcile) every bootstrap ClusterRole and ClusterRoleBinding.
pub async fn ensure(state: &Shared) -> Result<(), StatusError> {
    let roles = lookup(GROUP, "v1", "clusterroles").expect("registered");
    let bindings = lookup(GROUP, "v1", "clusterrolebindings").expect("registered");
    let all = cluster_roles().into_iter().map(|o| (roles, o, "rules")).chain(cluster_role_bindings().into_iter().map(|o| (bindings, o, "subjects")));
    for (info, mut obj, list_key) in all {
        let name = objects::name_of(&obj).to_string();
        let key = object_key(info, None, &name);
        // Aggregated roles' rules are the controller's; only the others are reconciled.
        let reconcile = obj.get("aggregationRule").is_none();
        let existing = state.store.get(&key).await.map_err(crate::state::storage_failure)?;
        let result = match existing {
            Some(kv) if reconcile => match decode(&kv).ok().and_then(|have| reconciled(&have, &obj, list_key)) {
                Some(updated) => state.store.update(&key, encode(&updated), kv.mod_revision).await.map(|_| ()),
                None => Ok(()),
            },
            Some(_) => Ok(()),
            None => {
                objects::meta_mut(&mut obj).insert("uid".into(), json!(objects::new_uid()));
                objects::meta_mut(&mut obj).insert("creationTimestamp".into(), json!(objects::now_rfc3339()));
                strategy::prepare_for_create(info, &mut obj);
                state.store.create(&key, encode(&obj)).await.map(|_| ())
            }
        };
        match result {
            Ok(()) | Err(StoreError::AlreadyExists(_)) | Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(crate::state::storage_failure(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_shape() {
        let roles = cluster_roles();
        let names: Vec<&str> = roles.iter().map(objects::name_of).collect();
        for want in ["cluster-admin", "admin", "edit", "view", "system:aggregate-to-view", "system:discovery", "system:basic-user", "system:public-info-viewer"] {
            assert!(names.contains(&want), "{want}");
        }
        for r in roles.iter().chain(&cluster_role_bindings()) {
            assert_eq!(r["metadata"]["labels"]["kubernetes.io/bootstrapping"], "rbac-defaults");
            let kind = r["kind"].as_str().unwrap();
            assert!(berth_api::validation::validate_create(GROUP, kind, r).is_empty(), "{r}");
        }
    }

    #[test]
    fn reconcile_adds_missing_rules_only_when_autoupdate() {
        let want = cluster_roles().into_iter().find(|r| r["metadata"]["name"] == "system:basic-user").unwrap();
        let mut have = want.clone();
        have["rules"] = json!([{"verbs": ["get"], "nonResourceURLs": ["/x"]}]);
        let got = reconciled(&have, &want, "rules").unwrap();
        assert_eq!(got["rules"].as_array().unwrap().len(), 3);
        assert!(reconciled(&got, &want, "rules").is_none());
        have["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"] = json!("false");
        assert!(reconciled(&have, &want, "rules").is_none());
    }
}
