//! apps/v1 StatefulSet and ControllerRevision (`pkg/apis/apps/validation/validation.go`).
//!
//! Faithful to upstream, the StatefulSet's pod template is *not* run through full PodSpec
//! validation (upstream leaves a TODO there): only its labels, annotations, restartPolicy
//! and activeDeadlineSeconds are checked. A bad template is accepted and the controller's
//! pod creation then fails with the Pod's validation error, exactly as on a real cluster.

use serde_json::{json, Value};

use super::meta::*;
use super::names::NameRule;
use super::util::*;

/// Spec fields a StatefulSet update may change. The list follows the newest upstream
/// wording (the reference quotes it), which also makes `revisionHistoryLimit` mutable.
const STS_MUTABLE: &[&str] =
    &["replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit", "persistentVolumeClaimRetentionPolicy", "minReadySeconds"];

pub const STS_FORBIDDEN: &str = "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";

fn validate_statefulset_spec(spec: &Value) -> Errs {
    let p = Path::new("spec");
    let mut errs = Errs::new();
    match s(spec, "podManagementPolicy") {
        "" => errs.push(required(&p.child("podManagementPolicy"), "")),
        "OrderedReady" | "Parallel" => {}
        other => errs.push(invalid(&p.child("podManagementPolicy"), other, "must be 'OrderedReady' or 'Parallel'")),
    }
    let strategy = get(spec, "updateStrategy").cloned().unwrap_or(Value::Null);
    let rolling = get(&strategy, "rollingUpdate");
    let up = p.child("updateStrategy");
    match s(&strategy, "type") {
        "" => errs.push(required(&up, "")),
        "OnDelete" => {
            if let Some(ru) = rolling {
                errs.push(invalid(&up.child("rollingUpdate"), rolling_update_json(ru), "only allowed for updateStrategy 'RollingUpdate'"));
            }
        }
        "RollingUpdate" => {
            if let Some(ru) = rolling {
                errs.extend(nonnegative(i64_or(ru, "partition", 0), &up.child("rollingUpdate").child("partition")));
            }
        }
        other => {
            let shown = json!({"Type": other, "RollingUpdate": rolling.map(rolling_update_json).unwrap_or(Value::Null)});
            errs.push(invalid(&up, shown, "must be 'RollingUpdate' or 'OnDelete'"));
        }
    }
    if let Some(policy) = get(spec, "persistentVolumeClaimRetentionPolicy") {
        let pp = p.child("persistentVolumeClaimRetentionPolicy");
        for f in ["whenDeleted", "whenScaled"] {
            let v = s(policy, f);
            if v != "Retain" && v != "Delete" {
                errs.push(not_supported(&pp.child(f), v, &["Retain", "Delete"]));
            }
        }
    }
    errs.extend(nonnegative(i64_or(spec, "replicas", 0), &p.child("replicas")));
    errs.extend(nonnegative(i64_or(spec, "minReadySeconds", 0), &p.child("minReadySeconds")));
    if let Some(ord) = get(spec, "ordinals") {
        errs.extend(nonnegative(i64_or(ord, "start", 0), &p.child("ordinals.start")));
    }
    let selector = get(spec, "selector");
    match selector {
        None => errs.push(required(&p.child("selector"), "")),
        Some(sel) => {
            errs.extend(validate_label_selector(sel, &p.child("selector")));
            if selector_is_empty(sel) {
                errs.push(invalid(&p.child("selector"), selector_json(Some(sel)), "empty selector is invalid for statefulset"));
            }
        }
    }
    let template = get(spec, "template").cloned().unwrap_or(Value::Null);
    let tmeta = get(&template, "metadata").cloned().unwrap_or(Value::Null);
    if selector.is_none_or(selector_convertible) {
        let tp = p.child("template");
        if let Some(sel) = selector.filter(|s| !selector_is_empty(s)) {
            if !selector_matches(sel, &str_map(&tmeta, "labels")) {
                errs.push(invalid(&tp.child("metadata").child("labels"), sorted_map_value(&tmeta, "labels"), "`selector` does not match template `labels`"));
            }
        }
        // upstream validates these at `spec.template.labels`, without `metadata`
        errs.extend(validate_labels(&tmeta, "labels", &tp.child("labels")));
        errs.extend(validate_annotations(&tmeta, "annotations", &tp.child("annotations")));
    } else {
        errs.push(invalid(&p.child("selector"), selector_json(selector), ""));
    }
    let tspec = get(&template, "spec").cloned().unwrap_or(Value::Null);
    let restart = s(&tspec, "restartPolicy");
    if restart != "Always" {
        errs.push(not_supported(&p.child("template").child("spec").child("restartPolicy"), restart, &["Always"]));
    }
    if get(&tspec, "activeDeadlineSeconds").is_some() {
        errs.push(forbidden(&p.child("template").child("spec").child("activeDeadlineSeconds"), "activeDeadlineSeconds in StatefulSet is not Supported"));
    }
    errs
}

/// `json.Marshal` of the internal `RollingUpdateStatefulSetStrategy` (no json tags).
fn rolling_update_json(ru: &Value) -> Value {
    json!({"Partition": i64_or(ru, "partition", 0), "MaxUnavailable": ru.get("maxUnavailable").cloned().unwrap_or(Value::Null)})
}

pub fn validate_statefulset_create(obj: &Value) -> Errs {
    let mut errs = validate_object_meta(obj, true, NameRule::Label);
    errs.extend(validate_statefulset_spec(get(obj, "spec").unwrap_or(&Value::Null)));
    errs
}

pub fn validate_statefulset_update(new: &Value, old: &Value) -> Errs {
    // The name is not re-validated on update (upstream: old objects may carry names
    // that were legal before StatefulSet names became DNS labels).
    let mut errs = validate_object_meta_update(new, old);
    let ns = get(new, "spec").cloned().unwrap_or(Value::Null);
    let os = get(old, "spec").cloned().unwrap_or(Value::Null);
    errs.extend(validate_statefulset_spec(&ns));
    let strip = |spec: &Value| {
        let mut spec = spec.clone();
        if let Some(m) = spec.as_object_mut() {
            for f in STS_MUTABLE {
                m.remove(*f);
            }
        }
        spec
    };
    if !sem_eq(Some(&strip(&ns)), Some(&strip(&os))) {
        errs.push(forbidden(&Path::new("spec"), STS_FORBIDDEN));
    }
    errs
}

pub fn validate_controller_revision_create(obj: &Value) -> Errs {
    let mut errs = validate_object_meta(obj, true, NameRule::Subdomain);
    if get(obj, "data").is_none() {
        errs.push(required(&Path::new("data"), "data is mandatory"));
    }
    errs.extend(nonnegative(i64_or(obj, "revision", 0), &Path::new("revision")));
    errs
}

pub fn validate_controller_revision_update(new: &Value, old: &Value) -> Errs {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_controller_revision_create(new));
    errs.extend(immutable(get(new, "data"), get(old, "data"), &Path::new("data")));
    errs
}
