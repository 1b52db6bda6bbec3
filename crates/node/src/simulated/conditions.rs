//! Pod phase and kubelet-owned pod conditions, as `generateAPIPodStatus`/`getPhase`
//! (`pkg/kubelet/kubelet_pods.go`), `pkg/kubelet/status/generate.go` and the status
//! manager's `mergePodStatus`/`updateLastTransitionTime` produce them.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod, PodCondition};

use super::time::k8s_time;

pub const PHASE_PENDING: &str = "Pending";
pub const PHASE_RUNNING: &str = "Running";
pub const PHASE_SUCCEEDED: &str = "Succeeded";
pub const PHASE_FAILED: &str = "Failed";

/// Condition types the kubelet owns (`kubetypes.PodConditionByKubelet` with the
/// PodReadyToStartContainers gate on, as in 1.33). All others are preserved as found.
const KUBELET_OWNED: [&str; 5] = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"];

pub fn is_terminal_phase(phase: Option<&str>) -> bool {
    matches!(phase, Some(PHASE_SUCCEEDED | PHASE_FAILED))
}

/// An init container with `restartPolicy: Always` (a sidecar).
pub fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

fn find<'a>(statuses: &'a [ContainerStatus], name: &str) -> Option<&'a ContainerStatus> {
    statuses.iter().find(|s| s.name == name)
}

/// `getPhase` for a non-terminal pod: the phase implied by its container statuses.
pub fn phase(pod: &Pod, init: &[ContainerStatus], regular: &[ContainerStatus]) -> &'static str {
    let spec = pod.spec.as_ref();
    let restart_policy = spec.and_then(|s| s.restart_policy.as_deref()).unwrap_or("Always");
    let init_pending = spec.and_then(|s| s.init_containers.as_ref()).into_iter().flatten().any(|c| {
        let done = find(init, &c.name).is_some_and(|s| {
            if is_sidecar(c) {
                s.started == Some(true)
            } else {
                s.state.as_ref().and_then(|st| st.terminated.as_ref()).is_some_and(|t| t.exit_code == 0)
            }
        });
        !done
    });
    let (mut running, mut waiting, mut stopped, mut succeeded, mut unknown) = (0, 0, 0, 0, 0);
    for c in spec.map(|s| &s.containers[..]).unwrap_or(&[]) {
        let Some(st) = find(regular, &c.name).and_then(|s| s.state.as_ref()) else {
            unknown += 1;
            continue;
        };
        if st.running.is_some() {
            running += 1;
        } else if let Some(t) = &st.terminated {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if st.waiting.is_some() {
            let last_terminated = find(regular, &c.name)
                .and_then(|s| s.last_state.as_ref())
                .is_some_and(|l| l.terminated.is_some());
            if last_terminated {
                stopped += 1;
            } else {
                waiting += 1;
            }
        } else {
            unknown += 1;
        }
    }
    if init_pending || waiting > 0 {
        return PHASE_PENDING;
    }
    if running > 0 && unknown == 0 {
        return PHASE_RUNNING;
    }
    if running == 0 && stopped > 0 && unknown == 0 {
        return match restart_policy {
            "Always" => PHASE_RUNNING,
            _ if stopped == succeeded => PHASE_SUCCEEDED,
            "Never" => PHASE_FAILED,
            _ => PHASE_RUNNING,
        };
    }
    PHASE_PENDING
}

fn go_list(names: &[String]) -> String {
    format!("[{}]", names.join(" "))
}

fn cond(type_: &str, status: bool, reason: Option<&str>, message: Option<String>) -> PodCondition {
    PodCondition {
        type_: type_.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: reason.map(Into::into),
        message,
        ..Default::default()
    }
}

fn containers_ready(pod: &Pod, phase: &str, init: &[ContainerStatus], regular: &[ContainerStatus]) -> PodCondition {
    match phase {
        PHASE_SUCCEEDED => return cond("ContainersReady", false, Some("PodCompleted"), None),
        PHASE_FAILED => return cond("ContainersReady", false, Some("PodFailed"), None),
        _ => {}
    }
    let spec = pod.spec.as_ref();
    let sidecars = spec.and_then(|s| s.init_containers.as_ref()).into_iter().flatten().filter(|c| is_sidecar(c));
    let (mut unknown, mut unready) = (Vec::new(), Vec::new());
    for (c, statuses) in sidecars.map(|c| (c, init)).chain(spec.map(|s| &s.containers[..]).unwrap_or(&[]).iter().map(|c| (c, regular))) {
        match find(statuses, &c.name) {
            Some(s) if !s.ready => unready.push(c.name.clone()),
            Some(_) => {}
            None => unknown.push(c.name.clone()),
        }
    }
    let mut parts = Vec::new();
    if !unknown.is_empty() {
        parts.push(format!("containers with unknown status: {}", go_list(&unknown)));
    }
    if !unready.is_empty() {
        parts.push(format!("containers with unready status: {}", go_list(&unready)));
    }
    if parts.is_empty() {
        cond("ContainersReady", true, None, None)
    } else {
        cond("ContainersReady", false, Some("ContainersNotReady"), Some(parts.join(", ")))
    }
}

fn ready(pod: &Pod, containers_ready: &PodCondition, conditions: &[PodCondition]) -> PodCondition {
    if containers_ready.status != "True" {
        return PodCondition { type_: "Ready".into(), ..containers_ready.clone() };
    }
    let gates = pod.spec.as_ref().and_then(|s| s.readiness_gates.as_ref()).into_iter().flatten();
    let unready: Vec<String> = gates
        .filter_map(|g| match conditions.iter().find(|c| c.type_ == g.condition_type) {
            None => Some(format!("corresponding condition of pod readiness gate {:?} does not exist.", g.condition_type)),
            Some(c) if c.status != "True" => Some(format!(
                "the status of pod readiness gate {:?} is not \"True\", but {}",
                g.condition_type, c.status
            )),
            Some(_) => None,
        })
        .collect();
    if unready.is_empty() {
        cond("Ready", true, None, None)
    } else {
        cond("Ready", false, Some("ReadinessGatesNotReady"), Some(unready.join(", ")))
    }
}

fn initialized(pod: &Pod, phase: &str, init: &[ContainerStatus], regular: &[ContainerStatus]) -> PodCondition {
    let init_specs: Vec<&Container> = pod.spec.as_ref().and_then(|s| s.init_containers.as_ref()).into_iter().flatten().collect();
    let (mut unknown, mut incomplete) = (Vec::new(), Vec::new());
    for c in &init_specs {
        match find(init, &c.name) {
            None => unknown.push(c.name.clone()),
            Some(s) => {
                let done = if is_sidecar(c) { s.started == Some(true) } else { s.ready };
                if !done {
                    incomplete.push(c.name.clone());
                }
            }
        }
    }
    if phase == PHASE_SUCCEEDED && unknown.is_empty() {
        return cond("Initialized", true, Some("PodCompleted"), None);
    }
    // Once any regular container has started the pod has been initialized before, even if
    // a sidecar is restarting now.
    let any_started = regular.iter().any(|s| s.state.as_ref().is_some_and(|st| st.running.is_some() || st.terminated.is_some()) || s.last_state.as_ref().is_some_and(|l| l.terminated.is_some()));
    if any_started {
        return cond("Initialized", true, None, None);
    }
    let mut parts = Vec::new();
    if !unknown.is_empty() {
        parts.push(format!("containers with unknown status: {}", go_list(&unknown)));
    }
    if !incomplete.is_empty() {
        parts.push(format!("containers with incomplete status: {}", go_list(&incomplete)));
    }
    if parts.is_empty() {
        cond("Initialized", true, None, None)
    } else {
        cond("Initialized", false, Some("ContainersNotInitialized"), Some(parts.join(", ")))
    }
}

/// Conditions not owned by the kubelet (DisruptionTarget, readiness-gate conditions, …),
/// which every kubelet status write preserves as found.
pub fn foreign_conditions(old: &[PodCondition]) -> Vec<PodCondition> {
    old.iter().filter(|c| !KUBELET_OWNED.contains(&c.type_.as_str())).cloned().collect()
}

/// The pod's full condition list: conditions owned by others first (kept as found), then the
/// kubelet's in upstream order. A condition keeps its old `lastTransitionTime` while its
/// status is unchanged; otherwise it gets `now`.
pub fn pod_conditions(
    pod: &Pod,
    old: &[PodCondition],
    phase: &str,
    sandbox_ready: bool,
    init: &[ContainerStatus],
    regular: &[ContainerStatus],
    now: DateTime<Utc>,
) -> Vec<PodCondition> {
    let mut out = foreign_conditions(old);
    let containers_ready = containers_ready(pod, phase, init, regular);
    let generated = [
        cond("PodReadyToStartContainers", sandbox_ready, None, None),
        initialized(pod, phase, init, regular),
        ready(pod, &containers_ready, old),
        containers_ready,
        cond("PodScheduled", true, None, None),
    ];
    for mut c in generated {
        let previous = old.iter().find(|o| o.type_ == c.type_);
        c.last_transition_time = match previous {
            Some(p) if p.status == c.status && p.last_transition_time.is_some() => p.last_transition_time.clone(),
            _ => Some(k8s_time(now)),
        };
        // lastProbeTime is only ever set by probes; the kubelet writes it as null.
        c.last_probe_time = None;
        out.push(c);
    }
    out
}

/// The QoS class as `v1qos.GetPodQOS` computes it (requests default to limits).
pub fn qos_class(pod: &Pod) -> &'static str {
    let Some(spec) = pod.spec.as_ref() else { return "BestEffort" };
    let all = spec.containers.iter().chain(spec.init_containers.iter().flatten());
    let mut any = false;
    let mut guaranteed = true;
    for c in all {
        let res = c.resources.as_ref();
        let req = res.and_then(|r| r.requests.as_ref());
        let lim = res.and_then(|r| r.limits.as_ref());
        let nonzero = |m: Option<&std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>, k: &str| {
            m.and_then(|m| m.get(k)).is_some_and(|q| !is_zero_quantity(&q.0))
        };
        for k in ["cpu", "memory"] {
            if nonzero(req, k) || nonzero(lim, k) {
                any = true;
            }
            let l = lim.and_then(|m| m.get(k));
            let r = req.and_then(|m| m.get(k)).or(l);
            if l.is_none() || r.map(|q| &q.0) != l.map(|q| &q.0) {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn is_zero_quantity(q: &str) -> bool {
    let digits: String = q.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    digits.parse::<f64>().map(|v| v == 0.0).unwrap_or(false)
}
