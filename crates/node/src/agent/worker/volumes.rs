//! The pod's volumes: set up before its containers start (a failure is upstream's
//! `FailedMount` event, retried with the volume manager's back-off while the pod stays
//! ContainerCreating), and file-backed ones (configMap, secret, downwardAPI, projected) kept
//! current while it runs: rewritten every sync period (upstream's kubelet: 1 min) and at once
//! when the pod's labels or annotations change (the downward API's files show them).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use tokio::time::Instant;

use super::PodWorker;

/// The kubelet's sync period.
const PERIOD: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Refresh {
    at: Option<Instant>,
    meta: (BTreeMap<String, String>, BTreeMap<String, String>),
}

impl Refresh {
    pub fn next(&self) -> Option<Instant> {
        self.at.map(|t| t + PERIOD)
    }

    /// The volumes were just written.
    pub fn done(&mut self, pod: &Pod) {
        self.at = Some(Instant::now());
        self.meta = meta(pod);
    }

    fn due(&self, pod: &Pod) -> bool {
        self.at.is_some_and(|t| t + PERIOD <= Instant::now()) || (self.at.is_some() && self.meta != meta(pod))
    }
}

fn meta(pod: &Pod) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    (pod.metadata.labels.clone().unwrap_or_default(), pod.metadata.annotations.clone().unwrap_or_default())
}

impl PodWorker {
    /// Set up the volumes unless done; false while they are not (the caller stops there).
    pub(super) async fn prepare_volumes(&mut self, pod: &Pod) -> bool {
        if self.volumes.is_some() {
            return true;
        }
        if self.sandbox_retry.is_some_and(|t| t > Instant::now()) {
            return false;
        }
        let ip = self.sandbox.map(|(_, ip)| ip.to_string()).unwrap_or_default();
        match crate::agent::volumes::prepare(&self.ctx.client, pod, &self.dir, &ip).await {
            Ok(v) => {
                self.volumes = Some(v);
                self.mount_failures = 0;
                self.sandbox_retry = None;
                self.refresh.done(pod);
                true
            }
            Err((name, e)) => {
                self.event(berth_runtime::EventType::Warning, "FailedMount", &format!("MountVolume.SetUp failed for volume {name:?} : {e}"));
                // Upstream's volume operation back-off: 500 ms doubling to 2m2s.
                let wait = Duration::from_millis(500u64 << self.mount_failures.min(8)).min(Duration::from_secs(122));
                self.mount_failures += 1;
                self.sandbox_retry = Some(Instant::now() + wait);
                self.write_status(pod, None).await;
                false
            }
        }
    }

    pub(super) async fn refresh_volumes(&mut self, pod: &Pod) {
        if self.volumes.is_none() || !self.refresh.due(pod) {
            return;
        }
        let ip = self.sandbox.map(|(_, ip)| ip.to_string()).unwrap_or_default();
        for (name, e) in crate::agent::volumes::refresh(&self.ctx.client, pod, &self.dir, &ip).await {
            tracing::warn!(pod = %self.name(), volume = %name, error = %e, "refreshing a volume failed; keeping its files");
        }
        self.refresh.done(pod);
    }
}
