//! `next_step`: one pass of a simulated kubelet's pod worker over one pod.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Container, ContainerStatus, HostIP, Pod, PodIP, PodStatus};

use super::admission::{rejects_for_host_ports, NODE_PORTS_MESSAGE, NODE_PORTS_REASON};
use super::annotations::PodBehaviour;
use super::conditions::{self, is_terminal_phase, pod_conditions, PHASE_FAILED, PHASE_PENDING, PHASE_SUCCEEDED};
use super::config::Behaviour;
use super::containers::{self, Advanced, Ctx, CONTAINER_CREATING, POD_INITIALIZING};
use super::ids::allocate_pod_ip;
use super::time::{add, from_time, k8s_time, trunc, until};
use super::Step;

/// How long to wait before retrying pod IP allocation when the node's range is full, like
/// the kubelet's retry of a failed sandbox creation.
const SANDBOX_RETRY: std::time::Duration = std::time::Duration::from_secs(10);

pub fn next_step(pod: &Pod, node_name: &str, now: DateTime<Utc>, behaviour: &Behaviour) -> Step {
    let Some(spec) = pod.spec.as_ref() else { return Step::Nothing };
    if spec.node_name.as_deref() != Some(node_name) {
        return Step::Nothing;
    }
    let current = pod.status.clone().unwrap_or_default();
    let pb = PodBehaviour::from_pod_lenient(pod);
    if pod.metadata.deletion_timestamp.is_some() {
        return terminating(pod, &current, &pb, now);
    }
    if is_terminal_phase(current.phase.as_deref()) {
        // A kubelet never revives a terminal pod; its controller replaces it.
        return Step::Nothing;
    }
    let (desired, next) = if current.start_time.is_none() {
        (admit(pod, &current, now, behaviour), None)
    } else {
        advance(pod, &current, &pb, now, behaviour)
    };
    if desired != current {
        return Step::UpdateStatus(desired);
    }
    match next.filter(|t| *t > now) {
        Some(t) => Step::RequeueAfter(until(now, t)),
        None => Step::Nothing,
    }
}

fn uid(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or_default()
}

fn init_specs(pod: &Pod) -> &[Container] {
    pod.spec.as_ref().and_then(|s| s.init_containers.as_deref()).unwrap_or(&[])
}

fn regular_specs(pod: &Pod) -> &[Container] {
    pod.spec.as_ref().map(|s| &s.containers[..]).unwrap_or(&[])
}

fn host_network(pod: &Pod) -> bool {
    pod.spec.as_ref().and_then(|s| s.host_network) == Some(true)
}

/// The first status a kubelet writes: admission result, IPs, start time, containers waiting.
fn admit(pod: &Pod, current: &PodStatus, now: DateTime<Utc>, b: &Behaviour) -> PodStatus {
    let qos = current.qos_class.clone().unwrap_or_else(|| conditions::qos_class(pod).to_string());
    if rejects_for_host_ports(pod, b.pods) {
        let kept = conditions::foreign_conditions(current.conditions.as_deref().unwrap_or(&[]));
        return PodStatus {
            phase: Some(PHASE_FAILED.into()),
            reason: Some(NODE_PORTS_REASON.into()),
            message: Some(NODE_PORTS_MESSAGE.into()),
            start_time: Some(k8s_time(now)),
            qos_class: Some(qos),
            // The rejection replaces every kubelet-owned condition; others' are kept.
            conditions: (!kept.is_empty()).then_some(kept),
            ..current.clone()
        };
    }
    let init: Vec<ContainerStatus> =
        init_specs(pod).iter().map(|c| containers::waiting_status(c, POD_INITIALIZING)).collect();
    let default_reason = if init.is_empty() { CONTAINER_CREATING } else { POD_INITIALIZING };
    let regular: Vec<ContainerStatus> =
        regular_specs(pod).iter().map(|c| containers::waiting_status(c, default_reason)).collect();
    let host_ip = b.node.internal_ip.to_string();
    let pod_ip = pod_ip_for(pod, b);
    let conds = pod_conditions(pod, current.conditions.as_deref().unwrap_or(&[]), PHASE_PENDING, pod_ip.is_some(), &init, &regular, now);
    PodStatus {
        phase: Some(PHASE_PENDING.into()),
        conditions: Some(conds),
        host_ip: Some(host_ip.clone()),
        host_ips: Some(vec![HostIP { ip: host_ip }]),
        pod_ip: pod_ip.clone(),
        pod_ips: pod_ip.map(|ip| vec![PodIP { ip }]),
        start_time: Some(k8s_time(now)),
        qos_class: Some(qos),
        init_container_statuses: (!init.is_empty()).then_some(init),
        container_statuses: Some(regular),
        ..current.clone()
    }
}

fn pod_ip_for(pod: &Pod, b: &Behaviour) -> Option<String> {
    if host_network(pod) {
        return Some(b.node.internal_ip.to_string());
    }
    allocate_pod_ip(&b.node.pod_cidr, uid(pod), b.pods).map(|ip| ip.to_string())
}

/// Look up each container's current status, falling back to the default waiting one.
fn statuses_for(specs: &[Container], current: Option<&Vec<ContainerStatus>>, default_reason: &str) -> Vec<ContainerStatus> {
    specs
        .iter()
        .map(|c| {
            current
                .and_then(|v| v.iter().find(|s| s.name == c.name))
                .cloned()
                .unwrap_or_else(|| containers::waiting_status(c, default_reason))
        })
        .collect()
}

/// Advance an admitted, running pod by one step. Returns the desired status and the next time
/// something will change by itself.
fn advance(pod: &Pod, current: &PodStatus, pb: &PodBehaviour, now: DateTime<Utc>, b: &Behaviour) -> (PodStatus, Option<DateTime<Utc>>) {
    let mut desired = current.clone();
    let mut next: Vec<DateTime<Utc>> = Vec::new();

    // Sandbox: a pod whose IP could not be allocated at admission retries until one is free.
    let mut sandbox_ready = current.pod_ip.is_some() || host_network(pod);
    if !sandbox_ready {
        if let Some(ip) = pod_ip_for(pod, b) {
            desired.pod_ip = Some(ip.clone());
            desired.pod_ips = Some(vec![PodIP { ip }]);
            sandbox_ready = true;
        } else {
            next.push(add(now, SANDBOX_RETRY));
        }
    }

    let start_time = current.start_time.as_ref().map(from_time).unwrap_or(now);
    let delay = pb.startup_delay.unwrap_or(b.node.default_startup_delay);
    let ctx = Ctx { pod, uid: uid(pod), behaviour: pb, now, start_at: add(start_time, delay) };
    let mut collect = |a: Advanced| {
        next.extend(a.next);
        a.status
    };

    let init_before = statuses_for(init_specs(pod), current.init_container_statuses.as_ref(), POD_INITIALIZING);
    let default_reason = if init_specs(pod).is_empty() { CONTAINER_CREATING } else { POD_INITIALIZING };
    let regular_before = statuses_for(regular_specs(pod), current.container_statuses.as_ref(), default_reason);
    let (init, regular): (Vec<_>, Vec<_>) = if sandbox_ready {
        (
            init_specs(pod).iter().zip(&init_before).map(|(c, s)| collect(containers::advance_init(&ctx, c, s))).collect(),
            regular_specs(pod).iter().zip(&regular_before).map(|(c, s)| collect(containers::advance_regular(&ctx, c, s))).collect(),
        )
    } else {
        (init_before, regular_before)
    };

    let phase = conditions::phase(pod, &init, &regular);
    // A pod that reached a terminal phase has its sandbox torn down right away.
    let sandbox_ready = sandbox_ready && !is_terminal_phase(Some(phase));
    desired.conditions = Some(pod_conditions(pod, current.conditions.as_deref().unwrap_or(&[]), phase, sandbox_ready, &init, &regular, now));
    desired.phase = Some(phase.into());
    desired.init_container_statuses = (!init.is_empty()).then_some(init);
    desired.container_statuses = Some(regular);
    (desired, next.into_iter().min())
}

/// A pod with a deletionTimestamp: stop the containers when they exit (or the grace period
/// runs out), write the terminal status, then delete the object for good.
fn terminating(pod: &Pod, current: &PodStatus, pb: &PodBehaviour, now: DateTime<Utc>) -> Step {
    let final_delete = Step::FinalDelete { uid: uid(pod).to_string() };
    if is_terminal_phase(current.phase.as_deref()) || current.start_time.is_none() {
        // Nothing runs (or ever ran) here: only the API object is left.
        return final_delete;
    }
    let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(0).max(0);
    let has_finalizers = pod.metadata.finalizers.as_ref().is_some_and(|f| !f.is_empty());
    if grace == 0 && !has_finalizers {
        // The object disappears with this DELETE; a status write first would be wasted.
        return final_delete;
    }
    let deadline = pod.metadata.deletion_timestamp.as_ref().map(from_time).unwrap_or(now);
    // Shortening the grace period moves deletionTimestamp but not this instant.
    let sigterm_at = deadline - chrono::Duration::seconds(grace);
    let init_now = current.init_container_statuses.clone().unwrap_or_default();
    let regular_now = current.container_statuses.clone().unwrap_or_default();
    let running = containers::any_running(&init_now) || containers::any_running(&regular_now);
    let (stop_at, exit_code) = if !running {
        (trunc(now), 0)
    } else {
        match pb.termination_delay {
            Some(d) if add(sigterm_at, d) <= deadline => (add(sigterm_at, d), 0),
            // Still running at the deadline: SIGKILL.
            Some(_) => (deadline, 137),
            // A simulated container handles SIGTERM by exiting 0 as the grace period ends.
            None => (deadline, 0),
        }
    };
    if now < stop_at {
        return Step::RequeueAfter(until(now, stop_at));
    }
    let init: Vec<_> = init_now.iter().map(|s| containers::stop(s, exit_code, stop_at)).collect();
    let regular: Vec<_> = regular_now.iter().map(|s| containers::stop(s, exit_code, stop_at)).collect();
    let all_succeeded = !regular.is_empty()
        && regular.iter().all(|s| s.state.as_ref().and_then(|st| st.terminated.as_ref()).is_some_and(|t| t.exit_code == 0));
    let phase = if all_succeeded { PHASE_SUCCEEDED } else { PHASE_FAILED };
    let conds = pod_conditions(pod, current.conditions.as_deref().unwrap_or(&[]), phase, false, &init, &regular, now);
    Step::UpdateStatus(PodStatus {
        phase: Some(phase.into()),
        conditions: Some(conds),
        init_container_statuses: current.init_container_statuses.as_ref().map(|_| init),
        container_statuses: Some(regular),
        ..current.clone()
    })
}
