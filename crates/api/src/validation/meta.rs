//! ObjectMeta, labels, annotations and label selectors
//! (`apimachinery/pkg/api/validation/objectmeta.go`, `apis/meta/v1/validation`, and
//! core's `ValidateObjectMeta` wrapper that adds the "standard finalizer" rule).

use serde_json::{json, Value};

use super::names::{check_name, is_dns1123_label, is_label_value, is_qualified_name, NameRule};
use super::util::*;

const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * (1 << 10);

/// Unqualified finalizer names core accepts (`helper.IsStandardFinalizerName`).
const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

pub fn validate_labels(v: &Value, key: &str, p: &Path) -> Errs {
    let mut errs = Errs::new();
    for (k, val) in str_map(v, key) {
        errs.extend(validate_label_name(&k, p));
        for m in is_label_value(&val) {
            errs.push(invalid(p, val.clone(), m));
        }
    }
    errs
}

pub fn validate_label_name(k: &str, p: &Path) -> Errs {
    is_qualified_name(k).into_iter().map(|m| invalid(p, k, m)).collect()
}

pub fn validate_annotations(v: &Value, key: &str, p: &Path) -> Errs {
    let mut errs = Errs::new();
    let pairs = str_map(v, key);
    for (k, _) in &pairs {
        // The rule is QualifiedName except that case doesn't matter.
        for m in is_qualified_name(&k.to_lowercase()) {
            errs.push(invalid(p, k.as_str(), m));
        }
    }
    let total: usize = pairs.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(crate::errors::FieldError::too_long(p.as_str(), TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

/// `metav1validation.ValidateLabelSelector` with `AllowInvalidLabelValueInSelector: false`.
pub fn validate_label_selector(sel: &Value, p: &Path) -> Errs {
    let mut errs = validate_labels(sel, "matchLabels", &p.child("matchLabels"));
    for (i, expr) in arr(sel, "matchExpressions").iter().enumerate() {
        let ep = p.child("matchExpressions").index(i);
        let values = arr(expr, "values");
        match s(expr, "operator") {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(required(&ep.child("values"), "must be specified when `operator` is 'In' or 'NotIn'"));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(forbidden(&ep.child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
                }
            }
            op => errs.push(invalid(&ep.child("operator"), op, "not a valid selector operator")),
        }
        errs.extend(validate_label_name(s(expr, "key"), &ep.child("key")));
        for (j, val) in values.iter().enumerate() {
            let val = val.as_str().unwrap_or("");
            for m in is_label_value(val) {
                errs.push(invalid(&ep.child("values").index(j), val, m));
            }
        }
    }
    errs
}

/// Would `metav1.LabelSelectorAsSelector` accept this selector?
pub fn selector_convertible(sel: &Value) -> bool {
    str_map(sel, "matchLabels")
        .iter()
        .all(|(k, v)| is_qualified_name(k).is_empty() && is_label_value(v).is_empty())
        && arr(sel, "matchExpressions").iter().all(|e| {
            let n = arr(e, "values").len();
            let op_ok = match s(e, "operator") {
                "In" | "NotIn" => n > 0,
                "Exists" | "DoesNotExist" => n == 0,
                _ => false,
            };
            op_ok
                && is_qualified_name(s(e, "key")).is_empty()
                && arr(e, "values").iter().all(|v| is_label_value(v.as_str().unwrap_or("")).is_empty())
        })
}

pub fn selector_is_empty(sel: &Value) -> bool {
    str_map(sel, "matchLabels").is_empty() && arr(sel, "matchExpressions").is_empty()
}

/// Does a (convertible) label selector match a label set?
pub fn selector_matches(sel: &Value, labels: &[(String, String)]) -> bool {
    let get = |k: &str| labels.iter().find(|(lk, _)| lk == k).map(|(_, v)| v.as_str());
    str_map(sel, "matchLabels").iter().all(|(k, v)| get(k) == Some(v.as_str()))
        && arr(sel, "matchExpressions").iter().all(|e| {
            let key = s(e, "key");
            let in_values = |val: &str| arr(e, "values").iter().any(|x| x.as_str() == Some(val));
            match s(e, "operator") {
                "In" => get(key).is_some_and(in_values),
                "NotIn" => !get(key).is_some_and(in_values),
                "Exists" => get(key).is_some(),
                "DoesNotExist" => get(key).is_none(),
                _ => false,
            }
        })
}

/// `json.Marshal(metav1.LabelSelector)` as field errors print it: empty parts omitted.
pub fn selector_json(sel: Option<&Value>) -> Value {
    let Some(sel) = sel.filter(|v| !v.is_null()) else { return Value::Null };
    let mut out = serde_json::Map::new();
    let ml = sorted_map_value(sel, "matchLabels");
    if ml.as_object().is_some_and(|m| !m.is_empty()) {
        out.insert("matchLabels".into(), ml);
    }
    let exprs = arr(sel, "matchExpressions");
    if !exprs.is_empty() {
        let list: Vec<Value> = exprs
            .iter()
            .map(|e| {
                let mut m = serde_json::Map::new();
                m.insert("key".into(), json!(s(e, "key")));
                m.insert("operator".into(), json!(s(e, "operator")));
                if !arr(e, "values").is_empty() {
                    m.insert("values".into(), Value::Array(arr(e, "values").to_vec()));
                }
                Value::Object(m)
            })
            .collect();
        out.insert("matchExpressions".into(), Value::Array(list));
    }
    Value::Object(out)
}

fn finalizer_errors(meta: &Value, p: &Path) -> (Errs, Errs) {
    let fp = p.child("finalizers");
    let mut qualified = Errs::new();
    let mut standard = Errs::new();
    let finalizers: Vec<&str> = arr(meta, "finalizers").iter().map(|f| f.as_str().unwrap_or("")).collect();
    for (i, f) in finalizers.iter().enumerate() {
        for m in is_qualified_name(f) {
            qualified.push(invalid(&fp, *f, m));
        }
        if !f.contains('/') && !STANDARD_FINALIZERS.contains(f) {
            standard.push(invalid(&fp.index(i), *f, "name is neither a standard finalizer name nor is it fully qualified"));
        }
    }
    if finalizers.contains(&"orphan") && finalizers.contains(&"foregroundDeletion") {
        let list: Vec<Value> = finalizers.iter().map(|f| json!(f)).collect();
        qualified.push(invalid(&fp, Value::Array(list), "finalizer orphan and foregroundDeletion cannot be both set"));
    }
    (qualified, standard)
}

/// Owner references: `version must not be empty`, `must not be empty`, one controller.
fn validate_owner_references(meta: &Value, p: &Path) -> Errs {
    let mut errs = Errs::new();
    let op = p.child("ownerReferences");
    let mut first_controller: Option<String> = None;
    for r in arr(meta, "ownerReferences") {
        let api_version = s(r, "apiVersion");
        let version = match api_version.split('/').collect::<Vec<_>>().as_slice() {
            [v] => *v,
            [_, v] => *v,
            _ => "",
        };
        if version.is_empty() {
            errs.push(invalid(&op.child("apiVersion"), api_version, "version must not be empty"));
        }
        for f in ["kind", "name", "uid"] {
            if s(r, f).is_empty() {
                errs.push(invalid(&op.child(f), "", "must not be empty"));
            }
        }
        if api_version == "v1" && s(r, "kind") == "Event" {
            errs.push(invalid(&op, r.clone(), "/v1, Kind=Event is disallowed from being an owner"));
        }
        if bool_of(r, "controller") {
            let cur = format!("{}/{}", s(r, "kind"), s(r, "name"));
            match &first_controller {
                Some(first) => errs.push(invalid(
                    &op,
                    Value::Array(arr(meta, "ownerReferences").to_vec()),
                    format!("Only one reference can have Controller set to true. Found \"true\" in references for {first} and {cur}"),
                )),
                None => first_controller = Some(cur),
            }
        }
    }
    errs
}

/// Core's `ValidateObjectMeta` for create. The namespace itself is the server's business
/// (it fills it from the URL and clears it for cluster-scoped kinds), so only its
/// format is checked when present on a namespaced kind.
pub fn validate_object_meta(obj: &Value, namespaced: bool, rule: NameRule) -> Errs {
    let p = Path::new("metadata");
    let empty = Value::Null;
    let meta = get(obj, "metadata").unwrap_or(&empty);
    let mut errs = Errs::new();
    let generate_name = s(meta, "generateName");
    if !generate_name.is_empty() {
        for m in check_name(rule, generate_name, true) {
            errs.push(invalid(&p.child("generateName"), generate_name, m));
        }
    }
    let name = s(meta, "name");
    if name.is_empty() {
        errs.push(required(&p.child("name"), "name or generateName is required"));
    } else {
        for m in check_name(rule, name, false) {
            errs.push(invalid(&p.child("name"), name, m));
        }
    }
    errs.extend(common_meta(meta, namespaced, &p));
    errs
}

fn common_meta(meta: &Value, namespaced: bool, p: &Path) -> Errs {
    let mut errs = Errs::new();
    let ns = s(meta, "namespace");
    if namespaced && !ns.is_empty() {
        for m in is_dns1123_label(ns) {
            errs.push(invalid(&p.child("namespace"), ns, m));
        }
    }
    if let Some(e) = nonnegative(i64_or(meta, "generation", 0), &p.child("generation")) {
        errs.push(e);
    }
    errs.extend(validate_labels(meta, "labels", &p.child("labels")));
    errs.extend(validate_annotations(meta, "annotations", &p.child("annotations")));
    errs.extend(validate_owner_references(meta, p));
    let (qualified, standard) = finalizer_errors(meta, p);
    errs.extend(qualified);
    errs.extend(managed_fields(meta, p));
    errs.extend(standard);
    errs
}

fn managed_fields(meta: &Value, p: &Path) -> Errs {
    let mut errs = Errs::new();
    for (i, f) in arr(meta, "managedFields").iter().enumerate() {
        let fp = p.child("managedFields").index(i);
        let op = s(f, "operation");
        if op != "Apply" && op != "Update" {
            errs.push(invalid(&fp.child("operation"), op, "must be `Apply` or `Update`"));
        }
        let ft = s(f, "fieldsType");
        if !ft.is_empty() && ft != "FieldsV1" {
            errs.push(invalid(&fp.child("fieldsType"), ft, "must be `FieldsV1`"));
        }
    }
    errs
}

/// Core's `ValidateObjectMetaUpdate`. `resourceVersion` preconditions are the server's.
pub fn validate_object_meta_update(new: &Value, old: &Value) -> Errs {
    let p = Path::new("metadata");
    let empty = Value::Null;
    let nm = get(new, "metadata").unwrap_or(&empty);
    let om = get(old, "metadata").unwrap_or(&empty);
    let mut errs = Errs::new();
    if get(om, "deletionTimestamp").is_some() {
        let old_f: Vec<&str> = arr(om, "finalizers").iter().filter_map(Value::as_str).collect();
        let mut extra: Vec<&str> =
            arr(nm, "finalizers").iter().filter_map(Value::as_str).filter(|f| !old_f.contains(f)).collect();
        extra.sort();
        extra.dedup();
        if !extra.is_empty() {
            let quoted: Vec<String> = extra.iter().map(|f| format!("{f:?}")).collect();
            errs.push(forbidden(
                &p.child("finalizers"),
                format!("no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}", quoted.join(", ")),
            ));
        }
    }
    let (ng, og) = (i64_or(nm, "generation", 0), i64_or(om, "generation", 0));
    if ng < og {
        errs.push(invalid_num(&p.child("generation"), ng, "must not be decremented"));
    }
    for f in ["name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"] {
        errs.extend(immutable(get(nm, f), get(om, f), &p.child(f)));
    }
    errs.extend(validate_labels(nm, "labels", &p.child("labels")));
    errs.extend(validate_annotations(nm, "annotations", &p.child("annotations")));
    errs.extend(validate_owner_references(nm, &p));
    errs.extend(managed_fields(nm, &p));
    let (_, standard) = finalizer_errors(nm, &p);
    errs.extend(standard);
    errs
}
