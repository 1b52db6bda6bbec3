//! Keeping file-backed volumes (configMap, secret, downwardAPI, projected) current while the
//! pod runs: rewritten every sync period (upstream's kubelet: 1 min) and at once when the
//! pod's labels or annotations change (the downward API's files show them).

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
