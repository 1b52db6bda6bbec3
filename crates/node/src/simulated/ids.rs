//! Deterministic identifiers: container IDs, image references and digests, pod IPs, and the
//! node's machine/boot IDs. Deterministic so that re-deriving a status gives identical bytes
//! (no spurious writes) and test expectations are stable.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Pod;

use super::config::PodCidr;

/// FNV-1a, 64 bit: small, stable across Rust versions and platforms (unlike `DefaultHasher`).
pub fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0u8)) {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h
}

/// `n` hex digits derived from `parts` (n ≤ 64).
pub fn hex_id(parts: &[&str], n: usize) -> String {
    let mut out = String::with_capacity(64);
    for round in 0..4u8 {
        let salt = round.to_string();
        let mut all: Vec<&str> = parts.to_vec();
        all.push(&salt);
        out.push_str(&format!("{:016x}", fnv1a(&all)));
    }
    out.truncate(n);
    out
}

pub const RUNTIME_SCHEME: &str = "berth-sim";

/// `berth-sim://<64 hex>`, distinct per pod uid, container and restart.
pub fn container_id(pod_uid: &str, container: &str, restart_count: i32) -> String {
    format!("{RUNTIME_SCHEME}://{}", hex_id(&[pod_uid, container, &restart_count.to_string()], 64))
}

/// The fully qualified reference a CRI runtime reports for an image:
/// `nginx` → `docker.io/library/nginx:latest`, `luksa/kubia` → `docker.io/luksa/kubia:latest`.
pub fn normalize_image(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let first = name.split('/').next().unwrap_or("");
    let has_domain = name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let mut full = if has_domain {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    let last = full.rsplit('/').next().unwrap_or("");
    if digest.is_none() && !last.contains(':') {
        full.push_str(":latest");
    }
    if let Some(d) = digest {
        full.push('@');
        full.push_str(d);
    }
    full
}

/// `imageID` as a runtime reports it: `<repository>@sha256:<digest>`. The digest is
/// synthetic (a hash of the reference) since no image is ever pulled.
pub fn image_id(image: &str) -> String {
    let full = normalize_image(image);
    if full.contains("@sha256:") {
        return full;
    }
    let repo = match full.rfind(':') {
        Some(i) if i > full.rfind('/').unwrap_or(0) => &full[..i],
        _ => &full[..],
    };
    format!("{repo}@sha256:{}", hex_id(&[&full], 64))
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

/// Picks a pod IP: the uid hashed into the CIDR, then the next free address, skipping IPs
/// that other non-terminal pods on the node already hold. `None` if the range is full.
pub fn allocate_pod_ip(cidr: &PodCidr, pod_uid: &str, others: &[Pod]) -> Option<Ipv4Addr> {
    let used: BTreeSet<Ipv4Addr> = others
        .iter()
        .filter(|p| p.metadata.uid.as_deref() != Some(pod_uid) && !is_terminal(p))
        .filter_map(|p| p.status.as_ref()?.pod_ip.as_deref()?.parse::<Ipv4Addr>().ok())
        .collect();
    let n = cidr.pod_address_count();
    let start = (fnv1a(&[pod_uid]) % n as u64) as u32;
    (0..n).map(|i| cidr.pod_address((start + i) % n)).find(|ip| !used.contains(ip))
}

/// A stable 32-hex machine-id for a node name (like /etc/machine-id).
pub fn machine_id(node: &str) -> String {
    hex_id(&["machine-id", node], 32)
}

/// A stable UUID-shaped id.
pub fn uuid_like(parts: &[&str]) -> String {
    let h = hex_id(parts, 32);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}
