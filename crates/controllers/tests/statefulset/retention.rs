//! persistentVolumeClaimRetentionPolicy: the ownerRefs of each combination, scale-down with
//! the garbage collector, conflicting controllers, stale refs.

use k8s_openapi::api::apps::v1::StatefulSetPersistentVolumeClaimRetentionPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use berth_controllers::statefulset::EventType;

use crate::fake::Cluster;
use crate::{cluster, set_replicas};

fn with_policy(replicas: i32, when_scaled: &str, when_deleted: &str) -> Cluster {
    let mut c = cluster(replicas, "OrderedReady");
    c.set.spec.as_mut().unwrap().persistent_volume_claim_retention_policy =
        Some(StatefulSetPersistentVolumeClaimRetentionPolicy {
            when_scaled: Some(when_scaled.into()),
            when_deleted: Some(when_deleted.into()),
        });
    c
}

/// (kind, name, controller) of a claim's ownerRefs.
fn owners(c: &Cluster, claim: &str) -> Vec<(String, String, bool)> {
    c.claims[claim]
        .metadata
        .owner_references
        .iter()
        .flatten()
        .map(|r| (r.kind.clone(), r.name.clone(), r.controller == Some(true)))
        .collect()
}

fn set_owner() -> (String, String, bool) {
    ("StatefulSet".into(), "web".into(), true)
}

#[test]
fn retain_retain_sets_no_owner_refs() {
    let mut c = with_policy(2, "Retain", "Retain");
    c.settle();
    set_replicas(&mut c, 1);
    c.settle();
    assert!(owners(&c, "www-web-0").is_empty());
    assert!(owners(&c, "www-web-1").is_empty());
}

#[test]
fn when_deleted_delete_owns_claims_by_the_set() {
    let mut c = with_policy(2, "Retain", "Delete");
    c.settle();
    assert_eq!(owners(&c, "www-web-0"), [set_owner()]);
    assert_eq!(owners(&c, "www-web-1"), [set_owner()]);
    // Scaling down keeps the claim, still owned by the set.
    set_replicas(&mut c, 1);
    c.settle();
    assert_eq!(owners(&c, "www-web-1"), [set_owner()]);
    // The retention update comes with upstream's pod update event.
    assert!(c.events.iter().any(|e| e.message == "update Pod web-0 in StatefulSet web successful"));
}

#[test]
fn when_scaled_delete_hands_condemned_claims_to_the_pod() {
    let mut c = with_policy(3, "Delete", "Retain");
    c.settle();
    assert!(owners(&c, "www-web-2").is_empty(), "in range: no refs");
    c.graceful = true;
    set_replicas(&mut c, 1);
    c.sync().1.unwrap();
    assert_eq!(owners(&c, "www-web-2"), [("Pod".to_string(), "web-2".to_string(), true)], "fixed before deletion");
    assert_eq!(c.pod("web-2").metadata.uid.as_ref().unwrap(), &c.claims["www-web-2"].metadata.owner_references.as_ref().unwrap()[0].uid);
    c.finish_terminations();
    c.settle();
    // The garbage collector removed the claims of the deleted pods.
    assert_eq!(c.claims.keys().collect::<Vec<_>>(), ["www-web-0"]);
    // Scaling up again creates fresh claims.
    set_replicas(&mut c, 3);
    c.settle();
    assert_eq!(c.claims.len(), 3);
    assert!(owners(&c, "www-web-2").is_empty());
}

#[test]
fn delete_delete_moves_ownership_from_set_to_pod_on_scale_down() {
    let mut c = with_policy(2, "Delete", "Delete");
    c.settle();
    assert_eq!(owners(&c, "www-web-1"), [set_owner()]);
    c.graceful = true;
    set_replicas(&mut c, 1);
    c.sync().1.unwrap();
    assert_eq!(owners(&c, "www-web-1"), [("Pod".to_string(), "web-1".to_string(), true)]);
    c.finish_terminations();
    c.settle();
    assert_eq!(c.claims.keys().collect::<Vec<_>>(), ["www-web-0"]);
    assert_eq!(owners(&c, "www-web-0"), [set_owner()]);
}

fn config_map_controller() -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: "cm".into(),
        uid: "cm-uid".into(),
        controller: Some(true),
        block_owner_deletion: None,
    }
}

#[test]
fn claim_of_another_controller_survives_scale_down() {
    // e2e "should not delete PVC with OnScaledown policy if another controller owns the PVC".
    let mut c = with_policy(2, "Delete", "Retain");
    c.settle();
    c.other_owners.push("cm-uid".into());
    c.claims.get_mut("www-web-1").unwrap().metadata.owner_references = Some(vec![config_map_controller()]);
    set_replicas(&mut c, 0);
    c.settle();
    assert!(c.claims.contains_key("www-web-1"), "claim with another controller survives");
    assert!(!c.claims.contains_key("www-web-0"));
    assert_eq!(owners(&c, "www-web-1"), [("ConfigMap".to_string(), "cm".to_string(), true)]);
    // Once the other controller lets go, the policy applies again.
    c.claims.get_mut("www-web-1").unwrap().metadata.owner_references = None;
    set_replicas(&mut c, 2);
    c.settle();
    set_replicas(&mut c, 1);
    c.settle();
    assert_eq!(c.claims.keys().collect::<Vec<_>>(), ["www-web-0"]);
}

#[test]
fn conflicting_controller_next_to_ours_is_warned_about_and_our_ref_removed() {
    let mut c = with_policy(2, "Retain", "Delete");
    c.settle();
    c.other_owners.push("cm-uid".into());
    c.claims.get_mut("www-web-1").unwrap().metadata.owner_references.as_mut().unwrap().push(config_map_controller());
    c.settle();
    assert_eq!(owners(&c, "www-web-1"), [("ConfigMap".to_string(), "cm".to_string(), true)]);
    let warning = c.events.iter().find(|e| e.reason == "ConflictingController").expect("warning");
    assert_eq!(warning.type_, EventType::Warning);
    assert_eq!(
        warning.message,
        "PersistentVolumeClaim www-web-1 has a conflicting OwnerReference that acts as a manging controller, the retention policy is ignored for this claim"
    );
}

#[test]
fn non_controller_ref_is_kept_and_our_controller_flag_restored() {
    let mut c = with_policy(2, "Retain", "Delete");
    c.settle();
    // Another object's plain ref stays; our ref losing `controller` is reconciled back.
    let claim = c.claims.get_mut("www-web-1").unwrap();
    claim.metadata.owner_references.as_mut().unwrap().insert(
        0,
        OwnerReference { api_version: "v1".into(), kind: "ConfigMap".into(), name: "cm".into(), uid: "cm-uid".into(), ..Default::default() },
    );
    c.claims.get_mut("www-web-0").unwrap().metadata.owner_references.as_mut().unwrap()[0].controller = None;
    c.settle();
    assert_eq!(owners(&c, "www-web-1"), [("ConfigMap".to_string(), "cm".to_string(), false), set_owner()]);
    assert_eq!(owners(&c, "www-web-0"), [set_owner()]);
}

#[test]
fn stale_set_ref_leaves_the_claim_untouched() {
    let mut c = with_policy(2, "Retain", "Delete");
    c.settle();
    let stale = OwnerReference {
        api_version: "apps/v1".into(),
        kind: "StatefulSet".into(),
        name: "web".into(),
        uid: "9d86d6ae-old".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    c.claims.get_mut("www-web-1").unwrap().metadata.owner_references = Some(vec![stale.clone()]);
    // The garbage collector has not got to it (in e2e the claim also holds a finalizer).
    c.other_owners.push("9d86d6ae-old".into());
    let rv = c.claims["www-web-1"].metadata.resource_version.clone();
    c.settle();
    assert_eq!(c.claims["www-web-1"].metadata.owner_references.as_ref().unwrap(), &vec![stale]);
    assert_eq!(c.claims["www-web-1"].metadata.resource_version, rv);
}

#[test]
fn stale_pod_ref_blocks_creation_until_the_claim_is_collected() {
    let mut c = with_policy(1, "Delete", "Retain");
    c.settle();
    // A claim still owned by a previous web-0 incarnation (its GC has not run yet).
    c.claims.get_mut("www-web-0").unwrap().metadata.owner_references = Some(vec![OwnerReference {
        api_version: "v1".into(),
        kind: "Pod".into(),
        name: "web-0".into(),
        uid: "old-pod-uid".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }]);
    c.pods.clear();
    c.take_log();
    c.sync().1.unwrap();
    assert!(c.take_log().is_empty(), "PodClaimIsStale blocks creating web-0");
    c.collect_garbage();
    assert!(!c.claims.contains_key("www-web-0"));
    c.sync().1.unwrap();
    assert_eq!(c.take_log(), ["create claim www-web-0", "create pod web-0"]);
}
