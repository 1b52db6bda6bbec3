//! rbac.authorization.k8s.io/v1: upstream `pkg/apis/rbac/validation` (rules, role refs,
//! subjects; names are path segments so `system:` names are valid).

use serde_json::Value;

use super::meta::*;
use super::names::*;
use super::util::*;
use crate::errors::FieldError;

type Errs = Vec<FieldError>;

const GROUP: &str = "rbac.authorization.k8s.io";

fn namespaced(kind: &str) -> bool {
    matches!(kind, "Role" | "RoleBinding")
}

pub fn validate(kind: &str, obj: &Value) -> Errs {
    let mut errs = validate_object_meta(obj, namespaced(kind), NameRule::PathSegment);
    match kind {
        "Role" | "ClusterRole" => {
            for (i, rule) in arr(obj, "rules").iter().enumerate() {
                errs.extend(validate_rule(rule, kind == "Role", &Path::new("rules").index(i)));
            }
        }
        _ => errs.extend(validate_binding(kind, obj)),
    }
    errs
}

pub fn validate_update(kind: &str, new: &Value, old: &Value) -> Errs {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate(kind, new).into_iter().filter(|e| !e.field.starts_with("metadata.")));
    if kind.ends_with("Binding") && get(new, "roleRef") != get(old, "roleRef") {
        errs.push(invalid(&Path::new("roleRef"), get(new, "roleRef").cloned().unwrap_or(Value::Null), "cannot change roleRef"));
    }
    errs
}

fn validate_rule(rule: &Value, namespaced: bool, p: &Path) -> Errs {
    let mut errs = Errs::new();
    if arr(rule, "verbs").is_empty() {
        errs.push(required(&p.child("verbs"), "verbs must contain at least one value"));
    }
    let urls = arr(rule, "nonResourceURLs");
    if !urls.is_empty() {
        let v = Value::Array(urls.to_vec());
        if namespaced {
            errs.push(invalid(&p.child("nonResourceURLs"), v.clone(), "namespaced rules cannot apply to non-resource URLs"));
        }
        if !arr(rule, "apiGroups").is_empty() || !arr(rule, "resources").is_empty() {
            errs.push(invalid(&p.child("nonResourceURLs"), v, "rules cannot apply to both regular resources and non-resource URLs"));
        }
        return errs;
    }
    if arr(rule, "apiGroups").is_empty() {
        errs.push(required(&p.child("apiGroups"), "resource rules must supply at least one api group"));
    }
    if arr(rule, "resources").is_empty() {
        errs.push(required(&p.child("resources"), "resource rules must supply at least one resource"));
    }
    errs
}

fn validate_binding(kind: &str, obj: &Value) -> Errs {
    let mut errs = Errs::new();
    let empty = Value::Null;
    let role_ref = get(obj, "roleRef").unwrap_or(&empty);
    let rp = Path::new("roleRef");
    if s(role_ref, "apiGroup") != GROUP {
        errs.push(not_supported(&rp.child("apiGroup"), s(role_ref, "apiGroup"), &[GROUP]));
    }
    let kinds: &[&str] = if kind == "RoleBinding" { &["Role", "ClusterRole"] } else { &["ClusterRole"] };
    if !kinds.contains(&s(role_ref, "kind")) {
        errs.push(not_supported(&rp.child("kind"), s(role_ref, "kind"), kinds));
    }
    let name = s(role_ref, "name");
    if name.is_empty() {
        errs.push(required(&rp.child("name"), ""));
    } else {
        for m in check_name(NameRule::PathSegment, name, false) {
            errs.push(invalid(&rp.child("name"), name, m));
        }
    }
    for (i, subj) in arr(obj, "subjects").iter().enumerate() {
        errs.extend(validate_subject(subj, kind == "RoleBinding", &Path::new("subjects").index(i)));
    }
    errs
}

fn validate_subject(subj: &Value, namespaced: bool, p: &Path) -> Errs {
    let mut errs = Errs::new();
    let name = s(subj, "name");
    if name.is_empty() {
        errs.push(required(&p.child("name"), ""));
    }
    let group = s(subj, "apiGroup");
    match s(subj, "kind") {
        "ServiceAccount" => {
            if !name.is_empty() {
                for m in check_name(NameRule::Subdomain, name, false) {
                    errs.push(invalid(&p.child("name"), name, m));
                }
            }
            if !group.is_empty() {
                errs.push(not_supported(&p.child("apiGroup"), group, &[""]));
            }
            if !namespaced && s(subj, "namespace").is_empty() {
                errs.push(required(&p.child("namespace"), ""));
            }
        }
        "User" | "Group" => {
            if group != GROUP {
                errs.push(not_supported(&p.child("apiGroup"), group, &[GROUP]));
            }
        }
        other => errs.push(not_supported(&p.child("kind"), other, &["ServiceAccount", "User", "Group"])),
    }
    errs
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(errs: &Errs) -> Vec<String> {
        errs.iter().map(|e| format!("{}: {}", e.field, e.detail)).collect()
    }

    #[test]
    fn rules_and_bindings() {
        let role = json!({"metadata": {"name": "system:r", "namespace": "default"}, "rules": [
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]},
            {"verbs": [], "nonResourceURLs": ["/x"]},
        ]});
        assert_eq!(
            fields(&validate("Role", &role)),
            ["rules[1].verbs: verbs must contain at least one value", "rules[1].nonResourceURLs: namespaced rules cannot apply to non-resource URLs"]
        );
        assert!(validate("ClusterRole", &json!({"metadata": {"name": "a:b"}, "rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]})).is_empty());
        let rb = json!({"metadata": {"name": "rb", "namespace": "default"},
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "apiGroup": GROUP, "name": "alice"}, {"kind": "ServiceAccount", "name": "default"}]});
        assert!(validate("RoleBinding", &rb).is_empty());
        let mut crb = rb.clone();
        crb["roleRef"]["kind"] = json!("Role");
        let got: Vec<String> = validate("ClusterRoleBinding", &crb).iter().map(|e| e.field.clone()).collect();
        assert_eq!(got, ["roleRef.kind", "subjects[1].namespace"]);
        let mut changed = rb.clone();
        changed["roleRef"]["name"] = json!("edit");
        assert!(fields(&validate_update("RoleBinding", &changed, &rb)).contains(&"roleRef: cannot change roleRef".to_string()));
    }
}
