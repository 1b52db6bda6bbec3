//! The merge metadata (`x-kubernetes-patch-strategy` / `x-kubernetes-patch-merge-key`) of the
//! OpenAPI definitions berth serves.
//!
//! `k8s-openapi`'s JSON schemas carry the type graph but not these two extensions, so they are
//! listed here by hand. The rows are the `patchStrategy` / `patchMergeKey` struct tags of
//! `k8s.io/api` v0.33 (core/v1, apps/v1, storage/v1) and of `k8s.io/apimachinery` meta/v1
//! (`ObjectMeta`), which is what upstream's OpenAPI document is generated from. Upstream's
//! `EphemeralContainerCommon` is inlined into `EphemeralContainer` in OpenAPI, so its rows are
//! listed under that name. A unit test checks every row names a field that exists in the
//! schema graph with the right shape.

/// Merge metadata of one field of an upstream OpenAPI definition, e.g.
/// `patch_meta("io.k8s.api.core.v1.PodSpec", "containers")` ==
/// `Some(PatchMeta { strategy: "merge", merge_key: Some("name") })`.
///
/// `strategy` is upstream's `x-kubernetes-patch-strategy` string: `"merge"`, `"retainKeys"`,
/// `"merge,retainKeys"`, or `"replace"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchMeta {
    pub strategy: &'static str,
    pub merge_key: Option<&'static str>,
}

impl PatchMeta {
    /// Lists with this strategy merge element-wise instead of being replaced.
    pub(crate) fn merges(&self) -> bool {
        self.strategy.split(',').any(|s| s == "merge")
    }

    /// Maps with this strategy are replaced by the patch's map instead of merged.
    pub(crate) fn replaces(&self) -> bool {
        self.strategy.split(',').any(|s| s == "replace")
    }
}

const CORE: &str = "io.k8s.api.core.v1.";
const APPS: &str = "io.k8s.api.apps.v1.";
const POLICY: &str = "io.k8s.api.policy.v1.";
const STORAGE: &str = "io.k8s.api.storage.v1.";
const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.";

/// (definition prefix, definition, field, strategy, merge key)
pub(crate) const PATCH_META: &[(&str, &str, &str, &str, Option<&str>)] = &[
    (META, "ObjectMeta", "finalizers", "merge", None),
    (META, "ObjectMeta", "ownerReferences", "merge", Some("uid")),
    // core/v1 workloads
    (CORE, "PodSpec", "volumes", "merge,retainKeys", Some("name")),
    (CORE, "PodSpec", "initContainers", "merge", Some("name")),
    (CORE, "PodSpec", "containers", "merge", Some("name")),
    (CORE, "PodSpec", "ephemeralContainers", "merge", Some("name")),
    (CORE, "PodSpec", "imagePullSecrets", "merge", Some("name")),
    (CORE, "PodSpec", "hostAliases", "merge", Some("ip")),
    (CORE, "PodSpec", "topologySpreadConstraints", "merge", Some("topologyKey")),
    (CORE, "PodSpec", "schedulingGates", "merge", Some("name")),
    (CORE, "PodSpec", "resourceClaims", "merge,retainKeys", Some("name")),
    (CORE, "Container", "ports", "merge", Some("containerPort")),
    (CORE, "Container", "env", "merge", Some("name")),
    (CORE, "Container", "volumeMounts", "merge", Some("mountPath")),
    (CORE, "Container", "volumeDevices", "merge", Some("devicePath")),
    (CORE, "EphemeralContainer", "ports", "merge", Some("containerPort")),
    (CORE, "EphemeralContainer", "env", "merge", Some("name")),
    (CORE, "EphemeralContainer", "volumeMounts", "merge", Some("mountPath")),
    (CORE, "EphemeralContainer", "volumeDevices", "merge", Some("devicePath")),
    (CORE, "PodStatus", "conditions", "merge", Some("type")),
    (CORE, "PodStatus", "hostIPs", "merge", Some("ip")),
    (CORE, "PodStatus", "podIPs", "merge", Some("ip")),
    (CORE, "PodStatus", "resourceClaimStatuses", "merge,retainKeys", Some("name")),
    (CORE, "ContainerStatus", "volumeMounts", "merge", Some("mountPath")),
    (CORE, "ContainerStatus", "allocatedResourcesStatus", "merge", Some("name")),
    (CORE, "ReplicationControllerStatus", "conditions", "merge", Some("type")),
    // core/v1 services, accounts, nodes, namespaces, claims
    (CORE, "ServiceSpec", "ports", "merge", Some("port")),
    (CORE, "ServiceStatus", "conditions", "merge", Some("type")),
    (CORE, "ServiceAccount", "secrets", "merge", Some("name")),
    (CORE, "NodeSpec", "podCIDRs", "merge", None),
    (CORE, "NodeStatus", "conditions", "merge", Some("type")),
    (CORE, "NodeStatus", "addresses", "merge", Some("type")),
    (CORE, "NamespaceStatus", "conditions", "merge", Some("type")),
    (CORE, "PersistentVolumeClaimStatus", "conditions", "merge", Some("type")),
    (CORE, "ComponentStatus", "conditions", "merge", Some("type")),
    // apps/v1
    (APPS, "StatefulSetStatus", "conditions", "merge", Some("type")),
    (APPS, "DeploymentSpec", "strategy", "retainKeys", None),
    (APPS, "DeploymentStatus", "conditions", "merge", Some("type")),
    (APPS, "DaemonSetStatus", "conditions", "merge", Some("type")),
    (APPS, "ReplicaSetStatus", "conditions", "merge", Some("type")),
    // policy/v1
    (POLICY, "PodDisruptionBudgetStatus", "conditions", "merge", Some("type")),
    // storage/v1
    (STORAGE, "CSINodeSpec", "drivers", "merge", Some("name")),
];

/// The merge metadata of `definition.field`, or `None` when the field has no patch strategy
/// (maps then merge recursively and lists are replaced whole).
pub fn patch_meta(definition: &str, field: &str) -> Option<PatchMeta> {
    PATCH_META
        .iter()
        .find(|(prefix, name, f, _, _)| {
            *f == field
                && definition.len() == prefix.len() + name.len()
                && definition.starts_with(prefix)
                && definition.ends_with(name)
        })
        .map(|&(_, _, _, strategy, merge_key)| PatchMeta { strategy, merge_key })
}
