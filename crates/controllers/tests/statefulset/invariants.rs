//! Invariants checked on every plan and after every sync, in the spirit of upstream's
//! `assertMonotonicInvariants`, `assertBurstInvariants` and `assertUpdateInvariants`.

use k8s_openapi::api::core::v1::Pod;

use berth_controllers::statefulset::{Action, DeleteReason, POD_NAME_LABEL, REVISION_LABEL};

use crate::fake::{ordinal_of, Cluster};

fn healthy(p: &Pod) -> bool {
    let s = p.status.as_ref();
    s.and_then(|s| s.phase.as_deref()) == Some("Running")
        && s.and_then(|s| s.conditions.as_ref()).is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        && p.metadata.deletion_timestamp.is_none()
}

fn range(c: &Cluster) -> (i32, i32) {
    let spec = c.set.spec.as_ref().unwrap();
    let start = spec.ordinals.as_ref().and_then(|o| o.start).unwrap_or(0);
    (start, start + spec.replicas.unwrap_or(1))
}

fn monotonic(c: &Cluster) -> bool {
    c.set.spec.as_ref().unwrap().pod_management_policy.as_deref() != Some("Parallel")
}

/// Checks on a plan against the state it was decided from.
pub fn check_plan(c: &Cluster, plan: &berth_controllers::statefulset::SyncPlan) {
    let (start, end) = range(c);
    let in_range = |n: &str| (start..end).contains(&ordinal_of(n));
    let steps: Vec<&Action> = plan.all_steps().map(|s| &s.action).collect();

    let creates: Vec<&Pod> = steps.iter().filter_map(|a| if let Action::CreatePod { pod } = a { Some(pod) } else { None }).collect();
    for pod in &creates {
        let name = pod.metadata.name.clone().unwrap();
        // Creating over a pod we do not own just fails with AlreadyExists (the API keeps names
        // unique); creating over one of ours would mean the controller lost track of it.
        let released = steps.iter().any(|a| matches!(a, Action::ReleasePod { name: n, .. } if *n == name));
        let ours = !released
            && c.pods.get(&name).is_some_and(|p| {
                p.metadata.owner_references.iter().flatten().any(|r| r.controller == Some(true) && r.uid == "set-uid")
            });
        assert!(!ours, "plan creates {name}, which still exists: two pods for one identity");
        assert!(in_range(&name), "plan creates {name} outside the ordinal range {start}..{end}");
        if monotonic(c) {
            for ord in start..ordinal_of(&name) {
                let lower = format!("{}-{ord}", c.set.metadata.name.as_deref().unwrap());
                let ok = c.pods.get(&lower).is_some_and(healthy);
                assert!(ok, "OrderedReady created {name} while {lower} is not Running+Ready");
            }
        }
    }
    if monotonic(c) {
        assert!(creates.len() <= 1, "OrderedReady created {} pods in one sync", creates.len());
    }

    let scale_downs: Vec<&str> = steps
        .iter()
        .filter_map(|a| match a {
            Action::DeletePod { name, reason: DeleteReason::ScaleDown, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    for name in &scale_downs {
        assert!(!in_range(name), "scale-down deleted in-range pod {name}");
    }
    if monotonic(c) && !scale_downs.is_empty() {
        assert_eq!(scale_downs.len(), 1, "OrderedReady deleted several pods at once: {scale_downs:?}");
        let highest = c.pods.keys().filter(|n| !in_range(n)).map(|n| ordinal_of(n)).max().unwrap();
        assert_eq!(ordinal_of(scale_downs[0]), highest, "scale-down must remove the highest ordinal first");
    }

    let updates: Vec<&str> = steps
        .iter()
        .filter_map(|a| match a {
            Action::DeletePod { name, reason: DeleteReason::Update, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    if !updates.is_empty() {
        let spec = c.set.spec.as_ref().unwrap();
        let ru = spec.update_strategy.as_ref().and_then(|u| u.rolling_update.as_ref());
        let partition = ru.and_then(|r| r.partition).unwrap_or(0);
        let update_rev = plan
            .status
            .as_ref()
            .or(c.set.status.as_ref())
            .and_then(|s| s.update_revision.clone())
            .unwrap_or_default();
        let unhealthy = c.pods.iter().filter(|(n, p)| in_range(n) && !healthy(p)).count();
        for name in &updates {
            assert!(ordinal_of(name) - start >= partition, "rolling update deleted {name} below partition {partition}");
            for (other, p) in &c.pods {
                if in_range(other) && ordinal_of(other) > ordinal_of(name) && !updates.contains(&other.as_str()) {
                    let rev = p.metadata.labels.as_ref().and_then(|l| l.get(REVISION_LABEL)).cloned().unwrap_or_default();
                    assert_eq!(rev, update_rev, "rolling update deleted {name} before higher {other} was updated");
                }
            }
        }
        match ru.and_then(|r| r.max_unavailable.as_ref()) {
            None => {
                assert_eq!(updates.len(), 1, "rolling update deleted several pods at once: {updates:?}");
                if monotonic(c) {
                    assert_eq!(unhealthy, 0, "rolling update deleted {} while a pod was unavailable", updates[0]);
                }
            }
            Some(_) => assert!(unhealthy + updates.len() <= max_unavailable(c), "maxUnavailable exceeded"),
        }
    }
}

fn max_unavailable(c: &Cluster) -> usize {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let spec = c.set.spec.as_ref().unwrap();
    let v = spec.update_strategy.as_ref().unwrap().rolling_update.as_ref().unwrap().max_unavailable.clone().unwrap();
    match v {
        IntOrString::Int(i) => i.max(1) as usize,
        IntOrString::String(s) => {
            let p: usize = s.trim_end_matches('%').parse().unwrap();
            (p * spec.replicas.unwrap_or(1) as usize / 100).max(1)
        }
    }
}

/// Checks on a pod at the moment it is created.
pub fn check_created_pod(c: &Cluster, pod: &Pod) {
    let name = pod.metadata.name.clone().unwrap();
    for v in pod.spec.as_ref().unwrap().volumes.iter().flatten() {
        if let Some(pvc) = &v.persistent_volume_claim {
            assert!(c.claims.contains_key(&pvc.claim_name), "pod {name} created before its claim {}", pvc.claim_name);
        }
    }
    let rev = pod.metadata.labels.as_ref().and_then(|l| l.get(REVISION_LABEL)).cloned().unwrap_or_default();
    assert!(c.revisions.contains_key(&rev), "pod {name} labelled with revision {rev} that does not exist");
    assert_eq!(pod.metadata.labels.as_ref().unwrap()[POD_NAME_LABEL], name);
}

/// Checks on the state after a sync.
pub fn check_state(c: &Cluster) {
    let set_name = c.set.metadata.name.clone().unwrap_or_default();
    let mut ordinals: Vec<i32> = c
        .pods
        .keys()
        .filter(|n| berth_controllers::statefulset::parent_and_ordinal(n).0 == set_name)
        .map(|n| ordinal_of(n))
        .collect();
    ordinals.sort();
    let before = ordinals.len();
    ordinals.dedup();
    assert_eq!(before, ordinals.len(), "two pods share an ordinal: {:?}", c.pods.keys().collect::<Vec<_>>());
}
