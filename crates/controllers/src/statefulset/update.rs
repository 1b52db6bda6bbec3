//! The RollingUpdate strategy: replace outdated pods from the highest ordinal down to the
//! partition, one at a time (or up to `maxUnavailable` when the field is set).

use std::borrow::Cow;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::identity::{pod_revision, replicas};
use super::plan::{DeleteReason, ErrorKind, Step};
use super::podcontrol::delete_stateful_pod;
use super::podstate::{is_created, is_healthy, is_terminating};

/// Plans the rolling-update deletions over `replicas` (index = ordinal − start). Each deletion
/// lowers `status.currentReplicas`, as upstream does in the same status write. A pod that is
/// already gone when deleted (NotFound) counts as deleted.
///
/// Without `maxUnavailable` (v1.33's default: the MaxUnavailableStatefulSet gate is alpha):
/// from the highest index down to the partition, delete the first outdated, non-terminating
/// pod and stop; stop as well at the first pod that is not healthy (Running, Ready, not
/// terminating). With `maxUnavailable` set (berth honours the field when present): count the
/// unhealthy replicas over the whole range; if fewer than maxUnavailable, delete up to the
/// difference of outdated, non-terminating pods from the top down to the partition.
///
/// One deliberate difference: a pod this sync has only planned to create (not yet in the API)
/// is never a deletion target; upstream could delete such a just-created pod in Parallel mode
/// when `rollingUpdate` is nil.
pub fn rolling_update(set: &StatefulSet, replicas_: &[Cow<Pod>], update_revision: &str, status: &mut StatefulSetStatus) -> Vec<Step> {
    let replicas_: Vec<&Pod> = replicas_.iter().map(|p| p.as_ref()).collect();
    let ru = set.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|u| u.rolling_update.as_ref());
    let partition = ru.and_then(|r| r.partition).unwrap_or(0).max(0) as usize;
    let outdated = |p: &Pod| is_created(p) && pod_revision(p) != update_revision && !is_terminating(p);
    let mut steps = Vec::new();
    let mut delete = |pod: &Pod, status: &mut StatefulSetStatus| {
        steps.push(delete_stateful_pod(set, pod, DeleteReason::Update).tolerating(&[ErrorKind::NotFound]));
        status.current_replicas = Some(status.current_replicas.unwrap_or(0) - 1);
    };

    match ru.and_then(|r| r.max_unavailable.as_ref()) {
        None => {
            for &pod in replicas_.iter().skip(partition).rev() {
                if outdated(pod) {
                    delete(pod, status);
                    break;
                }
                if !is_healthy(pod) {
                    break;
                }
            }
        }
        Some(max) => {
            let max_unavailable = max_unavailable(max, replicas(set));
            let unavailable = replicas_.iter().filter(|p| !is_healthy(p)).count() as i32;
            if unavailable < max_unavailable {
                let mut budget = max_unavailable - unavailable;
                for &pod in replicas_.iter().skip(partition).rev() {
                    if budget == 0 {
                        break;
                    }
                    if outdated(pod) {
                        delete(pod, status);
                        budget -= 1;
                    }
                }
            }
        }
    }
    steps
}

/// `getStatefulSetMaxUnavailable`: an int, or a percentage of replicas rounded down; at least 1.
/// An unparsable value counts as 1 (validation rejects it before it gets here).
pub fn max_unavailable(v: &IntOrString, replicas: i32) -> i32 {
    let n = match v {
        IntOrString::Int(i) => *i,
        IntOrString::String(s) => s
            .strip_suffix('%')
            .and_then(|p| p.parse::<i64>().ok())
            .map_or(1, |p| (p * i64::from(replicas) / 100) as i32),
    };
    n.max(1)
}
