//! berth's automatic failover (opt-in, `--auto-failover-after F --auto-failover-margin M`),
//! the IO half; the decision is [`super::failover_due`].
//!
//! Safety argument (README, "Automatic failover"): the node's agent records when it *sent*
//! each Lease renewal that succeeded, and every pod's sandbox watchdog kills the pod's
//! containers once F has passed since then on the node's monotonic clock — whether or not the
//! agent runs. The controller fences a node only when it has seen no renewal for F + M by its
//! own clock, and only through a resourceVersion-checked write of the Lease it last saw: if
//! the node renewed in between, the write fails and nothing happens. After a successful fence
//! no renewal can succeed (the agent refuses to take a fenced Lease back until its own
//! watchdogs have fired), so the last renewal the node knows of is the last one the
//! controller saw, and its pods died before `seen + F + watchdog poll`. Only then are the
//! node's StatefulSet pods force-deleted and recreated elsewhere.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use kube::ResourceExt;

use super::{Health, FENCED_ANNOTATION, REASON_FAILOVER};
use crate::nodelifecycle::runner::pod_ref;
use crate::tainteviction::with_disruption_target;
use berth_runtime::{EventRecorder, EventType};

pub enum Fence {
    /// The node renewed after all (or has no Lease): no failover.
    Renewed,
    /// Fenced now or earlier: its StatefulSet pods may go.
    Fenced,
}

/// Fence the node's Lease unless it moved since the controller last saw it.
pub async fn fence(client: &kube::Client, node: &str, health: &Health) -> Result<Fence, String> {
    let api: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let Some(mut lease) = api.get_opt(node).await.map_err(|e| e.to_string())? else { return Ok(Fence::Renewed) };
    if lease.annotations().contains_key(FENCED_ANNOTATION) {
        return Ok(Fence::Fenced);
    }
    let renew = lease.spec.as_ref().and_then(|s| s.renew_time.as_ref()).map(|t| t.0.to_string());
    if renew != health.lease_renew {
        return Ok(Fence::Renewed);
    }
    lease.annotations_mut().insert(FENCED_ANNOTATION.into(), chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    // The Lease as read carries its resourceVersion: a renewal in between makes this a 409.
    match api.replace(node, &PostParams::default(), &lease).await {
        Ok(_) => Ok(Fence::Fenced),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(Fence::Renewed),
        Err(e) => Err(e.to_string()),
    }
}

/// Force-delete `pods` (the fenced node's StatefulSet pods) with the DisruptionTarget
/// condition and an event each.
pub async fn delete_pods(client: &kube::Client, recorder: &EventRecorder, node: &Node, pods: &[&Pod], silent_for: &str) -> Result<(), String> {
    for pod in pods {
        let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace().unwrap_or_default());
        let key = format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any());
        let message = format!("Node {} fenced after {silent_for} without heartbeat: deleting Pod {key}", node.name_any());
        recorder.record(pod_ref(pod), EventType::Warning, "AutoFailover", &message);
        if let Some(cs) = with_disruption_target(pod, REASON_FAILOVER, &message, chrono::Utc::now()) {
            let mut p = (*pod).clone();
            p.status.get_or_insert_with(Default::default).conditions = Some(cs);
            match api.replace_status(&pod.name_any(), &PostParams::default(), &p).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => continue,
                // A status conflict must not stop the failover; the delete is what counts.
                Err(e) => tracing::debug!(pod = %key, error = %e, "failover: DisruptionTarget not written"),
            }
        }
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: pod.uid().map(|uid| kube::api::Preconditions { uid: Some(uid), resource_version: None }),
            ..Default::default()
        };
        match api.delete(&pod.name_any(), &dp).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}
