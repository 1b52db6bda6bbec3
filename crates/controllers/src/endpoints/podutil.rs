//! Predicates shared by the Endpoints and EndpointSlice controllers, after upstream's
//! `pkg/controller/util/endpoint/controller_utils.go` and `podutil.FindPort`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Label on Endpoints and EndpointSlices of services with `clusterIP: None`.
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";
/// Annotation with the time of the last pod/service change the object reflects.
pub const ANNOTATION_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";

pub fn is_headless(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

pub fn publish_not_ready(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.publish_not_ready_addresses).unwrap_or(false)
}

/// The service's selector; `None` for services without one (their endpoints are user-managed).
pub fn selector(svc: &Service) -> Option<&BTreeMap<String, String>> {
    svc.spec.as_ref()?.selector.as_ref()
}

/// A map selector (`labels.SelectorFromSet`): every pair present in the pod's labels. An
/// empty selector matches everything, as upstream's `labels.Set{}.AsSelectorPreValidated()`.
pub fn selects(selector: &BTreeMap<String, String>, pod: &Pod) -> bool {
    let labels = pod.metadata.labels.as_ref();
    selector.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

pub fn pod_ip(pod: &Pod) -> Option<&str> {
    let st = pod.status.as_ref()?;
    st.pod_ip
        .as_deref()
        .filter(|ip| !ip.is_empty())
        .or_else(|| st.pod_ips.as_ref()?.first().map(|p| p.ip.as_str()).filter(|ip| !ip.is_empty()))
}

/// Upstream `ShouldPodBeInEndpoints`: not terminal, has an IP, and not terminating unless
/// terminating pods are wanted.
pub fn should_pod_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("");
    if phase == "Failed" || phase == "Succeeded" {
        return false;
    }
    if pod_ip(pod).is_none() {
        return false;
    }
    include_terminating || pod.metadata.deletion_timestamp.is_none()
}

/// Upstream `ShouldSetHostname`: the pod names this service as its subdomain.
pub fn should_set_hostname(pod: &Pod, svc: &Service) -> bool {
    let Some(spec) = pod.spec.as_ref() else { return false };
    let hostname = spec.hostname.as_deref().unwrap_or("");
    !hostname.is_empty()
        && spec.subdomain.as_deref() == svc.metadata.name.as_deref()
        && pod.metadata.namespace == svc.metadata.namespace
}

fn ready_condition(pod: &Pod) -> Option<&k8s_openapi::api::core::v1::PodCondition> {
    pod.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready")
}

/// `podutil.IsPodReady`.
pub fn is_pod_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// Upstream `podutil.FindPort`: a numeric target port as is; a named one from the container
/// (and restartable init container) port of that name and protocol.
pub fn find_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    let protocol = port.protocol.as_deref().unwrap_or("TCP");
    match port.target_port.as_ref() {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            if let Ok(n) = name.parse::<i32>() {
                return Some(n);
            }
            let spec = pod.spec.as_ref()?;
            let sidecars = spec
                .init_containers
                .iter()
                .flatten()
                .filter(|c| c.restart_policy.as_deref() == Some("Always"));
            spec.containers
                .iter()
                .chain(sidecars)
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| p.name.as_deref() == Some(name.as_str()) && p.protocol.as_deref().unwrap_or("TCP") == protocol)
                .map(|p| p.container_port)
        }
    }
}

/// The time a pod last changed in a way endpoints care about (upstream's trigger time tracker
/// uses the Ready condition's transition, else the creation time).
pub fn pod_trigger_time(pod: &Pod) -> Option<&Time> {
    ready_condition(pod)
        .and_then(|c| c.last_transition_time.as_ref())
        .or(pod.metadata.creation_timestamp.as_ref())
}

/// The latest change among the service and its pods, as an RFC 3339 string with nanoseconds
/// (Go's `time.RFC3339Nano`), for [`ANNOTATION_TRIGGER_TIME`].
pub fn trigger_time<'a>(svc: &Service, pods: impl Iterator<Item = &'a Pod>) -> Option<String> {
    let svc_time = svc.metadata.creation_timestamp.as_ref().map(|t| t.0);
    pods.filter_map(|p| pod_trigger_time(p).map(|t| t.0))
        .chain(svc_time)
        .max()
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.fZ").to_string())
}

/// The service's labels as Endpoints/EndpointSlices carry them, with the headless label
/// added or removed.
pub fn service_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = svc.metadata.labels.clone().unwrap_or_default();
    if is_headless(svc) {
        labels.insert(LABEL_HEADLESS.to_string(), String::new());
    } else {
        labels.remove(LABEL_HEADLESS);
    }
    labels
}
