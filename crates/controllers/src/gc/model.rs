//! What the garbage collector knows about an object: its identity, its ownerReferences, its
//! finalizers and whether it is being deleted. Plain data, built from any object's metadata.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// `metav1.FinalizerOrphanDependents`: the owner waits until the GC removed it from every
/// dependent's ownerReferences.
pub const FINALIZER_ORPHAN: &str = "orphan";
/// `metav1.FinalizerDeleteDependents`: the owner waits until its blocking dependents are gone.
pub const FINALIZER_FOREGROUND: &str = "foregroundDeletion";

/// Who an object is (upstream `objectReference`: an owner reference plus the namespace).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    /// "v1", "apps/v1".
    pub api_version: String,
    pub kind: String,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {} {}/{} (uid {})", self.api_version, self.kind, ns, self.name, self.uid),
            None => write!(f, "{} {} {} (uid {})", self.api_version, self.kind, self.name, self.uid),
        }
    }
}

/// One entry of `metadata.ownerReferences`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
    pub controller: bool,
    pub block_owner_deletion: bool,
}

/// An object as the garbage collector sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub id: ObjectRef,
    pub owners: Vec<OwnerRef>,
    pub finalizers: Vec<String>,
    /// `metadata.deletionTimestamp` is set.
    pub being_deleted: bool,
    pub resource_version: String,
}

impl Object {
    /// Read the GC's view from an object's metadata. `None` when the object has no name or
    /// uid (nothing the server stores lacks them).
    pub fn from_meta(api_version: &str, kind: &str, meta: &ObjectMeta) -> Option<Object> {
        let name = meta.name.clone().filter(|n| !n.is_empty())?;
        let uid = meta.uid.clone().filter(|u| !u.is_empty())?;
        let owners = meta
            .owner_references
            .iter()
            .flatten()
            .map(|r| OwnerRef {
                api_version: r.api_version.clone(),
                kind: r.kind.clone(),
                name: r.name.clone(),
                uid: r.uid.clone(),
                controller: r.controller == Some(true),
                block_owner_deletion: r.block_owner_deletion == Some(true),
            })
            .collect();
        Some(Object {
            id: ObjectRef {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
                namespace: meta.namespace.clone().filter(|n| !n.is_empty()),
                name,
                uid,
            },
            owners,
            finalizers: meta.finalizers.clone().unwrap_or_default(),
            being_deleted: meta.deletion_timestamp.is_some(),
            resource_version: meta.resource_version.clone().unwrap_or_default(),
        })
    }

    pub fn has_finalizer(&self, f: &str) -> bool {
        self.finalizers.iter().any(|x| x == f)
    }

    /// Upstream `isDeletingDependents`: deleted with Foreground and still waiting.
    pub fn deleting_dependents(&self) -> bool {
        self.being_deleted && self.has_finalizer(FINALIZER_FOREGROUND)
    }

    /// Being deleted with Orphan and the orphaning is not done yet.
    pub fn orphaning_dependents(&self) -> bool {
        self.being_deleted && self.has_finalizer(FINALIZER_ORPHAN)
    }

    /// The ownerReference of this object that names `owner_uid`, if any.
    pub fn owner_ref(&self, owner_uid: &str) -> Option<&OwnerRef> {
        self.owners.iter().find(|o| o.uid == owner_uid)
    }
}

/// Split "apps/v1" into ("apps", "v1") and "v1" into ("", "v1").
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};

    #[test]
    fn reads_metadata() {
        let meta = ObjectMeta {
            name: Some("c".into()),
            namespace: Some("default".into()),
            uid: Some("u1".into()),
            resource_version: Some("7".into()),
            finalizers: Some(vec!["foregroundDeletion".into()]),
            deletion_timestamp: Some(Time(k8s_openapi::jiff::Timestamp::now())),
            owner_references: Some(vec![OwnerReference {
                api_version: "apps/v1".into(),
                kind: "StatefulSet".into(),
                name: "web".into(),
                uid: "o1".into(),
                controller: Some(true),
                block_owner_deletion: None,
            }]),
            ..Default::default()
        };
        let o = Object::from_meta("v1", "ConfigMap", &meta).unwrap();
        assert_eq!(o.id.namespace.as_deref(), Some("default"));
        assert!(o.deleting_dependents());
        assert!(!o.orphaning_dependents());
        assert!(o.owners[0].controller && !o.owners[0].block_owner_deletion);
        assert_eq!(o.owner_ref("o1").unwrap().name, "web");
        assert!(Object::from_meta("v1", "ConfigMap", &ObjectMeta::default()).is_none());
        assert_eq!(split_api_version("apps/v1"), ("apps", "v1"));
        assert_eq!(split_api_version("v1"), ("", "v1"));
    }
}
