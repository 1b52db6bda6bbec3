//! What a service's EndpointSlices should contain: one [`Endpoint`] per selected pod, grouped
//! by the ports the pod resolves (upstream `reconciler.reconcile` + `podToEndpoint` +
//! `getEndpointPorts`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort};

use crate::endpoints::podutil::*;

/// The endpoints wanted for one port set, in pod-name order, keyed by [`endpoint_key`].
pub struct Group {
    pub ports: Vec<EndpointPort>,
    pub endpoints: BTreeMap<String, Endpoint>,
    pub order: Vec<String>,
}

/// Key of a port set (upstream `NewPortMapKey`: the ports regardless of order).
pub fn port_key(ports: &[EndpointPort]) -> String {
    let mut v: Vec<String> = ports
        .iter()
        .map(|p| {
            format!(
                "{}/{}/{}/{}",
                p.name.as_deref().unwrap_or(""),
                p.port.unwrap_or(0),
                p.protocol.as_deref().unwrap_or(""),
                p.app_protocol.as_deref().unwrap_or("")
            )
        })
        .collect();
    v.sort();
    v.join(",")
}

/// An endpoint's identity across syncs (upstream `hashEndpoint`: addresses, hostname and the
/// target's namespace/name); anything else that differs is an update of the same endpoint.
pub fn endpoint_key(e: &Endpoint) -> String {
    let mut addrs = e.addresses.clone();
    addrs.sort();
    let (ns, name) = e
        .target_ref
        .as_ref()
        .map(|r| (r.namespace.clone().unwrap_or_default(), r.name.clone().unwrap_or_default()))
        .unwrap_or_default();
    format!("{}|{}|{ns}/{name}", addrs.join(","), e.hostname.as_deref().unwrap_or(""))
}

/// Upstream `podToEndpoint`.
pub fn pod_to_endpoint(pod: &Pod, svc: &Service) -> Endpoint {
    let serving = is_pod_ready(pod);
    let terminating = pod.metadata.deletion_timestamp.is_some();
    // "ready" is never true for a terminating pod unless the service publishes not-ready ones.
    let ready = publish_not_ready(svc) || (serving && !terminating);
    Endpoint {
        addresses: vec![pod_ip(pod).unwrap_or_default().to_string()],
        conditions: Some(EndpointConditions { ready: Some(ready), serving: Some(serving), terminating: Some(terminating) }),
        hostname: should_set_hostname(pod, svc).then(|| pod.spec.as_ref().and_then(|s| s.hostname.clone())).flatten(),
        node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Upstream `getEndpointPorts`: every service port the pod resolves (named target ports
/// through its container ports); `name` is always set, possibly empty.
pub fn endpoint_ports(svc: &Service, pod: &Pod) -> Vec<EndpointPort> {
    let ports = svc.spec.as_ref().and_then(|s| s.ports.as_ref());
    ports
        .into_iter()
        .flatten()
        .filter_map(|sp| {
            let port = find_port(pod, sp)?;
            Some(EndpointPort {
                name: Some(sp.name.clone().unwrap_or_default()),
                port: Some(port),
                protocol: Some(sp.protocol.clone().unwrap_or_else(|| "TCP".into())),
                app_protocol: sp.app_protocol.clone(),
            })
        })
        .collect()
}

/// The desired groups of an IPv4 service: pods per `ShouldPodBeInEndpoints(pod, true)` (slices
/// keep terminating pods, with their conditions saying so), by name.
pub fn desired<'a>(svc: &Service, pods: &'a [Pod]) -> (BTreeMap<String, Group>, Vec<&'a Pod>) {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut included = Vec::new();
    let Some(selector) = selector(svc) else { return (groups, included) };
    let mut selected: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.metadata.namespace == svc.metadata.namespace && selects(selector, p))
        .filter(|p| should_pod_be_in_endpoints(p, true))
        .filter(|p| pod_ip(p).is_some_and(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok()))
        .collect();
    selected.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    for pod in selected {
        let ports = endpoint_ports(svc, pod);
        let g = groups
            .entry(port_key(&ports))
            .or_insert_with(|| Group { ports, endpoints: BTreeMap::new(), order: Vec::new() });
        let ep = pod_to_endpoint(pod, svc);
        let key = endpoint_key(&ep);
        if g.endpoints.insert(key.clone(), ep).is_none() {
            g.order.push(key);
        }
        included.push(pod);
    }
    (groups, included)
}
