//! The IO half of berth's `berth.dev/local-path` provisioner (decisions in [`super::localpath`]):
//! create a volume's directory and its PersistentVolume, and remove the directory when the
//! volume is deleted. Runs inside the PV controller's executor, with the events upstream's
//! external provisioners record (`Provisioning`, `ProvisioningSucceeded`, `ProvisioningFailed`)
//! under their own source component.

use std::path::Path;

use berth_runtime::EventType;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, PostParams};
use kube::ResourceExt;

use super::helpers::claim_reference;
use super::localpath;
use super::runner::Controller;
use super::Action;

/// Create `dir` (and its parents) writable by any user, as local-path provisioners do: the
/// pod's processes may run as any UID.
fn make_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).map_err(|e| format!("chmod {}: {e}", dir.display()))
}

fn remove_dir(dir: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{}: {e}", dir.display())),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(dir).map_err(|e| format!("removing {}: {e}", dir.display())),
        Ok(_) => std::fs::remove_file(dir).map_err(|e| format!("removing {}: {e}", dir.display())),
    }
}

impl Controller {
    /// Provision a volume for `claim`: directory first, then the pre-bound PersistentVolume.
    /// An existing volume of that name (an earlier attempt) counts as done.
    pub(super) async fn provision_local_path(&self, claim: &PersistentVolumeClaim, class: &StorageClass) -> Result<(), String> {
        let name = localpath::volume_name(claim);
        if self.volumes.store().get(&kube::runtime::reflector::ObjectRef::new(&name)).is_some() {
            return Ok(());
        }
        let about = claim_reference(claim);
        let failed = |e: &str| {
            self.provisioner_events.record(about.clone(), EventType::Warning, "ProvisioningFailed", &localpath::failed_message(class, e));
            e.to_string()
        };
        let nodes: Vec<Node> = self.nodes.state().iter().map(|n| (**n).clone()).collect();
        let node = localpath::choose_node(claim, &nodes).map_err(|e| failed(&e))?;
        self.provisioner_events.record(about.clone(), EventType::Normal, "Provisioning", &localpath::provisioning_message(claim));
        let dir = localpath::volume_dir(&self.storage_root, &node, claim);
        let volume = localpath::plan_volume(claim, class, &node, &dir).map_err(|e| failed(&e))?;
        let d = dir.clone();
        tokio::task::spawn_blocking(move || make_dir(&d)).await.map_err(|e| e.to_string())?.map_err(|e| failed(&e))?;
        match Api::<PersistentVolume>::all(self.client.clone()).create(&PostParams::default(), &volume).await {
            Ok(created) => {
                self.note_write(&created);
                self.provisioner_events.record(
                    about,
                    EventType::Normal,
                    "ProvisioningSucceeded",
                    &format!("Successfully provisioned volume {name}"),
                );
                Ok(())
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => Err(failed(&e.to_string())),
        }
    }

    /// Remove a local-path volume's directory; the actions that follow (delete the object,
    /// or mark it Failed with the error).
    pub(super) async fn delete_local_path(&self, volume: &PersistentVolume, path: &str) -> Vec<Action> {
        let outcome = match localpath::deletable_dir(&self.storage_root, path) {
            Ok(dir) => tokio::task::spawn_blocking(move || remove_dir(&dir)).await.unwrap_or_else(|e| Err(e.to_string())),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => super::delete_succeeded(volume),
            Err(e) => {
                tracing::warn!(volume = %volume.name_any(), error = %e, "local-path delete failed");
                super::delete_failed(volume, &e)
            }
        }
    }
}
