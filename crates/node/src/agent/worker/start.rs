//! Creating the pod's sandbox and starting its containers, and reporting the result.

use std::time::Duration;

use chrono::Utc;
use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod, PodCondition};
use kube::api::{Api, Patch, PatchParams};
use tokio::time::Instant;

use super::PodWorker;
use crate::agent::launch;
use crate::agent::status::{self, CState, View};
use crate::process::{procs, sandbox};
use crate::simulated::containers::restart_backoff;

impl PodWorker {
    pub(super) async fn create_sandbox(&mut self, pod: &Pod) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir).map_err(|e| e.to_string())?;
        let ip = self.ctx.ipam.allocate(&self.uid).map_err(|e| e.to_string())?.ok_or("no pod address left in the node's pod CIDR")?;
        let hostname = crate::agent::etc_files::pod_hostname(pod);
        let out = tokio::process::Command::new(&self.ctx.exe)
            .args(["runtime", "sandbox"])
            .arg(&self.dir)
            .arg(&hostname)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| format!("starting the sandbox: {e}"))?;
        let pid = *sandbox::parse_outcome(&out.stdout)?.first().ok_or("bad sandbox output")?;
        let c = &self.ctx;
        if let Err(e) = crate::process::net::attach_pod(&c.bridge, &self.uid, pid, ip, c.prefix, c.gateway).await {
            procs::signal(pid, nix::sys::signal::Signal::SIGKILL);
            return Err(e);
        }
        self.sandbox = Some((pid, ip));
        self.sandbox_retry = None;
        Ok(())
    }

    pub(super) async fn start_container(&mut self, i: usize, pod: &Pod) {
        let (sandbox_pid, ip) = self.sandbox.expect("sandbox exists");
        let hostname = crate::agent::etc_files::pod_hostname(pod);
        let spec = self.ctrs[i].spec.clone();
        let image = spec.image.clone().unwrap_or_default();
        // As upstream: the image first (ErrImagePull), then the container's config.
        let sources = match launch::argv(&spec, &[]) {
            Ok(_) => crate::agent::env::fetch(&self.ctx.client, pod, &spec).await,
            Err(e) => Err(e),
        };
        let built = sources.and_then(|sources| {
            let alloc = crate::agent::resources::Allocatable::host();
            let resolved = crate::agent::env::resolve(&spec, pod, &hostname, &ip.to_string(), &sources, &alloc)?;
            let argv = launch::argv(&spec, &resolved.env)?;
            let mounts = launch::mounts(&spec, self.volumes.as_ref().expect("volumes prepared"), &resolved.env)?;
            let cspec = crate::process::spec::ContainerSpec {
                sandbox_pid,
                argv,
                env: resolved.env,
                working_dir: spec.working_dir.clone().filter(|w| !w.is_empty()),
                mounts,
                etc_files: vec![
                    ("hosts".into(), crate::agent::etc_files::hosts(pod, &ip.to_string())),
                    ("hostname".into(), format!("{hostname}\n")),
                    ("resolv.conf".into(), crate::agent::etc_files::resolv_conf(pod, &self.ctx.dns)),
                ],
                cgroup: crate::agent::resources::cgroup(&self.ctx.state_dir, &self.uid, &spec),
            };
            Ok((cspec, resolved.warnings))
        });
        let name = spec.name.clone();
        let cspec = match built {
            Ok((s, warnings)) => {
                for (reason, msg) in warnings {
                    self.event(berth_runtime::EventType::Warning, reason, &msg);
                }
                s
            }
            Err(e) if e.reason == "ErrImagePull" => {
                let c = &mut self.ctrs[i];
                c.pull_failures += 1;
                let back = Duration::from_secs((10u64 << (c.pull_failures - 1).min(5)).min(300));
                c.next_start = Some(Instant::now() + back);
                // Upstream shows ErrImagePull for the failed attempt, then ImagePullBackOff
                // until the next one.
                c.state = CState::Waiting { reason: "ErrImagePull".into(), message: Some(e.message.clone()) };
                let backoff = CState::Waiting {
                    reason: "ImagePullBackOff".into(),
                    message: Some(format!("Back-off pulling image {image:?}: ErrImagePull: {}", e.message)),
                };
                c.then_show = Some((Instant::now() + Duration::from_secs(1).min(back), backoff));
                self.event(berth_runtime::EventType::Warning, "Failed", &format!("Failed to pull image {image:?}: {}", e.message));
                self.event(berth_runtime::EventType::Warning, "Failed", "Error: ErrImagePull");
                return;
            }
            Err(e) => {
                let c = &mut self.ctrs[i];
                c.state = CState::Waiting { reason: e.reason.into(), message: Some(e.message.clone()) };
                c.next_start = Some(Instant::now() + Duration::from_secs(10));
                self.event(berth_runtime::EventType::Warning, "Failed", &format!("Error: {}", e.message));
                return;
            }
        };
        // A restart: the previous instance is the last state and counts as a restart.
        let ran_before = !matches!(self.ctrs[i].state, CState::Waiting { .. }) || self.ctrs[i].last.is_some();
        let restart = if ran_before { self.ctrs[i].restart_count + 1 } else { 0 };
        if self.ctrs[i].pull_failures > 0 || !ran_before {
            self.event(berth_runtime::EventType::Normal, "Pulled", &format!("Container image {image:?} already present on machine"));
        }
        self.event(berth_runtime::EventType::Normal, "Created", &format!("Created container: {name}"));
        let at = Utc::now();
        match launch::start(&self.ctx.exe, &self.cdir(&name), restart, &cspec).await {
            Ok(started) => {
                self.event(berth_runtime::EventType::Normal, "Started", &format!("Started container {name}"));
                let instance = self.next_instance;
                self.next_instance += 1;
                let c = &mut self.ctrs[i];
                if let CState::Terminated(t) = &c.state {
                    c.last = Some(t.clone());
                }
                c.restart_count = restart;
                c.state = CState::Running { started_at: at };
                c.running = Some(started);
                c.instance = instance;
                c.next_start = None;
                c.pull_failures = 0;
                c.ready = false;
                c.started = false;
                self.watch_instance(i);
                self.persist(i);
            }
            Err(e) => {
                self.event(berth_runtime::EventType::Warning, "Failed", &format!("Error: {}", e.message));
                let c = &mut self.ctrs[i];
                let t = ContainerStateTerminated { exit_code: 128, reason: Some("StartError".into()), message: Some(e.message), finished_at: Some(status::k8s_time(Utc::now())), ..Default::default() };
                if let CState::Terminated(prev) = &c.state {
                    c.last = Some(prev.clone());
                }
                c.restart_count = restart;
                c.state = CState::Terminated(t);
                c.next_start = Some(Instant::now() + restart_backoff(restart.max(1)));
                self.persist(i);
            }
        }
    }

    pub(super) fn container_statuses(&self) -> Vec<k8s_openapi::api::core::v1::ContainerStatus> {
        self.ctrs
            .iter()
            .map(|c| status::container_status(&self.uid, &View { spec: &c.spec, state: &c.state, last: c.last.as_ref(), restart_count: c.restart_count, ready: c.ready, started: c.started }))
            .collect()
    }

    pub(super) async fn write_status(&mut self, pod: &Pod, terminal: Option<&str>) {
        let current = pod.status.clone().unwrap_or_default();
        let old: Vec<PodCondition> = self.last_written.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
        let ip = self.sandbox.map(|(_, ip)| ip.to_string());
        let sandbox_ready = self.sandbox.is_some() && terminal.is_none();
        let mut desired = status::pod_status(pod, &current, &old, &self.container_statuses(), ip, sandbox_ready, self.start_time, Utc::now(), terminal);
        if terminal.is_none() && self.sandbox.is_none() && pod.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_none() {
            desired.pod_ip = None;
            desired.pod_ips = None;
        }
        if self.last_written.as_ref() == Some(&desired) {
            return;
        }
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &ns);
        let patch = serde_json::json!({"status": desired});
        let name = pod.metadata.name.clone().unwrap_or_default();
        match api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => self.last_written = Some(desired),
            Err(e) => tracing::warn!(pod = %name, error = %e, "writing pod status failed"),
        }
    }

}
