//! Pod admission on the node. Only the NodePorts predicate is simulated: two pods on one
//! node cannot bind the same host port (the scheduler normally prevents this, but pods bound
//! directly via `spec.nodeName` — e.g. the StatefulSet e2e "should recreate evicted
//! statefulset" — reach the kubelet anyway, which rejects them).

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Pod;

use super::conditions::is_terminal_phase;

/// Reason and message of a rejected pod, as `lifecycle.predicateAdmitHandler` and
/// `Kubelet.rejectPod` write them.
pub const NODE_PORTS_REASON: &str = "NodePorts";
pub const NODE_PORTS_MESSAGE: &str =
    "Pod was rejected: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports";

#[derive(Debug, Clone, PartialEq, Eq)]
struct HostPort {
    protocol: String,
    ip: Option<IpAddr>, // None: all addresses
    port: i32,
}

impl HostPort {
    fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip.is_none() || other.ip.is_none() || self.ip == other.ip)
    }
}

fn host_ports(pod: &Pod) -> Vec<HostPort> {
    let Some(spec) = pod.spec.as_ref() else { return Vec::new() };
    let host_network = spec.host_network == Some(true);
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            // With hostNetwork every container port is a host port (API defaulting copies it).
            let port = p.host_port.filter(|p| *p > 0).or(host_network.then_some(p.container_port))?;
            let ip = p.host_ip.as_deref().and_then(|s| s.parse::<IpAddr>().ok()).filter(|ip| !ip.is_unspecified());
            Some(HostPort { protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()), ip, port })
        })
        .collect()
}

fn conflicts(a: &[HostPort], b: &[HostPort]) -> bool {
    a.iter().any(|x| b.iter().any(|y| x.conflicts(y)))
}

fn admitted(p: &Pod) -> bool {
    p.status.as_ref().is_some_and(|s| s.start_time.is_some())
}

fn active(p: &Pod) -> bool {
    !is_terminal_phase(p.status.as_ref().and_then(|s| s.phase.as_deref()))
}

/// The order in which a kubelet admits pods it learns about together: oldest first.
fn admission_key(p: &Pod) -> (Option<i64>, String, String) {
    let m = &p.metadata;
    (
        m.creation_timestamp.as_ref().map(|t| t.0.as_second()),
        m.namespace.clone().unwrap_or_default(),
        m.name.clone().unwrap_or_default(),
    )
}

/// Would admitting `pod` conflict on host ports with a pod already running on the node?
///
/// Besides pods already admitted (they have a `startTime`), an older pod not yet admitted
/// counts too if it will itself be admitted, so two new conflicting pods are never both
/// admitted even when the caller's view lags behind its own writes.
pub fn rejects_for_host_ports(pod: &Pod, others: &[Pod]) -> bool {
    let mine = host_ports(pod);
    if mine.is_empty() {
        return false;
    }
    let uid = pod.metadata.uid.as_deref();
    let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
    let peers: Vec<&Pod> = others
        .iter()
        .filter(|p| p.metadata.uid.as_deref() != uid && active(p))
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == node)
        .collect();
    let running: Vec<HostPort> = peers.iter().filter(|p| admitted(p)).flat_map(|p| host_ports(p)).collect();
    if conflicts(&mine, &running) {
        return true;
    }
    let key = admission_key(pod);
    peers.iter().filter(|p| !admitted(p) && admission_key(p) < key).any(|p| {
        let theirs = host_ports(p);
        conflicts(&mine, &theirs) && !conflicts(&theirs, &running)
    })
}
