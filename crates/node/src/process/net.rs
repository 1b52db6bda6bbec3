//! Pod networking: one bridge per node holding the gateway (first address of the pod CIDR),
//! one veth pair per pod (host end on the bridge, `eth0` in the pod's network namespace).
//! The host reaches every pod through the bridge's connected route. Links are configured
//! with iproute2's `ip` (kept behind this one module); commands for the pod's side run inside
//! its network namespace (setns before exec). A pod's veth disappears with its namespace.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

use tokio::process::Command;

use crate::simulated::ids::hex_id;

/// Interface names are at most 15 bytes (IFNAMSIZ - 1).
pub fn bridge_name(state_dir: &std::path::Path) -> String {
    format!("berth{}", hex_id(&[&state_dir.to_string_lossy()], 8))
}

pub fn host_veth_name(pod_uid: &str) -> String {
    format!("vb{}", hex_id(&[pod_uid], 12))
}

async fn ip(args: &[&str], netns_of: Option<i32>, stdin: Option<&str>) -> Result<(), String> {
    let mut cmd = Command::new("ip");
    cmd.args(args).kill_on_drop(true);
    if let Some(pid) = netns_of {
        let f = std::fs::File::open(format!("/proc/{pid}/ns/net")).map_err(|e| format!("pod network namespace: {e}"))?;
        let fd = f.as_raw_fd();
        // SAFETY: setns on an fd opened before fork; no allocation in the child.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        return run(cmd, args, stdin).await.map(|_| drop(f));
    }
    run(cmd, args, stdin).await
}

async fn run(mut cmd: Command, args: &[&str], stdin: Option<&str>) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    cmd.stdin(if stdin.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() });
    cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("running ip (is iproute2 installed?): {e}"))?;
    if let (Some(input), Some(mut si)) = (stdin, child.stdin.take()) {
        si.write_all(input.as_bytes()).await.map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().await.map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Create (or keep) the node's bridge with the gateway address, up.
pub async fn ensure_bridge(bridge: &str, gateway: Ipv4Addr, prefix: u8) -> Result<(), String> {
    if ip(&["link", "show", "dev", bridge], None, None).await.is_err() {
        ip(&["link", "add", "name", bridge, "type", "bridge"], None, None).await?;
    }
    ip(&["addr", "replace", &format!("{gateway}/{prefix}"), "dev", bridge], None, None).await?;
    // Forward what pods send to other nodes' pods and to service IPs DNAT'd back out (IPv4
    // decides by the ingress device): per bridge, so the host's `ip_forward` stays as it was
    // and the setting goes away with the bridge.
    let sysctl = format!("/proc/sys/net/ipv4/conf/{bridge}/forwarding");
    std::fs::write(&sysctl, "1").map_err(|e| format!("enabling forwarding on {bridge} ({sysctl}): {e}"))?;
    ip(&["link", "set", "dev", bridge, "up"], None, None).await
}

pub async fn delete_link(name: &str) {
    let _ = ip(&["link", "del", "dev", name], None, None).await;
}

/// Give the pod held by `sandbox_pid` its `eth0` with `pod_ip`, plugged into `bridge`, and a
/// default route through the gateway.
pub async fn attach_pod(bridge: &str, pod_uid: &str, sandbox_pid: i32, pod_ip: Ipv4Addr, prefix: u8, gateway: Ipv4Addr) -> Result<(), String> {
    let host = host_veth_name(pod_uid);
    // A leftover from an interrupted attempt would make `add` fail.
    delete_link(&host).await;
    let pid = sandbox_pid.to_string();
    // One `ip` process for the host side (a batch stops at its first failing line). Hairpin
    // (kubelet's `--hairpin-mode=hairpin-veth`): with `br_netfilter`, a pod's packet to a
    // ClusterIP is DNATed at the bridge, and when the endpoint is the pod itself the frame must
    // leave through the port it came in on, which a bridge refuses by default.
    let host_side = format!(
        "link add name {host} type veth peer name eth0 netns {pid}\nlink set dev {host} master {bridge} up\nlink set dev {host} type bridge_slave hairpin on\n"
    );
    ip(&["-batch", "-"], None, Some(&host_side)).await?;
    // The address may have belonged to a pod that just went away: forget its MAC, or the host
    // keeps sending to it until the neighbour entry goes stale (seconds).
    let _ = ip(&["neigh", "flush", "to", &pod_ip.to_string(), "dev", bridge], None, None).await;
    let batch = format!(
        "link set dev lo up\naddr add {pod_ip}/{prefix} dev eth0\nlink set dev eth0 up\nroute add default via {gateway} dev eth0\n"
    );
    ip(&["-batch", "-"], Some(sandbox_pid), Some(&batch)).await
}

/// `ip link del` without an async runtime (teardown paths that must not be cancelled).
pub fn delete_link_blocking(name: &str) {
    let _ = std::process::Command::new("ip")
        .args(["link", "del", "dev", name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_ifnamsiz_and_differ() {
        let a = bridge_name(std::path::Path::new("/tmp/a/nodes/node-1"));
        let b = bridge_name(std::path::Path::new("/tmp/a/nodes/node-2"));
        assert!(a.len() <= 15 && b.len() <= 15 && a != b);
        let v = host_veth_name("0b7c3d1e-uid");
        assert!(v.len() <= 15 && v.starts_with("vb"));
    }
}

