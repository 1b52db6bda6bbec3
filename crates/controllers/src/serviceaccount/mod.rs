//! The ServiceAccount controller and root-CA publisher (upstream
//! `pkg/controller/serviceaccount` and `pkg/controller/certificates/rootcacertpublisher`): every
//! active namespace has a `default` ServiceAccount and a `kube-root-ca.crt` ConfigMap holding
//! the cluster CA, recreated when deleted and restored when edited. Pure decisions here; the
//! informers and writes are in [`runner`].

pub mod runner;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The `--disable` name and event source.
pub const COMPONENT: &str = "serviceaccount-controller";
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";
pub const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";
pub const CA_KEY: &str = "ca.crt";
pub const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
pub const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// What a namespace needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    CreateServiceAccount(ServiceAccount),
    CreateConfigMap(ConfigMap),
    /// Replace the ConfigMap (its resourceVersion kept, so a concurrent edit conflicts).
    UpdateConfigMap(ConfigMap),
}

/// A namespace that is not being deleted (upstream skips terminating namespaces: creates
/// there are refused anyway).
pub fn active(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_none() && ns.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Terminating")
}

fn root_ca_data(ca_pem: &str) -> BTreeMap<String, String> {
    [(CA_KEY.to_string(), ca_pem.to_string())].into()
}

/// The actions that bring namespace `ns` to the desired state.
pub fn reconcile(ns: &Namespace, sa: Option<&ServiceAccount>, cm: Option<&ConfigMap>, ca_pem: &str) -> Vec<Action> {
    if !active(ns) {
        return vec![];
    }
    let name = ns.metadata.name.clone().unwrap_or_default();
    let mut out = Vec::new();
    if sa.is_none() {
        out.push(Action::CreateServiceAccount(ServiceAccount {
            metadata: ObjectMeta { name: Some(DEFAULT_SERVICE_ACCOUNT.into()), namespace: Some(name.clone()), ..Default::default() },
            ..Default::default()
        }));
    }
    let data = root_ca_data(ca_pem);
    match cm {
        None => out.push(Action::CreateConfigMap(ConfigMap {
            metadata: ObjectMeta {
                name: Some(ROOT_CA_CONFIG_MAP.into()),
                namespace: Some(name),
                annotations: Some([(DESCRIPTION_ANNOTATION.to_string(), DESCRIPTION.to_string())].into()),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        })),
        Some(cm) => {
            let annotated = cm.metadata.annotations.as_ref().and_then(|a| a.get(DESCRIPTION_ANNOTATION)).is_some_and(|d| !d.is_empty());
            // As upstream: only `data` and the description matter; other annotations and
            // labels users add are kept.
            if cm.data.as_ref() != Some(&data) || !annotated || cm.binary_data.as_ref().is_some_and(|b| !b.is_empty()) {
                let mut fixed = cm.clone();
                fixed.data = Some(data);
                fixed.binary_data = None;
                fixed.metadata.annotations.get_or_insert_with(Default::default).insert(DESCRIPTION_ANNOTATION.into(), DESCRIPTION.into());
                out.push(Action::UpdateConfigMap(fixed));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn ns(name: &str) -> Namespace {
        Namespace { metadata: ObjectMeta { name: Some(name.into()), ..Default::default() }, ..Default::default() }
    }

    #[test]
    fn new_namespace_gets_default_account_and_root_ca() {
        let a = reconcile(&ns("a"), None, None, "PEM");
        assert_eq!(a.len(), 2);
        let Action::CreateServiceAccount(sa) = &a[0] else { panic!("{a:?}") };
        assert_eq!((sa.metadata.name.as_deref(), sa.metadata.namespace.as_deref()), (Some("default"), Some("a")));
        let Action::CreateConfigMap(cm) = &a[1] else { panic!("{a:?}") };
        assert_eq!(cm.data.as_ref().unwrap()["ca.crt"], "PEM");
        assert_eq!(cm.metadata.annotations.as_ref().unwrap()[DESCRIPTION_ANNOTATION], DESCRIPTION);
    }

    #[test]
    fn settled_namespace_needs_nothing_and_edits_are_reverted() {
        let a = reconcile(&ns("a"), None, None, "PEM");
        let Action::CreateConfigMap(cm) = &a[1] else { panic!() };
        let sa = ServiceAccount::default();
        assert!(reconcile(&ns("a"), Some(&sa), Some(cm), "PEM").is_empty());
        let mut edited = cm.clone();
        edited.data.as_mut().unwrap().insert("ca.crt".into(), "evil".into());
        edited.metadata.labels = Some([("keep".to_string(), "me".to_string())].into());
        let a = reconcile(&ns("a"), Some(&sa), Some(&edited), "PEM");
        let [Action::UpdateConfigMap(fixed)] = a.as_slice() else { panic!("{a:?}") };
        assert_eq!(fixed.data.as_ref().unwrap()["ca.crt"], "PEM");
        assert_eq!(fixed.metadata.labels.as_ref().unwrap()["keep"], "me");
        // The CA changes (a new data dir): every ConfigMap follows.
        assert_eq!(reconcile(&ns("a"), Some(&sa), Some(cm), "NEW").len(), 1);
    }

    #[test]
    fn terminating_namespaces_are_left_alone() {
        let mut n = ns("gone");
        n.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));
        assert!(reconcile(&n, None, None, "PEM").is_empty());
    }
}
