//! Stopping containers: on pod deletion (preStop, SIGTERM, SIGKILL after the grace period,
//! terminal status, final DELETE), on removal from the API, and the sandbox teardown.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Preconditions};
use tokio::time::Instant;

use super::PodWorker;
use crate::agent::launch;
use crate::agent::status::CState;
use crate::process::procs;
use crate::simulated::conditions::{PHASE_FAILED, PHASE_SUCCEEDED};

impl PodWorker {
    pub(super) async fn kill_all(&mut self, grace: Duration) {
        let stops: Vec<_> = self.ctrs.iter().filter_map(|c| c.running).map(|s| launch::stop(s, grace)).collect();
        futures::future::join_all(stops).await;
        for i in 0..self.ctrs.len() {
            if self.ctrs[i].running.is_some() {
                // Stopping is not crashing: report the exit itself, with no restart.
                self.exited(i, false);
            }
        }
    }

    pub(super) fn teardown_sandbox(&mut self) {
        if let Some((pid, _)) = self.sandbox.take() {
            procs::signal(pid, nix::sys::signal::Signal::SIGKILL);
        }
        crate::process::net::delete_link_blocking(&crate::process::net::host_veth_name(&self.uid));
        self.ctx.ipam.release(&self.uid);
        // NFS volumes are mounted under the pod dir; detach them before anything removes it.
        crate::agent::nfs::unmount_under(&self.dir);
        self.volumes = None;
        if let Some(cg) = crate::process::cgroup::Cgroups::host() {
            cg.remove_pod(&crate::process::cgroup::node_key(&self.ctx.state_dir), &self.uid);
        }
    }

    pub(super) fn teardown(&mut self) {
        self.teardown_sandbox();
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Graceful deletion: preStop, SIGTERM, SIGKILL after the grace period, terminal status,
    /// then the final DELETE of exactly this pod.
    pub(super) async fn terminate(&mut self, pod: &Pod) {
        let grace = self.grace(Some(pod));
        let deadline = Instant::now() + grace;
        let ran = self.sandbox.is_some() || self.ctrs.iter().any(|c| c.running.is_some());
        let hooks: Vec<_> = self
            .ctrs
            .iter()
            .filter(|c| c.running.is_some())
            .map(|c| {
                self.event(berth_runtime::EventType::Normal, "Killing", &format!("Stopping container {}", c.spec.name));
                let hook = c.spec.lifecycle.as_ref().and_then(|l| l.pre_stop.clone());
                let (s, ip, spec) = (c.running.expect("running"), self.sandbox.map(|x| x.1.to_string()).unwrap_or_default(), c.spec.clone());
                async move {
                    if let Some(h) = hook {
                        let _ = tokio::time::timeout_at(deadline, crate::agent::hooks::run(&spec, &h, &ip, s.pid)).await;
                    }
                }
            })
            .collect();
        futures::future::join_all(hooks).await;
        self.kill_all(deadline.saturating_duration_since(Instant::now())).await;
        self.teardown_sandbox();
        let has_finalizers = pod.metadata.finalizers.as_ref().is_some_and(|f| !f.is_empty());
        if ran && (grace > Duration::ZERO || has_finalizers) {
            let all_ok = self.ctrs.iter().all(|c| matches!(&c.state, CState::Terminated(t) if t.exit_code == 0));
            let phase = if all_ok && !self.ctrs.is_empty() { PHASE_SUCCEEDED } else { PHASE_FAILED };
            self.write_status(pod, Some(phase)).await;
        }
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &ns);
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions { uid: Some(self.uid.clone()), resource_version: None }),
            ..Default::default()
        };
        let name = pod.metadata.name.clone().unwrap_or_default();
        for attempt in 0..10u32 {
            match api.delete(&name, &dp).await {
                Ok(_) => break,
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => break,
                Err(e) => {
                    tracing::warn!(pod = %name, error = %e, "final delete failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 << attempt.min(5))).await;
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
