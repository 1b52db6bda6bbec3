//! upstream's ServiceAccount admission plugin (plugin/pkg/admission/serviceaccount) on pod
//! create: default `spec.serviceAccountName`, refuse a ServiceAccount that does not exist, and
//! (unless `automountServiceAccountToken: false` on the pod, else the ServiceAccount) add the
//! `kube-api-access-<suffix>` projected volume and its read-only mount in every container.

use std::time::Duration;

use berth_api::registry::lookup;
use berth_api::StatusError;
use serde_json::{json, Value};

use crate::objects;
use crate::rest::get_object;
use crate::state::Shared;

pub const DEFAULT_SA: &str = "default";
pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
const VOLUME_PREFIX: &str = "kube-api-access-";
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// Lookups of `default` are retried this often: the controller may not have created it yet in
/// a brand-new namespace (upstream retries 10 times, 100–200 ms apart).
const DEFAULT_ATTEMPTS: usize = 10;

/// upstream `TokenVolumeSource()`.
pub fn token_volume_source() -> Value {
    json!({
        "defaultMode": 420,
        "sources": [
            {"serviceAccountToken": {"path": "token", "expirationSeconds": crate::satoken::claims::WARN_ONLY_EXPIRATION}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
        ],
    })
}

/// The pod's ServiceAccount name after defaulting (the deprecated `serviceAccount` field is
/// the fallback, as upstream's v1 conversion does); both fields are set to it.
pub fn default_service_account(pod: &mut Value) -> String {
    let spec = &mut pod["spec"];
    let name = [spec.get("serviceAccountName"), spec.get("serviceAccount")]
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find(|s| !s.is_empty())
        .unwrap_or(DEFAULT_SA)
        .to_string();
    spec["serviceAccountName"] = json!(name);
    spec["serviceAccount"] = json!(name);
    name
}

/// upstream `shouldAutomount`: the pod's preference, else the ServiceAccount's, else true.
pub fn should_automount(pod: &Value, sa: &Value) -> bool {
    pod.pointer("/spec/automountServiceAccountToken")
        .or_else(|| sa.get("automountServiceAccountToken"))
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

/// upstream `mountServiceAccountToken`: reuse a `kube-api-access-*` volume the pod already has,
/// mount it in every (init) container not already mounting something at [`MOUNT_PATH`], and add
/// the volume if some container needed it.
pub fn mount_token(pod: &mut Value, generated_name: &str) {
    let spec = &mut pod["spec"];
    let existing = spec
        .get("volumes")
        .and_then(Value::as_array)
        .and_then(|vs| vs.iter().filter_map(|v| v.get("name").and_then(Value::as_str)).find(|n| n.starts_with(VOLUME_PREFIX)))
        .map(str::to_string);
    let name = existing.clone().unwrap_or_else(|| generated_name.to_string());
    let mount = json!({"name": name, "readOnly": true, "mountPath": MOUNT_PATH});
    let mut needed = false;
    for list in ["initContainers", "containers"] {
        let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) else { continue };
        for c in cs {
            let has = c
                .get("volumeMounts")
                .and_then(Value::as_array)
                .is_some_and(|ms| ms.iter().any(|m| m.get("mountPath").and_then(Value::as_str) == Some(MOUNT_PATH)));
            if !has {
                let ms = c.as_object_mut().expect("containers are objects").entry("volumeMounts").or_insert_with(|| json!([]));
                if let Some(a) = ms.as_array_mut() {
                    a.push(mount.clone());
                }
                needed = true;
            }
        }
    }
    if existing.is_none() && needed {
        let vs = spec.as_object_mut().expect("spec is an object").entry("volumes").or_insert_with(|| json!([]));
        if let Some(a) = vs.as_array_mut() {
            a.push(json!({"name": name, "projected": token_volume_source()}));
        }
    }
}

/// Copy the ServiceAccount's imagePullSecrets to a pod that names none.
fn pull_secrets(pod: &mut Value, sa: &Value) {
    let empty = pod.pointer("/spec/imagePullSecrets").and_then(Value::as_array).is_none_or(|a| a.is_empty());
    if let Some(s) = sa.get("imagePullSecrets").and_then(Value::as_array).filter(|a| !a.is_empty() && empty) {
        pod["spec"]["imagePullSecrets"] = json!(s);
    }
}

fn forbidden(pod: &Value, why: &str) -> StatusError {
    StatusError::forbidden("", "pods", objects::name_of(pod), why)
}

/// Admit a pod being created.
pub async fn admit_pod(state: &Shared, pod: &mut Value) -> Result<(), StatusError> {
    if !pod.get("spec").is_some_and(Value::is_object) {
        return Ok(());
    }
    let mirror = pod.pointer("/metadata/annotations").and_then(|a| a.get(MIRROR_ANNOTATION)).is_some();
    if mirror {
        if pod.pointer("/spec/serviceAccountName").and_then(Value::as_str).is_some_and(|s| !s.is_empty()) {
            return Err(forbidden(pod, "a mirror pod may not reference service accounts"));
        }
        return Ok(());
    }
    let ns = objects::meta_str(pod, "namespace").unwrap_or_default().to_string();
    let name = default_service_account(pod);
    let info = lookup("", "v1", "serviceaccounts").expect("serviceaccounts are registered");
    let attempts = if name == DEFAULT_SA { DEFAULT_ATTEMPTS } else { 1 };
    let mut sa = None;
    for i in 0..attempts {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(100 + rand::random_range(0..100))).await;
        }
        match get_object(state, info, Some(&ns), &name).await {
            Ok((o, _)) => {
                sa = Some(o);
                break;
            }
            Err(e) if e.code == 404 => continue,
            Err(e) => return Err(forbidden(pod, &format!("error looking up service account {ns}/{name}: {}", e.message))),
        }
    }
    let Some(sa) = sa else {
        return Err(forbidden(pod, &format!("error looking up service account {ns}/{name}: serviceaccount \"{name}\" not found")));
    };
    if should_automount(pod, &sa) {
        mount_token(pod, &objects::generate_name(VOLUME_PREFIX));
    }
    pull_secrets(pod, &sa);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Value {
        json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {
            "initContainers": [{"name": "i"}],
            "containers": [{"name": "a"}, {"name": "b", "volumeMounts": [{"name": "own", "mountPath": MOUNT_PATH}]}],
        }})
    }

    #[test]
    fn defaults_both_service_account_fields() {
        let mut p = pod();
        assert_eq!(default_service_account(&mut p), "default");
        assert_eq!((p["spec"]["serviceAccountName"].as_str(), p["spec"]["serviceAccount"].as_str()), (Some("default"), Some("default")));
        let mut p = json!({"spec": {"serviceAccount": "legacy"}});
        assert_eq!(default_service_account(&mut p), "legacy");
        assert_eq!(p["spec"]["serviceAccountName"], "legacy");
    }

    #[test]
    fn mounts_the_projected_volume_as_upstream() {
        let mut p = pod();
        mount_token(&mut p, "kube-api-access-x2b4z");
        let m = json!({"name": "kube-api-access-x2b4z", "readOnly": true, "mountPath": MOUNT_PATH});
        assert_eq!(p["spec"]["initContainers"][0]["volumeMounts"], json!([m]));
        assert_eq!(p["spec"]["containers"][0]["volumeMounts"], json!([m]));
        assert_eq!(p["spec"]["containers"][1]["volumeMounts"].as_array().unwrap().len(), 1, "an existing mount at the path wins");
        let v = &p["spec"]["volumes"][0];
        assert_eq!(v["name"], "kube-api-access-x2b4z");
        assert_eq!(v["projected"]["defaultMode"], 420);
        assert_eq!(v["projected"]["sources"][0]["serviceAccountToken"], json!({"path": "token", "expirationSeconds": 3607}));
        assert_eq!(v["projected"]["sources"][1]["configMap"]["items"][0], json!({"key": "ca.crt", "path": "ca.crt"}));
        assert_eq!(v["projected"]["sources"][2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"], "metadata.namespace");
        // Admitting again reuses the volume instead of adding a second one.
        let before = p.clone();
        mount_token(&mut p, "kube-api-access-other");
        assert_eq!(p, before);
    }

    #[test]
    fn no_volume_when_every_container_has_its_own_mount() {
        let mut p = json!({"spec": {"containers": [{"name": "b", "volumeMounts": [{"name": "own", "mountPath": MOUNT_PATH}]}]}});
        mount_token(&mut p, "kube-api-access-abcde");
        assert!(p["spec"].get("volumes").is_none());
    }

    #[test]
    fn automount_preference_pod_then_service_account() {
        let sa_off = json!({"automountServiceAccountToken": false});
        assert!(should_automount(&pod(), &json!({})));
        assert!(!should_automount(&pod(), &sa_off));
        let mut p = pod();
        p["spec"]["automountServiceAccountToken"] = json!(true);
        assert!(should_automount(&p, &sa_off));
        p["spec"]["automountServiceAccountToken"] = json!(false);
        assert!(!should_automount(&p, &json!({})));
    }

    #[test]
    fn copies_pull_secrets_only_when_the_pod_has_none() {
        let sa = json!({"imagePullSecrets": [{"name": "reg"}]});
        let mut p = pod();
        pull_secrets(&mut p, &sa);
        assert_eq!(p["spec"]["imagePullSecrets"], json!([{"name": "reg"}]));
        p["spec"]["imagePullSecrets"] = json!([{"name": "mine"}]);
        pull_secrets(&mut p, &sa);
        assert_eq!(p["spec"]["imagePullSecrets"], json!([{"name": "mine"}]));
    }
}
