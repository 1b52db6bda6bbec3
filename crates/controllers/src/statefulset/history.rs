//! Choosing the current and update revisions (`getStatefulSetRevisions`) and pruning old ones
//! (`truncateHistory`).

use std::collections::HashSet;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::Pod;

use super::identity::{pod_revision, set_name};
use super::plan::{Action, Step};
use super::revision::{self, data_bytes, equal_revision, new_revision, next_revision, patch_bytes};

/// The outcome of `getStatefulSetRevisions`.
pub struct Revisions {
    pub current: ControllerRevision,
    pub update: ControllerRevision,
    /// The collision count to persist in status.
    pub collision_count: i32,
    /// Creating the update revision, or re-numbering an older equal one (rollback).
    pub steps: Vec<Step>,
}

/// `getStatefulSetRevisions`. `sorted` are the set's revisions (owned or orphaned, sorted);
/// `all_in_namespace` every revision of the namespace, to find name collisions up front.
///
/// Upstream creates the revision and retries with `collisionCount + 1` when the name is taken
/// by a revision with different data; berth decides the name here, against the revisions it
/// observes, so the same plan can label new pods with it. An existing revision with that name
/// and the same data is used as is (upstream's Create → AlreadyExists → Get → bytes equal).
pub fn get_statefulset_revisions(
    set: &StatefulSet,
    sorted: &[ControllerRevision],
    all_in_namespace: &[ControllerRevision],
) -> Revisions {
    let mut collision_count = set.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0);
    let data = patch_bytes(set);
    let candidate = new_revision(set, &data, next_revision(sorted), collision_count);

    let equal: Vec<&ControllerRevision> = sorted.iter().filter(|r| equal_revision(r, &candidate)).collect();
    let mut steps = Vec::new();
    let update = match (equal.last(), sorted.last()) {
        // The latest revision already holds this template: nothing changed.
        (Some(eq), Some(latest)) if equal_revision(latest, eq) => latest.clone(),
        // An older revision holds it: roll back by giving it the next revision number.
        (Some(eq), _) => {
            let mut bumped = (*eq).clone();
            bumped.revision = candidate.revision;
            steps.push(Step::new(Action::UpdateControllerRevision { revision: bumped.clone() }));
            bumped
        }
        (None, _) => {
            let mut created = candidate.clone();
            loop {
                let name = revision::revision_name(set_name(set), &revision::hash(&data, collision_count));
                match all_in_namespace.iter().find(|r| r.metadata.name.as_deref() == Some(name.as_str())) {
                    Some(existing) if data_bytes(existing) == data => {
                        created = existing.clone();
                        break;
                    }
                    Some(_) => collision_count += 1,
                    None => {
                        // Like upstream, only the name moves on a collision; the hash label
                        // keeps the value computed at the starting count.
                        created.metadata.name = Some(name);
                        steps.push(Step::new(Action::CreateControllerRevision { revision: created.clone() }));
                        break;
                    }
                }
            }
            created
        }
    };

    let current_name = set.status.as_ref().and_then(|s| s.current_revision.as_deref()).unwrap_or("");
    let current = sorted
        .iter()
        .find(|r| !current_name.is_empty() && r.metadata.name.as_deref() == Some(current_name))
        .cloned()
        .unwrap_or_else(|| update.clone());
    Revisions { current, update, collision_count, steps }
}

/// `truncateHistory`: revisions that are neither current, update, nor any pod's revision are
/// deleted oldest first until at most `revisionHistoryLimit` of them remain (a negative limit
/// keeps everything).
pub fn truncate_history(
    set: &StatefulSet,
    pods: &[&Pod],
    sorted: &[ControllerRevision],
    current: &str,
    update: &str,
) -> Vec<Step> {
    let mut live: HashSet<&str> = HashSet::from([current, update]);
    live.extend(pods.iter().map(|p| pod_revision(p)));
    let history: Vec<&ControllerRevision> =
        sorted.iter().filter(|r| !live.contains(r.metadata.name.as_deref().unwrap_or(""))).collect();
    let limit = set.spec.as_ref().and_then(|s| s.revision_history_limit).unwrap_or(10);
    if limit < 0 || history.len() <= limit as usize {
        return Vec::new();
    }
    history[..history.len() - limit as usize]
        .iter()
        .map(|r| {
            Step::new(Action::DeleteControllerRevision {
                name: r.metadata.name.clone().unwrap_or_default(),
                uid: r.metadata.uid.clone().unwrap_or_default(),
            })
        })
        .collect()
}
