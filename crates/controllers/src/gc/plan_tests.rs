use super::*;

fn obj(kind: &str, name: &str, uid: &str) -> Object {
    Object {
        id: ObjectRef {
            api_version: if kind == "StatefulSet" { "apps/v1".into() } else { "v1".into() },
            kind: kind.into(),
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

fn owned_by(mut o: Object, owner: &Object, block: bool) -> Object {
    o.owners.push(OwnerRef {
        api_version: owner.id.api_version.clone(),
        kind: owner.id.kind.clone(),
        name: owner.id.name.clone(),
        uid: owner.id.uid.clone(),
        controller: false,
        block_owner_deletion: block,
    });
    o
}

fn deleting(mut o: Object, finalizer: &str) -> Object {
    o.being_deleted = true;
    o.finalizers.push(finalizer.into());
    o
}

fn delete(o: &Object, p: Propagation) -> Action {
    Action::Delete { target: o.id.clone(), resource_version: o.resource_version.clone(), propagation: p }
}

#[test]
fn dependent_of_absent_owner_is_deleted_in_background() {
    let owner = obj("ConfigMap", "owner", "o1");
    let dep = owned_by(obj("ConfigMap", "dep", "d1"), &owner, false);
    assert_eq!(plan(&[owner, dep.clone()]), vec![]);
    assert_eq!(plan(std::slice::from_ref(&dep)), vec![delete(&dep, Propagation::Background)]);
}

#[test]
fn owner_recreated_with_same_name_is_not_the_owner() {
    let old = obj("ConfigMap", "owner", "o1");
    let dep = owned_by(obj("ConfigMap", "dep", "d1"), &old, false);
    let recreated = obj("ConfigMap", "owner", "o2");
    assert_eq!(plan(&[recreated, dep.clone()]), vec![delete(&dep, Propagation::Background)]);
}

#[test]
fn owner_must_match_kind_and_namespace() {
    let owner = obj("ConfigMap", "owner", "o1");
    let dep = owned_by(obj("ConfigMap", "dep", "d1"), &owner, false);
    let mut elsewhere = owner.clone();
    elsewhere.id.namespace = Some("other".into());
    assert_eq!(plan(&[elsewhere, dep.clone()]), vec![delete(&dep, Propagation::Background)]);
    let mut other_kind = owner.clone();
    other_kind.id.kind = "Secret".into();
    assert_eq!(plan(&[other_kind, dep.clone()]), vec![delete(&dep, Propagation::Background)]);
    // A cluster-scoped owner is found from any namespace.
    let mut node = obj("Node", "n1", "n1");
    node.id.namespace = None;
    let dep2 = owned_by(obj("ConfigMap", "dep2", "d2"), &node, false);
    assert_eq!(plan(&[node, dep2]), vec![]);
}

#[test]
fn dependent_with_a_live_owner_only_loses_the_absent_refs() {
    let a = obj("ConfigMap", "a", "oa");
    let b = obj("ConfigMap", "b", "ob");
    let dep = owned_by(owned_by(obj("ConfigMap", "dep", "d1"), &a, false), &b, true);
    assert_eq!(plan(&[a.clone(), b.clone(), dep.clone()]), vec![]);
    assert_eq!(
        plan(&[b, dep.clone()]),
        vec![Action::RemoveOwnerRefs { target: dep.id.clone(), owner_uids: vec!["oa".into()] }]
    );
}

#[test]
fn dependent_recorded_policy_is_honoured() {
    let owner = obj("ConfigMap", "owner", "o1");
    let mut dep = owned_by(obj("ConfigMap", "dep", "d1"), &owner, false);
    dep.finalizers = vec![FINALIZER_ORPHAN.into()];
    assert_eq!(plan(&[dep.clone()]), vec![delete(&dep, Propagation::Orphan)]);
    dep.finalizers = vec![FINALIZER_FOREGROUND.into()];
    assert_eq!(plan(&[dep.clone()]), vec![delete(&dep, Propagation::Foreground)]);
}

#[test]
fn items_being_deleted_are_left_to_finish() {
    let owner = obj("ConfigMap", "owner", "o1");
    let dep = deleting(owned_by(obj("ConfigMap", "dep", "d1"), &owner, false), "example.com/hold");
    assert_eq!(plan(&[dep]), vec![]);
}

#[test]
fn objects_without_owners_are_kept() {
    assert_eq!(plan(&[obj("ConfigMap", "lonely", "l1")]), vec![]);
}

#[test]
fn orphan_removes_the_ref_from_dependents_then_the_finalizer() {
    let owner = deleting(obj("ConfigMap", "owner", "o1"), FINALIZER_ORPHAN);
    let other = obj("ConfigMap", "other", "o2");
    let d1 = owned_by(obj("ConfigMap", "d1", "d1"), &owner, true);
    let d2 = owned_by(owned_by(obj("ConfigMap", "d2", "d2"), &owner, false), &other, false);
    let unrelated = owned_by(obj("ConfigMap", "u", "u1"), &other, false);
    let got = plan(&[owner.clone(), other, d1.clone(), d2.clone(), unrelated]);
    assert_eq!(
        got,
        vec![
            Action::RemoveOwnerRefs { target: d1.id.clone(), owner_uids: vec!["o1".into()] },
            Action::RemoveOwnerRefs { target: d2.id.clone(), owner_uids: vec!["o1".into()] },
            Action::RemoveFinalizer { target: owner.id.clone(), finalizer: FINALIZER_ORPHAN },
        ]
    );
    // No dependent is deleted: an orphaning owner still exists and is not waiting for them.
    assert!(!got.iter().any(|a| matches!(a, Action::Delete { .. })));
}

#[test]
fn foreground_deletes_dependents_and_waits_for_blocking_ones() {
    let owner = deleting(obj("StatefulSet", "web", "o1"), FINALIZER_FOREGROUND);
    let blocking = owned_by(obj("Pod", "web-0", "p0"), &owner, true);
    let non_blocking = owned_by(obj("Pod", "web-1", "p1"), &owner, false);
    let got = plan(&[owner.clone(), blocking.clone(), non_blocking.clone()]);
    assert_eq!(got, vec![delete(&blocking, Propagation::Background), delete(&non_blocking, Propagation::Background)]);

    // The blocking one is gone: the owner's finalizer goes, the non-blocking one is collected.
    let got = plan(&[owner.clone(), non_blocking.clone()]);
    assert_eq!(
        got,
        vec![
            Action::RemoveFinalizer { target: owner.id.clone(), finalizer: FINALIZER_FOREGROUND },
            delete(&non_blocking, Propagation::Background),
        ]
    );
}

#[test]
fn blocking_dependent_still_terminating_holds_the_owner() {
    let owner = deleting(obj("StatefulSet", "web", "o1"), FINALIZER_FOREGROUND);
    let terminating = deleting(owned_by(obj("Pod", "web-0", "p0"), &owner, true), "example.com/hold");
    assert_eq!(plan(&[owner.clone(), terminating.clone()]), vec![]);
    assert_eq!(
        foreground_step(&owner, &[&terminating]),
        ForegroundStep::AttemptToDelete(vec![terminating.id.clone()])
    );
}

#[test]
fn dependent_with_own_dependents_is_deleted_in_foreground() {
    let owner = deleting(obj("StatefulSet", "web", "o1"), FINALIZER_FOREGROUND);
    let mid = owned_by(obj("ConfigMap", "mid", "m1"), &owner, true);
    let leaf = owned_by(obj("ConfigMap", "leaf", "l1"), &mid, true);
    assert_eq!(plan(&[owner, mid.clone(), leaf]), vec![delete(&mid, Propagation::Foreground)]);
}

#[test]
fn foreground_cycle_is_broken_by_unblocking_first() {
    // mid's owner waits for it, and mid's dependent is itself deleting in the foreground.
    let owner = deleting(obj("ConfigMap", "owner", "o1"), FINALIZER_FOREGROUND);
    let mid = owned_by(obj("ConfigMap", "mid", "m1"), &owner, true);
    let leaf = deleting(owned_by(obj("ConfigMap", "leaf", "l1"), &mid, true), FINALIZER_FOREGROUND);
    let got = plan(&[owner, mid.clone(), leaf.clone()]);
    assert_eq!(
        got,
        vec![
            Action::UnblockOwnerRefs { target: mid.id.clone() },
            delete(&mid, Propagation::Foreground),
            // The leaf has no dependents of its own: its foreground deletion completes.
            Action::RemoveFinalizer { target: leaf.id.clone(), finalizer: FINALIZER_FOREGROUND },
        ]
    );
}

#[test]
fn solid_owner_plus_waiting_owner_drops_the_waiting_ref() {
    let waiting = deleting(obj("ConfigMap", "w", "ow"), FINALIZER_FOREGROUND);
    let solid = obj("ConfigMap", "s", "os");
    let dep = owned_by(owned_by(obj("ConfigMap", "dep", "d1"), &waiting, true), &solid, false);
    let got = plan(&[waiting.clone(), solid, dep.clone()]);
    assert_eq!(got, vec![Action::RemoveOwnerRefs { target: dep.id.clone(), owner_uids: vec!["ow".into()] }]);
}

#[test]
fn dangling_refs_are_listed_before_waiting_ones() {
    let item = obj("ConfigMap", "dep", "d1");
    let r = |uid: &str| OwnerRef {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: uid.into(),
        uid: uid.into(),
        controller: false,
        block_owner_deletion: false,
    };
    let d = decide_dependent(
        &item,
        &[
            (r("w"), OwnerState::WaitingForDependentsDeletion),
            (r("s"), OwnerState::Solid),
            (r("x"), OwnerState::Dangling),
        ],
        false,
        false,
    );
    assert_eq!(d, Decision::RemoveOwnerRefs(vec!["x".into(), "w".into()]));
    // Waiting owner only, no dependents of our own: an ordinary background delete.
    let d = decide_dependent(&item, &[(r("w"), OwnerState::WaitingForDependentsDeletion)], false, false);
    assert_eq!(d, Decision::Delete { propagation: Propagation::Background, unblock_first: false });
}
