//! The binding cycle for one pod, run as its own task so the scheduling loop never waits on
//! it (upstream runs `bindingCycle` in a goroutine): PreBind (the VolumeBinding plugin's API
//! writes, then waiting until the PV controller has bound the claims), Bind (`POST
//! pods/<name>/binding`), and the `Scheduled` event.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use berth_runtime::{EventRecorder, EventType};
use k8s_openapi::api::core::v1::{ObjectReference, PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::json;
use tokio::sync::watch;

use super::cache::{AssumedVolumes, ANN_BOUND_BY_CONTROLLER};
use super::queue::PodKey;
use crate::volumes::{ANN_BIND_COMPLETED, ANN_SELECTED_NODE};

/// Upstream `bindTimeoutSeconds` (VolumeBinding plugin args default): how long PreBind waits
/// for the PV controller to bind the pod's claims.
pub const BIND_TIMEOUT: Duration = Duration::from_secs(600);

/// What one binding cycle needs; cheap to clone.
#[derive(Clone)]
pub struct Binder {
    pub client: kube::Client,
    pub recorder: EventRecorder,
    pub pvcs: Store<PersistentVolumeClaim>,
    pub pvs: Store<PersistentVolume>,
    /// Bumped whenever the PVC or PV watch delivers an event.
    pub volume_changes: watch::Receiver<u64>,
    pub bind_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct BindJob {
    pub key: PodKey,
    pub pod: Arc<Pod>,
    pub node: String,
    pub volumes: AssumedVolumes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindOutcome {
    Bound,
    /// The API server refused because the pod is already assigned (or being deleted): another
    /// binder won. Nothing to retry.
    Conflict(String),
    /// The pod no longer exists.
    Gone,
    /// PreBind or Bind failed: the message for the `FailedScheduling` event.
    Failed(String),
}

/// The message of an API error (the `Status` message when there is one).
fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// `GetReference` of a pod, for events.
pub fn pod_reference(pod: &Pod) -> ObjectReference {
    berth_runtime::reference(pod)
}

fn annotation<'a>(annotations: &'a Option<BTreeMap<String, String>>, key: &str) -> Option<&'a str> {
    annotations.as_ref()?.get(key).map(String::as_str)
}

/// Revisions are integers in berth (and etcd); a cache entry older than our own write must be
/// waited out, as upstream's `CompareResourceVersion` check does.
fn older_than(seen: Option<&str>, written: Option<&str>) -> bool {
    match (seen.and_then(|s| s.parse::<u64>().ok()), written.and_then(|s| s.parse::<u64>().ok())) {
        (Some(seen), Some(written)) => seen < written,
        _ => false,
    }
}

/// The revisions our own writes produced, so the check waits for the caches to catch up.
#[derive(Debug, Default, Clone)]
pub struct Written {
    pub pvs: BTreeMap<String, String>,
    pub claims: BTreeMap<PodKey, String>,
}

fn is_fully_bound(pvc: &PersistentVolumeClaim) -> bool {
    pvc.spec.as_ref().and_then(|s| s.volume_name.as_deref()).is_some_and(|v| !v.is_empty())
        && annotation(&pvc.metadata.annotations, ANN_BIND_COMPLETED).is_some()
}

/// Upstream `checkBindings`: `Ok(true)` when every claim the pod needed bound is bound,
/// `Ok(false)` to keep waiting, `Err` when the PV controller undid our choice (the pod must be
/// scheduled again).
pub fn check_bindings(
    job: &BindJob,
    written: &Written,
    pvcs: &Store<PersistentVolumeClaim>,
    pvs: &Store<PersistentVolume>,
) -> Result<bool, String> {
    let claim = |key: &PodKey| {
        pvcs.get(&ObjectRef::new(&key.name).within(&key.namespace))
            .ok_or_else(|| format!("failed to check binding: persistentvolumeclaim \"{}\" not found", key.name))
    };
    let mut all_bound = true;
    for (pv_name, claim_ref) in &job.volumes.claim_refs {
        let pv = pvs.get(&ObjectRef::new(pv_name)).ok_or_else(|| format!("failed to check binding: persistentvolume \"{pv_name}\" not found"))?;
        if older_than(pv.metadata.resource_version.as_deref(), written.pvs.get(pv_name).map(String::as_str)) {
            all_bound = false;
            continue;
        }
        let r = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
        if r.is_none_or(|r| r.uid.as_deref().unwrap_or("").is_empty()) {
            return Err(format!("ClaimRef got reset for pv \"{pv_name}\""));
        }
        let key = PodKey::new(claim_ref.namespace.as_deref().unwrap_or(""), claim_ref.name.as_deref().unwrap_or(""));
        all_bound &= is_fully_bound(&*claim(&key)?);
    }
    for key in &job.volumes.provisions {
        let pvc = claim(key)?;
        if older_than(pvc.metadata.resource_version.as_deref(), written.claims.get(key).map(String::as_str)) {
            all_bound = false;
            continue;
        }
        match annotation(&pvc.metadata.annotations, ANN_SELECTED_NODE) {
            None => return Err(format!("selectedNode annotation reset for PVC \"{}\"", key.name)),
            // The provisioner removes the annotation (or another scheduler moved it) when it
            // cannot provision on this node.
            Some(n) if n != job.node => return Err(format!("provisioning failed for PVC \"{}\"", key.name)),
            Some(_) => {}
        }
        all_bound &= is_fully_bound(&pvc);
    }
    Ok(all_bound)
}

impl Binder {
    /// Run the binding cycle; the caller turns the outcome into queue and cache updates.
    pub async fn bind(&self, job: &BindJob) -> BindOutcome {
        if !job.volumes.claim_refs.is_empty() || !job.volumes.provisions.is_empty() {
            if let Err(message) = self.pre_bind(job).await {
                return BindOutcome::Failed(format!("running PreBind plugin \"VolumeBinding\": binding volumes: {message}"));
            }
        }
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &job.key.namespace);
        let binding = json!({
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": job.key.name, "namespace": job.key.namespace, "uid": job.pod.metadata.uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": job.node},
        });
        match pods.create_subresource::<_, serde_json::Value>("binding", &job.key.name, &PostParams::default(), &binding).await {
            Ok(_) => {
                self.recorder.record(
                    pod_reference(&job.pod),
                    EventType::Normal,
                    "Scheduled",
                    &format!("Successfully assigned {} to {}", job.key, job.node),
                );
                BindOutcome::Bound
            }
            Err(e) if api_code(&e) == Some(409) => BindOutcome::Conflict(describe(&e)),
            Err(e) if api_code(&e) == Some(404) => BindOutcome::Gone,
            Err(e) => BindOutcome::Failed(format!("running Bind plugin \"DefaultBinder\": {}", describe(&e))),
        }
    }

    /// The VolumeBinding plugin's PreBind: write the claimRefs and selected-node annotations
    /// (`bindAPIUpdate`), then wait until the PV controller has bound every claim.
    async fn pre_bind(&self, job: &BindJob) -> Result<(), String> {
        let mut written = Written::default();
        let pvs: Api<PersistentVolume> = Api::all(self.client.clone());
        for (pv_name, claim_ref) in &job.volumes.claim_refs {
            let cached = self.pvs.get(&ObjectRef::new(pv_name)).ok_or_else(|| format!("persistentvolume \"{pv_name}\" not found"))?;
            let current = cached.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
            if current.is_some_and(|r| r.uid == claim_ref.uid && r.name == claim_ref.name && r.namespace == claim_ref.namespace) {
                continue; // an earlier attempt already wrote it
            }
            // The cached revision is a precondition: if the PV changed since the decision (say
            // another claim took it), the write fails and the pod is scheduled again.
            let patch = json!({
                "metadata": {
                    "resourceVersion": cached.metadata.resource_version,
                    "annotations": {ANN_BOUND_BY_CONTROLLER: "yes"},
                },
                "spec": {"claimRef": claim_ref},
            });
            let out = pvs.patch(pv_name, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(|e| describe(&e))?;
            if let Some(rv) = out.metadata.resource_version {
                written.pvs.insert(pv_name.clone(), rv);
            }
        }
        for key in &job.volumes.provisions {
            let claims: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), &key.namespace);
            let cached = self
                .pvcs
                .get(&ObjectRef::new(&key.name).within(&key.namespace))
                .ok_or_else(|| format!("persistentvolumeclaim \"{}\" not found", key.name))?;
            if annotation(&cached.metadata.annotations, ANN_SELECTED_NODE) == Some(job.node.as_str()) {
                continue;
            }
            let patch = json!({"metadata": {
                "resourceVersion": cached.metadata.resource_version,
                "annotations": {ANN_SELECTED_NODE: job.node},
            }});
            let out = claims.patch(&key.name, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(|e| describe(&e))?;
            if let Some(rv) = out.metadata.resource_version {
                written.claims.insert(key.clone(), rv);
            }
        }
        let mut changes = self.volume_changes.clone();
        let deadline = tokio::time::Instant::now() + self.bind_timeout;
        loop {
            changes.borrow_and_update();
            if check_bindings(job, &written, &self.pvcs, &self.pvs)? {
                return Ok(());
            }
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return Err("the scheduler is shutting down".into());
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return Err("context deadline exceeded".into()),
            }
        }
    }
}

#[cfg(test)]
#[path = "binder_tests.rs"]
mod tests;
