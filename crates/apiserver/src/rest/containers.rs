//! Which container of a pod a log or exec request means, and whether it has logs yet — pure
//! decisions over the pod object, with upstream's messages (the API server's
//! `validateContainer`, the kubelet's `validateContainerLogStatus`).

use berth_api::StatusError;
use serde_json::Value;

/// Container names in upstream's visiting order: init containers, containers, ephemeral.
fn all_names(pod: &Value) -> Vec<&str> {
    ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|k| pod["spec"][k].as_array().into_iter().flatten())
        .filter_map(|c| c["name"].as_str())
        .collect()
}

fn pod_name(pod: &Value) -> &str {
    pod["metadata"]["name"].as_str().unwrap_or("")
}

/// The container named by the request, or the pod's only container. (kubectl itself applies
/// the `kubectl.kubernetes.io/default-container` annotation before asking, as upstream.)
pub fn resolve(pod: &Value, requested: Option<&str>) -> Result<String, StatusError> {
    let name = pod_name(pod);
    match requested.filter(|c| !c.is_empty()) {
        Some(c) if all_names(pod).contains(&c) => Ok(c.to_string()),
        Some(c) => Err(StatusError::bad_request(format!("container {c} is not valid for pod {name}"))),
        None => {
            let containers = pod["spec"]["containers"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            match containers {
                [only] => Ok(only["name"].as_str().unwrap_or("").to_string()),
                [] => Err(StatusError::bad_request(format!("a container name must be specified for pod {name}"))),
                _ => Err(StatusError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    all_names(pod).join(" ")
                ))),
            }
        }
    }
}

fn find_status<'a>(pod: &'a Value, container: &str) -> Option<&'a Value> {
    ["containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"]
        .iter()
        .flat_map(|k| pod["status"][k].as_array().into_iter().flatten())
        .find(|s| s["name"].as_str() == Some(container))
}

/// Whether the container has logs to show, from its status; the kubelet's messages
/// otherwise. The node's files are the final word (a terminated container whose files are
/// gone is reported by the kubelet API).
pub fn check_logs_available(pod: &Value, container: &str, previous: bool) -> Result<(), StatusError> {
    let name = pod_name(pod);
    let bad = |what: String| Err(StatusError::bad_request(format!("container \"{container}\" in pod \"{name}\" {what}")));
    let Some(status) = find_status(pod, container) else {
        return bad("is not available".into());
    };
    let state = &status["state"];
    let last = &status["lastState"];
    if previous {
        if last["terminated"].is_object() {
            return Ok(());
        }
        return Err(StatusError::bad_request(format!(
            "previous terminated container \"{container}\" in pod \"{name}\" not found"
        )));
    }
    if state["running"].is_object() || state["terminated"].is_object() || last["terminated"].is_object() {
        return Ok(());
    }
    if let Some(w) = state["waiting"].as_object() {
        return match w.get("reason").and_then(Value::as_str).unwrap_or("") {
            "ErrImagePull" => bad("is waiting to start: image can't be pulled".into()),
            "ImagePullBackOff" => bad("is waiting to start: trying and failing to pull image".into()),
            reason => bad(format!("is waiting to start: {reason}")),
        };
    }
    bad("is waiting to start - no logs yet".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(containers: &[&str], init: &[&str]) -> Value {
        let c: Vec<Value> = containers.iter().map(|n| json!({"name": n})).collect();
        let i: Vec<Value> = init.iter().map(|n| json!({"name": n})).collect();
        json!({"metadata": {"name": "p"}, "spec": {"containers": c, "initContainers": i}})
    }

    #[test]
    fn container_defaulting_follows_upstream() {
        assert_eq!(resolve(&pod(&["a"], &[]), None).unwrap(), "a");
        assert_eq!(resolve(&pod(&["a", "b"], &[]), Some("b")).unwrap(), "b");
        assert_eq!(resolve(&pod(&["a"], &["setup"]), Some("setup")).unwrap(), "setup");
        let e = resolve(&pod(&["a", "b"], &["setup"]), None).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (400, "a container name must be specified for pod p, choose one of: [setup a b]"));
        let e = resolve(&pod(&["a"], &[]), Some("y")).unwrap_err();
        assert_eq!(e.message, "container y is not valid for pod p");
        let e = resolve(&pod(&[], &[]), None).unwrap_err();
        assert_eq!(e.message, "a container name must be specified for pod p");
    }

    #[test]
    fn log_availability_uses_the_kubelet_wording() {
        let mut p = pod(&["c"], &[]);
        let e = check_logs_available(&p, "c", false).unwrap_err();
        assert_eq!(e.message, "container \"c\" in pod \"p\" is not available");
        p["status"] = json!({"containerStatuses": [{"name": "c", "state": {"waiting": {"reason": "ContainerCreating"}}}]});
        let e = check_logs_available(&p, "c", false).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (400, "container \"c\" in pod \"p\" is waiting to start: ContainerCreating"));
        p["status"]["containerStatuses"][0]["state"] = json!({"waiting": {"reason": "ImagePullBackOff"}});
        let e = check_logs_available(&p, "c", false).unwrap_err();
        assert_eq!(e.message, "container \"c\" in pod \"p\" is waiting to start: trying and failing to pull image");
        p["status"]["containerStatuses"][0]["state"] = json!({"running": {"startedAt": "2024-01-01T00:00:00Z"}});
        assert!(check_logs_available(&p, "c", false).is_ok());
        let e = check_logs_available(&p, "c", true).unwrap_err();
        assert_eq!(e.message, "previous terminated container \"c\" in pod \"p\" not found");
        p["status"]["containerStatuses"][0]["lastState"] = json!({"terminated": {"exitCode": 1}});
        assert!(check_logs_available(&p, "c", true).is_ok());
        // Waiting in back-off after a crash still has the last run's logs.
        p["status"]["containerStatuses"][0]["state"] = json!({"waiting": {"reason": "CrashLoopBackOff"}});
        assert!(check_logs_available(&p, "c", false).is_ok());
    }
}
