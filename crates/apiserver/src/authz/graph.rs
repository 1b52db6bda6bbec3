//! The relationships upstream's Node authorizer keeps in a graph (node ← pod ← secret,
//! configmap, pvc ← pv; node ← pod ← serviceaccount), computed here on request from the store:
//! a pod lookup for pods, a scan of the namespace's pods for secrets/configmaps/claims, and a
//! scan of all pods plus their claims for persistent volumes. That is O(pods) per check, paid
//! only by node credentials reading those kinds (a kubelet reads them when it starts a pod).

use berth_api::registry::lookup;
use berth_api::StatusError;
use serde_json::Value;

use super::node::Vertex;
use crate::rest::list_all;
use crate::state::Shared;

/// Names a pod refers to, as upstream's `VisitPodSecretNames` / `VisitPodConfigmapNames` and
/// the graph's claim edges (including ephemeral volumes' `<pod>-<volume>` claims).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PodRefs {
    pub secrets: Vec<String>,
    pub configmaps: Vec<String>,
    pub claims: Vec<String>,
    pub service_account: Option<String>,
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn arr<'a>(v: &'a Value, ptr: &str) -> impl Iterator<Item = &'a Value> {
    v.pointer(ptr).and_then(Value::as_array).into_iter().flatten()
}

pub fn pod_refs(pod: &Value) -> PodRefs {
    let mut r = PodRefs { service_account: str_at(pod, "/spec/serviceAccountName").map(str::to_string), ..Default::default() };
    let push = |list: &mut Vec<String>, s: Option<&str>| {
        if let Some(s) = s {
            if !list.iter().any(|x| x == s) {
                list.push(s.to_string());
            }
        }
    };
    for s in arr(pod, "/spec/imagePullSecrets") {
        push(&mut r.secrets, str_at(s, "/name"));
    }
    for kind in ["containers", "initContainers", "ephemeralContainers"] {
        for c in arr(pod, &format!("/spec/{kind}")) {
            for e in arr(c, "/env") {
                push(&mut r.secrets, str_at(e, "/valueFrom/secretKeyRef/name"));
                push(&mut r.configmaps, str_at(e, "/valueFrom/configMapKeyRef/name"));
            }
            for e in arr(c, "/envFrom") {
                push(&mut r.secrets, str_at(e, "/secretRef/name"));
                push(&mut r.configmaps, str_at(e, "/configMapRef/name"));
            }
        }
    }
    let pod_name = str_at(pod, "/metadata/name").unwrap_or("");
    for v in arr(pod, "/spec/volumes") {
        push(&mut r.secrets, str_at(v, "/secret/secretName"));
        push(&mut r.secrets, str_at(v, "/azureFile/secretName"));
        push(&mut r.secrets, str_at(v, "/csi/nodePublishSecretRef/name"));
        for plugin in ["cephfs", "cinder", "flexVolume", "iscsi", "rbd", "scaleIO", "storageos"] {
            push(&mut r.secrets, str_at(v, &format!("/{plugin}/secretRef/name")));
        }
        push(&mut r.configmaps, str_at(v, "/configMap/name"));
        for src in arr(v, "/projected/sources") {
            push(&mut r.secrets, str_at(src, "/secret/name"));
            push(&mut r.configmaps, str_at(src, "/configMap/name"));
        }
        push(&mut r.claims, str_at(v, "/persistentVolumeClaim/claimName"));
        if v.get("ephemeral").is_some() {
            let vol = str_at(v, "/name").unwrap_or("");
            push(&mut r.claims, Some(&format!("{pod_name}-{vol}")));
        }
    }
    r
}

fn bound_to(pod: &Value, node: &str) -> bool {
    str_at(pod, "/spec/nodeName") == Some(node)
}

/// Whether `kind` `ns/name` is related to `node`.
pub async fn related(state: &Shared, node: &str, kind: Vertex, ns: &str, name: &str) -> Result<bool, StatusError> {
    let pods_info = lookup("", "v1", "pods").expect("pods are registered");
    let ns_opt = (!ns.is_empty()).then_some(ns);
    if kind == Vertex::Pod {
        let key = crate::objects::object_key(pods_info, ns_opt, name);
        let kv = state.store.get(&key).await.map_err(crate::state::storage_failure)?;
        return Ok(match kv {
            Some(kv) => bound_to(&crate::objects::decode(&kv).map_err(StatusError::internal)?, node),
            None => false,
        });
    }
    // A PV is reached through a claim of some namespace; other kinds live in the pod's namespace.
    let scope = if kind == Vertex::PersistentVolume { None } else { ns_opt };
    let (pods, _) = list_all(state, pods_info, scope).await?;
    let on_node = pods.iter().filter(|p| bound_to(p, node));
    if kind != Vertex::PersistentVolume {
        return Ok(on_node.map(pod_refs).any(|r| {
            let list = match kind {
                Vertex::Secret => &r.secrets,
                Vertex::ConfigMap => &r.configmaps,
                Vertex::PersistentVolumeClaim => &r.claims,
                _ => return r.service_account.as_deref() == Some(name),
            };
            list.iter().any(|n| n == name)
        }));
    }
    let pvc_info = lookup("", "v1", "persistentvolumeclaims").expect("claims are registered");
    for pod in on_node {
        let pod_ns = str_at(pod, "/metadata/namespace").unwrap_or("");
        for claim in pod_refs(pod).claims {
            let key = crate::objects::object_key(pvc_info, Some(pod_ns), &claim);
            if let Some(kv) = state.store.get(&key).await.map_err(crate::state::storage_failure)? {
                let pvc = crate::objects::decode(&kv).map_err(StatusError::internal)?;
                if str_at(&pvc, "/spec/volumeName") == Some(name) {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn collects_what_a_pod_references() {
        let pod = json!({
            "metadata": {"name": "web-0"},
            "spec": {
                "serviceAccountName": "sa",
                "imagePullSecrets": [{"name": "pull"}],
                "containers": [{"name": "c", "env": [
                    {"name": "A", "valueFrom": {"secretKeyRef": {"name": "s1", "key": "k"}}},
                    {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cm1", "key": "k"}}}
                ], "envFrom": [{"secretRef": {"name": "s2"}}, {"configMapRef": {"name": "cm2"}}]}],
                "volumes": [
                    {"name": "a", "secret": {"secretName": "s3"}},
                    {"name": "b", "configMap": {"name": "cm3"}},
                    {"name": "c", "projected": {"sources": [{"secret": {"name": "s4"}}, {"configMap": {"name": "cm4"}}]}},
                    {"name": "d", "persistentVolumeClaim": {"claimName": "data-web-0"}},
                    {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {}}}
                ]
            }
        });
        let r = pod_refs(&pod);
        assert_eq!(r.secrets, vec!["pull", "s1", "s2", "s3", "s4"]);
        assert_eq!(r.configmaps, vec!["cm1", "cm2", "cm3", "cm4"]);
        assert_eq!(r.claims, vec!["data-web-0", "web-0-scratch"]);
        assert_eq!(r.service_account.as_deref(), Some("sa"));
        assert_eq!(pod_refs(&json!({})), PodRefs::default());
    }
}
