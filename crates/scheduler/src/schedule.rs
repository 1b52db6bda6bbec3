//! One scheduling cycle: skip checks, PreFilter, Filter per node, diagnosis or scoring
//! (`schedule_one.go` `schedulePod` / `findNodesThatFitPod`).

use std::borrow::Cow;
use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::interpod::InterPodState;
use crate::node_affinity::{self, node_name};
use crate::placed::{has_required_anti_affinity, pod_name, Placed};
use crate::ports::{self, HostPort};
use crate::resources::{self, Resource};
use crate::score::{self, NodeScore};
use crate::status::{Diagnosis, Status};
use crate::taints;
use crate::volumes::{self, NodeVolumes, PodVolumeClaims};
use crate::{ClusterSnapshot, Decision, SkipReason, DEFAULT_SCHEDULER_NAME};

/// Upstream's `ErrNoNodesAvailable`.
const NO_NODES_AVAILABLE: &str = "no nodes available to schedule pods";

/// What is already on a node (upstream `NodeInfo`).
struct NodeInfo<'a> {
    node: &'a Node,
    pods: Vec<&'a Pod>,
    requested: Cow<'a, Resource>,
    non_zero_requested: Cow<'a, Resource>,
    used_ports: Cow<'a, [HostPort]>,
}

fn skip_reason(pod: &Pod) -> Option<SkipReason> {
    let spec = pod.spec.as_ref();
    if let Some(node) = spec.and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty()) {
        return Some(SkipReason::AlreadyAssigned(node.to_string()));
    }
    if pod.metadata.deletion_timestamp.is_some() {
        return Some(SkipReason::BeingDeleted);
    }
    if is_finished(pod) {
        return Some(SkipReason::Finished);
    }
    if spec.and_then(|s| s.scheduling_gates.as_ref()).is_some_and(|g| !g.is_empty()) {
        return Some(SkipReason::SchedulingGated);
    }
    match spec.and_then(|s| s.scheduler_name.as_deref()) {
        Some(name) if !name.is_empty() && name != DEFAULT_SCHEDULER_NAME => Some(SkipReason::OtherScheduler(name.to_string())),
        _ => None,
    }
}

fn is_finished(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

/// The nodes with what is placed on them. The pod being scheduled never counts against
/// itself (it can only be placed here as a stale assumption).
fn node_infos<'a>(pod: &Pod, snapshot: &'a ClusterSnapshot, placed: &'a Placed) -> Vec<NodeInfo<'a>> {
    let own = pod_name(pod);
    let own_node = placed.node_of(&own);
    snapshot
        .nodes
        .iter()
        .map(|node| {
            let name = node_name(node);
            let Some(usage) = placed.node(name) else {
                return NodeInfo {
                    node,
                    pods: Vec::new(),
                    requested: Cow::Owned(Resource::default()),
                    non_zero_requested: Cow::Owned(Resource::default()),
                    used_ports: Cow::Owned(Vec::new()),
                };
            };
            if own_node == Some(name) {
                // Rare: recount this node without the pod.
                let mut without = Placed::new();
                for (k, p) in &usage.pods {
                    if *k != own {
                        without.set(p.clone());
                    }
                }
                let u = without.node(name).cloned().unwrap_or_default();
                let pods = usage.pods.iter().filter(|(k, _)| **k != own).map(|(_, p)| p.as_ref()).collect();
                return NodeInfo {
                    node,
                    pods,
                    requested: Cow::Owned(u.requested),
                    non_zero_requested: Cow::Owned(u.non_zero_requested),
                    used_ports: Cow::Owned(u.used_ports),
                };
            }
            NodeInfo {
                node,
                pods: usage.pods.values().map(|p| p.as_ref()).collect(),
                requested: Cow::Borrowed(&usage.requested),
                non_zero_requested: Cow::Borrowed(&usage.non_zero_requested),
                used_ports: Cow::Borrowed(&usage.used_ports),
            }
        })
        .collect()
}

/// Everything computed once per pod for the filters.
struct PodFacts<'a> {
    requests: Resource,
    ports: Vec<HostPort>,
    claims: Option<PodVolumeClaims<'a>>,
    inter_pod: InterPodState,
}

/// Run the filters in upstream's plugin order; the first rejection is the node's status.
fn filter_node(pod: &Pod, facts: &PodFacts<'_>, info: &NodeInfo<'_>, snapshot: &ClusterSnapshot) -> Result<NodeVolumes, Status> {
    let node = info.node;
    if taints::cordoned_for(pod, node) {
        return Err(Status::unresolvable(taints::ERR_REASON_UNSCHEDULABLE));
    }
    if let Some(reason) = taints::untolerated_taint_reason(pod, &taints::effective_taints(node)) {
        return Err(Status::unresolvable(reason));
    }
    if !node_affinity::pod_matches_node(pod, node) {
        return Err(Status::unresolvable(node_affinity::ERR_REASON_POD));
    }
    if facts.ports.iter().any(|p| ports::conflicts(&info.used_ports, p)) {
        return Err(Status::unschedulable(vec![ports::ERR_REASON_PORTS.to_string()]));
    }
    let allocatable = resources::node_allocatable(node);
    let insufficient = resources::insufficient(&facts.requests, info.pods.len(), &allocatable, &info.requested);
    if !insufficient.is_empty() {
        return Err(Status::unschedulable(insufficient));
    }
    let volumes = match &facts.claims {
        Some(claims) => volumes::filter(claims, node, snapshot)?,
        None => NodeVolumes::default(),
    };
    facts.inter_pod.filter(node)?;
    Ok(volumes)
}

/// The pod has required pod affinity or anti-affinity terms.
fn has_pod_affinity_terms(pod: &Pod) -> bool {
    let affinity = pod.spec.as_ref().and_then(|s| s.affinity.as_ref());
    let affinity_terms = affinity
        .and_then(|a| a.pod_affinity.as_ref())
        .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())
        .is_some_and(|t| !t.is_empty());
    affinity_terms || has_required_anti_affinity(pod)
}

/// The controller owner's UID (`metav1.GetControllerOf`).
fn controller_uid(pod: &Pod) -> Option<&str> {
    pod.metadata.owner_references.iter().flatten().find(|r| r.controller == Some(true)).map(|r| r.uid.as_str())
}

fn node_score(pod: &Pod, info: &NodeInfo<'_>, pod_non_zero: &Resource) -> NodeScore {
    let owner = controller_uid(pod);
    let same_owner_pods = match owner {
        Some(uid) => info
            .pods
            .iter()
            // Terminating pods are on their way out and don't count for spreading (upstream #87621).
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter(|p| p.metadata.namespace == pod.metadata.namespace && controller_uid(p) == Some(uid))
            .count(),
        None => 0,
    };
    NodeScore {
        node: node_name(info.node).to_string(),
        intolerable_prefer_no_schedule: taints::intolerable_prefer_no_schedule(pod, &taints::effective_taints(info.node)),
        preferred_affinity_weight: node_affinity::preferred_weight(pod, info.node),
        same_owner_pods,
        least_allocated: resources::least_allocated_score(pod_non_zero, &info.non_zero_requested, &resources::node_allocatable(info.node)),
    }
}

fn unschedulable(pod: &Pod, diagnosis: Diagnosis) -> Decision {
    let never = pod.spec.as_ref().and_then(|s| s.preemption_policy.as_deref()) == Some("Never");
    Decision::Unschedulable { message: diagnosis.message(never), unresolvable: diagnosis.all_unresolvable() }
}

/// Decide where `pod` goes. See the crate docs for the meaning of each [`Decision`].
/// `snapshot.pods` are the placed pods (indexed here for this one decision).
pub fn schedule(pod: &Pod, snapshot: &ClusterSnapshot) -> Decision {
    schedule_placed(pod, snapshot, &Placed::from_pods(&snapshot.pods))
}

/// [`schedule`] with the placed pods kept by the caller ([`Placed`], updated per watch event
/// and assumption) instead of `snapshot.pods`, which is ignored.
pub fn schedule_placed(pod: &Pod, snapshot: &ClusterSnapshot, placed: &Placed) -> Decision {
    if let Some(reason) = skip_reason(pod) {
        return Decision::Skip(reason);
    }
    let num_all_nodes = snapshot.nodes.len();
    if num_all_nodes == 0 {
        return Decision::Unschedulable { message: NO_NODES_AVAILABLE.to_string(), unresolvable: false };
    }
    let pre_filter_reject = |status: Status| {
        unschedulable(
            pod,
            Diagnosis { num_all_nodes, pre_filter_msg: Some(status.message()), node_statuses: Vec::new(), absent_status: Some(status) },
        )
    };

    // PreFilter: plugins may narrow the nodes; an empty intersection rejects the pod.
    let mut allowed: Option<BTreeSet<String>> = None;
    let mut narrowing_plugins: Vec<&str> = Vec::new();
    let mut narrow = |plugin: &'static str, names: BTreeSet<String>| -> Option<Status> {
        narrowing_plugins.push(plugin);
        let merged = match allowed.take() {
            None => names,
            Some(prev) => prev.intersection(&names).cloned().collect(),
        };
        let empty = merged.is_empty();
        allowed = Some(merged);
        empty.then(|| {
            Status::unresolvable(if narrowing_plugins.len() == 1 {
                format!("node(s) didn't satisfy plugin {}", narrowing_plugins[0])
            } else {
                format!("node(s) didn't satisfy plugin(s) [{}] simultaneously", narrowing_plugins.join(" "))
            })
        })
    };
    match node_affinity::pre_filter_node_names(pod) {
        Err(reason) => return pre_filter_reject(Status::unresolvable(reason)),
        Ok(Some(names)) => {
            if let Some(status) = narrow("NodeAffinity", names) {
                return pre_filter_reject(status);
            }
        }
        Ok(None) => {}
    }
    let claims = match volumes::pre_filter(pod, snapshot) {
        Err(status) => return pre_filter_reject(status),
        Ok(claims) => claims,
    };
    if let Some(names) = claims.as_ref().and_then(|c| volumes::eligible_nodes(c, snapshot)) {
        if let Some(status) = narrow("VolumeBinding", names) {
            return pre_filter_reject(status);
        }
    }
    narrowing_plugins.sort_unstable();
    let absent_status = allowed
        .is_some()
        .then(|| Status::unresolvable(format!("node(s) didn't satisfy plugin(s) [{}]", narrowing_plugins.join(" "))));

    // Filter.
    let infos = node_infos(pod, snapshot, placed);
    // Without affinity terms of its own and with no placed pod holding anti-affinity terms,
    // no pod can matter to the InterPodAffinity filter: skip the walk over every placed pod.
    let inter_pod = if !has_pod_affinity_terms(pod) && placed.with_required_anti_affinity() == 0 {
        InterPodState::new(pod, std::iter::empty())
    } else {
        InterPodState::new(pod, infos.iter().map(|i| (i.node, i.pods.as_slice())))
    };
    let facts = PodFacts { requests: resources::pod_requests(pod), ports: ports::host_ports(pod), claims, inter_pod };
    let mut node_statuses = Vec::new();
    let mut feasible: Vec<(&NodeInfo<'_>, NodeVolumes)> = Vec::new();
    for info in &infos {
        if allowed.as_ref().is_some_and(|a| !a.contains(node_name(info.node))) {
            continue;
        }
        match filter_node(pod, &facts, info, snapshot) {
            Ok(volumes) => feasible.push((info, volumes)),
            Err(status) => node_statuses.push(status),
        }
    }
    if feasible.is_empty() {
        return unschedulable(pod, Diagnosis { num_all_nodes, pre_filter_msg: None, node_statuses, absent_status });
    }

    // Score.
    let pod_non_zero = resources::pod_non_zero_requests(pod);
    let scores: Vec<NodeScore> = feasible.iter().map(|(info, _)| node_score(pod, info, &pod_non_zero)).collect();
    let best = score::best(&scores).expect("feasible is not empty");
    let (_, volumes) = feasible.into_iter().find(|(info, _)| node_name(info.node) == best.node).expect("best is feasible");
    Decision::Bind { node: best.node.clone(), claims_to_bind: volumes.bindings, claims_to_provision: volumes.provisions }
}
