//! Choosing among feasible nodes.
//!
//! Upstream sums weighted, normalised plugin scores and breaks ties at random. berth compares
//! the same signals lexicographically, most important first, and breaks ties by node name so a
//! decision is reproducible:
//! 1. fewer PreferNoSchedule taints the pod does not tolerate (TaintToleration, weight 3);
//! 2. higher sum of matching preferred node-affinity weights (NodeAffinity);
//! 3. fewer pods with the same controller (ownerReference `controller: true` UID) already on the
//!    node — the default PodTopologySpread spreading of a StatefulSet's or ReplicaSet's pods over
//!    hostnames, keyed by owner instead of by the owner's selector;
//! 4. more room left (LeastAllocated over cpu and memory with non-zero defaults);
//! 5. node name.

use std::cmp::Ordering;

/// The signals for one feasible node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeScore {
    pub node: String,
    pub intolerable_prefer_no_schedule: usize,
    pub preferred_affinity_weight: i64,
    pub same_owner_pods: usize,
    pub least_allocated: i128,
}

/// `Less` when `a` is the better node.
pub fn compare(a: &NodeScore, b: &NodeScore) -> Ordering {
    a.intolerable_prefer_no_schedule
        .cmp(&b.intolerable_prefer_no_schedule)
        .then(b.preferred_affinity_weight.cmp(&a.preferred_affinity_weight))
        .then(a.same_owner_pods.cmp(&b.same_owner_pods))
        .then(b.least_allocated.cmp(&a.least_allocated))
        .then(a.node.cmp(&b.node))
}

/// The best node, if any.
pub fn best(scores: &[NodeScore]) -> Option<&NodeScore> {
    scores.iter().min_by(|a, b| compare(a, b))
}
