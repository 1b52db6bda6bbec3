//! ControllerRevisions: reuse on rollback, history limit, hash collisions, orphan adoption.

use berth_controllers::statefulset::{Action, CONTROLLER_REVISION_HASH_LABEL};

use crate::{cluster, set_image};

#[test]
fn rollback_reuses_the_old_revision_with_a_new_number() {
    // e2e "should perform rolling updates and roll backs of template modifications".
    let mut c = cluster(3, "OrderedReady");
    c.settle();
    let first = c.status().current_revision.unwrap();
    set_image(&mut c, "nginx:1.26");
    c.settle();
    let second = c.status().current_revision.unwrap();
    assert_ne!(first, second);
    c.take_log();
    set_image(&mut c, "nginx:1.25");
    c.settle();
    let st = c.status();
    assert_eq!(st.update_revision.as_deref(), Some(first.as_str()), "the prior revision is the update revision again");
    assert_eq!(st.current_revision.as_deref(), Some(first.as_str()));
    assert!(!c.log.iter().any(|l| l.starts_with("create revision")), "no new revision: {:?}", c.log);
    assert!(c.log.contains(&format!("update revision {first} to 3")));
    assert_eq!(c.revisions.len(), 2);
    assert_eq!(c.revisions[&first].revision, 3);
    assert_eq!(c.revisions[&second].revision, 2);
    assert!(c.pod_names().iter().all(|n| c.image_of(n) == "nginx:1.25" && c.revision_of(n) == first));
}

#[test]
fn revision_history_limit_prunes_oldest_non_live_revisions() {
    let mut c = cluster(1, "OrderedReady");
    c.edit(|s| s.spec.as_mut().unwrap().revision_history_limit = Some(2));
    c.settle();
    for i in 0..5 {
        set_image(&mut c, &format!("nginx:2.{i}"));
        c.settle();
    }
    // Live: the current (= update) revision; at most 2 more kept: the two newest.
    let mut kept: Vec<i64> = c.revisions.values().map(|r| r.revision).collect();
    kept.sort();
    assert_eq!(kept, [4, 5, 6]);
    assert!(c.log.iter().filter(|l| l.starts_with("delete revision")).count() == 3);

    // A negative limit disables pruning.
    c.edit(|s| s.spec.as_mut().unwrap().revision_history_limit = Some(-1));
    for i in 0..3 {
        set_image(&mut c, &format!("nginx:3.{i}"));
        c.settle();
    }
    assert_eq!(c.revisions.len(), 6);
}

#[test]
fn revisions_referenced_by_pods_are_live() {
    let mut c = cluster(3, "OrderedReady");
    c.edit(|s| s.spec.as_mut().unwrap().revision_history_limit = Some(0));
    c.settle();
    let first = c.status().current_revision.unwrap();
    crate::set_partition(&mut c, 2);
    set_image(&mut c, "nginx:1.26");
    c.settle();
    // web-0/web-1 still run the first revision: it must survive a limit of 0.
    assert!(c.revisions.contains_key(&first));
    assert_eq!(c.revisions.len(), 2);
}

#[test]
fn hash_collision_moves_to_the_next_name_and_counts_it() {
    let mut c = cluster(1, "OrderedReady");
    // Precompute the name the set will want, and occupy it with different data.
    let plan = c.plan();
    let wanted = plan
        .prelude
        .iter()
        .find_map(|s| match &s.action {
            Action::CreateControllerRevision { revision } => Some(revision.clone()),
            _ => None,
        })
        .unwrap();
    let name = wanted.metadata.name.clone().unwrap();
    let mut squatter = wanted.clone();
    squatter.data = Some(k8s_openapi::apimachinery::pkg::runtime::RawExtension(serde_json::json!({"other": 1})));
    squatter.metadata.owner_references = None;
    squatter.metadata.labels = Some([("unrelated".to_string(), "x".to_string())].into());
    c.revisions.insert(name.clone(), squatter);
    c.settle();
    let st = c.status();
    assert_eq!(st.collision_count, Some(1));
    let update = st.update_revision.unwrap();
    assert_ne!(update, name);
    assert_eq!(c.revision_of("web-0"), update);
    // Like upstream, only the name moved: the hash label keeps the first attempt's hash.
    assert_eq!(
        c.revisions[&update].metadata.labels.as_ref().unwrap()[CONTROLLER_REVISION_HASH_LABEL],
        name.trim_start_matches("web-")
    );
}

#[test]
fn executor_collision_on_create_is_reported_as_a_failure() {
    let mut c = cluster(1, "OrderedReady");
    let plan = c.plan();
    let wanted = plan
        .prelude
        .iter()
        .find_map(|s| match &s.action {
            Action::CreateControllerRevision { revision } => Some(revision.clone()),
            _ => None,
        })
        .unwrap();
    // The object appears only after the plan was made (stale cache): the executor's
    // AlreadyExists + different data fails the sync; the next sync resolves it.
    let mut squatter = wanted.clone();
    squatter.data = Some(k8s_openapi::apimachinery::pkg::runtime::RawExtension(serde_json::json!({"other": 1})));
    squatter.metadata.labels = Some([("unrelated".to_string(), "x".to_string())].into());
    c.revisions.insert(wanted.metadata.name.clone().unwrap(), squatter);
    assert!(c.execute(&plan).is_err());
    assert!(c.pods.is_empty(), "nothing after a failed prelude");
    c.settle();
    assert_eq!(c.status().collision_count, Some(1));
}

#[test]
fn orphaned_revisions_are_adopted() {
    let mut c = cluster(1, "OrderedReady");
    c.settle();
    let name = c.status().current_revision.unwrap();
    c.revisions.get_mut(&name).unwrap().metadata.owner_references = None;
    let plan = c.plan();
    assert!(matches!(plan.prelude[0].action, Action::RecheckSetBeforeAdoption { .. }));
    assert!(matches!(&plan.prelude[1].action, Action::AdoptControllerRevision { name: n, .. } if *n == name));
    c.settle();
    assert_eq!(c.revisions[&name].metadata.owner_references.as_ref().unwrap()[0].uid, "set-uid");
    assert_eq!(c.revisions.len(), 1, "the adopted revision is reused");
}
