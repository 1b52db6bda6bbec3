//! A container's environment as upstream's kubelet builds it (`makeEnvironmentVariables`):
//! `envFrom` sources first (with their prefix; keys that are not valid variable names are
//! skipped with an `InvalidEnvironmentVariableNames` event), then `env` in order, where
//! `value`s expand `$(VAR)` against what is defined so far and `valueFrom` reads a field, a
//! resource, or a ConfigMap/Secret key. A missing object or key that is not `optional` is a
//! `CreateContainerConfigError` with upstream's message. Service variables
//! ([`super::service_env`]) resolve `$(VAR)` too and are added last, for names not set already.
//!
//! Fetching the referenced objects ([`fetch`]) is separate from the pure [`resolve`].

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};
use kube::{Api, Client};

use super::expand::{expand, in_env};
use super::launch::StartError;
use super::resources::Allocatable;
use super::{fieldref, resources, service_env};
use crate::process::spec::DEFAULT_PATH;

/// The ConfigMaps and Secrets a container's env refers to; `None` = not found.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    pub config_maps: BTreeMap<String, Option<BTreeMap<String, String>>>,
    pub secrets: BTreeMap<String, Option<BTreeMap<String, String>>>,
    /// The Services whose variables the container gets (already selected).
    pub services: Vec<Service>,
}

fn config_error(message: String) -> StartError {
    StartError { reason: "CreateContainerConfigError", message }
}

/// The Services for `pod`'s service variables. Not fatal when they cannot be read (the
/// container starts without them; upstream's node authorizer always lets a kubelet list them).
async fn services(client: &Client, pod: &Pod) -> Vec<Service> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let links = pod.spec.as_ref().and_then(|s| s.enable_service_links) != Some(false);
    let mut all = Vec::new();
    if links {
        match Api::<Service>::namespaced(client.clone(), &ns).list(&Default::default()).await {
            Ok(l) => all.extend(l.items),
            Err(e) => tracing::warn!(namespace = %ns, error = %e, "listing services for service environment variables failed"),
        }
    }
    if !(links && ns == service_env::MASTER.0) {
        if let Ok(Some(s)) = Api::<Service>::namespaced(client.clone(), service_env::MASTER.0).get_opt(service_env::MASTER.1).await {
            all.push(s);
        }
    }
    service_env::select(&all, &ns, links)
}

/// Read every ConfigMap and Secret `c`'s `env` and `envFrom` name, and the Services for the
/// service variables.
pub async fn fetch(client: &Client, pod: &Pod, c: &Container) -> Result<Sources, StartError> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let ns = ns.as_str();
    let mut cms = Vec::new();
    let mut secrets = Vec::new();
    for e in c.env_from.iter().flatten() {
        cms.extend(e.config_map_ref.as_ref().map(|r| r.name.clone()));
        secrets.extend(e.secret_ref.as_ref().map(|r| r.name.clone()));
    }
    for e in c.env.iter().flatten() {
        let Some(from) = &e.value_from else { continue };
        cms.extend(from.config_map_key_ref.as_ref().map(|r| r.name.clone()));
        secrets.extend(from.secret_key_ref.as_ref().map(|r| r.name.clone()));
    }
    let mut out = Sources { services: services(client, pod).await, ..Default::default() };
    let cm_api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    for name in cms {
        if out.config_maps.contains_key(&name) {
            continue;
        }
        let obj = cm_api.get_opt(&name).await.map_err(|e| config_error(format!("failed to fetch configmap {name:?}: {e}")))?;
        out.config_maps.insert(name, obj.map(|o| o.data.unwrap_or_default()));
    }
    let secret_api: Api<Secret> = Api::namespaced(client.clone(), ns);
    for name in secrets {
        if out.secrets.contains_key(&name) {
            continue;
        }
        let obj = secret_api.get_opt(&name).await.map_err(|e| config_error(format!("failed to fetch secret {name:?}: {e}")))?;
        let data = obj.map(|o| o.data.unwrap_or_default().into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned())).collect());
        out.secrets.insert(name, data);
    }
    Ok(out)
}

/// The resolved environment and the warning events to record (reason, message).
#[derive(Debug, Default)]
pub struct Resolved {
    pub env: Vec<(String, String)>,
    pub warnings: Vec<(&'static str, String)>,
}

/// upstream's `IsEnvVarName`: `[-._a-zA-Z][-._a-zA-Z0-9]*`.
pub fn is_env_var_name(k: &str) -> bool {
    let mut chars = k.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || "-._".contains(c)) && chars.all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
}

fn set(env: &mut Vec<(String, String)>, k: String, v: String) {
    env.retain(|(n, _)| *n != k);
    env.push((k, v));
}

/// `c`'s environment: PATH and HOSTNAME as an image and the kubelet set them, then `envFrom`
/// and `env`.
pub fn resolve(c: &Container, pod: &Pod, hostname: &str, pod_ip: &str, src: &Sources, alloc: &Allocatable) -> Result<Resolved, StartError> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let mut out = Resolved { env: vec![("PATH".into(), DEFAULT_PATH.into()), ("HOSTNAME".into(), hostname.into())], warnings: Vec::new() };
    for from in c.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let (kind, label, name, optional, data) = if let Some(r) = &from.config_map_ref {
            ("configmap", "configMap", &r.name, r.optional == Some(true), src.config_maps.get(&r.name).cloned().flatten())
        } else if let Some(r) = &from.secret_ref {
            ("secret", "secret", &r.name, r.optional == Some(true), src.secrets.get(&r.name).cloned().flatten())
        } else {
            continue;
        };
        let Some(data) = data else {
            if optional {
                continue;
            }
            return Err(config_error(format!("{kind} {name:?} not found")));
        };
        let mut invalid = Vec::new();
        for (k, v) in data {
            let k = format!("{prefix}{k}");
            if is_env_var_name(&k) {
                set(&mut out.env, k, v);
            } else {
                invalid.push(k);
            }
        }
        if !invalid.is_empty() {
            invalid.sort();
            let msg = format!("Keys [{}] from the EnvFrom {label} {ns}/{name} were skipped since they are considered invalid environment variable names.", invalid.join(", "));
            out.warnings.push(("InvalidEnvironmentVariableNames", msg));
        }
    }
    let service_vars = service_env::vars(&src.services);
    for e in c.env.iter().flatten() {
        let value = match &e.value_from {
            None => {
                let defined = in_env(&out.env);
                let services = in_env(&service_vars);
                expand(e.value.as_deref().unwrap_or_default(), |n| defined(n).or_else(|| services(n)))
            }
            Some(from) => {
                if let Some(f) = &from.field_ref {
                    fieldref::value(pod, &f.field_path, pod_ip).map_err(config_error)?
                } else if let Some(r) = &from.resource_field_ref {
                    resources::field(&[], Some(c), r, alloc).map_err(config_error)?
                } else if let Some(r) = &from.config_map_key_ref {
                    let optional = r.optional == Some(true);
                    match src.config_maps.get(&r.name).cloned().flatten() {
                        None if optional => continue,
                        None => return Err(config_error(format!("configmap {:?} not found", r.name))),
                        Some(d) => match d.get(&r.key) {
                            Some(v) => v.clone(),
                            None if optional => continue,
                            None => return Err(config_error(format!("couldn't find key {} in ConfigMap {ns}/{}", r.key, r.name))),
                        },
                    }
                } else if let Some(r) = &from.secret_key_ref {
                    let optional = r.optional == Some(true);
                    match src.secrets.get(&r.name).cloned().flatten() {
                        None if optional => continue,
                        None => return Err(config_error(format!("secret {:?} not found", r.name))),
                        Some(d) => match d.get(&r.key) {
                            Some(v) => v.clone(),
                            None if optional => continue,
                            None => return Err(config_error(format!("couldn't find key {} in Secret {ns}/{}", r.key, r.name))),
                        },
                    }
                } else {
                    String::new()
                }
            }
        };
        set(&mut out.env, e.name.clone(), value);
    }
    for (k, v) in service_vars {
        if !out.env.iter().any(|(n, _)| *n == k) {
            out.env.push((k, v));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Pod {
        serde_json::from_value(serde_json::json!({"metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": {"app": "web"}}, "spec": {"nodeName": "node-1", "containers": []}})).unwrap()
    }

    fn container(json: serde_json::Value) -> Container {
        serde_json::from_value(json).unwrap()
    }

    fn alloc() -> Allocatable {
        Allocatable { cpu: "2".into(), memory: "1Gi".into(), ephemeral_storage: "1Gi".into() }
    }

    fn sources() -> Sources {
        let mut s = Sources::default();
        s.config_maps.insert("cm".into(), Some([("color".to_string(), "blue".to_string()), ("1bad".into(), "x".into())].into()));
        s.config_maps.insert("gone".into(), None);
        s.secrets.insert("sec".into(), Some([("pw".to_string(), "s3cret".to_string())].into()));
        s
    }

    fn get(env: &[(String, String)], k: &str) -> Option<String> {
        env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn env_from_refs_fields_and_expansion() {
        let c = container(serde_json::json!({"name": "a", "resources": {"limits": {"memory": "64Mi"}},
            "envFrom": [{"configMapRef": {"name": "cm"}}, {"prefix": "S_", "secretRef": {"name": "sec"}}, {"configMapRef": {"name": "gone", "optional": true}}],
            "env": [
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}},
                {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                {"name": "COLOR2", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "color"}}},
                {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "pw"}}},
                {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k", "optional": true}}},
                {"name": "OPTKEY", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nokey", "optional": true}}},
                {"name": "WHO", "value": "$(POD)/$(color) $(LATER) $$(POD)"},
                {"name": "LATER", "value": "x"}]}));
        let r = resolve(&c, &pod(), "p", "10.0.0.2", &sources(), &alloc()).unwrap();
        let g = |k| get(&r.env, k);
        assert_eq!(g("color").as_deref(), Some("blue"));
        assert_eq!(g("S_pw").as_deref(), Some("s3cret"));
        assert_eq!(g("1bad"), None);
        assert_eq!((g("POD").unwrap(), g("UID").unwrap(), g("APP").unwrap(), g("IPS").unwrap()), ("p".into(), "u1".into(), "web".into(), "10.0.0.2".into()));
        assert_eq!(g("MEM").as_deref(), Some("64"));
        assert_eq!(g("COLOR2").as_deref(), Some("blue"));
        assert_eq!(g("PW").as_deref(), Some("s3cret"));
        assert_eq!((g("OPT"), g("OPTKEY")), (None, None));
        assert_eq!(g("WHO").as_deref(), Some("p/blue $(LATER) $(POD)"));
        assert_eq!(g("HOSTNAME").as_deref(), Some("p"));
        assert_eq!(r.warnings, vec![("InvalidEnvironmentVariableNames", "Keys [1bad] from the EnvFrom configMap ns/cm were skipped since they are considered invalid environment variable names.".to_string())]);
    }

    #[test]
    fn missing_objects_and_keys_are_config_errors() {
        let err = |env: serde_json::Value| resolve(&container(serde_json::json!({"name": "a", "env": env})), &pod(), "p", "", &sources(), &alloc()).unwrap_err();
        let e = err(serde_json::json!([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k"}}}]));
        assert_eq!((e.reason, e.message.as_str()), ("CreateContainerConfigError", "configmap \"gone\" not found"));
        let e = err(serde_json::json!([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}]));
        assert_eq!(e.message, "couldn't find key k in ConfigMap ns/cm");
        let e = err(serde_json::json!([{"name": "X", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "k"}}}]));
        assert_eq!(e.message, "couldn't find key k in Secret ns/sec");
        let c = container(serde_json::json!({"name": "a", "envFrom": [{"secretRef": {"name": "nope"}}]}));
        let mut s = sources();
        s.secrets.insert("nope".into(), None);
        assert_eq!(resolve(&c, &pod(), "p", "", &s, &alloc()).unwrap_err().message, "secret \"nope\" not found");
    }

    #[test]
    fn service_variables_expand_and_never_override() {
        let mut s = sources();
        s.services = vec![serde_json::from_value(serde_json::json!({"metadata": {"namespace": "default", "name": "kubernetes"}, "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443}]}})).unwrap()];
        let c = container(serde_json::json!({"name": "a", "env": [
            {"name": "API", "value": "https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"},
            {"name": "KUBERNETES_SERVICE_PORT", "value": "mine"}]}));
        let r = resolve(&c, &pod(), "p", "", &s, &alloc()).unwrap();
        assert_eq!(get(&r.env, "API").as_deref(), Some("https://10.96.0.1:443"));
        assert_eq!(get(&r.env, "KUBERNETES_SERVICE_PORT").as_deref(), Some("mine"));
        assert_eq!(get(&r.env, "KUBERNETES_PORT_443_TCP_ADDR").as_deref(), Some("10.96.0.1"));
        assert_eq!(r.env.iter().filter(|(k, _)| k == "KUBERNETES_SERVICE_PORT").count(), 1);
    }

    #[test]
    fn env_var_names() {
        assert!(is_env_var_name("A_b.c-1"));
        assert!(is_env_var_name(".x"));
        assert!(!is_env_var_name("1x"));
        assert!(!is_env_var_name("a b"));
        assert!(!is_env_var_name(""));
    }
}
