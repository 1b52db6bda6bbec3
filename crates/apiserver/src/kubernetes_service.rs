//! upstream's "kubernetes service controller" in the API server
//! (pkg/controlplane/controller/kubernetesservice): the `kubernetes` Service in `default`
//! (ClusterIP 10.96.0.1, port 443 `https`) and its Endpoints and EndpointSlice pointing at
//! the API server,
//! created at start-up and restored every [`INTERVAL`] if deleted or changed.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use berth_api::registry::lookup;
use berth_api::StatusError;
use berth_store::StoreError;
use serde_json::{json, Value};

use crate::identity_lease;
use crate::objects::{self, decode, encode, object_key};
use crate::state::Shared;
use crate::strategy;

pub const SERVICE_IP: &str = "10.96.0.1";
const INTERVAL: Duration = Duration::from_secs(10);

/// The address pods should reach the API server at: the listen address if it is a specific
/// non-loopback one, else the host address the kernel routes the service network from (a UDP
/// connect sends no packet). `None` when the host has no such address: Endpoints may not hold
/// loopback addresses.
pub fn advertise_address(listen: SocketAddr) -> Option<IpAddr> {
    let ip = listen.ip();
    if !ip.is_unspecified() && !ip.is_loopback() {
        return Some(ip);
    }
    let s = UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect((SERVICE_IP, 443)).ok()?;
    Some(s.local_addr().ok()?.ip()).filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
}

/// The Service; `target_port` is the API server's own port (upstream's secure port).
pub fn service(target_port: u16) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {
        "name": "kubernetes", "namespace": "default",
        "labels": {"component": "apiserver", "provider": "kubernetes"},
    }, "spec": {
        "type": "ClusterIP",
        "clusterIP": SERVICE_IP,
        "clusterIPs": [SERVICE_IP],
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "sessionAffinity": "None",
        "internalTrafficPolicy": "Cluster",
        "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": target_port}],
    }})
}

pub fn endpoints(ips: &[IpAddr], port: u16) -> Value {
    let addresses: Vec<Value> = ips.iter().map(|ip| json!({"ip": ip.to_string()})).collect();
    json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {
        "name": "kubernetes", "namespace": "default",
        "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
    }, "subsets": [{"addresses": addresses, "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]})
}

/// The EndpointSlice upstream's reconciler writes next to the Endpoints (service proxies read
/// slices; the EndpointSlice controller leaves selector-less services alone).
pub fn endpoint_slice(ips: &[IpAddr], port: u16) -> Value {
    let endpoints: Vec<Value> = ips.iter().map(|ip| json!({"addresses": [ip.to_string()], "conditions": {"ready": true}})).collect();
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {
        "name": "kubernetes", "namespace": "default",
        "labels": {"kubernetes.io/service-name": "kubernetes"},
    }, "addressType": "IPv4",
    "endpoints": endpoints,
    "ports": [{"name": "https", "port": port, "protocol": "TCP"}]})
}

/// Whether the stored object still has what matters (the fields [`service`]/[`endpoints`] set).
fn matches(stored: &Value, want: &Value) -> bool {
    let spec_ok = |k: &str| want.get(k).is_none_or(|w| stored.get(k) == Some(w));
    match want.get("spec") {
        Some(w) => ["clusterIP", "ports", "type"].iter().all(|k| stored.pointer(&format!("/spec/{k}")) == w.get(*k)),
        None => ["subsets", "endpoints", "ports"].iter().all(|k| spec_ok(k)),
    }
}

/// Create or restore one object by writing the store directly, as the API server itself does.
async fn ensure(state: &Shared, group: &str, version: &str, plural: &str, mut want: Value) -> Result<(), StatusError> {
    let info = lookup(group, version, plural).expect("the kubernetes service's kinds are registered");
    let key = object_key(info, Some("default"), "kubernetes");
    berth_api::defaults::apply_defaults(group, info.kind, &mut want);
    let current = state.store.get(&key).await.map_err(crate::state::storage_failure)?;
    let result = match current {
        None => {
            let m = objects::meta_mut(&mut want);
            m.insert("uid".into(), json!(objects::new_uid()));
            m.insert("creationTimestamp".into(), json!(objects::now_rfc3339()));
            strategy::prepare_for_create(info, &mut want);
            state.store.create(&key, encode(&want)).await.map(|_| ())
        }
        Some(kv) => {
            let stored = decode(&kv).map_err(StatusError::internal)?;
            if matches(&stored, &want) {
                return Ok(());
            }
            let mut fixed = stored.clone();
            for k in ["spec", "subsets", "endpoints", "ports"] {
                if let Some(v) = want.get(k) {
                    fixed[k] = v.clone();
                }
            }
            // Keep the allocated nodePorts etc. out of it: only a ClusterIP Service is written.
            objects::meta_mut(&mut fixed).remove("resourceVersion");
            state.store.update(&key, encode(&fixed), kv.mod_revision).await.map(|_| ())
        }
    };
    match result {
        Ok(()) | Err(StoreError::AlreadyExists(_)) | Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(crate::state::storage_failure(e)),
    }
}

/// Keep the `kubernetes` Service and Endpoints in place for ever. This server's address is the
/// advertised one ([`crate::RunningServer::advertise`]) once there is one, else
/// [`advertise_address`] and the listen port; it goes into this server's identity Lease, and
/// the endpoints are every live server's ([`identity_lease::endpoint_set`]).
pub async fn run(state: Shared, listen: SocketAddr) {
    let derived = advertise_address(listen).map(|ip| SocketAddr::new(ip, listen.port()));
    if derived.is_none() {
        tracing::warn!("no non-loopback address to advertise; the kubernetes Endpoints wait for one");
    }
    let identity = identity_lease::Identity::new(listen);
    let mut advertised = state.advertised.subscribe();
    loop {
        let target = advertised.borrow_and_update().or(derived);
        let port = target.map_or(listen.port(), |t| t.port());
        if let Err(e) = ensure(&state, "", "v1", "services", service(port)).await {
            tracing::warn!(error = %e, "reconciling the kubernetes Service");
        }
        match identity_lease::renew_and_list(&state, &identity, target).await {
            Ok(leases) => {
                if let Some((ips, port)) = identity_lease::endpoint_set(&leases, chrono::Utc::now()) {
                    if let Err(e) = ensure(&state, "", "v1", "endpoints", endpoints(&ips, port)).await {
                        tracing::warn!(error = %e, "reconciling the kubernetes Endpoints");
                    }
                    let slice = endpoint_slice(&ips, port);
                    if let Err(e) = ensure(&state, "discovery.k8s.io", "v1", "endpointslices", slice).await {
                        tracing::warn!(error = %e, "reconciling the kubernetes EndpointSlice");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "renewing the API server's identity lease"),
        }
        // Again after the interval, or at once when the advertised address changes.
        let _ = tokio::time::timeout(INTERVAL, advertised.changed()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_drift_detection() {
        let s = service(6443);
        assert_eq!(s["spec"]["ports"][0], json!({"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}));
        assert!(matches(&s, &service(6443)));
        let mut changed = s.clone();
        changed["spec"]["ports"][0]["port"] = json!(8443);
        assert!(!matches(&changed, &service(6443)));
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        let e = endpoints(&[ip("10.0.0.5")], 6443);
        assert_eq!(e["subsets"][0]["addresses"][0]["ip"], "10.0.0.5");
        assert!(matches(&e, &e.clone()));
        assert!(!matches(&endpoints(&[ip("10.0.0.6")], 6443), &e));
        assert!(!matches(&endpoints(&[ip("10.0.0.5"), ip("10.0.0.6")], 6443), &e));
        let s = endpoint_slice(&[ip("10.0.0.5")], 6443);
        assert!(matches(&s, &s.clone()));
        assert!(!matches(&endpoint_slice(&[ip("10.0.0.5")], 7443), &s));
    }

    #[test]
    fn a_specific_listen_address_is_advertised() {
        assert_eq!(advertise_address("10.1.2.3:6443".parse().unwrap()), Some("10.1.2.3".parse().unwrap()));
        if let Some(ip) = advertise_address("127.0.0.1:6443".parse().unwrap()) {
            assert!(!ip.is_loopback());
        }
    }
}
