//! kube-rs, the Rust client berth's own components use, against a real `berth up`:
//! typed create/get/list/patch/delete and a watcher stream.

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;

use crate::harness::Cluster;

#[test]
fn kube_rs_client_works_against_berth() {
    let c = Cluster::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let kubeconfig = kube::config::Kubeconfig::read_from(c.kubeconfig()).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.unwrap();
        let client = kube::Client::try_from(config).unwrap();
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

        let mut events = watcher(cms.clone(), watcher::Config::default()).boxed();
        let cm: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "from-kube-rs"}, "data": {"a": "1"}
        }))
        .unwrap();
        let created = cms.create(&PostParams::default(), &cm).await.unwrap();
        assert!(created.metadata.uid.is_some());
        let patched = cms
            .patch("from-kube-rs", &PatchParams::default(), &Patch::Merge(serde_json::json!({"data": {"b": "2"}})))
            .await
            .unwrap();
        assert_eq!(patched.data.unwrap().get("b").map(String::as_str), Some("2"));
        let listed = cms.list(&ListParams::default()).await.unwrap();
        assert!(listed.items.iter().any(|c| c.metadata.name.as_deref() == Some("from-kube-rs")));

        // The watcher sees the object (initial list or a live event).
        let seen = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while let Some(ev) = events.next().await {
                match ev.unwrap() {
                    watcher::Event::InitApply(o) | watcher::Event::Apply(o) if o.metadata.name.as_deref() == Some("from-kube-rs") => return true,
                    _ => {}
                }
            }
            false
        })
        .await
        .unwrap_or(false);
        assert!(seen);
        cms.delete("from-kube-rs", &DeleteParams::default()).await.unwrap();
        let err = cms.get("from-kube-rs").await.unwrap_err();
        assert!(matches!(err, kube::Error::Api(ref s) if s.code == 404), "{err:?}");
    });
}
