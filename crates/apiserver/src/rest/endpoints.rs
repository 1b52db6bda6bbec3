//! Which pod a `services/{id}/proxy` request goes to. Upstream picks an address from the
//! service's Endpoints; berth uses them when they exist and otherwise computes the same
//! answer from the service's selector: a Running, Ready pod, its `targetPort` resolved
//! (named ports looked up in the pod's containers).

use berth_api::StatusError;
use serde_json::Value;

use super::proxy::{pod_ip, proxyable, Target};

/// The first address of an Endpoints subset that has a port named `port_name`.
fn from_subsets(subsets: &[Value], port_name: &str, scheme: &str) -> Option<Target> {
    subsets.iter().find_map(|ss| {
        let addr = ss["addresses"].as_array()?.iter().find_map(|a| a["ip"].as_str().filter(|ip| proxyable(ip).is_ok()))?;
        let port = ss["ports"].as_array()?.iter().find(|p| p["name"].as_str().unwrap_or("") == port_name)?;
        let port = u16::try_from(port["port"].as_u64()?).ok()?;
        Some(Target { scheme: scheme.to_string(), host: addr.to_string(), port })
    })
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running"
        && pod["metadata"]["deletionTimestamp"].is_null()
        && pod["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

fn selects(selector: &serde_json::Map<String, Value>, pod: &Value) -> bool {
    selector.iter().all(|(k, v)| pod["metadata"]["labels"][k] == *v)
}

/// The container port a service port's `targetPort` means on `pod` (named ports resolved).
fn target_port(svc_port: &Value, pod: &Value) -> Option<u16> {
    match &svc_port["targetPort"] {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) if s.parse::<u16>().is_ok() => s.parse().ok(),
        Value::String(name) => pod["spec"]["containers"]
            .as_array()?
            .iter()
            .flat_map(|c| c["ports"].as_array().into_iter().flatten())
            .find(|p| p["name"] == *name.as_str())
            .and_then(|p| p["containerPort"].as_u64())
            .and_then(|n| u16::try_from(n).ok()),
        _ => svc_port["port"].as_u64().and_then(|n| u16::try_from(n).ok()),
    }
}

/// A ready endpoint of the service for `id` (= `[scheme:]name[:port]`; `port` its port part);
/// `eps` the service's Endpoints if stored, `pods` the namespace's pods.
pub fn service_target(svc: &Value, eps: Option<&Value>, pods: &[Value], id: &str, scheme: &str, port: &str) -> Result<Target, StatusError> {
    let name = svc["metadata"]["name"].as_str().unwrap_or("");
    let ports = svc["spec"]["ports"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    // A port number names the service port that has it.
    let port_name = match port.parse::<i64>() {
        Ok(n) => match ports.iter().find(|p| p["port"].as_i64() == Some(n)) {
            Some(p) => p["name"].as_str().unwrap_or("").to_string(),
            None => {
                return Err(StatusError::new(503, "ServiceUnavailable", format!("no service port {n} found for service {name:?}")))
            }
        },
        Err(_) => port.to_string(),
    };
    let unavailable = |what: &str| StatusError::new(503, "ServiceUnavailable", format!("no endpoints available for service {what:?}"));
    let scheme = if scheme.is_empty() { "http" } else { scheme };
    if let Some(subsets) = eps.and_then(|e| e["subsets"].as_array()).filter(|s| !s.is_empty()) {
        return from_subsets(subsets, &port_name, scheme).ok_or_else(|| unavailable(id));
    }
    let selector = svc["spec"]["selector"].as_object().filter(|s| !s.is_empty());
    let ready: Vec<&Value> = match selector {
        Some(sel) => pods.iter().filter(|p| selects(sel, p) && is_ready(p) && proxyable(pod_ip(p)).is_ok()).collect(),
        None => Vec::new(),
    };
    if ready.is_empty() {
        return Err(unavailable(name));
    }
    let svc_port = ports.iter().find(|p| p["name"].as_str().unwrap_or("") == port_name).ok_or_else(|| unavailable(id))?;
    ready
        .iter()
        .find_map(|pod| {
            let port = target_port(svc_port, pod)?;
            Some(Target { scheme: scheme.to_string(), host: pod_ip(pod).to_string(), port })
        })
        .ok_or_else(|| unavailable(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ip: &str, ready: bool, ports: Value) -> Value {
        json!({
            "metadata": {"name": "p", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "ports": ports}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                       "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]},
        })
    }

    #[test]
    fn service_targets_pick_a_ready_pod_and_resolve_named_ports() {
        let svc = json!({"metadata": {"name": "s"}, "spec": {"selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": "web"}, {"name": "admin", "port": 81, "targetPort": 9000}]}});
        let pods = vec![
            pod("10.0.0.1", false, json!([{"name": "web", "containerPort": 8080}])),
            pod("10.0.0.2", true, json!([{"name": "web", "containerPort": 8081}])),
        ];
        let t = service_target(&svc, None, &pods, "s:http", "", "http").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("10.0.0.2", 8081));
        assert_eq!(service_target(&svc, None, &pods, "s:81", "", "81").unwrap().port, 9000);
        // Several named ports and none asked for: upstream finds no endpoint for the id.
        let e = service_target(&svc, None, &pods, "s", "", "").unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (503, "no endpoints available for service \"s\""));
        let e = service_target(&svc, None, &pods, "s:82", "", "82").unwrap_err();
        assert_eq!(e.message, "no service port 82 found for service \"s\"");
        let e = service_target(&svc, None, &pods[..1], "s:http", "", "http").unwrap_err();
        assert_eq!(e.message, "no endpoints available for service \"s\"");
    }

    #[test]
    fn endpoints_win_when_they_exist() {
        let svc = json!({"metadata": {"name": "s"}, "spec": {"ports": [{"name": "", "port": 80}]}});
        let eps = json!({"subsets": [{"addresses": [{"ip": "10.1.2.3"}], "ports": [{"name": "", "port": 8443}]}]});
        let t = service_target(&svc, Some(&eps), &[], "s", "", "").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("10.1.2.3", 8443));
        let e = service_target(&svc, Some(&json!({"subsets": []})), &[], "s", "", "").unwrap_err();
        assert_eq!(e.message, "no endpoints available for service \"s\"");
    }
}
