//! berth's built-in provisioner `berth.dev/local-path`: one directory per volume on the node
//! the claim's pod landed on, in the manner of an external provisioner (upstream's
//! `sig-storage-lib-external-provisioner` events, rancher's local-path layout). Pure: the
//! volume object to create, where its directory lives, which node holds it, and whether a
//! path is one this provisioner may delete. The executor does the filesystem and API work.
//!
//! Layout: `<storage root>/<node>/pvc-<claim uid>_<namespace>_<claim>`, where the storage
//! root is `<cluster data dir>/storage`. Simulated nodes share the cluster's machine, so
//! their directories are under the same root.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{
    HostPathVolumeSource, Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PersistentVolume,
    PersistentVolumeClaim, PersistentVolumeSpec, VolumeNodeAffinity,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

use super::helpers::{claim_access_modes, claim_reference};
use super::{ANN_DYNAMICALLY_PROVISIONED, ANN_SELECTED_NODE, LOCAL_PATH_PROVISIONER};

/// The label the volume's node affinity names (every node carries it, simulated ones too).
pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
/// Event source of the provisioner's own events (upstream: `<provisioner>_<identity>`).
pub const COMPONENT: &str = LOCAL_PATH_PROVISIONER;

/// `pvc-<claim uid>`, the name every provisioner derives from the claim (`MakeVolumeName`).
pub fn volume_name(claim: &PersistentVolumeClaim) -> String {
    format!("pvc-{}", claim.metadata.uid.as_deref().unwrap_or(""))
}

/// The volume's directory for `claim` on `node`.
pub fn volume_dir(root: &Path, node: &str, claim: &PersistentVolumeClaim) -> PathBuf {
    root.join(node).join(format!(
        "{}_{}_{}",
        volume_name(claim),
        claim.namespace().unwrap_or_default(),
        claim.name_any()
    ))
}

/// Upstream external-provisioner's `Provisioning` event message.
pub fn provisioning_message(claim: &PersistentVolumeClaim) -> String {
    format!("External provisioner is provisioning volume for claim \"{}/{}\"", claim.namespace().unwrap_or_default(), claim.name_any())
}

/// Upstream external-provisioner's `ProvisioningFailed` event message.
pub fn failed_message(class: &StorageClass, error: &str) -> String {
    format!("failed to provision volume with StorageClass \"{}\": {error}", class.name_any())
}

fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Which node holds the volume: the scheduler's choice (`selected-node`) for
/// WaitForFirstConsumer claims; for Immediate claims, which have none, the first Ready node
/// by name, so the pod follows its volume (the scheduler honours the node affinity).
pub fn choose_node(claim: &PersistentVolumeClaim, nodes: &[Node]) -> Result<String, String> {
    if let Some(n) = claim.annotations().get(ANN_SELECTED_NODE).filter(|n| !n.is_empty()) {
        return Ok(n.clone());
    }
    let mut ready: Vec<String> = nodes.iter().filter(|n| node_ready(n) && n.metadata.deletion_timestamp.is_none()).map(|n| n.name_any()).collect();
    ready.sort();
    ready.into_iter().next().ok_or_else(|| "no Ready node to hold a local-path volume".to_string())
}

/// A node name safe to use as one path component.
fn safe_component(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('\0')
}

/// The volume to create for `claim` on `node` (whose directory is `dir`): capacity = the
/// request, the claim's access modes and volume mode, the class's reclaim policy (default
/// Delete) and mount options, pre-bound to the claim, pinned to the node.
pub fn plan_volume(claim: &PersistentVolumeClaim, class: &StorageClass, node: &str, dir: &Path) -> Result<PersistentVolume, String> {
    if !safe_component(node) {
        return Err(format!("invalid node name {node:?}"));
    }
    if claim.metadata.uid.as_deref().unwrap_or("").is_empty() {
        return Err("claim has no UID".into());
    }
    let spec = claim.spec.clone().unwrap_or_default();
    let request = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .cloned()
        .ok_or_else(|| "claim has no storage request".to_string())?;
    if spec.selector.is_some() {
        // As upstream's external provisioner: a selector asks for a specific existing volume.
        return Err("claim Selector is not supported".into());
    }
    let affinity = VolumeNodeAffinity {
        required: Some(NodeSelector {
            node_selector_terms: vec![NodeSelectorTerm {
                match_expressions: Some(vec![NodeSelectorRequirement {
                    key: LABEL_HOSTNAME.into(),
                    operator: "In".into(),
                    values: Some(vec![node.to_string()]),
                }]),
                match_fields: None,
            }],
        }),
    };
    Ok(PersistentVolume {
        metadata: ObjectMeta {
            name: Some(volume_name(claim)),
            annotations: Some(BTreeMap::from([(ANN_DYNAMICALLY_PROVISIONED.to_string(), LOCAL_PATH_PROVISIONER.to_string())])),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeSpec {
            capacity: Some(BTreeMap::from([("storage".to_string(), request)])),
            access_modes: Some(claim_access_modes(claim).to_vec()),
            volume_mode: Some(spec.volume_mode.clone().unwrap_or_else(|| "Filesystem".into())),
            persistent_volume_reclaim_policy: Some(class.reclaim_policy.clone().unwrap_or_else(|| "Delete".into())),
            storage_class_name: Some(class.name_any()),
            mount_options: class.mount_options.clone(),
            claim_ref: Some(claim_reference(claim)),
            host_path: Some(HostPathVolumeSource { path: dir.to_string_lossy().into_owned(), type_: Some("DirectoryOrCreate".into()) }),
            node_affinity: Some(affinity),
            ..PersistentVolumeSpec::default()
        }),
        status: None,
    })
}

/// The directory of a volume this provisioner made, if `path` is one it may remove: exactly
/// `<root>/<node>/pvc-…`, no `..`. Anything else is refused — the controller must never
/// remove a directory an API object merely points at.
pub fn deletable_dir(root: &Path, path: &str) -> Result<PathBuf, String> {
    let p = Path::new(path);
    let refuse = || format!("local-path deleter only removes directories under {}/<node>/pvc-…, not {path}", root.display());
    let rest = p.strip_prefix(root).map_err(|_| refuse())?;
    let comps: Vec<Component> = rest.components().collect();
    match comps.as_slice() {
        [Component::Normal(node), Component::Normal(dir)]
            if safe_component(&node.to_string_lossy()) && dir.to_string_lossy().starts_with("pvc-") =>
        {
            Ok(p.to_path_buf())
        }
        _ => Err(refuse()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claim() -> PersistentVolumeClaim {
        serde_json::from_value(json!({
            "metadata": {"name": "data-web-0", "namespace": "default", "uid": "1234", "resourceVersion": "7",
                         "annotations": {ANN_SELECTED_NODE: "sim-2"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "storageClassName": "local-path"}
        }))
        .unwrap()
    }

    fn class(policy: Option<&str>) -> StorageClass {
        let mut c = json!({"metadata": {"name": "local-path"}, "provisioner": LOCAL_PATH_PROVISIONER, "volumeBindingMode": "WaitForFirstConsumer"});
        if let Some(p) = policy {
            c["reclaimPolicy"] = json!(p);
        }
        serde_json::from_value(c).unwrap()
    }

    fn node(name: &str, ready: bool) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name},
            "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}}))
        .unwrap()
    }

    #[test]
    fn the_volume_is_pre_bound_pinned_and_sized_as_asked() {
        let root = Path::new("/var/lib/berth/storage");
        let dir = volume_dir(root, "sim-2", &claim());
        assert_eq!(dir, Path::new("/var/lib/berth/storage/sim-2/pvc-1234_default_data-web-0"));
        let v = serde_json::to_value(plan_volume(&claim(), &class(None), "sim-2", &dir).unwrap()).unwrap();
        assert_eq!(v["metadata"]["name"], "pvc-1234");
        assert_eq!(v["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"], "berth.dev/local-path");
        assert_eq!(v["spec"]["capacity"]["storage"], "1Gi");
        assert_eq!(v["spec"]["accessModes"], json!(["ReadWriteOnce"]));
        assert_eq!(v["spec"]["volumeMode"], "Filesystem");
        assert_eq!(v["spec"]["persistentVolumeReclaimPolicy"], "Delete");
        assert_eq!(v["spec"]["storageClassName"], "local-path");
        assert_eq!(v["spec"]["claimRef"]["uid"], "1234");
        assert_eq!(v["spec"]["claimRef"]["name"], "data-web-0");
        assert_eq!(v["spec"]["hostPath"]["path"], "/var/lib/berth/storage/sim-2/pvc-1234_default_data-web-0");
        assert_eq!(
            v["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0],
            json!({"key": "kubernetes.io/hostname", "operator": "In", "values": ["sim-2"]})
        );
        let retain = serde_json::to_value(plan_volume(&claim(), &class(Some("Retain")), "sim-2", &dir).unwrap()).unwrap();
        assert_eq!(retain["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert!(plan_volume(&claim(), &class(None), "../etc", &dir).is_err());
    }

    #[test]
    fn the_node_is_the_schedulers_choice_or_the_first_ready_one() {
        assert_eq!(choose_node(&claim(), &[]), Ok("sim-2".to_string()));
        let mut immediate = claim();
        immediate.metadata.annotations = None;
        let nodes = [node("sim-3", true), node("sim-1", false), node("sim-2", true)];
        assert_eq!(choose_node(&immediate, &nodes), Ok("sim-2".to_string()));
        assert!(choose_node(&immediate, &[node("sim-1", false)]).is_err());
    }

    #[test]
    fn only_its_own_directories_are_deletable() {
        let root = Path::new("/d/storage");
        assert!(deletable_dir(root, "/d/storage/sim-1/pvc-1_default_x").is_ok());
        for bad in ["/d/storage", "/d/storage/sim-1", "/d/storage/sim-1/data", "/d/storage/../x/pvc-1", "/d/storage/sim-1/pvc-1/sub", "/etc/pvc-1", "/d/storage/../storage/sim-1/pvc-1"] {
            assert!(deletable_dir(root, bad).is_err(), "{bad}");
        }
    }
}
