//! An in-memory cluster that executes sync plans the way the documented executor must, a
//! "kubelet" to move pods through their phases, a tiny garbage collector, and invariant checks
//! after every sync (upstream's `assertMonotonicInvariants` & co., checked on each plan).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PersistentVolumeClaimStatus, Pod, PodCondition, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use berth_controllers::statefulset::{
    from_chrono, parent_and_ordinal, revision_data_equal, sync, Action, ErrorKind, Event, Step, SyncInput,
    SyncPlan, REVISION_LABEL,
};

pub type Failure = (ErrorKind, String);
pub type Injector = Box<dyn FnMut(&Action) -> Option<Failure>>;

pub struct Cluster {
    pub now: DateTime<Utc>,
    pub set: StatefulSet,
    pub pods: BTreeMap<String, Pod>,
    pub claims: BTreeMap<String, PersistentVolumeClaim>,
    pub revisions: BTreeMap<String, ControllerRevision>,
    /// Other objects' UIDs that exist (for the garbage collector), e.g. a ConfigMap owner.
    pub other_owners: Vec<String>,
    pub events: Vec<Event>,
    /// Every successful call, e.g. `create pod web-0`, `delete pod web-2 (ScaleDown)`.
    pub log: Vec<String>,
    /// Deletes leave pods Terminating until `finish_terminations` (graceful deletion).
    pub graceful: bool,
    /// Injected failure: return an error for the first matching call.
    pub inject: Option<Injector>,
    pub syncs: usize,
    next: u64,
}

fn meta_name(m: &ObjectMeta) -> String {
    m.name.clone().unwrap_or_default()
}

pub fn ordinal_of(name: &str) -> i32 {
    parent_and_ordinal(name).1
}

impl Cluster {
    pub fn new(set: StatefulSet) -> Cluster {
        let mut c = Cluster {
            now: Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap(),
            set,
            pods: BTreeMap::new(),
            claims: BTreeMap::new(),
            revisions: BTreeMap::new(),
            other_owners: Vec::new(),
            events: Vec::new(),
            log: Vec::new(),
            graceful: false,
            inject: None,
            syncs: 0,
            next: 0,
        };
        c.set.metadata.uid = Some("set-uid".into());
        c.set.metadata.generation = Some(1);
        c.set.metadata.resource_version = Some(c.rv());
        c
    }

    fn rv(&mut self) -> String {
        self.next += 1;
        self.next.to_string()
    }

    pub fn uid(&mut self, kind: &str) -> String {
        self.next += 1;
        format!("{kind}-uid-{}", self.next)
    }

    /// Change the set's spec (generation bumps, as the API server does for spec changes).
    pub fn edit(&mut self, f: impl FnOnce(&mut StatefulSet)) {
        f(&mut self.set);
        self.set.metadata.generation = Some(self.set.metadata.generation.unwrap_or(0) + 1);
        self.set.metadata.resource_version = Some(self.rv());
    }

    pub fn advance(&mut self, secs: i64) {
        self.now += Duration::seconds(secs);
    }

    pub fn input_vectors(&self) -> (Vec<Pod>, Vec<PersistentVolumeClaim>, Vec<ControllerRevision>) {
        (
            self.pods.values().cloned().collect(),
            self.claims.values().cloned().collect(),
            self.revisions.values().cloned().collect(),
        )
    }

    pub fn plan(&self) -> SyncPlan {
        let (pods, claims, revisions) = self.input_vectors();
        let pods: Vec<std::sync::Arc<Pod>> = pods.into_iter().map(std::sync::Arc::new).collect();
        sync(&SyncInput { set: &self.set, pods: &pods, claims: &claims, revisions: &revisions, now: self.now })
    }

    /// One sync: decide, check the plan against the invariants, execute it.
    pub fn sync(&mut self) -> (SyncPlan, Result<(), String>) {
        let plan = self.plan();
        crate::invariants::check_plan(self, &plan);
        let result = self.execute(&plan);
        crate::invariants::check_state(self);
        self.syncs += 1;
        (plan, result)
    }

    /// The executor protocol of `berth_controllers::statefulset`'s docs.
    pub fn execute(&mut self, plan: &SyncPlan) -> Result<(), String> {
        for step in &plan.prelude {
            self.step(step)?;
        }
        let mut err = None;
        for step in &plan.steps {
            if let Err(e) = self.step(step) {
                err = Some(e);
                break;
            }
        }
        if let Some(status) = &plan.status {
            let conditions = self.set.status.as_ref().and_then(|s| s.conditions.clone());
            let mut status = status.clone();
            status.conditions = conditions;
            self.set.status = Some(status);
            self.set.metadata.resource_version = Some(self.rv());
        }
        for step in &plan.history {
            if let Err(e) = self.step(step) {
                err.get_or_insert(e);
                break;
            }
        }
        err.map_or(Ok(()), Err)
    }

    fn step(&mut self, step: &Step) -> Result<(), String> {
        let injected = self.inject.as_mut().and_then(|f| f(&step.action));
        let result = match injected {
            Some(e) => Err(e),
            None => self.call(&step.action),
        };
        match result {
            Ok(()) => {
                self.events.extend(step.on_success.iter().cloned());
                Ok(())
            }
            Err((kind, msg)) => {
                self.events.extend(step.failure_events(kind, &msg));
                if step.tolerates(kind) {
                    Ok(())
                } else {
                    Err(msg)
                }
            }
        }
    }

    fn call(&mut self, action: &Action) -> Result<(), Failure> {
        let not_found = |what: &str, name: &str| (ErrorKind::NotFound, format!("{what} \"{name}\" not found"));
        match action {
            Action::RecheckSetBeforeAdoption { uid, .. } => {
                if self.set.metadata.uid.as_deref() != Some(uid) || self.set.metadata.deletion_timestamp.is_some() {
                    return Err((ErrorKind::Other, "set is gone or being deleted".into()));
                }
                self.log.push("recheck set".into());
            }
            Action::AdoptPod { name, uid, .. } => {
                let set_ref = self.controller_ref();
                let pod = self.pods.get_mut(name).ok_or_else(|| not_found("pods", name))?;
                if pod.metadata.uid.as_deref() != Some(uid) {
                    return Err((ErrorKind::Invalid, "uid mismatch".into()));
                }
                pod.metadata.owner_references.get_or_insert_with(Vec::new).push(set_ref);
                pod.metadata.resource_version = Some(format!("patched-{}", self.next));
                self.log.push(format!("adopt pod {name}"));
            }
            Action::ReleasePod { name, uid, .. } => {
                let set_uid = self.set.metadata.uid.clone().unwrap_or_default();
                let pod = self.pods.get_mut(name).ok_or_else(|| not_found("pods", name))?;
                if pod.metadata.uid.as_deref() != Some(uid) {
                    return Err((ErrorKind::Invalid, "uid mismatch".into()));
                }
                pod.metadata.owner_references.get_or_insert_with(Vec::new).retain(|r| r.uid != set_uid);
                pod.metadata.resource_version = Some(format!("patched-{}", self.next));
                self.log.push(format!("release pod {name}"));
            }
            Action::AdoptControllerRevision { name, .. } => {
                let set_ref = self.controller_ref();
                let cr = self.revisions.get_mut(name).ok_or_else(|| not_found("controllerrevisions", name))?;
                cr.metadata.owner_references.get_or_insert_with(Vec::new).push(set_ref);
                self.log.push(format!("adopt revision {name}"));
            }
            Action::CreateControllerRevision { revision } => {
                let name = meta_name(&revision.metadata);
                if let Some(existing) = self.revisions.get(&name) {
                    if revision_data_equal(existing, revision) {
                        return Ok(());
                    }
                    return Err((ErrorKind::AlreadyExists, format!("hash collision on {name}")));
                }
                let mut cr = revision.clone();
                cr.metadata.uid = Some(self.uid("cr"));
                cr.metadata.resource_version = Some(self.rv());
                cr.metadata.creation_timestamp = Some(from_chrono(self.now));
                self.revisions.insert(name.clone(), cr);
                self.log.push(format!("create revision {name}"));
            }
            Action::UpdateControllerRevision { revision } => {
                let name = meta_name(&revision.metadata);
                let rv = self.rv();
                let cr = self.revisions.get_mut(&name).ok_or_else(|| not_found("controllerrevisions", &name))?;
                if cr.metadata.resource_version != revision.metadata.resource_version {
                    return Err((ErrorKind::Conflict, "conflict".into()));
                }
                *cr = revision.clone();
                cr.metadata.resource_version = Some(rv);
                self.log.push(format!("update revision {name} to {}", revision.revision));
            }
            Action::DeleteControllerRevision { name, uid } => {
                let cr = self.revisions.get(name).ok_or_else(|| not_found("controllerrevisions", name))?;
                if cr.metadata.uid.as_deref() != Some(uid) {
                    return Err((ErrorKind::Conflict, "uid precondition".into()));
                }
                self.revisions.remove(name);
                self.log.push(format!("delete revision {name}"));
            }
            Action::CreateClaim { claim } => {
                let name = meta_name(&claim.metadata);
                if self.claims.contains_key(&name) {
                    return Err((ErrorKind::AlreadyExists, format!("persistentvolumeclaims \"{name}\" already exists")));
                }
                let mut c = claim.clone();
                c.metadata.uid = Some(self.uid("pvc"));
                c.metadata.resource_version = Some(self.rv());
                c.status = Some(PersistentVolumeClaimStatus { phase: Some("Pending".into()), ..Default::default() });
                self.claims.insert(name.clone(), c);
                self.log.push(format!("create claim {name}"));
            }
            Action::UpdateClaim { claim } => {
                let name = meta_name(&claim.metadata);
                let rv = self.rv();
                let c = self.claims.get_mut(&name).ok_or_else(|| not_found("persistentvolumeclaims", &name))?;
                if c.metadata.resource_version != claim.metadata.resource_version {
                    return Err((ErrorKind::Conflict, format!("conflict on claim {name}")));
                }
                *c = claim.clone();
                c.metadata.resource_version = Some(rv);
                self.log.push(format!("update claim {name}"));
            }
            Action::CreatePod { pod } => {
                let name = meta_name(&pod.metadata);
                if self.pods.contains_key(&name) {
                    return Err((ErrorKind::AlreadyExists, format!("pods \"{name}\" already exists")));
                }
                crate::invariants::check_created_pod(self, pod);
                let mut p = pod.clone();
                p.metadata.uid = Some(self.uid("pod"));
                p.metadata.resource_version = Some(self.rv());
                p.metadata.creation_timestamp = Some(from_chrono(self.now));
                p.status = Some(PodStatus { phase: Some("Pending".into()), ..Default::default() });
                self.pods.insert(name.clone(), p);
                self.log.push(format!("create pod {name}"));
            }
            Action::UpdatePod { pod } => {
                let name = meta_name(&pod.metadata);
                let rv = self.rv();
                let p = self.pods.get_mut(&name).ok_or_else(|| not_found("pods", &name))?;
                if p.metadata.resource_version != pod.metadata.resource_version {
                    return Err((ErrorKind::Conflict, format!("conflict on pod {name}")));
                }
                let status = p.status.clone();
                *p = pod.clone();
                p.status = status;
                p.metadata.resource_version = Some(rv);
                self.log.push(format!("update pod {name}"));
            }
            Action::DeletePod { name, uid, reason } => {
                let now = from_chrono(self.now);
                let graceful = self.graceful;
                let p = self.pods.get_mut(name).ok_or_else(|| not_found("pods", name))?;
                if p.metadata.uid.as_deref() != Some(uid) {
                    return Err((ErrorKind::Conflict, "Precondition failed: UID".into()));
                }
                let has_finalizers = p.metadata.finalizers.as_ref().is_some_and(|f| !f.is_empty());
                if graceful || has_finalizers {
                    p.metadata.deletion_timestamp.get_or_insert(now);
                } else {
                    self.pods.remove(name);
                    self.collect_garbage();
                }
                self.log.push(format!("delete pod {name} ({reason:?})"));
            }
            Action::RecordEvent(e) => self.events.push(e.clone()),
            Action::Fail { message } => return Err((ErrorKind::Other, message.clone())),
        }
        Ok(())
    }

    fn controller_ref(&self) -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".into(),
            kind: "StatefulSet".into(),
            name: meta_name(&self.set.metadata),
            uid: self.set.metadata.uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    /// Claims whose every owner is gone are deleted (the garbage collector, Background).
    pub fn collect_garbage(&mut self) {
        let mut live: Vec<String> = self.pods.values().filter_map(|p| p.metadata.uid.clone()).collect();
        live.extend(self.set.metadata.uid.clone());
        live.extend(self.other_owners.iter().cloned());
        self.claims.retain(|_, c| {
            let refs = c.metadata.owner_references.as_deref().unwrap_or(&[]);
            refs.is_empty() || refs.iter().any(|r| live.contains(&r.uid))
        });
    }

    // ---- kubelet ----

    fn set_ready(&mut self, name: &str, ready: bool) {
        let now = from_chrono(self.now);
        let pod = self.pods.get_mut(name).unwrap_or_else(|| panic!("no pod {name}"));
        let status = pod.status.get_or_insert_with(Default::default);
        status.phase = Some("Running".into());
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        let wanted = if ready { "True" } else { "False" };
        match conditions.iter_mut().find(|c| c.type_ == "Ready") {
            Some(c) if c.status == wanted => {}
            Some(c) => {
                c.status = wanted.into();
                c.last_transition_time = Some(now);
            }
            None => conditions.push(PodCondition {
                type_: "Ready".into(),
                status: wanted.into(),
                last_transition_time: Some(now),
                ..Default::default()
            }),
        }
        pod.metadata.resource_version = Some(self.next.to_string());
        self.next += 1;
    }

    pub fn run_ready(&mut self, name: &str) {
        self.set_ready(name, true);
    }

    pub fn run_unready(&mut self, name: &str) {
        self.set_ready(name, false);
    }

    pub fn mark_failed(&mut self, name: &str) {
        let pod = self.pods.get_mut(name).unwrap_or_else(|| panic!("no pod {name}"));
        let status = pod.status.get_or_insert_with(Default::default);
        status.phase = Some("Failed".into());
        status.conditions = None;
    }

    /// Every Pending, non-terminating pod becomes Running and Ready. True if any did.
    pub fn ready_pending(&mut self) -> bool {
        let names: Vec<String> = self
            .pods
            .values()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending"))
            .map(|p| meta_name(&p.metadata))
            .collect();
        let changed = !names.is_empty();
        for n in names {
            self.run_ready(&n);
        }
        changed
    }

    /// Terminating pods without finalizers disappear. True if any did.
    pub fn finish_terminations(&mut self) -> bool {
        let before = self.pods.len();
        self.pods.retain(|_, p| {
            p.metadata.deletion_timestamp.is_none() || p.metadata.finalizers.as_ref().is_some_and(|f| !f.is_empty())
        });
        self.collect_garbage();
        before != self.pods.len()
    }

    /// A user/kubectl deletion (grace 0): the pod is gone at once.
    pub fn delete_pod_now(&mut self, name: &str) {
        self.pods.remove(name);
        self.collect_garbage();
    }

    /// Sync, then let the kubelet make new pods ready and finish terminations, until a sync
    /// plans nothing. Returns the number of syncs.
    pub fn settle(&mut self) -> usize {
        for i in 0..200 {
            let (plan, result) = self.sync();
            result.unwrap_or_else(|e| panic!("sync failed while settling: {e}"));
            let readied = self.ready_pending();
            let removed = self.finish_terminations();
            if plan.all_steps().next().is_none() && plan.status.is_none() && !readied && !removed {
                return i + 1;
            }
        }
        panic!("did not settle in 200 syncs; log: {:?}", self.log);
    }

    // ---- views ----

    pub fn pod_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.pods.keys().cloned().collect();
        names.sort_by_key(|n| ordinal_of(n));
        names
    }

    pub fn pod(&self, name: &str) -> &Pod {
        self.pods.get(name).unwrap_or_else(|| panic!("no pod {name}"))
    }

    pub fn revision_of(&self, name: &str) -> String {
        self.pod(name).metadata.labels.as_ref().and_then(|l| l.get(REVISION_LABEL)).cloned().unwrap_or_default()
    }

    pub fn status(&self) -> k8s_openapi::api::apps::v1::StatefulSetStatus {
        self.set.status.clone().unwrap_or_default()
    }

    pub fn image_of(&self, name: &str) -> String {
        self.pod(name).spec.as_ref().unwrap().containers[0].image.clone().unwrap_or_default()
    }

    pub fn take_log(&mut self) -> Vec<String> {
        std::mem::take(&mut self.log)
    }

    pub fn deletions(&self) -> Vec<String> {
        self.log.iter().filter(|l| l.starts_with("delete pod")).cloned().collect()
    }
}
