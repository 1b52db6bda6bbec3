//! Adoption and release (e2e "should adopt matching orphans and release non-matching pods"),
//! pods owned by others, status conditions.

use k8s_openapi::api::apps::v1::StatefulSetCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use crate::cluster;

fn controller_uid(c: &crate::fake::Cluster, pod: &str) -> Option<String> {
    c.pod(pod).metadata.owner_references.iter().flatten().find(|r| r.controller == Some(true)).map(|r| r.uid.clone())
}

#[test]
fn orphans_are_adopted_and_non_matching_pods_released() {
    let mut c = cluster(1, "OrderedReady");
    c.settle();
    assert_eq!(controller_uid(&c, "web-0").as_deref(), Some("set-uid"));

    // Remove the ownerRefs: the matching orphan is re-adopted (not replaced).
    let uid = c.pod("web-0").metadata.uid.clone();
    c.pods.get_mut("web-0").unwrap().metadata.owner_references = None;
    c.take_log();
    c.settle();
    assert_eq!(c.take_log()[..2], ["recheck set".to_string(), "adopt pod web-0".to_string()]);
    assert_eq!(controller_uid(&c, "web-0").as_deref(), Some("set-uid"));
    assert_eq!(c.pod("web-0").metadata.uid, uid);

    // Remove the labels: released, and a replacement cannot be created while the name is taken.
    let labels = c.pods.get_mut("web-0").unwrap().metadata.labels.take();
    let (plan, result) = c.sync();
    result.unwrap_err();
    assert!(plan.prelude.iter().any(|s| matches!(s.action, berth_controllers::statefulset::Action::ReleasePod { .. })));
    assert_eq!(controller_uid(&c, "web-0"), None);

    // Restore the labels: adopted again, same pod.
    c.pods.get_mut("web-0").unwrap().metadata.labels = labels;
    c.settle();
    assert_eq!(controller_uid(&c, "web-0").as_deref(), Some("set-uid"));
    assert_eq!(c.pod("web-0").metadata.uid, uid);

    // An adopted orphan lacking the revision label is outdated: the rolling update replaces
    // it. Its identity repair (a PUT) is not planned in the adopting sync, whose cached copy
    // predates the adoption patch.
    c.pods.get_mut("web-0").unwrap().metadata.owner_references = None;
    c.pods.get_mut("web-0").unwrap().metadata.labels = Some([("app".to_string(), "nginx".to_string())].into());
    c.take_log();
    c.settle();
    assert_eq!(c.take_log()[..4], ["recheck set", "adopt pod web-0", "delete pod web-0 (Update)", "create pod web-0"]);

    // An adopted orphan that only lost its identity label is repaired on the next sync.
    c.pods.get_mut("web-0").unwrap().metadata.owner_references = None;
    c.pods.get_mut("web-0").unwrap().metadata.labels.as_mut().unwrap().remove("statefulset.kubernetes.io/pod-name");
    c.take_log();
    c.settle();
    assert_eq!(c.take_log(), ["recheck set", "adopt pod web-0", "update pod web-0"]);
    assert_eq!(c.pod("web-0").metadata.labels.as_ref().unwrap()["statefulset.kubernetes.io/pod-name"], "web-0");
}

#[test]
fn pods_of_other_controllers_and_other_sets_are_ignored() {
    let mut c = cluster(1, "OrderedReady");
    c.settle();
    let mut foreign = c.pod("web-0").clone();
    foreign.metadata.name = Some("web-5".into());
    foreign.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: "rs".into(),
        uid: "rs-uid".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }]);
    c.pods.insert("web-5".into(), foreign);
    let mut other_set = c.pod("web-0").clone();
    other_set.metadata.name = Some("db-0".into());
    other_set.metadata.owner_references = None;
    c.pods.insert("db-0".into(), other_set);
    c.take_log();
    c.sync().1.unwrap();
    assert!(c.take_log().is_empty(), "neither a foreign-controlled pod nor another set's name is touched");
    assert_eq!(c.status().replicas, 1);
}

#[test]
fn status_conditions_are_never_touched() {
    let mut c = cluster(1, "OrderedReady");
    c.sync().1.unwrap();
    c.set.status.as_mut().unwrap().conditions = Some(vec![StatefulSetCondition {
        type_: "StatusUpdate".into(),
        status: "True".into(),
        reason: Some("E2E".into()),
        message: Some("Set from e2e test".into()),
        last_transition_time: None,
    }]);
    c.run_ready("web-0");
    let plan = c.plan();
    let status = plan.status.clone().expect("readyReplicas changed");
    assert_eq!(status.conditions.as_ref().unwrap()[0].type_, "StatusUpdate");
    // With nothing to change, no write at all.
    c.execute(&plan).unwrap();
    c.settle();
    let plan = c.plan();
    assert!(plan.status.is_none() && plan.steps.is_empty());
}
