//! Each API server's identity Lease (upstream's APIServerIdentity: `kube-system/apiserver-…`,
//! label `apiserver.kubernetes.io/identity=kube-apiserver`, 3600 s, renewed every 10 s), which
//! also carries the address the server is reached at. The `kubernetes` Service's endpoints are
//! the servers whose Lease was renewed within upstream's endpoint-reconciler TTL (15 s) — what
//! upstream's `lease` endpoint reconciler keeps in its master leases — so several servers on one
//! store agree on one endpoint set instead of overwriting each other's address.
//!
//! Upstream names the Lease after a hash of the hostname (one API server per host); berth hashes
//! the hostname and the listen address, so two servers on one host have a Lease each.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use berth_api::registry::lookup;
use berth_api::StatusError;
use berth_store::StoreError;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::objects::{self, decode, encode, list_prefix, object_key};
use crate::state::Shared;

pub const IDENTITY_LABEL: &str = "apiserver.kubernetes.io/identity";
/// Where the server is reached (`ip:port`), read by the other servers' endpoint reconcilers.
pub const ADDRESS_ANNOTATION: &str = "berth.dev/advertise-address";
const LEASE_DURATION_SECONDS: i64 = 3600;
/// Upstream's `DefaultEndpointReconcilerTTL`.
const ENDPOINT_TTL_SECONDS: i64 = 15;

/// This server's identity: the Lease name and the holder identity (`<name>_<uuid>`).
#[derive(Clone, Debug)]
pub struct Identity {
    pub name: String,
    pub holder: String,
    pub hostname: String,
}

impl Identity {
    pub fn new(listen: SocketAddr) -> Identity {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
        let mut h: u64 = 0xcbf29ce484222325;
        for b in format!("{hostname}/{listen}").bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100000001b3);
        }
        let name = format!("apiserver-{h:016x}");
        Identity { holder: format!("{name}_{}", uuid::Uuid::new_v4()), name, hostname }
    }
}

fn micro_now() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn lease(id: &Identity, address: Option<SocketAddr>) -> Value {
    let mut annotations = serde_json::Map::new();
    if let Some(a) = address {
        annotations.insert(ADDRESS_ANNOTATION.into(), json!(a.to_string()));
    }
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {
        "name": id.name, "namespace": "kube-system",
        "labels": {IDENTITY_LABEL: "kube-apiserver", "kubernetes.io/hostname": id.hostname},
        "annotations": annotations,
    }, "spec": {"holderIdentity": id.holder, "leaseDurationSeconds": LEASE_DURATION_SECONDS, "renewTime": micro_now()}})
}

fn renewed_at(lease: &Value) -> Option<DateTime<Utc>> {
    let t = lease.pointer("/spec/renewTime")?.as_str()?;
    DateTime::parse_from_rfc3339(t).ok().map(|t| t.with_timezone(&Utc))
}

/// The endpoint set every server computes alike from the identity Leases: the addresses of the
/// servers renewed within the TTL, on the port most of them share (the lowest on a tie;
/// upstream assumes one port for all servers). `None` when no server has an address yet.
pub fn endpoint_set(leases: &[Value], now: DateTime<Utc>) -> Option<(Vec<IpAddr>, u16)> {
    let mut by_port: BTreeMap<u16, Vec<IpAddr>> = BTreeMap::new();
    for l in leases {
        let fresh = renewed_at(l).is_some_and(|t| (now - t).num_seconds() < ENDPOINT_TTL_SECONDS);
        let addr = l.pointer("/metadata/annotations").and_then(|a| a.get(ADDRESS_ANNOTATION)).and_then(Value::as_str);
        if let (true, Some(Ok(addr))) = (fresh, addr.map(str::parse::<SocketAddr>)) {
            by_port.entry(addr.port()).or_default().push(addr.ip());
        }
    }
    let (port, mut ips) = by_port.into_iter().rev().max_by_key(|(_, ips)| ips.len())?;
    ips.sort();
    ips.dedup();
    Some((ips, port))
}

/// Whether an identity Lease has expired (upstream's lease GC deletes those).
fn expired(lease: &Value, now: DateTime<Utc>) -> bool {
    let duration = lease.pointer("/spec/leaseDurationSeconds").and_then(Value::as_i64).unwrap_or(LEASE_DURATION_SECONDS);
    renewed_at(lease).is_none_or(|t| (now - t).num_seconds() > duration)
}

/// Renew this server's Lease (creating it when missing), delete expired ones of other servers,
/// and return every identity Lease for [`endpoint_set`].
pub async fn renew_and_list(state: &Shared, id: &Identity, address: Option<SocketAddr>) -> Result<Vec<Value>, StatusError> {
    let info = lookup("coordination.k8s.io", "v1", "leases").expect("leases are registered");
    let key = object_key(info, Some("kube-system"), &id.name);
    let mut want = lease(id, address);
    let result = match state.store.get(&key).await.map_err(crate::state::storage_failure)? {
        None => {
            let m = objects::meta_mut(&mut want);
            m.insert("uid".into(), json!(objects::new_uid()));
            m.insert("creationTimestamp".into(), json!(objects::now_rfc3339()));
            state.store.create(&key, encode(&want)).await.map(|_| ())
        }
        Some(kv) => {
            let mut stored = decode(&kv).map_err(StatusError::internal)?;
            stored["spec"] = want["spec"].clone();
            stored["metadata"]["labels"] = want["metadata"]["labels"].clone();
            stored["metadata"]["annotations"] = want["metadata"]["annotations"].clone();
            state.store.update(&key, encode(&stored), kv.mod_revision).await.map(|_| ())
        }
    };
    match result {
        Ok(()) | Err(StoreError::AlreadyExists(_)) | Err(StoreError::Conflict { .. }) => {}
        Err(e) => return Err(crate::state::storage_failure(e)),
    }
    let listed = state.store.list(&list_prefix(info, Some("kube-system")), Default::default()).await.map_err(crate::state::storage_failure)?;
    let now = Utc::now();
    let mut leases = Vec::new();
    for kv in listed.items {
        let Ok(l) = decode(&kv) else { continue };
        if l.pointer(&format!("/metadata/labels/{}", IDENTITY_LABEL.replace('/', "~1"))).and_then(Value::as_str) != Some("kube-apiserver") {
            continue;
        }
        if expired(&l, now) {
            let _ = state.store.delete(&kv.key, Some(kv.mod_revision)).await;
            continue;
        }
        leases.push(l);
    }
    Ok(leases)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(addr: &str, renewed_secs_ago: i64, now: DateTime<Utc>) -> Value {
        let t = (now - chrono::Duration::seconds(renewed_secs_ago)).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        json!({"metadata": {"annotations": {ADDRESS_ANNOTATION: addr}}, "spec": {"renewTime": t, "leaseDurationSeconds": 3600}})
    }

    #[test]
    fn fresh_servers_on_the_common_port_are_the_endpoints() {
        let now = Utc::now();
        let leases = [at("10.0.0.2:6443", 1, now), at("10.0.0.1:6443", 3, now), at("10.0.0.3:6443", 20, now), at("10.0.0.9:7000", 0, now)];
        let (ips, port) = endpoint_set(&leases, now).unwrap();
        assert_eq!(port, 6443);
        assert_eq!(ips, vec!["10.0.0.1".parse::<IpAddr>().unwrap(), "10.0.0.2".parse().unwrap()], "sorted, the stale one left out");
        // Every server computes the same set whatever order it lists in.
        let mut reversed = leases.to_vec();
        reversed.reverse();
        assert_eq!(endpoint_set(&reversed, now), Some((ips, port)));
        // A tie goes to the lowest port.
        let tie = [at("10.0.0.1:7000", 0, now), at("10.0.0.1:6443", 0, now)];
        assert_eq!(endpoint_set(&tie, now).unwrap().1, 6443);
        assert_eq!(endpoint_set(&[at("10.0.0.1:6443", 60, now)], now), None);
    }

    #[test]
    fn identity_leases_expire_after_their_duration() {
        let now = Utc::now();
        assert!(!expired(&at("10.0.0.1:6443", 60, now), now));
        assert!(expired(&at("10.0.0.1:6443", 3601, now), now));
        assert!(Identity::new("127.0.0.1:6443".parse().unwrap()).name != Identity::new("127.0.0.1:6444".parse().unwrap()).name);
    }
}
