//! Scenarios of upstream's `test/e2e/apps/statefulset.go` that the fake cluster can express.

use k8s_openapi::api::apps::v1::StatefulSetPersistentVolumeClaimRetentionPolicy;

use crate::{cluster, set_image, set_partition, set_replicas};

#[test]
fn partition_one_and_pod_zero_held_by_a_finalizer() {
    // "…for partiton1 and delete pod-0 without failing container".
    let mut c = cluster(3, "OrderedReady");
    c.settle();
    let old_rev = c.status().current_revision.unwrap();
    c.pods.get_mut("web-0").unwrap().metadata.finalizers = Some(vec!["example.com/test-finalizer".into()]);
    set_partition(&mut c, 1);
    set_image(&mut c, "nginx:1.26");
    c.settle();
    let st = c.status();
    assert_eq!((st.updated_replicas, st.ready_replicas), (Some(2), Some(3)));
    assert_eq!(c.revision_of("web-0"), old_rev);

    // Deleting pod-0 leaves it Terminating behind its finalizer.
    c.graceful = true;
    let uid = c.pod("web-0").metadata.uid.clone();
    c.pods.get_mut("web-0").unwrap().metadata.deletion_timestamp = Some(berth_controllers::statefulset::from_chrono(c.now));
    c.run_unready("web-0"); // the kubelet stopped its containers
    c.settle();
    assert_eq!(c.status().ready_replicas, Some(2));
    assert_eq!(c.pod("web-0").metadata.uid, uid, "no replacement while the old pod exists");

    // Removing the finalizer lets it go; the replacement comes back at the current revision.
    c.pods.get_mut("web-0").unwrap().metadata.finalizers = None;
    c.settle();
    assert_ne!(c.pod("web-0").metadata.uid, uid);
    assert_eq!(c.revision_of("web-0"), old_rev);
    assert_eq!(c.image_of("web-0"), "nginx:1.25");
}

#[test]
fn burst_scaling_runs_to_completion_with_unhealthy_pods() {
    // "Burst scaling should run to completion even with unhealthy pods".
    let mut c = cluster(1, "Parallel");
    c.sync().1.unwrap();
    c.run_unready("web-0");
    set_replicas(&mut c, 3);
    for _ in 0..3 {
        c.sync().1.unwrap();
        for n in c.pod_names() {
            c.run_unready(&n);
        }
    }
    assert_eq!(c.status().replicas, 3);
    set_replicas(&mut c, 0);
    c.sync().1.unwrap();
    c.sync().1.unwrap();
    assert_eq!(c.status().replicas, 0);
}

#[test]
fn adopted_orphan_claims_follow_when_scaled_delete() {
    // "should delete PVCs after adopting pod (WhenScaled)".
    let mut c = cluster(3, "OrderedReady");
    c.set.spec.as_mut().unwrap().persistent_volume_claim_retention_policy =
        Some(StatefulSetPersistentVolumeClaimRetentionPolicy { when_scaled: Some("Delete".into()), when_deleted: Some("Retain".into()) });
    c.settle();
    c.pods.get_mut("web-2").unwrap().metadata.owner_references = None;
    set_replicas(&mut c, 1);
    c.settle();
    assert_eq!(c.claims.keys().collect::<Vec<_>>(), ["www-web-0"]);
    assert_eq!(c.pod_names(), ["web-0"]);
}

#[test]
fn evicted_pod_comes_back_with_a_new_uid() {
    // "Should recreate evicted statefulset": the kubelet rejects the pod (Failed).
    let mut c = cluster(1, "OrderedReady");
    c.sync().1.unwrap();
    let uid = c.pod("web-0").metadata.uid.clone();
    c.mark_failed("web-0");
    c.take_log();
    c.sync().1.unwrap();
    assert_eq!(c.take_log(), ["delete pod web-0 (Finished)"]);
    c.settle();
    assert_ne!(c.pod("web-0").metadata.uid, uid);
    assert_eq!(c.status().ready_replicas, Some(1));
}
