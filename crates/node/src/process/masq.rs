//! Masquerading of pod traffic leaving the cluster network (flannel's `--ip-masq`): packets
//! from this node's pod CIDR to anything outside the cluster CIDR (the API server, the
//! cluster DNS on the server host, the outside world) leave with the host's address, so the
//! replies find their way back without routes to pod CIDRs there. Pod-to-pod traffic (inside
//! the cluster CIDR) is not translated: the receiving pod sees the sender's pod IP.
//!
//! The rule lives in an nftables table of its own (`ip berth-masq-<id>`, id derived from the
//! agent's state dir), replaced as a whole with `nft -f -` and deleted when the agent stops.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::simulated::ids::hex_id;
use crate::simulated::PodCidr;

pub fn table_name(state_dir: &std::path::Path) -> String {
    format!("berth-masq-{}", hex_id(&[&state_dir.to_string_lossy()], 8))
}

/// The table's full text (pure). Declaring the table and deleting it first makes applying it
/// idempotent in one transaction, whatever an earlier run left.
pub fn ruleset(table: &str, pod_cidr: PodCidr, cluster_cidr: PodCidr) -> String {
    format!(
        "table ip {table}\ndelete table ip {table}\ntable ip {table} {{\n  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;\n    ip saddr {pod_cidr} ip daddr != {cluster_cidr} masquerade\n  }}\n}}\n"
    )
}

fn nft(text: &str) -> Result<(), String> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running nft: {e} (apt-get install nftables)"))?;
    child.stdin.take().expect("piped").write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("nft: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

pub fn install(table: &str, pod_cidr: PodCidr, cluster_cidr: PodCidr) -> Result<(), String> {
    nft(&ruleset(table, pod_cidr, cluster_cidr))
}

pub fn remove(table: &str) {
    let _ = nft(&format!("table ip {table}\ndelete table ip {table}\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masquerades_pod_traffic_leaving_the_cluster_cidr_only() {
        let text = ruleset("berth-masq-x", PodCidr::parse("10.243.1.0/24").unwrap(), PodCidr::parse("10.243.0.0/16").unwrap());
        assert!(text.contains("ip saddr 10.243.1.0/24 ip daddr != 10.243.0.0/16 masquerade"), "{text}");
        assert!(text.starts_with("table ip berth-masq-x\ndelete table ip berth-masq-x\n"));
        assert!(table_name(std::path::Path::new("/a")).len() <= 32);
    }
}
