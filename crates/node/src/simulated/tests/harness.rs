use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use k8s_openapi::api::core::v1::{Container, ContainerPort, ContainerStatus, Pod, PodCondition, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::simulated::time::k8s_time;
use crate::simulated::{next_step, Behaviour, PodCidr, SimNodeConfig, Step};

pub const NODE: &str = "sim-1";

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()
}

pub fn config() -> SimNodeConfig {
    SimNodeConfig::new(NODE, "10.0.0.11".parse().unwrap(), PodCidr::parse("10.244.1.0/24").unwrap())
}

/// A pod as the scheduler leaves it: bound, PodScheduled True, nothing else in status.
pub fn bound_pod(name: &str, containers: &[&str]) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{name}")),
            creation_timestamp: Some(k8s_time(t0())),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: Some(NODE.into()),
            containers: containers
                .iter()
                .map(|c| Container { name: (*c).into(), image: Some("nginx:1.25".into()), ..Default::default() })
                .collect(),
            restart_policy: Some("Always".into()),
            termination_grace_period_seconds: Some(30),
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some("Pending".into()),
            conditions: Some(vec![PodCondition {
                type_: "PodScheduled".into(),
                status: "True".into(),
                last_transition_time: Some(k8s_time(t0())),
                ..Default::default()
            }]),
            qos_class: Some("BestEffort".into()),
            ..Default::default()
        }),
    }
}

pub fn with_host_port(mut pod: Pod, port: i32) -> Pod {
    pod.spec.as_mut().unwrap().containers[0].ports =
        Some(vec![ContainerPort { container_port: 80, host_port: Some(port), ..Default::default() }]);
    pod
}

pub fn annotate(pod: &mut Pod, key: &str, value: &str) {
    pod.metadata.annotations.get_or_insert_with(BTreeMap::new).insert(key.into(), value.into());
}

/// One simulated node driving one pod, plus other pods on the node.
pub struct Sim {
    pub cfg: SimNodeConfig,
    pub now: DateTime<Utc>,
    pub pod: Pod,
    pub others: Vec<Pod>,
    pub writes: usize,
}

impl Sim {
    pub fn new(pod: Pod) -> Self {
        Sim { cfg: config(), now: t0(), pod, others: Vec::new(), writes: 0 }
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += chrono::Duration::from_std(d).unwrap();
    }

    pub fn advance_secs(&mut self, s: u64) {
        self.advance(Duration::from_secs(s))
    }

    /// One call to `next_step`; applies a status write as the API server would.
    pub fn step(&mut self) -> Step {
        let mut view = self.others.clone();
        view.push(self.pod.clone());
        let step = next_step(&self.pod, NODE, self.now, &Behaviour::new(&self.cfg, &view));
        if let Step::UpdateStatus(status) = &step {
            let json = serde_json::to_value(status).unwrap();
            let stored: PodStatus = serde_json::from_value(json).unwrap();
            assert_ne!(Some(&stored), self.pod.status.as_ref(), "a write must change the status");
            self.pod.status = Some(stored);
            self.writes += 1;
        }
        step
    }

    /// Steps until the model has nothing to write now; returns that final step.
    pub fn settle(&mut self) -> Step {
        for _ in 0..20 {
            match self.step() {
                Step::UpdateStatus(_) => continue,
                other => return other,
            }
        }
        panic!("no quiescence after 20 steps: {:#?}", self.pod.status);
    }

    pub fn status(&self) -> &PodStatus {
        self.pod.status.as_ref().unwrap()
    }

    pub fn phase(&self) -> &str {
        self.status().phase.as_deref().unwrap()
    }

    pub fn container(&self, i: usize) -> &ContainerStatus {
        &self.status().container_statuses.as_ref().unwrap()[i]
    }

    pub fn condition(&self, type_: &str) -> &PodCondition {
        self.status().conditions.as_ref().unwrap().iter().find(|c| c.type_ == type_).unwrap_or_else(|| panic!("no {type_} condition"))
    }

    pub fn condition_types(&self) -> Vec<&str> {
        self.status().conditions.iter().flatten().map(|c| c.type_.as_str()).collect()
    }

    /// kubectl's READY and STATUS columns (printPod, reference §5.1).
    pub fn kubectl(&self) -> (String, String) {
        kubectl_columns(&self.pod)
    }
}

pub fn kubectl_columns(pod: &Pod) -> (String, String) {
    let status = pod.status.clone().unwrap_or_default();
    let mut reason = status.phase.clone().unwrap_or_default();
    if let Some(r) = status.reason.clone().filter(|r| !r.is_empty()) {
        reason = r;
    }
    let total = pod.spec.as_ref().unwrap().containers.len();
    let mut ready = 0;
    let mut initializing = false;
    let inits = status.init_container_statuses.clone().unwrap_or_default();
    for (i, c) in inits.iter().enumerate() {
        let st = c.state.clone().unwrap_or_default();
        if st.terminated.as_ref().is_some_and(|t| t.exit_code == 0) {
            continue;
        }
        initializing = true;
        reason = match (&st.terminated, &st.waiting) {
            (Some(t), _) => format!("Init:{}", t.reason.clone().unwrap_or_default()),
            (None, Some(w)) if w.reason.as_deref().is_some_and(|r| r != "PodInitializing") => format!("Init:{}", w.reason.clone().unwrap()),
            _ => format!("Init:{}/{}", i, inits.len()),
        };
        break;
    }
    if !initializing {
        let mut has_running = false;
        for c in status.container_statuses.clone().unwrap_or_default().iter().rev() {
            let st = c.state.clone().unwrap_or_default();
            if let Some(w) = st.waiting.as_ref().and_then(|w| w.reason.clone()) {
                reason = w;
            } else if let Some(t) = &st.terminated {
                reason = t.reason.clone().unwrap_or_else(|| format!("ExitCode:{}", t.exit_code));
            } else if c.ready && st.running.is_some() {
                has_running = true;
                ready += 1;
            } else if st.running.is_some() {
                has_running = true;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = status.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True");
            reason = if pod_ready { "Running".into() } else { "NotReady".into() };
        }
    }
    let terminal = matches!(status.phase.as_deref(), Some("Succeeded" | "Failed"));
    if pod.metadata.deletion_timestamp.is_some() && !terminal {
        reason = "Terminating".into();
    }
    (format!("{ready}/{total}"), reason)
}
