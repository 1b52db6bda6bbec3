//! The node's heartbeat Lease `kube-node-lease/<node>`, renewed like upstream's node lease
//! controller (`staging/src/k8s.io/component-helpers/apimachinery/lease/controller.go`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, PostParams};

use super::Backoff;
use crate::process::fence::{self, Heartbeat};
use crate::simulated::{lease, SelfFence};

/// The annotation the control plane's failover puts on a silent node's Lease (a
/// resourceVersion-checked write) before it force-deletes the node's StatefulSet pods; the
/// same name as `berth_controllers::nodelifecycle::FENCED_ANNOTATION`.
pub const FENCED_ANNOTATION: &str = "node.berth.dev/fenced-at";

enum RenewError {
    Api(kube::Error),
    /// The Lease is fenced and this node's pods may still be alive: don't renew yet.
    Fenced,
}

impl std::fmt::Display for RenewError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RenewError::Api(e) => e.fmt(f),
            RenewError::Fenced => f.write_str("the Lease is fenced; waiting for the pod watchdogs to have fired"),
        }
    }
}

impl From<kube::Error> for RenewError {
    fn from(e: kube::Error) -> Self {
        RenewError::Api(e)
    }
}

fn is_fenced(l: &Lease) -> bool {
    l.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(FENCED_ANNOTATION))
}

/// May a fenced Lease be taken back? Only once this node's watchdogs have surely killed its
/// pods: the heartbeat on disk expired (plus two watchdog polls), or there is none.
fn fenced_pods_dead(f: Option<&SelfFence>) -> bool {
    let Some(f) = f else { return true };
    match fence::read(&f.state_dir) {
        None => true,
        Some(hb) => hb.expired(fence::boottime_ms().saturating_sub(2 * fence::WATCHDOG_POLL.as_millis() as u64)),
    }
}

/// A quarter of the lease duration (40 s), as the kubelet renews.
pub const LEASE_RENEW_INTERVAL: Duration = Duration::from_secs(10);

/// Create or renew the Lease every quarter of `duration_seconds` (`LEASE_RENEW_INTERVAL` for
/// the default 40 s); after a failure retry with
/// back-off (200 ms doubling to 7 s, upstream's `maxBackoff`), re-reading the Lease. Never
/// returns.
pub(super) async fn keep_lease_renewed(leases: &Api<Lease>, node_name: &str, owner: Option<OwnerReference>, duration_seconds: i32, self_fence: Option<&SelfFence>) {
    let interval = Duration::from_millis(duration_seconds.max(1) as u64 * 250);
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(7));
    // The Lease as last written; renewals PUT it with a new renewTime without reading first.
    let mut latest: Option<Lease> = None;
    loop {
        // Sent-time, not response-time: the watchdog deadline must not start after the API
        // server accepted the renewal.
        let sent = fence::boottime_ms();
        match renew(leases, node_name, owner.as_ref(), latest.take(), duration_seconds, self_fence).await {
            Ok(l) => {
                if let Some(f) = self_fence {
                    let hb = Heartbeat { sent_ms: sent, period_ms: f.period.as_millis() as u64 };
                    if let Err(e) = fence::write(&f.state_dir, hb) {
                        tracing::warn!(error = %e, "writing the heartbeat file failed");
                    }
                }
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
    self_fence: Option<&SelfFence>,
) -> Result<Lease, RenewError> {
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
                return Ok(leases.create(&pp, &new).await?);
            }
        },
    };
    let mut l = renewed(current, node_name, owner, Utc::now());
    if is_fenced(&l) {
        // The control plane failed this node over. Take the Lease back only once the pods
        // are dead; the agent then kills those the API no longer has and restarts the rest.
        if !fenced_pods_dead(self_fence) {
            return Err(RenewError::Fenced);
        }
        tracing::warn!(node = %node_name, "taking back a fenced Lease: this node was failed over");
        if let Some(a) = l.metadata.annotations.as_mut() {
            a.remove(FENCED_ANNOTATION);
        }
        if l.metadata.annotations.as_ref().is_some_and(|a| a.is_empty()) {
            l.metadata.annotations = None;
        }
    }
    if let Some(spec) = l.spec.as_mut() {
        spec.lease_duration_seconds = Some(duration_seconds);
    }
    Ok(leases.replace(node_name, &pp, &l).await?)
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
