//! The node's heartbeat Lease `kube-node-lease/<node>`, renewed like upstream's node lease
//! controller (`staging/src/k8s.io/component-helpers/apimachinery/lease/controller.go`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, PostParams};

use super::Backoff;
use crate::simulated::lease;

/// A quarter of the lease duration (40 s), as the kubelet renews.
pub const LEASE_RENEW_INTERVAL: Duration = Duration::from_secs(10);

/// Create or renew the Lease every quarter of `duration_seconds` (`LEASE_RENEW_INTERVAL` for
/// the default 40 s); after a failure retry with
/// back-off (200 ms doubling to 7 s, upstream's `maxBackoff`), re-reading the Lease. Never
/// returns.
pub(super) async fn keep_lease_renewed(leases: &Api<Lease>, node_name: &str, owner: Option<OwnerReference>, duration_seconds: i32) {
    let interval = Duration::from_millis(duration_seconds.max(1) as u64 * 250);
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(7));
    // The Lease as last written; renewals PUT it with a new renewTime without reading first.
    let mut latest: Option<Lease> = None;
    loop {
        match renew(leases, node_name, owner.as_ref(), latest.take(), duration_seconds).await {
            Ok(l) => {
                latest = Some(l);
                backoff.reset();
                tokio::time::sleep(interval).await;
            }
            Err(e) => {
                let wait = backoff.next();
                tracing::warn!(node = %node_name, error = %e, ?wait, "renewing node lease failed");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

async fn renew(
    leases: &Api<Lease>,
    node_name: &str,
    owner: Option<&OwnerReference>,
    latest: Option<Lease>,
    duration_seconds: i32,
) -> Result<Lease, kube::Error> {
    let pp = PostParams::default();
    let current = match latest {
        Some(l) => l,
        None => match leases.get_opt(node_name).await? {
            Some(l) => l,
            None => {
                let mut new = lease(node_name, node_name, Utc::now());
                new.metadata.owner_references = owner.map(|o| vec![o.clone()]);
                if let Some(spec) = new.spec.as_mut() {
                    spec.lease_duration_seconds = Some(duration_seconds);
                }
                return leases.create(&pp, &new).await;
            }
        },
    };
    let mut l = renewed(current, node_name, owner, Utc::now());
    if let Some(spec) = l.spec.as_mut() {
        spec.lease_duration_seconds = Some(duration_seconds);
    }
    leases.replace(node_name, &pp, &l).await
}

/// `current` renewed at `now`: this node holds it, with the kubelet's duration and a new
/// renewTime. The owner reference is added if the Lease has none (upstream
/// `setNodeOwnerFunc`); other fields (acquireTime, labels, …) are kept.
pub(super) fn renewed(current: Lease, node_name: &str, owner: Option<&OwnerReference>, now: DateTime<Utc>) -> Lease {
    let fresh = lease(node_name, node_name, now).spec.unwrap_or_default();
    let mut l = current;
    let spec = l.spec.get_or_insert_with(Default::default);
    spec.holder_identity = fresh.holder_identity;
    spec.lease_duration_seconds = fresh.lease_duration_seconds;
    spec.renew_time = fresh.renew_time;
    if l.metadata.owner_references.as_ref().is_none_or(|o| o.is_empty()) {
        l.metadata.owner_references = owner.map(|o| vec![o.clone()]);
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulated::time::micro_time;

    fn owner() -> OwnerReference {
        OwnerReference { api_version: "v1".into(), kind: "Node".into(), name: "sim-1".into(), uid: "u1".into(), ..Default::default() }
    }

    #[test]
    fn renewal_moves_renew_time_and_adds_the_owner() {
        let t0: DateTime<Utc> = "2025-01-01T00:00:00Z".parse().unwrap();
        let t1 = t0 + chrono::Duration::milliseconds(10_250);
        let mut old = lease("sim-1", "someone-else", t0);
        old.metadata.resource_version = Some("5".into());
        let r = renewed(old, "sim-1", Some(&owner()), t1);
        let spec = r.spec.as_ref().unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("sim-1"));
        assert_eq!(spec.renew_time, Some(micro_time(t1)));
        assert_eq!(spec.lease_duration_seconds, Some(40));
        assert_eq!(r.metadata.resource_version.as_deref(), Some("5"));
        assert_eq!(r.metadata.owner_references, Some(vec![owner()]));
    }

    #[test]
    fn an_existing_owner_reference_is_kept() {
        let t0: DateTime<Utc> = "2025-01-01T00:00:00Z".parse().unwrap();
        let mut old = lease("sim-1", "sim-1", t0);
        let other = OwnerReference { uid: "older".into(), ..owner() };
        old.metadata.owner_references = Some(vec![other.clone()]);
        let r = renewed(old, "sim-1", Some(&owner()), t0);
        assert_eq!(r.metadata.owner_references, Some(vec![other]));
    }
}
