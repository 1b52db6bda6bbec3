//! Which endpoints each service port sends to: a pure function of the Services and
//! EndpointSlices (kube-proxy's `ServicePortMap`/`EndpointsMap`, reduced to what berth needs).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// The label tying an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    fn parse(p: Option<&str>) -> Option<Proto> {
        match p.unwrap_or("TCP") {
            "TCP" => Some(Proto::Tcp),
            "UDP" => Some(Proto::Udp),
            "SCTP" => Some(Proto::Sctp),
            _ => None,
        }
    }

    /// nftables' name of the protocol.
    pub fn nft(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }
}

/// One `<clusterIP>:<port>/<proto>` and where it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    /// `<ns>/<name>/<proto>/<port name or number>`, unique and stable (names the nft chains).
    pub key: String,
    pub ip: Ipv4Addr,
    pub proto: Proto,
    pub port: u16,
    /// Endpoints traffic may go to, sorted; empty means "reject".
    pub endpoints: Vec<(Ipv4Addr, u16)>,
}

/// The service ports to program: every IPv4 ClusterIP (not headless, not ExternalName, not in
/// `skip` — addresses the host serves itself, such as the cluster DNS IP) with its endpoints.
/// Endpoints are the ready ones; when none is ready, the serving-and-terminating ones (as
/// upstream since ProxyTerminatingEndpoints, so connections drain during a rollout).
pub fn service_ports(services: &[Arc<Service>], slices: &[Arc<EndpointSlice>], skip: &[Ipv4Addr]) -> Vec<ServicePort> {
    let mut out = Vec::new();
    for svc in services {
        let Some(spec) = &svc.spec else { continue };
        if spec.type_.as_deref() == Some("ExternalName") {
            continue;
        }
        let Some(ip) = spec.cluster_ip.as_deref().and_then(|ip| ip.parse::<Ipv4Addr>().ok()) else { continue };
        if skip.contains(&ip) {
            continue;
        }
        let ns = svc.metadata.namespace.as_deref().unwrap_or("default");
        let name = svc.metadata.name.as_deref().unwrap_or_default();
        let own: Vec<&EndpointSlice> = slices
            .iter()
            .filter(|s| s.metadata.namespace.as_deref() == Some(ns) && s.address_type == "IPv4")
            .filter(|s| s.metadata.labels.as_ref().and_then(|l| l.get(SERVICE_NAME_LABEL)).map(String::as_str) == Some(name))
            .map(|s| s.as_ref())
            .collect();
        for p in spec.ports.iter().flatten() {
            let Some(proto) = Proto::parse(p.protocol.as_deref()) else { continue };
            let Ok(port) = u16::try_from(p.port) else { continue };
            let port_name = p.name.clone().unwrap_or_default();
            let label = if port_name.is_empty() { port.to_string() } else { port_name.clone() };
            out.push(ServicePort {
                key: format!("{ns}/{name}/{}/{label}", proto.nft()),
                ip,
                proto,
                port,
                endpoints: endpoints_for(&own, &port_name, proto),
            });
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

fn endpoints_for(slices: &[&EndpointSlice], port_name: &str, proto: Proto) -> Vec<(Ipv4Addr, u16)> {
    let mut ready = BTreeSet::new();
    let mut terminating = BTreeSet::new();
    for s in slices {
        let port = s.ports.iter().flatten().find(|p| {
            p.name.as_deref().unwrap_or("") == port_name && Proto::parse(p.protocol.as_deref()) == Some(proto)
        });
        let Some(port) = port.and_then(|p| p.port).and_then(|p| u16::try_from(p).ok()) else { continue };
        for e in &s.endpoints {
            let Some(ip) = e.addresses.first().and_then(|a| a.parse::<Ipv4Addr>().ok()) else { continue };
            let c = e.conditions.as_ref();
            // Unset conditions mean ready/serving and not terminating (EndpointConditions docs).
            let is_ready = c.and_then(|c| c.ready).unwrap_or(true);
            let serving = c.and_then(|c| c.serving).unwrap_or(is_ready);
            let is_terminating = c.and_then(|c| c.terminating).unwrap_or(false);
            if is_ready {
                ready.insert((ip, port));
            } else if serving && is_terminating {
                terminating.insert((ip, port));
            }
        }
    }
    if ready.is_empty() { terminating } else { ready }.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn svc(json: serde_json::Value) -> Arc<Service> {
        Arc::new(serde_json::from_value(json).unwrap())
    }
    pub fn slice(json: serde_json::Value) -> Arc<EndpointSlice> {
        Arc::new(serde_json::from_value(json).unwrap())
    }

    #[test]
    fn ready_endpoints_per_named_port() {
        let services = [
            svc(serde_json::json!({"metadata": {"name": "web", "namespace": "default"},
                "spec": {"clusterIP": "10.96.0.20", "ports": [{"name": "http", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]}})),
            svc(serde_json::json!({"metadata": {"name": "headless", "namespace": "default"}, "spec": {"clusterIP": "None", "ports": [{"port": 80}]}})),
            svc(serde_json::json!({"metadata": {"name": "kube-dns", "namespace": "kube-system"}, "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 53}]}})),
        ];
        let slices = [
            slice(serde_json::json!({"metadata": {"name": "web-a", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
                "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                "endpoints": [
                    {"addresses": ["10.250.1.5"], "conditions": {"ready": true}},
                    {"addresses": ["10.250.2.5"], "conditions": {"ready": false, "serving": false}},
                    {"addresses": ["10.250.2.6"]}
                ]})),
            // Another namespace's slice with the same service name is not ours.
            slice(serde_json::json!({"metadata": {"name": "web-b", "namespace": "other", "labels": {"kubernetes.io/service-name": "web"}},
                "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                "endpoints": [{"addresses": ["10.250.3.5"]}]})),
        ];
        let ports = service_ports(&services, &slices, &["10.96.0.10".parse().unwrap()]);
        assert_eq!(ports.len(), 2, "{ports:?}");
        assert_eq!(ports[0].key, "default/web/tcp/http");
        assert_eq!(ports[0].endpoints, [("10.250.1.5".parse().unwrap(), 8080), ("10.250.2.6".parse().unwrap(), 8080)]);
        assert_eq!((ports[1].key.as_str(), ports[1].proto, ports[1].port), ("default/web/udp/dns", Proto::Udp, 53));
        assert!(ports[1].endpoints.is_empty(), "no slice port named dns/UDP: no endpoints");
    }

    #[test]
    fn terminating_serving_endpoints_only_when_none_is_ready() {
        let services = [svc(serde_json::json!({"metadata": {"name": "s", "namespace": "d"}, "spec": {"clusterIP": "10.96.0.30", "ports": [{"port": 80}]}}))];
        let mk = |ready: bool| {
            slice(serde_json::json!({"metadata": {"name": "s-1", "namespace": "d", "labels": {"kubernetes.io/service-name": "s"}},
                "addressType": "IPv4", "ports": [{"port": 80, "protocol": "TCP"}],
                "endpoints": [
                    {"addresses": ["10.0.0.1"], "conditions": {"ready": false, "serving": true, "terminating": true}},
                    {"addresses": ["10.0.0.2"], "conditions": {"ready": ready}}
                ]}))
        };
        assert_eq!(service_ports(&services, &[mk(true)], &[])[0].endpoints, [("10.0.0.2".parse().unwrap(), 80)]);
        assert_eq!(service_ports(&services, &[mk(false)], &[])[0].endpoints, [("10.0.0.1".parse().unwrap(), 80)]);
    }
}
