//! RollingUpdate (reverse ordinal order, partition, maxUnavailable, nil rollingUpdate), OnDelete.

use k8s_openapi::api::apps::v1::RollingUpdateStatefulSetStrategy;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::{cluster, set_image, set_partition};

fn update_deletions(log: &[String]) -> Vec<String> {
    log.iter().filter(|l| l.ends_with("(Update)")).cloned().collect()
}

#[test]
fn image_change_rolls_from_the_highest_ordinal() {
    let mut c = cluster(3, "OrderedReady");
    c.settle();
    let old_rev = c.status().current_revision.unwrap();
    c.take_log();
    set_image(&mut c, "nginx:1.26");
    c.settle();
    assert_eq!(
        update_deletions(&c.log),
        ["delete pod web-2 (Update)", "delete pod web-1 (Update)", "delete pod web-0 (Update)"]
    );
    let st = c.status();
    let new_rev = st.update_revision.clone().unwrap();
    assert_ne!(new_rev, old_rev);
    assert_eq!(st.current_revision.as_deref(), Some(new_rev.as_str()), "completeRollingUpdate");
    assert_eq!((st.current_replicas, st.updated_replicas), (Some(3), Some(3)));
    for n in ["web-0", "web-1", "web-2"] {
        assert_eq!(c.image_of(n), "nginx:1.26");
        assert_eq!(c.revision_of(n), new_rev);
    }
    assert_eq!(c.revisions.len(), 2);
    assert_eq!(c.revisions[&new_rev].revision, 2);
}

#[test]
fn rolling_update_waits_for_each_replacement_to_be_ready() {
    let mut c = cluster(3, "OrderedReady");
    c.settle();
    set_image(&mut c, "nginx:1.26");
    c.sync().1.unwrap(); // deletes web-2
    let (plan, _) = c.sync(); // recreates web-2 at the new revision
    assert_eq!(c.image_of("web-2"), "nginx:1.26");
    // During the update the status shows the deletion right away.
    assert!(plan.status.is_some());
    c.take_log();
    for _ in 0..3 {
        c.sync().1.unwrap();
    }
    assert!(update_deletions(&c.log).is_empty(), "web-1 must wait for web-2 to be Ready");
    assert_eq!(c.status().current_replicas, Some(2));
    assert_eq!(c.status().updated_replicas, Some(1));
}

#[test]
fn partition_keeps_lower_ordinals_at_the_current_revision() {
    // e2e canary / phased rollout.
    let mut c = cluster(3, "OrderedReady");
    c.settle();
    let old_rev = c.status().current_revision.unwrap();
    set_partition(&mut c, 3);
    set_image(&mut c, "nginx:1.26");
    c.settle();
    assert!(update_deletions(&c.log).is_empty(), "partition 3 > replicas: nothing updates");
    let new_rev = c.status().update_revision.unwrap();
    assert_ne!(new_rev, old_rev);

    set_partition(&mut c, 2);
    c.settle();
    assert_eq!(c.revision_of("web-2"), new_rev);
    assert_eq!((c.revision_of("web-0"), c.revision_of("web-1")), (old_rev.clone(), old_rev.clone()));
    assert_eq!(c.status().current_revision.as_deref(), Some(old_rev.as_str()));

    // Deleted pods come back at their side of the partition.
    c.delete_pod_now("web-0");
    c.settle();
    assert_eq!((c.revision_of("web-0"), c.image_of("web-0")), (old_rev.clone(), "nginx:1.25".to_string()));
    c.delete_pod_now("web-2");
    c.settle();
    assert_eq!((c.revision_of("web-2"), c.image_of("web-2")), (new_rev.clone(), "nginx:1.26".to_string()));

    set_partition(&mut c, 1);
    c.settle();
    assert_eq!(c.revision_of("web-1"), new_rev);
    set_partition(&mut c, 0);
    c.settle();
    assert_eq!(c.revision_of("web-0"), new_rev);
    assert_eq!(c.status().current_revision, Some(new_rev));
}

#[test]
fn nil_rolling_update_uses_current_replicas_for_new_pods() {
    let mut c = cluster(2, "OrderedReady");
    c.edit(|s| s.spec.as_mut().unwrap().update_strategy.as_mut().unwrap().rolling_update = None);
    c.settle();
    let old_rev = c.status().current_revision.unwrap();
    set_image(&mut c, "nginx:1.26");
    c.sync().1.unwrap(); // deletes web-1 (partition 0)
    assert_eq!(update_deletions(&c.log), ["delete pod web-1 (Update)"]);
    // status.currentReplicas is now 1: web-0 would be rebuilt at the current revision.
    assert_eq!(c.status().current_replicas, Some(1));
    c.delete_pod_now("web-0");
    c.sync().1.unwrap();
    assert_eq!(c.revision_of("web-0"), old_rev, "ordinal < start + status.currentReplicas → current revision");
    c.settle();
    assert_eq!(c.image_of("web-0"), "nginx:1.26");
    assert_eq!(c.image_of("web-1"), "nginx:1.26");
}

#[test]
fn on_delete_replaces_only_deleted_pods_and_never_advances_current_revision() {
    let mut c = cluster(2, "OrderedReady");
    c.edit(|s| {
        let u = s.spec.as_mut().unwrap().update_strategy.as_mut().unwrap();
        u.type_ = Some("OnDelete".into());
        u.rolling_update = None;
    });
    c.settle();
    let old_rev = c.status().current_revision.unwrap();
    set_image(&mut c, "nginx:1.26");
    c.settle();
    assert!(update_deletions(&c.log).is_empty());
    assert_eq!(c.image_of("web-1"), "nginx:1.25");
    let new_rev = c.status().update_revision.unwrap();
    c.delete_pod_now("web-1");
    c.settle();
    assert_eq!((c.image_of("web-1"), c.revision_of("web-1")), ("nginx:1.26".to_string(), new_rev.clone()));
    c.delete_pod_now("web-0");
    c.settle();
    assert_eq!(c.revision_of("web-0"), new_rev);
    let st = c.status();
    assert_eq!(st.current_revision, Some(old_rev), "OnDelete never completes a rolling update");
    assert_eq!(st.updated_replicas, Some(2));
}

#[test]
fn max_unavailable_deletes_several_at_once() {
    let mut c = cluster(5, "Parallel");
    c.settle();
    c.edit(|s| {
        let u = s.spec.as_mut().unwrap().update_strategy.as_mut().unwrap();
        u.rolling_update = Some(RollingUpdateStatefulSetStrategy {
            partition: Some(0),
            max_unavailable: Some(IntOrString::String("40%".into())),
        });
    });
    set_image(&mut c, "nginx:1.26");
    c.sync().1.unwrap();
    assert_eq!(update_deletions(&c.log), ["delete pod web-4 (Update)", "delete pod web-3 (Update)"]);
    c.settle();
    assert!(c.pod_names().iter().all(|n| c.image_of(n) == "nginx:1.26"));
}

#[test]
fn parallel_rolling_update_is_still_one_at_a_time() {
    let mut c = cluster(3, "Parallel");
    c.settle();
    set_image(&mut c, "nginx:1.26");
    c.sync().1.unwrap();
    c.sync().1.unwrap();
    c.sync().1.unwrap();
    assert_eq!(update_deletions(&c.log), ["delete pod web-2 (Update)"]);
    c.settle();
    assert_eq!(update_deletions(&c.log).len(), 3);
}
