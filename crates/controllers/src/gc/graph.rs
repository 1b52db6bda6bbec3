//! The dependency graph the garbage collector keeps from its watches (upstream
//! `graph_builder.go`: `processGraphChanges`, `processTransitions`,
//! `addUnblockedOwnersToDeleteQueue`). Pure: events in, work items out.
//!
//! Deliberate difference: upstream inserts a "virtual" node for an owner it has not observed
//! and queues that owner, whose live GET then queues the dependents. Here the dependent itself
//! is queued; its processing GETs every owner live, which is the same check one step shorter.
//! Until every watch has listed once ([`Graph::mark_synced`]) an unseen owner proves nothing,
//! so such dependents are only queued by the full pass at sync time.

use std::collections::{HashMap, HashSet, VecDeque};

use super::model::{split_api_version, Object};

/// A unit of work for the garbage collector's workers, by uid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Work {
    /// `attemptToDelete`: decide whether the object should go (or, if it is deleting in the
    /// foreground, whether its finalizer can go).
    AttemptToDelete(String),
    /// `attemptToOrphan`: remove the owner from its dependents, then its `orphan` finalizer.
    AttemptToOrphan(String),
}

/// Upstream's `absentOwnerCache` (an LRU of 500): owners known not to exist, so that the
/// dependents of one deleted owner cost one GET rather than one each.
const ABSENT_OWNER_CACHE_SIZE: usize = 500;

#[derive(Default)]
pub struct Graph {
    nodes: HashMap<String, Object>,
    /// owner uid → uids of observed objects naming it; the owner itself may be unobserved.
    dependents: HashMap<String, HashSet<String>>,
    /// (uid, namespace looked in); `None` = observed deleted, so absent from everywhere.
    absent: HashSet<(String, Option<String>)>,
    absent_order: VecDeque<(String, Option<String>)>,
    synced: bool,
}

impl Graph {
    pub fn new() -> Graph {
        Graph::default()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn get(&self, uid: &str) -> Option<&Object> {
        self.nodes.get(uid)
    }

    /// Observed objects that name `uid` as an owner.
    pub fn dependents(&self, uid: &str) -> Vec<&Object> {
        let mut out: Vec<&Object> =
            self.dependents.get(uid).into_iter().flatten().filter_map(|d| self.nodes.get(d)).collect();
        out.sort_by(|a, b| a.id.name.cmp(&b.id.name));
        out
    }

    pub fn is_known_absent(&self, uid: &str, namespace: Option<&str>) -> bool {
        self.absent.contains(&(uid.to_string(), None))
            || namespace.is_some_and(|ns| self.absent.contains(&(uid.to_string(), Some(ns.to_string()))))
    }

    /// Remember that `uid` was not found when looked up in `namespace` (`None`: anywhere).
    pub fn record_absent(&mut self, uid: &str, namespace: Option<&str>) {
        let key = (uid.to_string(), namespace.map(str::to_string));
        if self.absent.insert(key.clone()) {
            self.absent_order.push_back(key);
            if self.absent_order.len() > ABSENT_OWNER_CACHE_SIZE {
                if let Some(old) = self.absent_order.pop_front() {
                    self.absent.remove(&old);
                }
            }
        }
    }

    /// An add or update event.
    pub fn upsert(&mut self, obj: Object) -> Vec<Work> {
        let mut work = Vec::new();
        let uid = obj.id.uid.clone();
        let old = self.nodes.remove(&uid);
        let old_owners: Vec<_> = old.as_ref().map(|o| o.owners.clone()).unwrap_or_default();
        for r in &old_owners {
            if obj.owner_ref(&r.uid).is_none() {
                self.unlink(&r.uid, &uid);
            }
        }
        for r in &obj.owners {
            self.dependents.entry(r.uid.clone()).or_default().insert(uid.clone());
        }
        // A blocking ref removed or turned non-blocking may release an owner waiting in the
        // foreground.
        for r in &old_owners {
            let unblocked = match obj.owner_ref(&r.uid) {
                None => r.block_owner_deletion,
                Some(n) => r.block_owner_deletion && !n.block_owner_deletion,
            };
            if unblocked && self.nodes.contains_key(&r.uid) {
                work.push(Work::AttemptToDelete(r.uid.clone()));
            }
        }
        if self.synced && !obj.being_deleted {
            let new_owner_needs_check = obj
                .owners
                .iter()
                .filter(|r| !old_owners.iter().any(|o| o.uid == r.uid))
                .any(|r| self.owner_needs_check(&r.uid));
            if new_owner_needs_check {
                work.push(Work::AttemptToDelete(uid.clone()));
            }
        }
        // processTransitions: the deletion just started with a GC finalizer.
        let was_orphaning = old.as_ref().is_some_and(Object::orphaning_dependents);
        let was_foreground = old.as_ref().is_some_and(Object::deleting_dependents);
        if obj.orphaning_dependents() && !was_orphaning {
            work.push(Work::AttemptToOrphan(uid.clone()));
        } else if obj.deleting_dependents() && !was_foreground {
            work.extend(self.dependents_of(&uid).into_iter().map(Work::AttemptToDelete));
            work.push(Work::AttemptToDelete(uid.clone()));
        }
        self.nodes.insert(uid, obj);
        work
    }

    /// A delete event (or an object found gone by a live GET or a re-list).
    pub fn delete(&mut self, uid: &str) -> Vec<Work> {
        let Some(node) = self.nodes.remove(uid) else { return vec![] };
        for r in &node.owners {
            self.unlink(&r.uid, uid);
        }
        let deps = self.dependents_of(uid);
        if !deps.is_empty() {
            self.record_absent(uid, None);
        }
        let mut work: Vec<Work> = deps.into_iter().map(Work::AttemptToDelete).collect();
        // An owner deleting in the foreground may have been waiting for this one.
        for r in &node.owners {
            if self.nodes.get(&r.uid).is_some_and(Object::deleting_dependents) {
                work.push(Work::AttemptToDelete(r.uid.clone()));
            }
        }
        work
    }

    /// After a re-list of one resource (`group`, `kind`): anything of it not listed is gone.
    pub fn replace_resource(&mut self, group: &str, kind: &str, listed: &HashSet<String>) -> Vec<Work> {
        let gone: Vec<String> = self
            .nodes
            .values()
            .filter(|n| n.id.kind == kind && split_api_version(&n.id.api_version).0 == group && !listed.contains(&n.id.uid))
            .map(|n| n.id.uid.clone())
            .collect();
        gone.iter().flat_map(|uid| self.delete(uid)).collect()
    }

    /// Every watch has listed once: from now on an unobserved owner is worth a live check.
    /// Returns the full pass.
    pub fn mark_synced(&mut self) -> Vec<Work> {
        self.synced = true;
        self.full_pass()
    }

    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Every item that may need work: used at sync and by the slow periodic resync, so that a
    /// missed event or an exhausted retry cannot leave garbage behind for good.
    pub fn full_pass(&self) -> Vec<Work> {
        let mut items: Vec<&Object> = self.nodes.values().collect();
        items.sort_by(|a, b| (&a.id.namespace, &a.id.name).cmp(&(&b.id.namespace, &b.id.name)));
        let mut work = Vec::new();
        for n in items {
            if n.orphaning_dependents() {
                work.push(Work::AttemptToOrphan(n.id.uid.clone()));
            } else if n.deleting_dependents()
                || (!n.being_deleted && n.owners.iter().any(|r| self.owner_needs_check(&r.uid)))
            {
                work.push(Work::AttemptToDelete(n.id.uid.clone()));
            }
        }
        work
    }

    /// The owner is unobserved (maybe gone, maybe never existed) or waiting for its dependents.
    fn owner_needs_check(&self, owner_uid: &str) -> bool {
        match self.nodes.get(owner_uid) {
            None => true,
            Some(o) => o.deleting_dependents(),
        }
    }

    fn dependents_of(&self, uid: &str) -> Vec<String> {
        let mut v: Vec<String> = self.dependents.get(uid).into_iter().flatten().cloned().collect();
        v.sort();
        v
    }

    fn unlink(&mut self, owner: &str, dependent: &str) {
        if let Some(set) = self.dependents.get_mut(owner) {
            set.remove(dependent);
            if set.is_empty() {
                self.dependents.remove(owner);
            }
        }
    }
}

#[cfg(test)]
#[path = "graph_tests.rs"]
mod tests;
