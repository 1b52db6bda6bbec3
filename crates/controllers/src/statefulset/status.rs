//! `.status` (`computeReplicaStatus`, `updateStatus`, `completeRollingUpdate`,
//! `inconsistentStatus`).

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::Pod;

use super::identity::{pod_revision, replicas};
use super::podstate::{is_available, is_created, is_running_and_ready, is_terminating};

/// The status skeleton of one sync: generation, revisions, collision count. Conditions are
/// carried over untouched: the controller owns none of them. (Upstream builds a fresh status
/// and would drop conditions on its next write; berth keeps what users and tools wrote.)
pub fn skeleton(set: &StatefulSet, current: &str, update: &str, collision_count: i32) -> StatefulSetStatus {
    StatefulSetStatus {
        observed_generation: Some(set.metadata.generation.unwrap_or(0)),
        current_revision: Some(current.to_string()),
        update_revision: Some(update.to_string()),
        collision_count: Some(collision_count),
        conditions: set.status.as_ref().and_then(|s| s.conditions.clone()),
        ..StatefulSetStatus::default()
    }
}

/// `updateStatus`: recount replicas, ready, available, current and updated over `pods`.
/// Synthesised (not yet created) pods count nowhere; terminating pods count as replicas and
/// ready but not as current/updated.
pub fn count<'a>(
    status: &mut StatefulSetStatus,
    pods: impl IntoIterator<Item = &'a Pod>,
    min_ready_seconds: i32,
    now: DateTime<Utc>,
) {
    let (current, update) = (status.current_revision.clone().unwrap_or_default(), status.update_revision.clone().unwrap_or_default());
    let (mut replicas, mut ready, mut available, mut cur, mut upd) = (0, 0, 0, 0, 0);
    for pod in pods {
        if is_created(pod) {
            replicas += 1;
        }
        if is_running_and_ready(pod) {
            ready += 1;
            if is_available(pod, min_ready_seconds, now) {
                available += 1;
            }
        }
        if is_created(pod) && !is_terminating(pod) {
            let rev = pod_revision(pod);
            if rev == current {
                cur += 1;
            }
            if rev == update {
                upd += 1;
            }
        }
    }
    status.replicas = replicas;
    status.ready_replicas = Some(ready);
    status.available_replicas = Some(available);
    status.current_replicas = Some(cur);
    status.updated_replicas = Some(upd);
}

/// `completeRollingUpdate`: once every replica is updated and ready, the update revision
/// becomes current (the update revision stays named as well).
pub fn complete_rolling_update(set: &StatefulSet, status: &mut StatefulSetStatus) {
    let rolling = set
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.as_deref())
        == Some("RollingUpdate");
    let want = replicas(set);
    if rolling
        && status.updated_replicas.unwrap_or(0) == want
        && status.ready_replicas.unwrap_or(0) == want
        && status.replicas == want
    {
        status.current_replicas = status.updated_replicas;
        status.current_revision = status.update_revision.clone();
    }
}

/// `inconsistentStatus`: a write is needed when the generation advanced or a counter or
/// revision name differs. Collision count and conditions alone never cause a write.
pub fn inconsistent(set: &StatefulSet, status: &StatefulSetStatus) -> bool {
    let old = set.status.clone().unwrap_or_default();
    let n = |v: Option<i32>| v.unwrap_or(0);
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    status.observed_generation.unwrap_or(0) > old.observed_generation.unwrap_or(0)
        || status.replicas != old.replicas
        || n(status.current_replicas) != n(old.current_replicas)
        || n(status.ready_replicas) != n(old.ready_replicas)
        || n(status.updated_replicas) != n(old.updated_replicas)
        || s(&status.current_revision) != s(&old.current_revision)
        || n(status.available_replicas) != n(old.available_replicas)
        || s(&status.update_revision) != s(&old.update_revision)
}
