use super::*;
use crate::gc::model::{ObjectRef, OwnerRef, FINALIZER_FOREGROUND, FINALIZER_ORPHAN};

fn obj(name: &str, uid: &str) -> Object {
    Object {
        id: ObjectRef {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("default".into()),
            name: name.into(),
            uid: uid.into(),
        },
        owners: vec![],
        finalizers: vec![],
        being_deleted: false,
        resource_version: "1".into(),
    }
}

fn owned(mut o: Object, owner_uid: &str, block: bool) -> Object {
    o.owners.push(OwnerRef {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: owner_uid.into(),
        uid: owner_uid.into(),
        controller: false,
        block_owner_deletion: block,
    });
    o
}

fn del(uid: &str) -> Work {
    Work::AttemptToDelete(uid.into())
}

#[test]
fn unseen_owner_is_checked_only_after_sync() {
    let mut g = Graph::new();
    assert_eq!(g.upsert(owned(obj("d", "d1"), "ghost", false)), vec![]);
    assert_eq!(g.upsert(owned(obj("e", "e1"), "o1", false)), vec![]);
    assert_eq!(g.upsert(obj("o", "o1")), vec![]);
    // At sync only the dependent whose owner was never observed needs a live check.
    assert_eq!(g.mark_synced(), vec![del("d1")]);
    assert_eq!(g.upsert(owned(obj("f", "f1"), "ghost2", false)), vec![del("f1")]);
    // An update that adds no owner does not requeue.
    let mut f = owned(obj("f", "f1"), "ghost2", false);
    f.resource_version = "2".into();
    assert_eq!(g.upsert(f), vec![]);
}

#[test]
fn deleting_an_owner_queues_its_dependents_and_records_it_absent() {
    let mut g = Graph::new();
    g.upsert(obj("o", "o1"));
    g.upsert(owned(obj("a", "a1"), "o1", false));
    g.upsert(owned(obj("b", "b1"), "o1", true));
    g.mark_synced();
    assert_eq!(g.dependents("o1").len(), 2);
    assert_eq!(g.delete("o1"), vec![del("a1"), del("b1")]);
    assert!(g.is_known_absent("o1", Some("default")));
    assert!(g.is_known_absent("o1", None));
    // Dependents still name the owner until they go.
    assert_eq!(g.dependents("o1").len(), 2);
    assert_eq!(g.delete("a1"), vec![]);
    assert_eq!(g.dependents("o1").len(), 1);
    assert_eq!(g.delete("nope"), vec![]);
}

#[test]
fn orphan_and_foreground_transitions() {
    let mut g = Graph::new();
    g.upsert(obj("o", "o1"));
    g.upsert(owned(obj("a", "a1"), "o1", true));
    g.mark_synced();
    let mut orphaning = obj("o", "o1");
    orphaning.being_deleted = true;
    orphaning.finalizers = vec![FINALIZER_ORPHAN.into()];
    assert_eq!(g.upsert(orphaning.clone()), vec![Work::AttemptToOrphan("o1".into())]);
    // Only the transition queues; a repeated update does not.
    assert_eq!(g.upsert(orphaning), vec![]);

    let mut g = Graph::new();
    g.upsert(obj("o", "o1"));
    g.upsert(owned(obj("a", "a1"), "o1", true));
    g.upsert(owned(obj("b", "b1"), "o1", false));
    let mut fg = obj("o", "o1");
    fg.being_deleted = true;
    fg.finalizers = vec![FINALIZER_FOREGROUND.into()];
    assert_eq!(g.upsert(fg), vec![del("a1"), del("b1"), del("o1")]);
    // The blocking dependent going away wakes the waiting owner.
    assert_eq!(g.delete("a1"), vec![del("o1")]);
}

#[test]
fn unblocking_a_ref_wakes_the_owner() {
    let mut g = Graph::new();
    g.upsert(obj("o", "o1"));
    g.upsert(owned(obj("a", "a1"), "o1", true));
    assert_eq!(g.upsert(owned(obj("a", "a1"), "o1", false)), vec![del("o1")]);
    assert_eq!(g.upsert(owned(obj("a", "a1"), "o1", false)), vec![]);
    // Removing a blocking ref entirely also wakes it.
    g.upsert(owned(obj("a", "a1"), "o1", true));
    assert_eq!(g.upsert(obj("a", "a1")), vec![del("o1")]);
    assert!(g.dependents("o1").is_empty());
}

#[test]
fn relist_deletes_what_was_not_listed() {
    let mut g = Graph::new();
    g.upsert(obj("o", "o1"));
    g.upsert(owned(obj("a", "a1"), "o1", false));
    let listed: HashSet<String> = ["a1".to_string()].into();
    assert_eq!(g.replace_resource("", "ConfigMap", &listed), vec![del("a1")]);
    assert!(g.get("o1").is_none());
    assert!(g.get("a1").is_some());
    // Another kind is untouched.
    assert_eq!(g.replace_resource("", "Secret", &HashSet::new()), vec![]);
    assert_eq!(g.len(), 1);
}

#[test]
fn full_pass_finds_pending_gc_work() {
    let mut g = Graph::new();
    let mut orphaning = obj("o", "o1");
    orphaning.being_deleted = true;
    orphaning.finalizers = vec![FINALIZER_ORPHAN.into()];
    g.upsert(orphaning);
    let mut fg = obj("p", "p1");
    fg.being_deleted = true;
    fg.finalizers = vec![FINALIZER_FOREGROUND.into()];
    g.upsert(fg);
    g.upsert(owned(obj("q", "q1"), "p1", false));
    let mut terminating = owned(obj("r", "r1"), "gone", false);
    terminating.being_deleted = true;
    terminating.finalizers = vec!["example.com/x".into()];
    g.upsert(terminating);
    assert_eq!(g.full_pass(), vec![Work::AttemptToOrphan("o1".into()), del("p1"), del("q1")]);
}

#[test]
fn absent_cache_is_bounded() {
    let mut g = Graph::new();
    for i in 0..(ABSENT_OWNER_CACHE_SIZE + 10) {
        g.record_absent(&format!("u{i}"), Some("default"));
    }
    assert!(!g.is_known_absent("u0", Some("default")));
    assert!(g.is_known_absent(&format!("u{}", ABSENT_OWNER_CACHE_SIZE + 9), Some("default")));
    assert!(!g.is_known_absent(&format!("u{}", ABSENT_OWNER_CACHE_SIZE + 9), Some("other")));
}
