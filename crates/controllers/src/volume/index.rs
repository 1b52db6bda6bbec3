//! The binder's volume index (upstream `index.go`, ordered): unclaimed volumes grouped by
//! storage class and access-mode set, each group sorted by capacity then name, and claimed
//! volumes by the claim their `claimRef` names. A claim sync then looks at the few volumes
//! that can matter — the one it names, the ones pre-bound to it, and in each access-mode group
//! the first (smallest) volume that fits — instead of every volume in the cluster, so binding
//! N claims to N volumes is not O(N²).
//!
//! The index holds names only; the informer's store is the truth for each volume's content.
//! An entry the store no longer backs (missed delete) is skipped.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use berth_api::quantity::Quantity;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::ResourceExt;

use super::helpers::*;
use super::matching::find_matching_volume;

type GroupKey = (String, Vec<&'static str>);
type ClaimKey = (String, String);

#[derive(Clone)]
enum Entry {
    Unclaimed(GroupKey, Quantity),
    Claimed(ClaimKey),
}

#[derive(Default)]
struct Inner {
    groups: HashMap<GroupKey, BTreeSet<(Quantity, String)>>,
    by_claim: HashMap<ClaimKey, BTreeSet<String>>,
    entries: HashMap<String, Entry>,
}

#[derive(Default)]
pub(crate) struct VolumeIndex {
    inner: Mutex<Inner>,
}

fn capacity_of(v: &PersistentVolume) -> Quantity {
    volume_capacity(v).and_then(|q| Quantity::parse(q).ok()).unwrap_or(Quantity::ZERO)
}

impl Inner {
    fn remove(&mut self, name: &str) {
        match self.entries.remove(name) {
            Some(Entry::Unclaimed(g, q)) => {
                if let Some(set) = self.groups.get_mut(&g) {
                    set.remove(&(q, name.to_string()));
                    if set.is_empty() {
                        self.groups.remove(&g);
                    }
                }
            }
            Some(Entry::Claimed(c)) => {
                if let Some(set) = self.by_claim.get_mut(&c) {
                    set.remove(name);
                    if set.is_empty() {
                        self.by_claim.remove(&c);
                    }
                }
            }
            None => {}
        }
    }
}

impl VolumeIndex {
    /// Record the volume's current state (from an informer event).
    pub(crate) fn applied(&self, v: &PersistentVolume) {
        let name = v.name_any();
        let mut inner = self.inner.lock().expect("index lock");
        inner.remove(&name);
        let entry = match claim_ref(v) {
            Some(r) => {
                let key = (r.namespace.clone().unwrap_or_default(), r.name.clone().unwrap_or_default());
                inner.by_claim.entry(key.clone()).or_default().insert(name.clone());
                Entry::Claimed(key)
            }
            None => {
                let g = (volume_class(v), access_mode_key(volume_access_modes(v)));
                let q = capacity_of(v);
                inner.groups.entry(g.clone()).or_default().insert((q, name.clone()));
                Entry::Unclaimed(g, q)
            }
        };
        inner.entries.insert(name, entry);
    }

    pub(crate) fn deleted(&self, name: &str) {
        self.inner.lock().expect("index lock").remove(name);
    }

    /// The volumes a sync of `claim` must see (see the module docs); `skip`: volumes another
    /// claim's sync in flight has chosen.
    pub(crate) fn candidates(&self, claim: &PersistentVolumeClaim, store: &Store<PersistentVolume>, skip: &HashSet<String>) -> Vec<PersistentVolume> {
        let get = |n: &str| store.get(&ObjectRef::new(n)).map(|v| (*v).clone());
        let mut out: Vec<PersistentVolume> = Vec::new();
        let mut names: HashSet<String> = HashSet::new();
        let mut push = |v: PersistentVolume, out: &mut Vec<PersistentVolume>| {
            if names.insert(v.name_any()) {
                out.push(v);
            }
        };
        let named = claim_volume_name(claim);
        if !named.is_empty() {
            if let Some(v) = get(named) {
                push(v, &mut out);
            }
        }
        let key = (claim.namespace().unwrap_or_default(), claim.name_any());
        let inner = self.inner.lock().expect("index lock");
        for n in inner.by_claim.get(&key).into_iter().flatten() {
            if let Some(v) = get(n) {
                push(v, &mut out);
            }
        }
        let class = claim_class(claim);
        let wanted = claim_access_modes(claim);
        let request = claim_request(claim).and_then(|q| Quantity::parse(q).ok()).unwrap_or(Quantity::ZERO);
        for ((c, modes), set) in inner.groups.iter() {
            if *c != class || !wanted.iter().all(|m| modes.contains(&m.as_str())) {
                continue;
            }
            for (_, n) in set.range((request, String::new())..) {
                if skip.contains(n) {
                    continue;
                }
                let Some(v) = get(n) else { continue };
                // The same test the full scan applies, one volume at a time.
                if matches!(find_matching_volume(claim, &[&v], false), Ok(Some(_))) {
                    push(v, &mut out);
                    break;
                }
            }
        }
        out.sort_by_key(|v| v.name_any());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::{reflector, watcher};
    use serde_json::json;

    fn pv(name: &str, size: &str, modes: &[&str], claim: Option<&str>) -> PersistentVolume {
        let mut v = json!({"metadata": {"name": name}, "spec": {"capacity": {"storage": size}, "accessModes": modes,
            "storageClassName": "gold", "hostPath": {"path": "/tmp/x"}}, "status": {"phase": "Available"}});
        if let Some(c) = claim {
            v["spec"]["claimRef"] = json!({"namespace": "default", "name": c});
        }
        serde_json::from_value(v).unwrap()
    }

    fn pvc(name: &str, size: &str) -> PersistentVolumeClaim {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default", "uid": "u"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "gold", "resources": {"requests": {"storage": size}}}}))
        .unwrap()
    }

    #[test]
    fn candidates_are_the_smallest_fit_per_group_and_the_claims_own() {
        let (store, mut writer) = reflector::store::<PersistentVolume>();
        let index = VolumeIndex::default();
        let volumes = [
            pv("a-5", "5Gi", &["ReadWriteOnce"], None),
            pv("b-2", "2Gi", &["ReadWriteOnce"], None),
            pv("c-2", "2Gi", &["ReadWriteOnce"], None),
            pv("d-1", "1Gi", &["ReadWriteOnce"], None),
            pv("e-3", "3Gi", &["ReadWriteOnce", "ReadOnlyMany"], None),
            pv("f-9", "9Gi", &["ReadWriteOnce"], Some("mine")),
            pv("g-2", "2Gi", &["ReadWriteOnce"], Some("other")),
        ];
        for v in &volumes {
            writer.apply_watcher_event(&watcher::Event::Apply(v.clone()));
            index.applied(v);
        }
        let names = |vs: Vec<PersistentVolume>| vs.iter().map(|v| v.name_any()).collect::<Vec<_>>();
        assert_eq!(names(index.candidates(&pvc("x", "2Gi"), &store, &HashSet::new())), ["b-2", "e-3"]);
        assert_eq!(names(index.candidates(&pvc("mine", "2Gi"), &store, &HashSet::new())), ["b-2", "e-3", "f-9"]);
        // reserved by another sync: the next one
        assert_eq!(names(index.candidates(&pvc("x", "2Gi"), &store, &HashSet::from(["b-2".to_string()]))), ["c-2", "e-3"]);
        // b-2 gets claimed: it leaves its group
        let claimed = pv("b-2", "2Gi", &["ReadWriteOnce"], Some("x"));
        writer.apply_watcher_event(&watcher::Event::Apply(claimed.clone()));
        index.applied(&claimed);
        assert_eq!(names(index.candidates(&pvc("y", "2Gi"), &store, &HashSet::new())), ["c-2", "e-3"]);
        assert_eq!(names(index.candidates(&pvc("x", "2Gi"), &store, &HashSet::new())), ["b-2", "c-2", "e-3"]);
        index.deleted("c-2");
        assert_eq!(names(index.candidates(&pvc("y", "2Gi"), &store, &HashSet::new())), ["a-5", "e-3"]);
        assert_eq!(names(index.candidates(&pvc("y", "10Gi"), &store, &HashSet::new())), Vec::<String>::new());
    }
}
