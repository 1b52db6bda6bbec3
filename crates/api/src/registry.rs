//! The resources berth serves. Routing, discovery, OpenAPI and printing are driven by this
//! table; adding a resource is one entry here plus its defaulting, validation and printer.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Namespaced,
    Cluster,
}

#[derive(Debug)]
pub struct ResourceInfo {
    /// API group; "" for the legacy core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Lowercase plural used in URLs, e.g. "statefulsets".
    pub plural: &'static str,
    pub singular: &'static str,
    pub scope: Scope,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    /// Subresources served, e.g. "status", "scale".
    pub subresources: &'static [&'static str],
    /// True for kinds whose `metadata.generation` tracks spec changes (upstream strategies
    /// that bump generation).
    pub tracks_generation: bool,
}

impl ResourceInfo {
    pub fn namespaced(&self) -> bool {
        self.scope == Scope::Namespaced
    }
    /// "apps/v1" or "v1".
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    /// Upstream's qualified resource name used in messages: "statefulsets.apps", "pods".
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
    /// Upstream's qualified kind used in "is invalid" messages: "StatefulSet.apps", "Pod".
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
    /// Verbs advertised in discovery.
    pub fn verbs(&self) -> &'static [&'static str] {
        &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    }
    pub fn has_subresource(&self, sub: &str) -> bool {
        self.subresources.contains(&sub)
    }
}

const NONE: &[&str] = &[];
const ALL: &[&str] = &["all"];

macro_rules! res {
    ($group:expr, $version:expr, $kind:expr, $plural:expr, $singular:expr, $scope:ident,
     short: $short:expr, cat: $cat:expr, sub: $sub:expr, gen: $gen:expr) => {
        ResourceInfo {
            group: $group,
            version: $version,
            kind: $kind,
            plural: $plural,
            singular: $singular,
            scope: Scope::$scope,
            short_names: $short,
            categories: $cat,
            subresources: $sub,
            tracks_generation: $gen,
        }
    };
}

pub static REGISTRY: &[ResourceInfo] = &[
    res!("", "v1", "Namespace", "namespaces", "namespace", Cluster, short: &["ns"], cat: NONE, sub: &["status", "finalize"], gen: false),
    res!("", "v1", "Pod", "pods", "pod", Namespaced, short: &["po"], cat: ALL, sub: &["status", "binding", "eviction", "log", "exec", "proxy"], gen: false),
    res!("", "v1", "Service", "services", "service", Namespaced, short: &["svc"], cat: ALL, sub: &["status", "proxy"], gen: false),
    res!("", "v1", "Endpoints", "endpoints", "endpoints", Namespaced, short: &["ep"], cat: NONE, sub: NONE, gen: false),
    res!("", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", Cluster, short: &["pv"], cat: NONE, sub: &["status"], gen: false),
    res!("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", Namespaced, short: &["pvc"], cat: NONE, sub: &["status"], gen: false),
    res!("", "v1", "Node", "nodes", "node", Cluster, short: &["no"], cat: NONE, sub: &["status"], gen: false),
    res!("", "v1", "Event", "events", "event", Namespaced, short: &["ev"], cat: NONE, sub: NONE, gen: false),
    res!("", "v1", "ConfigMap", "configmaps", "configmap", Namespaced, short: &["cm"], cat: NONE, sub: NONE, gen: false),
    res!("", "v1", "Secret", "secrets", "secret", Namespaced, short: NONE, cat: NONE, sub: NONE, gen: false),
    res!("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", Namespaced, short: &["sa"], cat: NONE, sub: &["token"], gen: false),
    res!("apps", "v1", "StatefulSet", "statefulsets", "statefulset", Namespaced, short: &["sts"], cat: ALL, sub: &["status", "scale"], gen: true),
    res!("apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision", Namespaced, short: NONE, cat: NONE, sub: NONE, gen: false),
    res!("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", Namespaced, short: &["pdb"], cat: NONE, sub: &["status"], gen: true),
    res!("storage.k8s.io", "v1", "StorageClass", "storageclasses", "storageclass", Cluster, short: &["sc"], cat: NONE, sub: NONE, gen: false),
    res!("coordination.k8s.io", "v1", "Lease", "leases", "lease", Namespaced, short: NONE, cat: NONE, sub: NONE, gen: false),
    res!("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", Namespaced, short: NONE, cat: NONE, sub: NONE, gen: true),
    res!("events.k8s.io", "v1", "Event", "events", "event", Namespaced, short: &["ev"], cat: NONE, sub: NONE, gen: false),
    res!("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", Cluster, short: NONE, cat: NONE, sub: NONE, gen: false),
    res!("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", Cluster, short: NONE, cat: NONE, sub: NONE, gen: false),
    res!("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", Namespaced, short: NONE, cat: NONE, sub: NONE, gen: false),
    res!("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", Namespaced, short: NONE, cat: NONE, sub: NONE, gen: false),
];

/// Find a resource by group, version and plural.
pub fn lookup(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    REGISTRY
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Find a resource by group and kind (any version).
pub fn lookup_kind(group: &str, kind: &str) -> Option<&'static ResourceInfo> {
    REGISTRY.iter().find(|r| r.group == group && r.kind == kind)
}

/// Distinct (group, version) pairs in registry order, core first.
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in REGISTRY {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_are_unique_per_group_version() {
        for (i, a) in REGISTRY.iter().enumerate() {
            for b in &REGISTRY[i + 1..] {
                assert!(
                    !(a.group == b.group && a.version == b.version && a.plural == b.plural),
                    "duplicate {}",
                    a.plural
                );
            }
        }
    }

    #[test]
    fn qualified_names_follow_upstream() {
        let sts = lookup("apps", "v1", "statefulsets").unwrap();
        assert_eq!(sts.qualified_plural(), "statefulsets.apps");
        assert_eq!(sts.qualified_kind(), "StatefulSet.apps");
        assert_eq!(lookup("", "v1", "pods").unwrap().qualified_kind(), "Pod");
    }
}
