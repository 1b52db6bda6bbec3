//! The pod status a real node reports, from the containers' local states. Phase and the
//! kubelet-owned conditions come from the shared kubelet model in `simulated::conditions`.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
    HostIP, Pod, PodCondition, PodIP, PodStatus, VolumeMountStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::simulated::conditions::{self, foreign_conditions, pod_conditions};
use crate::simulated::ids::{hex_id, image_id, normalize_image};

/// A container as the node sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum CState {
    Waiting { reason: String, message: Option<String> },
    Running { started_at: DateTime<Utc> },
    Terminated(ContainerStateTerminated),
}

/// What the status needs about one container.
pub struct View<'a> {
    pub spec: &'a Container,
    pub state: &'a CState,
    pub last: Option<&'a ContainerStateTerminated>,
    pub restart_count: i32,
    pub ready: bool,
    pub started: bool,
}

pub fn k8s_time(t: DateTime<Utc>) -> Time {
    crate::simulated::time_public::k8s_time(t)
}

pub fn container_id(pod_uid: &str, name: &str, restart: i32) -> String {
    format!("berth://{}", hex_id(&[pod_uid, name, &restart.to_string()], 64))
}

fn mounts(c: &Container) -> Option<Vec<VolumeMountStatus>> {
    let m = c.volume_mounts.as_ref().filter(|m| !m.is_empty())?;
    Some(
        m.iter()
            .map(|m| VolumeMountStatus {
                name: m.name.clone(),
                mount_path: m.mount_path.clone(),
                read_only: m.read_only.filter(|r| *r),
                recursive_read_only: m.read_only.filter(|r| *r).map(|_| "Disabled".to_string()),
            })
            .collect(),
    )
}

pub fn container_status(pod_uid: &str, v: &View) -> ContainerStatus {
    let image = v.spec.image.clone().unwrap_or_default();
    let ran = !matches!(v.state, CState::Waiting { .. }) || v.last.is_some();
    let state = match v.state {
        CState::Waiting { reason, message } => ContainerState {
            waiting: Some(ContainerStateWaiting { reason: Some(reason.clone()), message: message.clone() }),
            ..Default::default()
        },
        CState::Running { started_at } => ContainerState {
            running: Some(ContainerStateRunning { started_at: Some(k8s_time(*started_at)) }),
            ..Default::default()
        },
        CState::Terminated(t) => ContainerState { terminated: Some(t.clone()), ..Default::default() },
    };
    let running = matches!(v.state, CState::Running { .. });
    ContainerStatus {
        name: v.spec.name.clone(),
        container_id: ran.then(|| container_id(pod_uid, &v.spec.name, v.restart_count)),
        image: if ran { normalize_image(&image) } else { image.clone() },
        image_id: if ran { image_id(&image) } else { String::new() },
        last_state: Some(ContainerState { terminated: v.last.cloned(), ..Default::default() }),
        ready: running && v.ready,
        restart_count: v.restart_count,
        started: Some(running && v.started),
        state: Some(state),
        volume_mounts: mounts(v.spec),
        ..Default::default()
    }
}

/// Full status. `old` conditions keep their transition times while unchanged; conditions
/// owned by others are taken from `api_conditions` (the latest seen in the API).
#[allow(clippy::too_many_arguments)]
pub fn pod_status(
    pod: &Pod,
    current: &PodStatus,
    old_kubelet_conditions: &[PodCondition],
    containers: &[ContainerStatus],
    pod_ip: Option<String>,
    sandbox_ready: bool,
    start_time: DateTime<Utc>,
    now: DateTime<Utc>,
    terminal_phase: Option<&str>,
) -> PodStatus {
    let phase = terminal_phase.unwrap_or_else(|| conditions::phase(pod, &[], containers));
    let mut old = foreign_conditions(current.conditions.as_deref().unwrap_or(&[]));
    let extra: Vec<PodCondition> = old_kubelet_conditions.iter().filter(|c| !old.iter().any(|o| o.type_ == c.type_)).cloned().collect();
    old.extend(extra);
    let conds = pod_conditions(pod, &old, phase, sandbox_ready, &[], containers, now);
    PodStatus {
        phase: Some(phase.into()),
        conditions: Some(conds),
        host_ip: Some(super::fieldref::host_ip().into()),
        host_ips: Some(vec![HostIP { ip: super::fieldref::host_ip().into() }]),
        pod_ip: pod_ip.clone().or(current.pod_ip.clone()),
        pod_ips: pod_ip.map(|ip| vec![PodIP { ip }]).or(current.pod_ips.clone()),
        start_time: Some(current.start_time.clone().unwrap_or_else(|| k8s_time(start_time))),
        qos_class: Some(current.qos_class.clone().unwrap_or_else(|| conditions::qos_class(pod).to_string())),
        container_statuses: Some(containers.to_vec()),
        ..current.clone()
    }
}

pub fn terminated(exit_code: i32, started_at: Option<DateTime<Utc>>, finished_at: DateTime<Utc>, container_id: String) -> ContainerStateTerminated {
    ContainerStateTerminated {
        exit_code,
        reason: Some(if exit_code == 0 { "Completed" } else { "Error" }.into()),
        started_at: started_at.map(k8s_time),
        finished_at: Some(k8s_time(finished_at)),
        container_id: Some(container_id),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Pod {
        serde_json::from_value(serde_json::json!({"metadata": {"name": "p", "namespace": "d", "uid": "u"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}})).unwrap()
    }

    #[test]
    fn running_ready_container_makes_a_ready_running_pod() {
        let p = pod();
        let spec = &p.spec.as_ref().unwrap().containers[0];
        let now = Utc::now();
        let st = CState::Running { started_at: now };
        let cs = container_status("u", &View { spec, state: &st, last: None, restart_count: 0, ready: true, started: true });
        assert_eq!(cs.image, "docker.io/library/busybox:latest");
        assert!(cs.container_id.as_deref().unwrap().starts_with("berth://"));
        let s = pod_status(&p, &PodStatus::default(), &[], std::slice::from_ref(&cs), Some("10.0.0.2".into()), true, now, now, None);
        assert_eq!(s.phase.as_deref(), Some("Running"));
        let ready = s.conditions.unwrap().into_iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, "True");
        assert_eq!(s.pod_ips.unwrap()[0].ip, "10.0.0.2");
        assert_eq!(s.qos_class.as_deref(), Some("BestEffort"));
    }

    #[test]
    fn crash_loop_container_is_pending_free_running_pod_with_last_state() {
        let p = pod();
        let spec = &p.spec.as_ref().unwrap().containers[0];
        let now = Utc::now();
        let last = terminated(1, Some(now), now, container_id("u", "c", 0));
        let st = CState::Waiting { reason: "CrashLoopBackOff".into(), message: Some("back-off 10s".into()) };
        let cs = container_status("u", &View { spec, state: &st, last: Some(&last), restart_count: 1, ready: false, started: false });
        assert_eq!(cs.last_state.as_ref().unwrap().terminated.as_ref().unwrap().reason.as_deref(), Some("Error"));
        let s = pod_status(&p, &PodStatus::default(), &[], &[cs], None, true, now, now, None);
        // getPhase: a waiting container that ran before counts as stopped → Running (Always).
        assert_eq!(s.phase.as_deref(), Some("Running"));
    }
}
