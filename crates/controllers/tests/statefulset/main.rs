//! Scenario tests of the StatefulSet decision logic against an in-memory cluster. Every sync's
//! plan is checked against upstream's invariants (`invariants.rs`) before it is executed.

mod fake;
mod invariants;

mod e2e;
mod history;
mod ownership;
mod retention;
mod scaling;
mod updates;

use k8s_openapi::api::apps::v1::StatefulSet;
use serde_json::{json, Value};

use fake::Cluster;

/// A StatefulSet as the API server stores it (defaults applied): `web`, headless service
/// `nginx`, image `nginx:1.25`, claim template `www`.
pub fn web_set(replicas: i32, policy: &str) -> StatefulSet {
    set_from(json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "serviceName": "nginx",
            "podManagementPolicy": policy,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "www"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
            }]
        }
    }))
}

pub fn set_from(mut v: Value) -> StatefulSet {
    berth_api::defaults::apply_defaults("apps", "StatefulSet", &mut v);
    serde_json::from_value(v).unwrap()
}

pub fn cluster(replicas: i32, policy: &str) -> Cluster {
    Cluster::new(web_set(replicas, policy))
}

pub fn set_image(c: &mut Cluster, image: &str) {
    c.edit(|s| s.spec.as_mut().unwrap().template.spec.as_mut().unwrap().containers[0].image = Some(image.into()));
}

pub fn set_replicas(c: &mut Cluster, n: i32) {
    c.edit(|s| s.spec.as_mut().unwrap().replicas = Some(n));
}

pub fn set_partition(c: &mut Cluster, p: i32) {
    c.edit(|s| {
        let u = s.spec.as_mut().unwrap().update_strategy.as_mut().unwrap();
        u.rolling_update.get_or_insert_with(Default::default).partition = Some(p);
    });
}
