//! The NodePorts filter: host ports the pod wants must be free on the node
//! (`nodeports` plugin, `HostPortInfo.CheckConflict`).

use k8s_openapi::api::core::v1::Pod;

pub const ERR_REASON_PORTS: &str = "node(s) didn't have free ports for the requested pod ports";

const BIND_ALL: &str = "0.0.0.0";

/// A host port in use or wanted: (host IP, protocol, port), with upstream's defaults applied
/// (empty IP → 0.0.0.0, empty protocol → TCP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub ip: String,
    pub protocol: String,
    pub port: i32,
}

/// Host ports of the pod's containers and of its sidecars (restartable init containers, which
/// keep running beside the app containers).
pub fn host_ports(pod: &Pod) -> Vec<HostPort> {
    let Some(spec) = pod.spec.as_ref() else { return Vec::new() };
    let sidecars = spec.init_containers.iter().flatten().filter(|c| c.restart_policy.as_deref() == Some("Always"));
    spec.containers
        .iter()
        .chain(sidecars)
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let port = p.host_port.filter(|hp| *hp > 0)?;
            let ip = p.host_ip.as_deref().filter(|s| !s.is_empty()).unwrap_or(BIND_ALL).to_string();
            let protocol = p.protocol.as_deref().filter(|s| !s.is_empty()).unwrap_or("TCP").to_string();
            Some(HostPort { ip, protocol, port })
        })
        .collect()
}

/// Whether `want` collides with a port in `used`: same protocol and port, and either side binds
/// every address or both bind the same one.
pub fn conflicts(used: &[HostPort], want: &HostPort) -> bool {
    used.iter().any(|u| {
        u.protocol == want.protocol && u.port == want.port && (want.ip == BIND_ALL || u.ip == BIND_ALL || u.ip == want.ip)
    })
}
