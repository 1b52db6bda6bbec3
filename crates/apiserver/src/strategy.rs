//! Per-kind rules the generic REST handlers apply on create and update, as upstream's
//! registry strategies do (`pkg/registry/*/strategy.go`): which fields the server owns, how
//! status is reset or preserved, when `metadata.generation` moves, and the server-assigned
//! fields such as a Service's cluster IP.

use berth_api::{FieldError, ResourceInfo};
use serde_json::{json, Value};

use crate::objects::meta_mut;

/// Reset what clients may not set on create (upstream `PrepareForCreate`).
pub fn prepare_for_create(info: &ResourceInfo, obj: &mut Value) {
    if info.tracks_generation {
        meta_mut(obj).insert("generation".into(), json!(1));
    } else {
        meta_mut(obj).remove("generation");
    }
    let status = match (info.group, info.kind) {
        ("", "Pod") => Some(json!({"phase": "Pending", "qosClass": pod_qos_class(obj)})),
        ("", "Service") => Some(json!({"loadBalancer": {}})),
        ("", "PersistentVolume") => Some(json!({"phase": "Pending"})),
        ("", "PersistentVolumeClaim") => Some(json!({"phase": "Pending"})),
        ("", "Namespace") => Some(json!({"phase": "Active"})),
        ("apps", "StatefulSet") => Some(json!({"replicas": 0, "availableReplicas": 0})),
        // The v1 status counters have no omitempty: an empty status prints them as 0.
        ("policy", "PodDisruptionBudget") => Some(json!({"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0})),
        _ => None,
    };
    if let (Some(status), Some(o)) = (status, obj.as_object_mut()) {
        o.insert("status".into(), status);
    }
    if (info.group, info.kind) == ("", "Namespace") {
        // Every namespace carries the `kubernetes` finalizer so its content is removed first.
        let spec = obj.as_object_mut().map(|o| o.entry("spec").or_insert_with(|| json!({})));
        if let Some(spec) = spec {
            spec["finalizers"] = json!(["kubernetes"]);
        }
    }
}

/// upstream `qos.GetPodQOS`: Guaranteed when every container has equal cpu and memory
/// limits and requests, BestEffort when none has any, Burstable otherwise.
fn pod_qos_class(pod: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|f| pod.pointer(&format!("/spec/{f}")).and_then(Value::as_array))
        .flatten()
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in containers {
        let req = c.pointer("/resources/requests").and_then(Value::as_object);
        let lim = c.pointer("/resources/limits").and_then(Value::as_object);
        let has = |m: Option<&serde_json::Map<String, Value>>, r: &str| m.is_some_and(|m| m.contains_key(r));
        for r in ["cpu", "memory"] {
            if has(req, r) || has(lim, r) {
                any = true;
            }
            let l = lim.and_then(|m| m.get(r));
            let q = req.and_then(|m| m.get(r)).or(l);
            if l.is_none() || q != l {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Carry server-owned fields from the stored object into an update of the main resource
/// (upstream `PrepareForUpdate`): status is only written through `/status`, and
/// `generation` moves when the spec changes.
pub fn prepare_for_update(info: &ResourceInfo, new: &mut Value, old: &Value) {
    preserve_system_metadata(new, old);
    if info.has_subresource("status") {
        if let Some(o) = new.as_object_mut() {
            match old.get("status") {
                Some(s) => {
                    o.insert("status".into(), s.clone());
                }
                None => {
                    o.remove("status");
                }
            }
        }
    }
    if (info.group, info.kind) == ("", "Namespace") {
        // Namespace spec (its finalizers) is only changed through /finalize.
        if let (Some(o), Some(s)) = (new.as_object_mut(), old.get("spec")) {
            o.insert("spec".into(), s.clone());
        }
    }
    let old_gen = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
    let mut gen = old_gen;
    if info.tracks_generation && spec_of(new) != spec_of(old) {
        gen += 1;
    }
    if gen > 0 {
        meta_mut(new).insert("generation".into(), json!(gen));
    } else {
        meta_mut(new).remove("generation");
    }
}

/// A `/status` update changes only `status` (upstream status strategies reset the rest).
pub fn prepare_for_status_update(new: &Value, old: &Value) -> Value {
    let mut out = old.clone();
    if let Some(o) = out.as_object_mut() {
        match new.get("status") {
            Some(s) => {
                o.insert("status".into(), s.clone());
            }
            None => {
                o.remove("status");
            }
        }
    }
    out
}

/// `/finalize` on a namespace changes only `spec.finalizers`.
pub fn prepare_for_finalize(new: &Value, old: &Value) -> Value {
    let mut out = old.clone();
    let fins = new.pointer("/spec/finalizers").cloned().unwrap_or(json!([]));
    if let Some(o) = out.as_object_mut() {
        let spec = o.entry("spec").or_insert_with(|| json!({}));
        spec["finalizers"] = fins;
    }
    out
}

fn spec_of(v: &Value) -> Option<&Value> {
    // Kinds without `spec` (ConfigMap, ControllerRevision…) version their whole content.
    v.get("spec").or_else(|| v.get("data"))
}

/// Fields only the server sets; a client's values are ignored on update.
pub fn preserve_system_metadata(new: &mut Value, old: &Value) {
    let m = meta_mut(new);
    for f in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"] {
        match old.pointer(&format!("/metadata/{f}")) {
            Some(v) => {
                m.insert(f.into(), v.clone());
            }
            None => {
                m.remove(f);
            }
        }
    }
    m.remove("managedFields");
}

/// Checks upstream makes in generic code for every kind on update.
pub fn validate_generic_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if crate::objects::is_deleting(old) {
        let old_f = crate::objects::finalizers(old);
        let added: Vec<String> = crate::objects::finalizers(new).into_iter().filter(|f| !old_f.contains(f)).collect();
        if !added.is_empty() {
            let list = added.iter().map(|f| format!("{f:?}")).collect::<Vec<_>>().join(", ");
            errs.push(FieldError::forbidden(
                "metadata.finalizers",
                format!("no new finalizers can be added if the object is being deleted, found new finalizers []string{{{list}}}"),
            ));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::registry::lookup;

    #[test]
    fn a_new_budget_starts_with_zero_counters_and_generation_one() {
        let pdb = lookup("policy", "v1", "poddisruptionbudgets").unwrap();
        let mut created = json!({"metadata": {"name": "web"}, "spec": {"maxUnavailable": 1}, "status": {"disruptionsAllowed": 5}});
        prepare_for_create(pdb, &mut created);
        assert_eq!(created["metadata"]["generation"], 1);
        assert_eq!(created["status"], json!({"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}));
        let mut changed = created.clone();
        changed["spec"]["maxUnavailable"] = json!(2);
        prepare_for_update(pdb, &mut changed, &created);
        assert_eq!(changed["metadata"]["generation"], 2);
    }

    #[test]
    fn generation_moves_only_with_spec() {
        let sts = lookup("apps", "v1", "statefulsets").unwrap();
        let mut created = json!({"metadata": {"name": "web"}, "spec": {"replicas": 1}, "status": {"replicas": 5}});
        prepare_for_create(sts, &mut created);
        assert_eq!(created["metadata"]["generation"], 1);
        assert_eq!(created["status"]["replicas"], 0);

        let mut relabel = created.clone();
        relabel["metadata"]["labels"] = json!({"a": "b"});
        prepare_for_update(sts, &mut relabel, &created);
        assert_eq!(relabel["metadata"]["generation"], 1);

        let mut scaled = created.clone();
        scaled["spec"]["replicas"] = json!(3);
        scaled["status"]["replicas"] = json!(99);
        prepare_for_update(sts, &mut scaled, &created);
        assert_eq!(scaled["metadata"]["generation"], 2);
        assert_eq!(scaled["status"]["replicas"], 0, "status is preserved from the stored object");
    }

    #[test]
    fn status_update_touches_only_status() {
        let old = json!({"metadata": {"name": "web", "labels": {"a": "1"}}, "spec": {"replicas": 1}, "status": {}});
        let new = json!({"metadata": {"name": "web", "labels": {"a": "2"}}, "spec": {"replicas": 9}, "status": {"replicas": 1}});
        let out = prepare_for_status_update(&new, &old);
        assert_eq!(out["spec"]["replicas"], 1);
        assert_eq!(out["metadata"]["labels"]["a"], "1");
        assert_eq!(out["status"]["replicas"], 1);
    }

    #[test]
    fn qos_classes() {
        let be = json!({"spec": {"containers": [{"name": "c"}]}});
        assert_eq!(pod_qos_class(&be), "BestEffort");
        let g = json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}});
        assert_eq!(pod_qos_class(&g), "Guaranteed");
        let b = json!({"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}});
        assert_eq!(pod_qos_class(&b), "Burstable");
    }

    #[test]
    fn finalizers_cannot_be_added_while_deleting() {
        let old = json!({"metadata": {"name": "p", "deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["a/b"]}});
        let new = json!({"metadata": {"name": "p", "finalizers": ["a/b", "c/d"]}});
        let errs = validate_generic_update(&new, &old);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].to_string().contains("[]string{\"c/d\"}"));
    }
}
