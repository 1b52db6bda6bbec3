//! The storage-object-in-use protection controllers (upstream
//! `pkg/controller/volume/pvcprotection` and `pvprotection`). The admission plugin puts
//! `kubernetes.io/pvc-protection` on every claim and `kubernetes.io/pv-protection` on every
//! volume at creation; these decide when a deleted object's finalizer may go. Pure: no IO.
//!
//! - A claim being deleted keeps its finalizer while a **scheduled** (`spec.nodeName` set),
//!   not terminated pod of its namespace uses it: through `persistentVolumeClaim.claimName`,
//!   or a generic ephemeral volume whose claim `<pod>-<volume>` it is. An unscheduled pod
//!   never gets to start with a deleted claim, so it does not hold it.
//! - A volume being deleted keeps its finalizer while it is `Bound`.

pub mod runner;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

pub const PVC_PROTECTION_FINALIZER: &str = "kubernetes.io/pvc-protection";
pub const PV_PROTECTION_FINALIZER: &str = "kubernetes.io/pv-protection";

fn has_finalizer(meta: &ObjectMeta, f: &str) -> bool {
    meta.finalizers.as_ref().is_some_and(|fs| fs.iter().any(|x| x == f))
}

/// `meta` without finalizer `f`.
pub fn without_finalizer(meta: &ObjectMeta, f: &str) -> ObjectMeta {
    let mut m = meta.clone();
    if let Some(fs) = m.finalizers.as_mut() {
        fs.retain(|x| x != f);
    }
    m
}

fn pod_terminated(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

/// `podUsesPVC`: a scheduled, running-or-about-to-run pod references the claim.
pub fn pod_uses_claim(pod: &Pod, claim: &PersistentVolumeClaim) -> bool {
    if pod.namespace() != claim.namespace() || pod_terminated(pod) {
        return false;
    }
    let Some(spec) = pod.spec.as_ref() else { return false };
    if spec.node_name.as_deref().unwrap_or("").is_empty() {
        return false;
    }
    let claim_name = claim.name_any();
    let pod_name = pod.name_any();
    spec.volumes.iter().flatten().any(|v| {
        v.persistent_volume_claim.as_ref().is_some_and(|c| c.claim_name == claim_name)
            || (v.ephemeral.is_some() && format!("{pod_name}-{}", v.name) == claim_name)
    })
}

/// The claim is being deleted, carries the finalizer, and no pod holds it.
pub fn claim_finalizer_removable(claim: &PersistentVolumeClaim, pods: &[&Pod]) -> bool {
    claim.metadata.deletion_timestamp.is_some()
        && has_finalizer(&claim.metadata, PVC_PROTECTION_FINALIZER)
        && !pods.iter().any(|p| pod_uses_claim(p, claim))
}

/// The volume is being deleted, carries the finalizer, and is not Bound.
pub fn volume_finalizer_removable(volume: &PersistentVolume) -> bool {
    volume.metadata.deletion_timestamp.is_some()
        && has_finalizer(&volume.metadata, PV_PROTECTION_FINALIZER)
        && volume.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Bound")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claim(deleting: bool) -> PersistentVolumeClaim {
        let mut c = json!({"metadata": {"name": "data", "namespace": "default", "finalizers": [PVC_PROTECTION_FINALIZER]}});
        if deleting {
            c["metadata"]["deletionTimestamp"] = json!("2026-11-27T00:00:00Z");
        }
        serde_json::from_value(c).unwrap()
    }

    fn pod(node: Option<&str>, phase: &str, volume: serde_json::Value) -> Pod {
        let mut p = json!({"metadata": {"name": "web-0", "namespace": "default"},
            "spec": {"containers": [{"name": "c"}], "volumes": [volume]}, "status": {"phase": phase}});
        if let Some(n) = node {
            p["spec"]["nodeName"] = json!(n);
        }
        serde_json::from_value(p).unwrap()
    }

    #[test]
    fn a_claim_is_held_only_by_scheduled_live_pods() {
        let uses = json!({"name": "v", "persistentVolumeClaim": {"claimName": "data"}});
        let running = pod(Some("sim-1"), "Running", uses.clone());
        assert!(!claim_finalizer_removable(&claim(true), &[&running]));
        assert!(!claim_finalizer_removable(&claim(false), &[]), "not being deleted");
        assert!(claim_finalizer_removable(&claim(true), &[]));
        assert!(claim_finalizer_removable(&claim(true), &[&pod(None, "Pending", uses.clone())]), "unscheduled");
        assert!(claim_finalizer_removable(&claim(true), &[&pod(Some("sim-1"), "Succeeded", uses.clone())]), "terminated");
        let other = pod(Some("sim-1"), "Running", json!({"name": "v", "persistentVolumeClaim": {"claimName": "other"}}));
        assert!(claim_finalizer_removable(&claim(true), &[&other]));
        let mut elsewhere = running.clone();
        elsewhere.metadata.namespace = Some("prod".into());
        assert!(claim_finalizer_removable(&claim(true), &[&elsewhere]));
        // generic ephemeral volume `web-0-scratch` → claim of that name
        let eph = pod(Some("sim-1"), "Running", json!({"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}));
        let mut c = claim(true);
        c.metadata.name = Some("web-0-scratch".into());
        assert!(!claim_finalizer_removable(&c, &[&eph]));
    }

    #[test]
    fn a_volume_is_held_while_bound() {
        let v = |phase: &str| -> PersistentVolume {
            serde_json::from_value(json!({"metadata": {"name": "pv", "finalizers": [PV_PROTECTION_FINALIZER], "deletionTimestamp": "2026-11-27T00:00:00Z"},
                "status": {"phase": phase}}))
            .unwrap()
        };
        assert!(!volume_finalizer_removable(&v("Bound")));
        assert!(volume_finalizer_removable(&v("Released")));
        assert!(volume_finalizer_removable(&v("Available")));
        let meta = without_finalizer(&v("Released").metadata, PV_PROTECTION_FINALIZER);
        assert_eq!(meta.finalizers, Some(vec![]));
    }
}
