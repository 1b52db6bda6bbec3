//! How the executor runs a `Parallel` set's pod steps: upstream's `slowStartBatch`. Pure.
//!
//! Upstream creates a Parallel set's missing pods (and deletes its condemned ones) in
//! concurrent batches of 1, 2, 4, … calls, stopping after the first batch with an error. A
//! plan lists those calls in sequence; [`group`] finds them again: a *unit* is one pod's
//! creation (its claims' creations, then the pod's) or one scale-down deletion, and a run of
//! consecutive units is a batchable group. Everything else (updates, rolling-update
//! deletions, `Fail`, events) stays a step of its own, performed in order. Within a unit the
//! steps keep their order (claims before the pod).

use std::ops::Range;

use super::plan::{Action, DeleteReason, Step};

/// A part of `SyncPlan::steps`, by index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Group {
    /// One step, performed alone.
    Single(usize),
    /// Units that may run concurrently in slow-start batches.
    Batch(Vec<Range<usize>>),
}

/// Batch sizes of upstream's `slowStartBatch` (initial 1, doubling) for `n` units.
pub fn batch_sizes(n: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    let (mut left, mut size) = (n, 1);
    while left > 0 {
        let s = size.min(left);
        sizes.push(s);
        left -= s;
        size *= 2;
    }
    sizes
}

/// The unit starting at `i`, if one does: `CreateClaim* CreatePod`, or a scale-down delete.
fn unit_at(steps: &[Step], i: usize) -> Option<Range<usize>> {
    match &steps.get(i)?.action {
        Action::DeletePod { reason: DeleteReason::ScaleDown, .. } => return Some(i..i + 1),
        Action::CreatePod { .. } => return Some(i..i + 1),
        Action::CreateClaim { .. } => {}
        _ => return None,
    }
    let mut j = i;
    while matches!(steps.get(j).map(|s| &s.action), Some(Action::CreateClaim { .. })) {
        j += 1;
    }
    matches!(steps.get(j).map(|s| &s.action), Some(Action::CreatePod { .. })).then(|| i..j + 1)
}

/// Group a plan's steps. Without `parallel` (OrderedReady) every step is `Single`.
pub fn group(steps: &[Step], parallel: bool) -> Vec<Group> {
    let mut groups = Vec::new();
    let mut i = 0;
    while i < steps.len() {
        let mut units = Vec::new();
        if parallel {
            while let Some(u) = unit_at(steps, i) {
                i = u.end;
                units.push(u);
            }
        }
        if units.is_empty() {
            groups.push(Group::Single(i));
            i += 1;
        } else {
            groups.push(Group::Batch(units));
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};

    fn claim() -> Step {
        Step::new(Action::CreateClaim { claim: PersistentVolumeClaim::default() })
    }
    fn pod() -> Step {
        Step::new(Action::CreatePod { pod: Pod::default() })
    }
    fn delete(reason: DeleteReason) -> Step {
        Step::new(Action::DeletePod { name: "p".into(), uid: "u".into(), reason })
    }
    fn fail() -> Step {
        Step::new(Action::Fail { message: "x".into() })
    }

    #[test]
    fn slow_start_sizes_double_from_one() {
        assert_eq!(batch_sizes(0), Vec::<usize>::new());
        assert_eq!(batch_sizes(1), [1]);
        assert_eq!(batch_sizes(10), [1, 2, 4, 3]);
        assert_eq!(batch_sizes(1000).iter().sum::<usize>(), 1000);
        assert_eq!(batch_sizes(1000)[9], 489);
    }

    #[test]
    fn creations_with_their_claims_and_scale_down_deletes_are_units() {
        let steps = [claim(), claim(), pod(), pod(), claim(), pod(), fail(), delete(DeleteReason::ScaleDown), delete(DeleteReason::ScaleDown)];
        assert_eq!(
            group(&steps, true),
            [Group::Batch(vec![0..3, 3..4, 4..6]), Group::Single(6), Group::Batch(vec![7..8, 8..9])]
        );
        // A claim creation not followed by its pod (a Pending pod's missing claim) and a
        // rolling-update delete are performed alone.
        let steps = [claim(), fail(), delete(DeleteReason::Update), pod()];
        assert_eq!(group(&steps, true), [Group::Single(0), Group::Single(1), Group::Single(2), Group::Batch(std::iter::once(3..4).collect())]);
    }

    #[test]
    fn ordered_ready_plans_run_step_by_step() {
        let steps = [claim(), pod(), delete(DeleteReason::ScaleDown)];
        assert_eq!(group(&steps, false), [Group::Single(0), Group::Single(1), Group::Single(2)]);
    }
}
