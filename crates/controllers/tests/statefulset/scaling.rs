//! Creation, identity, scaling (OrderedReady and Parallel), halting on unhealthy pods, failed
//! pods, minReadySeconds and spec.ordinals.

use std::time::Duration;

use berth_controllers::statefulset::{Action, EventType, POD_INDEX_LABEL, POD_NAME_LABEL};

use crate::fake::Cluster;
use crate::{cluster, set_replicas};

fn created_pods(log: &[String]) -> Vec<String> {
    log.iter().filter_map(|l| l.strip_prefix("create pod ").map(str::to_string)).collect()
}

#[test]
fn ordered_ready_creates_one_pod_at_a_time_in_order() {
    let mut c = cluster(3, "OrderedReady");
    c.sync().1.unwrap();
    assert_eq!(c.pod_names(), ["web-0"]);
    // web-0 is Pending: nothing else happens, however often we sync.
    for _ in 0..3 {
        c.sync().1.unwrap();
    }
    assert_eq!(c.pod_names(), ["web-0"]);
    c.run_ready("web-0");
    c.sync().1.unwrap();
    assert_eq!(c.pod_names(), ["web-0", "web-1"]);
    c.settle();
    assert_eq!(c.pod_names(), ["web-0", "web-1", "web-2"]);
    assert_eq!(created_pods(&c.log), ["web-0", "web-1", "web-2"]);
    let st = c.status();
    assert_eq!((st.replicas, st.ready_replicas, st.current_replicas, st.updated_replicas), (3, Some(3), Some(3), Some(3)));
    assert_eq!(st.available_replicas, Some(3));
    assert_eq!(st.observed_generation, Some(1));
    assert_eq!(st.collision_count, Some(0));
    assert_eq!(st.current_revision, st.update_revision);
}

#[test]
fn pods_and_claims_carry_the_stateful_identity() {
    let mut c = cluster(2, "OrderedReady");
    c.settle();
    let pod = c.pod("web-1");
    let labels = pod.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["app"], "nginx");
    assert_eq!(labels[POD_NAME_LABEL], "web-1");
    assert_eq!(labels[POD_INDEX_LABEL], "1");
    assert_eq!(labels["controller-revision-hash"], c.status().update_revision.unwrap());
    assert!(labels["controller-revision-hash"].starts_with("web-"));
    assert_eq!(pod.metadata.generate_name.as_deref(), Some("web-"));
    assert_eq!(pod.metadata.namespace.as_deref(), Some("default"));
    let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.api_version.as_str(), owner.kind.as_str(), owner.name.as_str()), ("apps/v1", "StatefulSet", "web"));
    assert_eq!((owner.uid.as_str(), owner.controller, owner.block_owner_deletion), ("set-uid", Some(true), Some(true)));
    let spec = pod.spec.as_ref().unwrap();
    assert_eq!(spec.hostname.as_deref(), Some("web-1"));
    assert_eq!(spec.subdomain.as_deref(), Some("nginx"));
    let vol = &spec.volumes.as_ref().unwrap()[0];
    assert_eq!(vol.name, "www");
    assert_eq!(vol.persistent_volume_claim.as_ref().unwrap().claim_name, "www-web-1");
    assert_eq!(spec.containers[0].image.as_deref(), Some("nginx:1.25"));

    let claim = &c.claims["www-web-1"];
    assert_eq!(claim.metadata.labels.as_ref().unwrap()["app"], "nginx");
    assert_eq!(claim.metadata.namespace.as_deref(), Some("default"));
    assert!(claim.metadata.owner_references.as_ref().is_none_or(|r| r.is_empty()), "Retain/Retain: no ownerRefs");
    assert_eq!(c.claims.keys().collect::<Vec<_>>(), ["www-web-0", "www-web-1"]);
}

#[test]
fn events_use_upstream_wording() {
    let mut c = cluster(1, "OrderedReady");
    c.settle();
    let texts: Vec<(EventType, &str, &str)> =
        c.events.iter().map(|e| (e.type_, e.reason.as_str(), e.message.as_str())).collect();
    assert_eq!(
        texts,
        [
            (EventType::Normal, "SuccessfulCreate", "create Claim www-web-0 Pod web-0 in StatefulSet web success"),
            (EventType::Normal, "SuccessfulCreate", "create Pod web-0 in StatefulSet web successful"),
        ]
    );
    set_replicas(&mut c, 0);
    c.settle();
    assert_eq!(c.events.last().unwrap().message, "delete Pod web-0 in StatefulSet web successful");
    assert_eq!(c.events.last().unwrap().reason, "SuccessfulDelete");

    // A failing create records upstream's Warning.
    set_replicas(&mut c, 1);
    c.inject = Some(Box::new(|a| match a {
        Action::CreatePod { .. } => Some((berth_controllers::statefulset::ErrorKind::Other, "quota exceeded".into())),
        _ => None,
    }));
    let (_, result) = c.sync();
    assert_eq!(result.unwrap_err(), "quota exceeded");
    let e = c.events.last().unwrap();
    assert_eq!((e.type_, e.reason.as_str()), (EventType::Warning, "FailedCreate"));
    assert_eq!(e.message, "create Pod web-0 in StatefulSet web failed error: quota exceeded");
}

#[test]
fn scale_up_then_down_removes_highest_ordinals_first() {
    let mut c = cluster(3, "OrderedReady");
    c.settle();
    set_replicas(&mut c, 5);
    c.settle();
    assert_eq!(c.pod_names(), ["web-0", "web-1", "web-2", "web-3", "web-4"]);
    c.take_log();
    c.graceful = true;
    set_replicas(&mut c, 2);
    // One deletion per sync, and the next waits until the previous pod is gone.
    c.sync().1.unwrap();
    c.sync().1.unwrap();
    assert_eq!(c.deletions(), ["delete pod web-4 (ScaleDown)"]);
    c.finish_terminations();
    c.settle();
    assert_eq!(c.deletions(), ["delete pod web-4 (ScaleDown)", "delete pod web-3 (ScaleDown)", "delete pod web-2 (ScaleDown)"]);
    assert_eq!(c.pod_names(), ["web-0", "web-1"]);
    assert_eq!(c.status().replicas, 2);
    // Retain/Retain keeps every claim.
    assert_eq!(c.claims.len(), 5);
}

#[test]
fn unready_pod_halts_ordered_scale_up_and_down() {
    let mut c = cluster(1, "OrderedReady");
    c.settle();
    c.run_unready("web-0");
    set_replicas(&mut c, 3);
    for _ in 0..5 {
        c.sync().1.unwrap();
    }
    assert_eq!(c.pod_names(), ["web-0"], "scale-up must halt behind an unready pod");
    c.run_ready("web-0");
    c.settle();
    assert_eq!(c.pod_names().len(), 3);

    // Two unready condemned pods: only the first unhealthy may go, so scale-down halts.
    c.run_unready("web-1");
    c.run_unready("web-2");
    set_replicas(&mut c, 0);
    c.take_log();
    for _ in 0..5 {
        c.sync().1.unwrap();
    }
    assert!(c.deletions().is_empty(), "scale-down must halt: {:?}", c.deletions());
    assert_eq!(c.pod_names().len(), 3);
    c.run_ready("web-1");
    c.run_ready("web-2");
    c.settle();
    assert!(c.pods.is_empty());
}

#[test]
fn parallel_bursts_through_unready_pods() {
    let mut c = cluster(1, "Parallel");
    c.sync().1.unwrap();
    c.run_unready("web-0");
    set_replicas(&mut c, 3);
    c.sync().1.unwrap();
    assert_eq!(c.pod_names(), ["web-0", "web-1", "web-2"], "Parallel creates all missing pods in one sync");
    c.graceful = true;
    set_replicas(&mut c, 0);
    c.sync().1.unwrap();
    assert!(c.pods.values().all(|p| p.metadata.deletion_timestamp.is_some()), "Parallel deletes all condemned at once");
    // Terminating pods still count as replicas.
    c.sync().1.unwrap();
    assert_eq!(c.status().replicas, 3);
    c.finish_terminations();
    c.sync().1.unwrap();
    assert_eq!(c.status().replicas, 0);
}

#[test]
fn terminating_pod_blocks_ordered_ready() {
    let mut c = cluster(3, "OrderedReady");
    c.settle();
    c.graceful = true;
    // A user deletes web-0 gracefully; it lingers Terminating.
    let uid = c.pod("web-0").metadata.uid.clone();
    c.pods.get_mut("web-0").unwrap().metadata.deletion_timestamp = Some(berth_controllers::statefulset::from_chrono(c.now));
    set_replicas(&mut c, 2);
    c.take_log();
    c.sync().1.unwrap();
    assert!(c.log.is_empty(), "OrderedReady waits for the terminating pod: {:?}", c.log);
    c.finish_terminations();
    c.sync().1.unwrap();
    assert_eq!(c.take_log(), ["create pod web-0"]);
    assert_ne!(c.pod("web-0").metadata.uid, uid);
}

#[test]
fn failed_pod_is_deleted_and_recreated_only_after_it_is_gone() {
    let mut c = cluster(2, "OrderedReady");
    c.settle();
    c.graceful = true;
    let old_uid = c.pod("web-0").metadata.uid.clone();
    c.mark_failed("web-0");
    c.take_log();
    c.sync().1.unwrap();
    assert_eq!(c.take_log(), ["delete pod web-0 (Finished)"]);
    // Still terminating: neither a second delete nor a replacement.
    c.sync().1.unwrap();
    assert!(c.take_log().is_empty());
    c.finish_terminations();
    c.sync().1.unwrap();
    assert_eq!(c.take_log(), ["create pod web-0"]);
    assert_ne!(c.pod("web-0").metadata.uid, old_uid);
    assert!(c.events.iter().all(|e| !e.reason.starts_with("Recreating")));
}

#[test]
fn predecessor_failure_does_not_deadlock() {
    // e2e "should not deadlock when a pod's predecessor fails".
    let mut c = cluster(2, "OrderedReady");
    c.sync().1.unwrap();
    c.run_ready("web-0");
    c.sync().1.unwrap();
    c.run_unready("web-1");
    c.delete_pod_now("web-0");
    c.sync().1.unwrap();
    assert!(c.pods.contains_key("web-0"), "web-0 is recreated although web-1 is unhealthy");
    c.run_ready("web-0");
    c.run_ready("web-1");
    c.settle();
    assert_eq!(c.status().ready_replicas, Some(2));
}

#[test]
fn min_ready_seconds_gates_availability_and_requeues() {
    let mut c = cluster(2, "OrderedReady");
    c.edit(|s| s.spec.as_mut().unwrap().min_ready_seconds = Some(30));
    let (plan, _) = c.sync();
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(30)));
    c.run_ready("web-0");
    c.sync().1.unwrap();
    assert_eq!(c.pod_names(), ["web-0"], "web-1 waits until web-0 is available");
    assert_eq!((c.status().ready_replicas, c.status().available_replicas), (Some(1), Some(0)));
    c.advance(30);
    c.sync().1.unwrap();
    assert_eq!(c.pod_names(), ["web-0"], "available means strictly more than minReadySeconds");
    c.advance(1);
    c.sync().1.unwrap();
    assert_eq!(c.pod_names(), ["web-0", "web-1"]);
    c.run_ready("web-1");
    c.advance(31);
    let (plan, _) = c.sync();
    assert_eq!(plan.requeue_after, None);
    assert_eq!(c.status().available_replicas, Some(2));
    // Raising minReadySeconds drops availability again.
    c.edit(|s| s.spec.as_mut().unwrap().min_ready_seconds = Some(3600));
    let (plan, _) = c.sync();
    assert_eq!(c.status().available_replicas, Some(0));
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(3600)));
}

#[test]
fn ordinals_start_moves_the_replica_range() {
    // e2e "Scaling StatefulSetStartOrdinal".
    let mut c = cluster(2, "OrderedReady");
    c.settle();
    assert_eq!(c.pod_names(), ["web-0", "web-1"]);
    let start = |c: &mut Cluster, n: Option<i32>| {
        c.edit(|s| {
            s.spec.as_mut().unwrap().ordinals =
                n.map(|n| k8s_openapi::api::apps::v1::StatefulSetOrdinals { start: Some(n) })
        })
    };
    set_replicas(&mut c, 3);
    start(&mut c, Some(2));
    c.settle();
    assert_eq!(c.pod_names(), ["web-2", "web-3", "web-4"]);
    start(&mut c, Some(4));
    c.settle();
    assert_eq!(c.pod_names(), ["web-4", "web-5", "web-6"]);
    set_replicas(&mut c, 2);
    start(&mut c, Some(2));
    c.settle();
    assert_eq!(c.pod_names(), ["web-2", "web-3"]);
    start(&mut c, None);
    c.settle();
    assert_eq!(c.pod_names(), ["web-0", "web-1"]);
    assert!(c.claims.contains_key("www-web-6"), "claims use the real ordinal");
}

#[test]
fn set_being_deleted_only_gets_status() {
    let mut c = cluster(3, "OrderedReady");
    c.settle();
    c.set.metadata.deletion_timestamp = Some(berth_controllers::statefulset::from_chrono(c.now));
    set_replicas(&mut c, 1);
    c.run_unready("web-0");
    let plan = c.plan();
    assert!(plan.steps.is_empty() && plan.history.is_empty(), "{plan:?}");
    let status = plan.status.expect("status still written");
    assert_eq!(status.ready_replicas, Some(2));
}

#[test]
fn pvc_recreated_for_pending_pod_and_blocked_while_being_deleted() {
    let mut c = cluster(1, "OrderedReady");
    c.sync().1.unwrap();
    // web-0 is Pending; its claim is deleted (e2e "PVC should be recreated when pod is pending").
    c.claims.remove("www-web-0");
    c.take_log();
    c.sync().1.unwrap();
    assert_eq!(c.take_log(), ["create claim www-web-0"]);

    // A claim that is being deleted blocks the pod's creation with upstream's error.
    c.delete_pod_now("web-0");
    c.claims.get_mut("www-web-0").unwrap().metadata.deletion_timestamp = Some(berth_controllers::statefulset::from_chrono(c.now));
    let (_, result) = c.sync();
    assert_eq!(result.unwrap_err(), "pvc www-web-0 is being deleted");
    assert!(!c.pods.contains_key("web-0"));
    let e = c.events.last().unwrap();
    assert_eq!((e.type_, e.reason.as_str()), (EventType::Warning, "FailedCreate"));
    assert_eq!(e.message, "create Pod web-0 in StatefulSet web failed error: pvc www-web-0 is being deleted");
}

#[test]
fn identity_and_storage_are_repaired() {
    let mut c = cluster(1, "OrderedReady");
    c.settle();
    let pod = c.pods.get_mut("web-0").unwrap();
    pod.metadata.labels.as_mut().unwrap().remove(POD_NAME_LABEL);
    pod.spec.as_mut().unwrap().volumes = None;
    c.take_log();
    c.sync().1.unwrap();
    assert_eq!(c.take_log(), ["update pod web-0"]);
    let pod = c.pod("web-0");
    assert_eq!(pod.metadata.labels.as_ref().unwrap()[POD_NAME_LABEL], "web-0");
    assert_eq!(pod.spec.as_ref().unwrap().volumes.as_ref().unwrap()[0].name, "www");
    assert_eq!(c.events.last().unwrap().message, "update Pod web-0 in StatefulSet web successful");
}
