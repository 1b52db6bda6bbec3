//! Service environment variables as upstream's kubelet adds them (`getServiceEnvVarMap`,
//! pkg/kubelet/envvars): for the master service `default/kubernetes` always, and for every
//! Service of the pod's namespace when `enableServiceLinks` is not false; only Services with a
//! cluster IP. Docker-link style names (`<NAME>_SERVICE_HOST`, `<NAME>_PORT_443_TCP_ADDR`, …).

use k8s_openapi::api::core::v1::Service;

/// The namespace and name of the API server's own Service.
pub const MASTER: (&str, &str) = ("default", "kubernetes");

/// `my-svc` → `MY_SVC`.
fn var_name(s: &str) -> String {
    s.to_uppercase().replace('-', "_")
}

/// The Services whose variables a pod in `ns` gets, sorted by name (a namespace's own Service
/// wins over the master Service of the same name).
pub fn select(services: &[Service], ns: &str, enable_links: bool) -> Vec<Service> {
    let mut chosen: std::collections::BTreeMap<String, Service> = Default::default();
    for s in services {
        let ip = s.spec.as_ref().and_then(|sp| sp.cluster_ip.clone()).unwrap_or_default();
        if ip.is_empty() || ip == "None" {
            continue;
        }
        let (sns, name) = (s.metadata.namespace.clone().unwrap_or_default(), s.metadata.name.clone().unwrap_or_default());
        if sns == MASTER.0 && name == MASTER.1 {
            chosen.entry(name).or_insert_with(|| s.clone());
        } else if sns == ns && enable_links {
            chosen.insert(name, s.clone());
        }
    }
    chosen.into_values().collect()
}

/// The variables of `services`, in upstream's order.
pub fn vars(services: &[Service]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for s in services {
        let Some(spec) = &s.spec else { continue };
        let ports = spec.ports.clone().unwrap_or_default();
        let Some(first) = ports.first() else { continue };
        let ip = spec.cluster_ip.clone().unwrap_or_default();
        let prefix = var_name(s.metadata.name.as_deref().unwrap_or_default());
        out.push((format!("{prefix}_SERVICE_HOST"), ip.clone()));
        out.push((format!("{prefix}_SERVICE_PORT"), first.port.to_string()));
        for p in &ports {
            if let Some(n) = p.name.as_deref().filter(|n| !n.is_empty()) {
                out.push((format!("{prefix}_SERVICE_PORT_{}", var_name(n)), p.port.to_string()));
            }
        }
        let host_port = |port: i32| if ip.contains(':') { format!("[{ip}]:{port}") } else { format!("{ip}:{port}") };
        for (i, p) in ports.iter().enumerate() {
            let proto = p.protocol.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| "TCP".into());
            let url = format!("{}://{}", proto.to_lowercase(), host_port(p.port));
            if i == 0 {
                out.push((format!("{prefix}_PORT"), url.clone()));
            }
            let pp = format!("{prefix}_PORT_{}_{}", p.port, proto.to_uppercase());
            out.push((pp.clone(), url));
            out.push((format!("{pp}_PROTO"), proto.to_lowercase()));
            out.push((format!("{pp}_PORT"), p.port.to_string()));
            out.push((format!("{pp}_ADDR"), ip.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(ns: &str, name: &str, ip: &str, ports: serde_json::Value) -> Service {
        serde_json::from_value(serde_json::json!({"metadata": {"namespace": ns, "name": name}, "spec": {"clusterIP": ip, "ports": ports}})).unwrap()
    }

    #[test]
    fn selects_and_names_like_upstream() {
        let all = vec![
            svc("default", "kubernetes", "10.96.0.1", serde_json::json!([{"name": "https", "port": 443, "protocol": "TCP"}])),
            svc("app", "my-db", "10.96.0.7", serde_json::json!([{"port": 5432}, {"name": "metrics", "port": 9187, "protocol": "TCP"}])),
            svc("app", "headless", "None", serde_json::json!([{"port": 80}])),
            svc("other", "elsewhere", "10.96.0.9", serde_json::json!([{"port": 80}])),
        ];
        let names = |v: &[Service]| v.iter().map(|s| s.metadata.name.clone().unwrap()).collect::<Vec<_>>();
        assert_eq!(names(&select(&all, "app", true)), ["kubernetes", "my-db"]);
        assert_eq!(names(&select(&all, "app", false)), ["kubernetes"]);
        let v = vars(&select(&all, "app", true));
        let get = |k: &str| v.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("KUBERNETES_SERVICE_HOST"), Some("10.96.0.1"));
        assert_eq!(get("KUBERNETES_SERVICE_PORT"), Some("443"));
        assert_eq!(get("KUBERNETES_SERVICE_PORT_HTTPS"), Some("443"));
        assert_eq!(get("KUBERNETES_PORT"), Some("tcp://10.96.0.1:443"));
        assert_eq!(get("KUBERNETES_PORT_443_TCP"), Some("tcp://10.96.0.1:443"));
        assert_eq!(get("KUBERNETES_PORT_443_TCP_PROTO"), Some("tcp"));
        assert_eq!(get("KUBERNETES_PORT_443_TCP_PORT"), Some("443"));
        assert_eq!(get("KUBERNETES_PORT_443_TCP_ADDR"), Some("10.96.0.1"));
        assert_eq!(get("MY_DB_SERVICE_PORT"), Some("5432"));
        assert_eq!(get("MY_DB_SERVICE_PORT_METRICS"), Some("9187"));
        assert_eq!(get("MY_DB_PORT"), Some("tcp://10.96.0.7:5432"));
        assert_eq!(get("MY_DB_PORT_9187_TCP_ADDR"), Some("10.96.0.7"));
        assert_eq!(get("HEADLESS_SERVICE_HOST"), None);
        assert_eq!(get("ELSEWHERE_SERVICE_HOST"), None);
    }
}
