//! `updateStatefulSet`: sort pods into replicas and condemned, bring every replica into
//! existence and shape (OrderedReady one at a time, Parallel all at once), scale down from the
//! highest ordinal, then roll out the update revision.

use std::borrow::Cow;
use std::collections::HashSet;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::Pod;

use super::claims::pod_claim_is_stale;
use super::identity::{
    end_ordinal, identity_matches, in_ordinal_range, new_statefulset_pod, ordinal, replicas, set_pod_revision,
    start_ordinal, storage_matches,
};
use super::plan::{DeleteReason, Step};
use super::podcontrol::{
    claims_match_retention_policy, create_missing_claims, create_stateful_pod, delete_stateful_pod,
    update_pod_claims_for_retention, update_stateful_pod, ClaimView,
};
use super::podstate::{
    is_available, is_created, is_failed, is_healthy, is_pending, is_running_and_ready, is_succeeded, is_terminating,
};
use super::{status, update};

/// Inputs shared by the per-pod decisions of one sync.
pub struct Control<'a> {
    pub set: &'a StatefulSet,
    /// The set with its template restored from the current / update revision.
    pub current_set: StatefulSet,
    pub update_set: StatefulSet,
    pub current: &'a ControllerRevision,
    pub update: &'a ControllerRevision,
    pub now: DateTime<Utc>,
    pub min_ready_seconds: i32,
    pub monotonic: bool,
    pub collision_count: i32,
    /// Pods adopted earlier in this plan: their identity repair waits for the next sync.
    pub adopted: &'a HashSet<String>,
}

/// What processing one pod means for the loop around it.
#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    /// Upstream's `true` return: stops an OrderedReady sync, ignored under Parallel.
    Blocked,
    /// Upstream's error return: stops either mode (the plan ends with a `Fail` step).
    Failed,
}

fn name(cr: &ControllerRevision) -> &str {
    cr.metadata.name.as_deref().unwrap_or("")
}

impl<'a> Control<'a> {
    /// `newVersionedStatefulSetPod`: below the partition (or, with no `rollingUpdate`, below
    /// `status.currentReplicas`) new pods get the current revision, all others the update one.
    /// The condition keeps Go's precedence: `A && B || C`.
    fn new_versioned_pod(&self, ord: i32) -> Pod {
        let cs = &self.current_set;
        let strategy = cs.spec.as_ref().and_then(|s| s.update_strategy.as_ref());
        let rolling = strategy.and_then(|u| u.type_.as_deref()) == Some("RollingUpdate");
        let ru = strategy.and_then(|u| u.rolling_update.as_ref());
        let current_replicas = cs.status.as_ref().and_then(|s| s.current_replicas).unwrap_or(0);
        let start = start_ordinal(cs);
        let use_current = (rolling && ru.is_none() && ord < start + current_replicas)
            || ru.is_some_and(|r| ord < start + r.partition.unwrap_or(0));
        let (from, rev) = if use_current { (cs, name(self.current)) } else { (&self.update_set, name(self.update)) };
        let mut pod = new_statefulset_pod(from, ord);
        set_pod_revision(&mut pod, rev);
        pod
    }

    /// Runs the sync body; returns the steps and the status upstream computes.
    pub fn update_statefulset(&self, pods: &[&Pod], view: &mut ClaimView) -> (Vec<Step>, StatefulSetStatus) {
        let set = self.set;
        let mut status = status::skeleton(set, name(self.current), name(self.update), self.collision_count);
        status::count(&mut status, pods.iter().copied(), self.min_ready_seconds, self.now);

        // Partition: replicas[ord - start] for in-range ordinals, the rest (valid) condemned.
        let (start, end) = (start_ordinal(set), end_ordinal(set));
        let count = replicas(set).max(0) as usize;
        // Borrowed, not copied: a sync over a thousand pods runs on every pod event.
        let mut slots: Vec<Option<&Pod>> = vec![None; count];
        let mut condemned: Vec<&Pod> = Vec::new();
        for pod in pods {
            if in_ordinal_range(set, pod) {
                let idx = (ordinal(pod) - start) as usize;
                // Two names can parse to one ordinal ("web-1", "web-01"); keep the first seen.
                if slots[idx].is_none() {
                    slots[idx] = Some(*pod);
                }
            } else if ordinal(pod) >= 0 {
                condemned.push(*pod);
            }
        }
        let replica_pods: Vec<Cow<Pod>> = (start..=end)
            .zip(slots)
            .map(|(ord, slot)| slot.map_or_else(|| Cow::Owned(self.new_versioned_pod(ord)), Cow::Borrowed))
            .collect();
        condemned.sort_by_key(|p| std::cmp::Reverse(ordinal(p)));

        // `firstUnhealthyPod`: the first unhealthy replica, else the lowest unhealthy condemned.
        let first_unhealthy = replica_pods
            .iter()
            .map(|p| p.as_ref())
            .find(|p| !is_healthy(p))
            .or_else(|| condemned.iter().rev().copied().find(|p| !is_healthy(p)))
            .map(ordinal);

        let mut steps = Vec::new();
        let recount = |status: &mut StatefulSetStatus| {
            status::count(status, replica_pods.iter().map(|p| p.as_ref()).chain(condemned.iter().copied()), self.min_ready_seconds, self.now)
        };
        if set.metadata.deletion_timestamp.is_some() {
            return (steps, status);
        }

        for pod in &replica_pods {
            let flow = self.process_replica(pod.as_ref(), view, &mut steps);
            if flow == Flow::Failed || (self.monotonic && flow == Flow::Blocked) {
                recount(&mut status);
                return (steps, status);
            }
        }

        // Fix the claims of condemned pods before deleting them, so the garbage collector
        // removes the right ones.
        for &pod in &condemned {
            if !claims_match_retention_policy(&self.update_set, pod, view) {
                steps.extend(update_pod_claims_for_retention(&self.update_set, pod, view, None));
            }
        }

        for &pod in &condemned {
            if is_terminating(pod) {
                if self.monotonic {
                    recount(&mut status);
                    return (steps, status);
                }
                continue;
            }
            let is_first = first_unhealthy == Some(ordinal(pod));
            if self.monotonic
                && !is_first
                && (!is_running_and_ready(pod) || !is_available(pod, self.min_ready_seconds, self.now))
            {
                recount(&mut status);
                return (steps, status);
            }
            steps.push(delete_stateful_pod(set, pod, DeleteReason::ScaleDown));
            if self.monotonic {
                recount(&mut status);
                return (steps, status);
            }
        }

        recount(&mut status);
        let strategy = set.spec.as_ref().and_then(|s| s.update_strategy.as_ref());
        if strategy.and_then(|u| u.type_.as_deref()) == Some("OnDelete") {
            return (steps, status);
        }
        steps.extend(update::rolling_update(set, &replica_pods, name(self.update), &mut status));
        (steps, status)
    }

    /// `processReplica`.
    fn process_replica(&self, pod: &Pod, view: &mut ClaimView, steps: &mut Vec<Step>) -> Flow {
        let set = self.set;
        // Failed and Succeeded pods are deleted; the replacement comes on a later sync, once
        // this incarnation is gone from the API (never two pods with one identity).
        if is_failed(pod) || is_succeeded(pod) {
            if !is_terminating(pod) {
                steps.push(delete_stateful_pod(set, pod, DeleteReason::Finished));
            }
            return Flow::Blocked;
        }
        if !is_created(pod) {
            if pod_claim_is_stale(set, pod, view.observed()) {
                return Flow::Blocked;
            }
            let planned = create_stateful_pod(set, pod, view);
            steps.extend(planned.steps);
            if planned.failed {
                return Flow::Failed;
            }
            if self.monotonic {
                return Flow::Blocked;
            }
        }
        if is_pending(pod) {
            let planned = create_missing_claims(set, pod, view);
            steps.extend(planned.steps);
            if planned.failed {
                return Flow::Failed;
            }
        }
        if self.monotonic
            && (is_terminating(pod)
                || !is_running_and_ready(pod)
                || !is_available(pod, self.min_ready_seconds, self.now))
        {
            return Flow::Blocked;
        }
        let retention_match = claims_match_retention_policy(&self.update_set, pod, view);
        if identity_matches(set, pod) && storage_matches(set, pod) && retention_match {
            return Flow::Continue;
        }
        if self.adopted.contains(super::identity::pod_name_of(pod)) {
            // The adoption patch changes the pod; a PUT of the cached copy would conflict (or
            // drop the new ownerRef). The adoption's watch event brings the next sync.
            return Flow::Continue;
        }
        let planned = update_stateful_pod(&self.update_set, pod, view);
        steps.extend(planned.steps);
        if planned.failed {
            Flow::Failed
        } else {
            Flow::Continue
        }
    }
}
