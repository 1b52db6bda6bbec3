//! The PersistentVolume controller's decision logic (upstream
//! `pkg/controller/volume/persistentvolume/pv_controller.go`, `index.go` and
//! `component-helpers/storage/volume/pv_helpers.go`, Kubernetes v1.33). Pure: no IO.
//!
//! # API
//!
//! ```text
//! pub fn sync_claim(claim: &PersistentVolumeClaim, volumes: &[PersistentVolume],
//!                   classes: &[StorageClass], pods: &[Pod]) -> Vec<Action>;
//! pub fn sync_volume(volume: &PersistentVolume, claim: Option<&PersistentVolumeClaim>,
//!                    pods: &[Pod]) -> Vec<Action>;
//! pub fn recycle_succeeded(volume: &PersistentVolume) -> Vec<Action>;
//! pub fn recycle_failed(volume: &PersistentVolume, error: &str) -> Vec<Action>;
//! pub fn delete_succeeded(volume: &PersistentVolume) -> Vec<Action>;
//! pub fn delete_failed(volume: &PersistentVolume, error: &str) -> Vec<Action>;
//! pub fn pods_using_claim(namespace, claim_name, pods) -> Vec<&Pod>;
//! ```
//!
//! Inputs: `volumes` are all PersistentVolumes, `classes` all StorageClasses, `pods` any
//! pods (only those whose volumes reference the claim count). `sync_volume`'s `claim` is the
//! claim named by the volume's `claimRef` (namespace/name) whatever its UID — the caller looks
//! it up in its cache and, when the cache has none or one with another UID, with a live GET
//! (upstream's guard against reclaiming a volume whose claim the cache has not seen yet).
//!
//! # Executing the actions
//!
//! Perform them in order, each a separate API call. A failed call ends the list (nothing
//! after it runs) and the sync is retried with backoff; conflicts are just that. Writes
//! carry the object as decided from the cached copy: when an earlier action of the same list
//! wrote the same object, send it with the resourceVersion that write returned (the binder
//! writes a volume's spec and then its status, a claim's spec and then its status).
//! [`Action::Fail`] fails the sync with its message after the actions before it ran.
//! [`Action::RecycleHostPath`] / [`Action::DeleteHostPath`]: do the filesystem work (see
//! [`hostpath`]), then perform [`recycle_succeeded`]/[`recycle_failed`] or
//! [`delete_succeeded`]/[`delete_failed`] the same way. Events: source component
//! `persistentvolume-controller`, involved object as given.
//!
//! # Deliberate differences from upstream
//! - Recycling runs no recycler pod: berth scrubs `hostPath` directories itself, and only
//!   under `/tmp/` (the restriction upstream applies to its hostPath deleter; upstream's
//!   recycler pod would scrub any path). Other volume sources have no recycler (berth never
//!   mounts NFS or any network storage): `Failed`, `No recycler plugin found for the volume!`.
//! - The `/tmp/.+` check is anchored and rejects `..` (upstream's regexp is unanchored).
//! - Volumes in an access-mode group are tried in name order (upstream: cache order).
//! - No in-tree provisioners: a `kubernetes.io/*` provisioner fails with upstream's
//!   "no volume plugin matched" message; any other is external (annotation + event), and
//!   berth's own `berth.dev/local-path` is that external provisioner, run by this controller's
//!   executor ([`Action::ProvisionLocalPath`], [`Action::DeleteLocalPath`], [`localpath`]).
//! - `Recycle`/`Delete` run inside the volume sync (upstream: in a goroutine keyed by volume).

pub mod default_class;
pub mod hostpath;
pub mod localpath;
pub mod runner;

mod claim;
mod expand;
mod helpers;
mod index;
mod matching;
mod provisioner;
mod pv;
mod quantity;

#[cfg(test)]
mod tests;

use k8s_openapi::api::core::v1::{ObjectReference, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;

pub use claim::sync_claim;
pub use helpers::pods_using_claim;
pub use pv::{delete_failed, delete_succeeded, recycle_failed, recycle_succeeded, sync_volume};

/// PVC: binding finished (switches the claim to the bound-claim sync).
pub const ANN_BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// PV and PVC: the controller, not the user, made this side of the binding.
pub const ANN_BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
/// PV: the plugin or provisioner that created it.
pub const ANN_DYNAMICALLY_PROVISIONED: &str = "pv.kubernetes.io/provisioned-by";
/// PVC: which provisioner is expected to create its volume.
pub const ANN_STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
pub const ANN_BETA_STORAGE_PROVISIONER: &str = "volume.beta.kubernetes.io/storage-provisioner";
/// PVC: node the scheduler chose for a WaitForFirstConsumer claim.
pub const ANN_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// PV/PVC: handled by a CSI driver through migration; the controller stands down.
pub const ANN_MIGRATED_TO: &str = "pv.kubernetes.io/migrated-to";
/// Pre-`storageClassName` class annotation, still honoured ahead of the field.
pub const ANN_BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";
pub const ANN_IS_DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
pub const ANN_BETA_IS_DEFAULT_CLASS: &str = "storageclass.beta.kubernetes.io/is-default-class";
/// berth's own provisioner (its implementation is a separate component).
pub const LOCAL_PATH_PROVISIONER: &str = "berth.dev/local-path";
/// Event source component.
pub const COMPONENT: &str = "persistentvolume-controller";
/// Upstream's `--pvclaimbinder-sync-period` default: every claim and volume is synced again
/// this often, which is what repeats `FailedBinding` (`x3 over 30s`).
pub const RESYNC_PERIOD: std::time::Duration = std::time::Duration::from_secs(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The component the event is recorded as; None: [`COMPONENT`].
    pub source: Option<&'static str>,
    pub type_: EventType,
    pub reason: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// PUT the volume (spec and metadata).
    UpdateVolume(PersistentVolume),
    /// PUT the volume's `/status`.
    UpdateVolumeStatus(PersistentVolume),
    /// PUT the claim (spec and metadata).
    UpdateClaim(PersistentVolumeClaim),
    /// PUT the claim's `/status`.
    UpdateClaimStatus(PersistentVolumeClaim),
    /// DELETE the volume object, with `preconditions.uid`.
    DeleteVolume { name: String, uid: String },
    RecordEvent { object: ObjectReference, event: Event },
    /// Sync this claim soon (the volume sync saw a binding only the claim sync can finish).
    EnqueueClaim { namespace: String, name: String },
    /// Remove everything inside `path` (a `/tmp/` directory on this machine), keeping it.
    RecycleHostPath { volume: PersistentVolume, path: String },
    /// Remove the directory `path` (under `/tmp/`) and then the volume object.
    DeleteHostPath { volume: PersistentVolume, path: String },
    /// berth's local-path provisioner: create the claim's directory on its node and a volume
    /// pre-bound to it (see [`localpath`]); the claim sync then binds them.
    ProvisionLocalPath { claim: PersistentVolumeClaim, class: StorageClass },
    /// Remove a local-path volume's directory (only under the storage root), then perform
    /// [`delete_succeeded`] or [`delete_failed`].
    DeleteLocalPath { volume: PersistentVolume, path: String },
    /// The sync failed (after the actions before this one): retry with backoff.
    Fail { message: String },
}

pub(crate) fn event(object: ObjectReference, type_: EventType, reason: &str, message: impl Into<String>) -> Action {
    Action::RecordEvent { object, event: Event { source: None, type_, reason: reason.to_string(), message: message.into() } }
}

pub(crate) fn event_from(source: &'static str, object: ObjectReference, type_: EventType, reason: &str, message: impl Into<String>) -> Action {
    Action::RecordEvent { object, event: Event { source: Some(source), type_, reason: reason.to_string(), message: message.into() } }
}
