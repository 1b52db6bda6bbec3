//! Container statuses of simulated containers and their timed transitions.
//!
//! One call advances each container by at most one transition, the way successive kubelet
//! syncs would observe it: created → running → exited → (CrashLoopBackOff →) running again.
//! Every transition time is derived from timestamps already in the status (startedAt,
//! finishedAt, startTime), so the same pod and clock always give the same result.

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, Pod, VolumeMountStatus,
};

use super::annotations::{format_go_duration, PodBehaviour};
use super::ids;
use super::time::{add, from_time, k8s_time, trunc};

pub const CONTAINER_CREATING: &str = "ContainerCreating";
pub const POD_INITIALIZING: &str = "PodInitializing";
pub const CRASH_LOOP_BACK_OFF: &str = "CrashLoopBackOff";

/// The kubelet's container restart back-off: 10 s doubling to a 5 min cap; the first restart
/// after a container's first exit is immediate (the back-off entry does not exist yet).
pub fn restart_backoff(restart_count: i32) -> Duration {
    if restart_count <= 0 {
        return Duration::ZERO;
    }
    let exp = (restart_count - 1).min(16) as u32;
    Duration::from_secs((10u64 << exp).min(300))
}

/// Status of a container not yet created: `waiting` with the kubelet's default reason.
pub fn waiting_status(c: &Container, reason: &str) -> ContainerStatus {
    ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        image_id: String::new(),
        last_state: Some(ContainerState::default()),
        ready: false,
        restart_count: 0,
        started: Some(false),
        state: Some(ContainerState {
            waiting: Some(ContainerStateWaiting { reason: Some(reason.into()), message: None }),
            ..Default::default()
        }),
        volume_mounts: volume_mounts(c),
        ..Default::default()
    }
}

/// What the status reports about volume mounts (RecursiveReadOnlyMounts, on by default).
fn volume_mounts(c: &Container) -> Option<Vec<VolumeMountStatus>> {
    let mounts = c.volume_mounts.as_ref().filter(|m| !m.is_empty())?;
    Some(
        mounts
            .iter()
            .map(|m| VolumeMountStatus {
                name: m.name.clone(),
                mount_path: m.mount_path.clone(),
                read_only: m.read_only.filter(|r| *r),
                recursive_read_only: m.read_only.filter(|r| *r).map(|_| "Disabled".to_string()),
            })
            .collect(),
    )
}

/// Container `c` (re)started at `at` as restart number `restart_count`.
pub fn running_status(
    pod_uid: &str,
    c: &Container,
    restart_count: i32,
    last_state: ContainerState,
    at: DateTime<Utc>,
    ready: bool,
    volume_mounts: Option<Vec<VolumeMountStatus>>,
) -> ContainerStatus {
    let resources = c.resources.clone().filter(|r| r.limits.is_some() || r.requests.is_some());
    ContainerStatus {
        name: c.name.clone(),
        container_id: Some(ids::container_id(pod_uid, &c.name, restart_count)),
        image: c.image.as_deref().map(ids::normalize_image).unwrap_or_default(),
        image_id: c.image.as_deref().map(ids::image_id).unwrap_or_default(),
        last_state: Some(last_state),
        ready,
        restart_count,
        started: Some(true),
        state: Some(ContainerState {
            running: Some(ContainerStateRunning { started_at: Some(k8s_time(at)) }),
            ..Default::default()
        }),
        allocated_resources: resources.as_ref().and_then(|r| r.requests.clone()),
        resources,
        volume_mounts,
        ..Default::default()
    }
}

/// `cs` (running) exited with `exit_code` at `at`.
pub fn exited(cs: &ContainerStatus, exit_code: i32, at: DateTime<Utc>) -> ContainerStatus {
    let started_at = running_since(cs);
    let finished = started_at.map_or(at, |s| at.max(s));
    ContainerStatus {
        ready: false,
        started: Some(false),
        state: Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code,
                reason: Some(if exit_code == 0 { "Completed" } else { "Error" }.into()),
                started_at: started_at.map(k8s_time),
                finished_at: Some(k8s_time(finished)),
                container_id: cs.container_id.clone(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..cs.clone()
    }
}

pub fn running_since(cs: &ContainerStatus) -> Option<DateTime<Utc>> {
    cs.state.as_ref()?.running.as_ref()?.started_at.as_ref().map(from_time)
}

fn terminated(cs: &ContainerStatus) -> Option<&ContainerStateTerminated> {
    cs.state.as_ref()?.terminated.as_ref()
}

fn waiting_reason(cs: &ContainerStatus) -> Option<&str> {
    cs.state.as_ref()?.waiting.as_ref()?.reason.as_deref()
}

/// Has this container never been created (the kubelet's default waiting state)?
pub fn never_started(cs: &ContainerStatus) -> bool {
    matches!(waiting_reason(cs), Some(CONTAINER_CREATING | POD_INITIALIZING))
        && cs.last_state.as_ref().is_none_or(|l| l.terminated.is_none())
}

/// Inputs shared by every container of the pod for one step.
pub struct Ctx<'a> {
    pub pod: &'a Pod,
    pub uid: &'a str,
    pub behaviour: &'a PodBehaviour,
    pub now: DateTime<Utc>,
    /// When the containers are created: startTime + startup delay.
    pub start_at: DateTime<Utc>,
}

/// Result of advancing one container.
pub struct Advanced {
    pub status: ContainerStatus,
    /// The next time this container will change by itself, if any.
    pub next: Option<DateTime<Utc>>,
}

fn stays(cs: &ContainerStatus, next: Option<DateTime<Utc>>) -> Advanced {
    Advanced { status: cs.clone(), next }
}

fn ready_at(c: &Container, started: DateTime<Utc>) -> DateTime<Utc> {
    // A readiness probe passes on its first run, which happens after initialDelaySeconds.
    let delay = c.readiness_probe.as_ref().and_then(|p| p.initial_delay_seconds).unwrap_or(0).max(0);
    add(started, Duration::from_secs(delay as u64))
}

/// Advance a regular (application) container.
pub fn advance_regular(ctx: &Ctx, c: &Container, cs: &ContainerStatus) -> Advanced {
    let now = ctx.now;
    let b = ctx.behaviour;
    if never_started(cs) {
        if now < ctx.start_at {
            return stays(cs, Some(ctx.start_at));
        }
        let at = trunc(now);
        let ready = b.ready && ready_at(c, at) <= now;
        let s = running_status(ctx.uid, c, 0, ContainerState::default(), at, ready, cs.volume_mounts.clone());
        return Advanced { status: s, next: None };
    }
    if let Some(started) = running_since(cs) {
        let exit_at = b.exit_after.map(|d| add(started, d));
        if let Some(exit_at) = exit_at.filter(|t| *t <= now) {
            return Advanced { status: exited(cs, b.exit_code, exit_at), next: None };
        }
        let ra = ready_at(c, started);
        let want_ready = b.ready && ra <= now;
        let next = [exit_at, (b.ready && ra > now).then_some(ra)].into_iter().flatten().min();
        if want_ready != cs.ready {
            return Advanced { status: ContainerStatus { ready: want_ready, ..cs.clone() }, next };
        }
        return stays(cs, next);
    }
    let restart_policy = ctx.pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()).unwrap_or("Always");
    // Exited, or waiting in CrashLoopBackOff after an exit: the last exit decides.
    let (last_exit, in_backoff) = match (terminated(cs), cs.last_state.as_ref().and_then(|l| l.terminated.as_ref())) {
        (Some(t), _) => (t.clone(), false),
        (None, Some(t)) if waiting_reason(cs) == Some(CRASH_LOOP_BACK_OFF) => (t.clone(), true),
        _ => return stays(cs, None),
    };
    let restarts = match restart_policy {
        "Never" => false,
        "OnFailure" => last_exit.exit_code != 0,
        _ => true,
    };
    if !restarts {
        return stays(cs, None);
    }
    let finished = last_exit.finished_at.as_ref().map(from_time).unwrap_or(now);
    let backoff = restart_backoff(cs.restart_count);
    let restart_at = add(finished, backoff);
    if restart_at <= now {
        let at = trunc(now);
        let ready = b.ready && ready_at(c, at) <= now;
        let last = ContainerState { terminated: Some(last_exit), ..Default::default() };
        let s = running_status(ctx.uid, c, cs.restart_count + 1, last, at, ready, cs.volume_mounts.clone());
        return Advanced { status: s, next: None };
    }
    if in_backoff {
        return stays(cs, Some(restart_at));
    }
    let meta = &ctx.pod.metadata;
    let message = format!(
        "back-off {} restarting failed container={} pod={}_{}({})",
        format_go_duration(backoff),
        c.name,
        meta.name.as_deref().unwrap_or_default(),
        meta.namespace.as_deref().unwrap_or_default(),
        ctx.uid
    );
    let status = ContainerStatus {
        ready: false,
        started: Some(false),
        last_state: Some(ContainerState { terminated: Some(last_exit), ..Default::default() }),
        state: Some(ContainerState {
            waiting: Some(ContainerStateWaiting { reason: Some(CRASH_LOOP_BACK_OFF.into()), message: Some(message) }),
            ..Default::default()
        }),
        ..cs.clone()
    };
    Advanced { status, next: Some(restart_at) }
}

/// Advance an init container: regular ones run to completion (exit 0) the moment the pod's
/// containers are created; sidecars (`restartPolicy: Always`) start then and keep running,
/// ready per the pod's readiness annotation.
pub fn advance_init(ctx: &Ctx, c: &Container, cs: &ContainerStatus) -> Advanced {
    let now = ctx.now;
    if never_started(cs) {
        if now < ctx.start_at {
            return stays(cs, Some(ctx.start_at));
        }
        let at = trunc(now);
        if super::conditions::is_sidecar(c) {
            let s = running_status(ctx.uid, c, 0, ContainerState::default(), at, ctx.behaviour.ready, cs.volume_mounts.clone());
            return Advanced { status: s, next: None };
        }
        let running = running_status(ctx.uid, c, 0, ContainerState::default(), at, false, cs.volume_mounts.clone());
        let mut done = exited(&running, 0, at);
        // An init container that exited 0 is reported ready (prober's UpdatePodStatus).
        done.ready = true;
        return Advanced { status: done, next: None };
    }
    if super::conditions::is_sidecar(c) && running_since(cs).is_some() && cs.ready != ctx.behaviour.ready {
        return Advanced { status: ContainerStatus { ready: ctx.behaviour.ready, ..cs.clone() }, next: None };
    }
    stays(cs, None)
}

/// Stop a container for pod termination at `at` with `exit_code` (only running ones change).
pub fn stop(cs: &ContainerStatus, exit_code: i32, at: DateTime<Utc>) -> ContainerStatus {
    if running_since(cs).is_some() {
        exited(cs, exit_code, at)
    } else {
        ContainerStatus { ready: false, started: Some(false), ..cs.clone() }
    }
}

/// Does any container of this list still run?
pub fn any_running(statuses: &[ContainerStatus]) -> bool {
    statuses.iter().any(|s| running_since(s).is_some())
}
