//! STAND-IN — replace with `crate::smp::patch_meta` when that module is merged.
//!
//! The strategic-merge-patch module owns the table of patch strategies and merge keys (the
//! `patchStrategy`/`patchMergeKey` struct tags of upstream's Go types). Until it lands, this
//! covers the fields kubectl's three-way apply patches most often. The OpenAPI generator
//! imports `patch_meta` and `PatchMeta` in exactly one line of `mod.rs`; swapping that line to
//! `use crate::smp::{patch_meta, PatchMeta};` retires this file.
//!
//! `definition` is the upstream definition name (`io.k8s.api.core.v1.PodSpec`), `field` the
//! JSON field name (`containers`).

pub struct PatchMeta {
    pub strategy: &'static str,
    pub merge_key: Option<&'static str>,
}

pub fn patch_meta(definition: &str, field: &str) -> Option<PatchMeta> {
    let short = definition.rsplit('.').next().unwrap_or(definition);
    let (strategy, merge_key) = match (short, field) {
        ("PodSpec", "containers" | "initContainers" | "ephemeralContainers") => {
            ("merge", Some("name"))
        }
        ("PodSpec", "volumes" | "resourceClaims") => ("merge,retainKeys", Some("name")),
        ("PodSpec", "imagePullSecrets" | "schedulingGates") => ("merge", Some("name")),
        ("PodSpec", "hostAliases") => ("merge", Some("ip")),
        ("Container" | "EphemeralContainer", "env") => ("merge", Some("name")),
        ("Container" | "EphemeralContainer", "ports") => ("merge", Some("containerPort")),
        ("Container" | "EphemeralContainer", "volumeMounts") => ("merge", Some("mountPath")),
        ("Container" | "EphemeralContainer", "volumeDevices") => ("merge", Some("devicePath")),
        ("ObjectMeta", "finalizers") => ("merge", None),
        ("ObjectMeta", "ownerReferences") => ("merge", Some("uid")),
        ("ServiceSpec", "ports") => ("merge", Some("port")),
        ("ServiceAccount", "secrets") => ("merge", Some("name")),
        (
            "PodStatus"
            | "NodeStatus"
            | "PersistentVolumeClaimStatus"
            | "NamespaceStatus"
            | "StatefulSetStatus",
            "conditions",
        ) => ("merge", Some("type")),
        ("NodeStatus", "addresses") => ("merge", Some("type")),
        _ => return None,
    };
    Some(PatchMeta {
        strategy,
        merge_key,
    })
}
