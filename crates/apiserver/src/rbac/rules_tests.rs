use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::authn::AUTHENTICATED_GROUP;
use crate::authz::from_request;

fn user(name: &str, groups: &[&str]) -> Arc<User> {
    let mut groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    groups.push(AUTHENTICATED_GROUP.into());
    Arc::new(User { name: name.into(), uid: String::new(), groups })
}

fn rule(v: serde_json::Value) -> Rule {
    Rule::from_json(&v)
}

#[test]
fn rule_matching_table() {
    let alice = user("alice", &[]);
    // (rule, method, path, allowed)
    let cases = [
        (json!({"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]}), "GET", "/api/v1/namespaces/default/pods", true),
        (json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}), "GET", "/api/v1/namespaces/default/pods", false),
        (json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}), "DELETE", "/apis/apps/v1/namespaces/x/statefulsets/web", true),
        (json!({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["pods"]}), "GET", "/api/v1/namespaces/d/pods/p", false),
        (json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}), "GET", "/api/v1/namespaces/d/pods/p/log", false),
        (json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}), "GET", "/api/v1/namespaces/d/pods/p/log", true),
        (json!({"verbs": ["get"], "apiGroups": [""], "resources": ["*/log"]}), "GET", "/api/v1/namespaces/d/pods/p/log", true),
        (json!({"verbs": ["get"], "apiGroups": [""], "resources": ["*/log"]}), "GET", "/api/v1/namespaces/d/pods/p", false),
        (json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["p"]}), "GET", "/api/v1/namespaces/d/pods/p", true),
        (json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["q"]}), "GET", "/api/v1/namespaces/d/pods/p", false),
        // resourceNames never match a list (no name).
        (json!({"verbs": ["list"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["q"]}), "GET", "/api/v1/namespaces/d/pods", false),
        (json!({"verbs": ["get"], "nonResourceURLs": ["/healthz"]}), "GET", "/healthz", true),
        (json!({"verbs": ["get"], "nonResourceURLs": ["/apis/*"]}), "GET", "/apis/apps/v1", true),
        (json!({"verbs": ["get"], "nonResourceURLs": ["/apis/*"]}), "GET", "/api", false),
        (json!({"verbs": ["get"], "nonResourceURLs": ["*"]}), "GET", "/metrics", true),
        // A resource rule does not grant non-resource paths and vice versa.
        (json!({"verbs": ["get"], "apiGroups": ["*"], "resources": ["*"]}), "GET", "/metrics", false),
        (json!({"verbs": ["get"], "nonResourceURLs": ["*"]}), "GET", "/api/v1/namespaces/d/pods/p", false),
    ];
    for (r, method, path, want) in cases {
        let a = from_request(alice.clone(), method, path, None);
        assert_eq!(rule_allows(&a, &rule(r.clone())), want, "{r} {method} {path}");
    }
}

#[test]
fn subjects() {
    let sa = user("system:serviceaccount:ns1:default", &["system:serviceaccounts", "system:serviceaccounts:ns1"]);
    let subj = |kind: &str, name: &str, ns: &str| Subject { kind: kind.into(), name: name.into(), namespace: ns.into() };
    assert!(applies_to(&sa, &subj("ServiceAccount", "default", "ns1"), ""));
    assert!(applies_to(&sa, &subj("ServiceAccount", "default", ""), "ns1"), "namespace defaults to the binding's");
    assert!(!applies_to(&sa, &subj("ServiceAccount", "default", ""), ""));
    assert!(!applies_to(&sa, &subj("ServiceAccount", "default", "ns2"), ""));
    assert!(applies_to(&sa, &subj("Group", "system:serviceaccounts:ns1", ""), ""));
    assert!(applies_to(&sa, &subj("Group", AUTHENTICATED_GROUP, ""), ""));
    assert!(!applies_to(&sa, &subj("User", "default", ""), ""));
    assert!(applies_to(&user("bob", &[]), &subj("User", "bob", ""), ""));
}

fn policy() -> Policy {
    let mut p = Policy::default();
    p.cluster_roles.insert("view".into(), vec![rule(json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}))]);
    p.roles.insert(("dev".into(), "cm-writer".into()), vec![rule(json!({"verbs": ["create"], "apiGroups": [""], "resources": ["configmaps"]}))]);
    let b = |v| Binding::from_json(&v);
    p.bindings.entry("dev".into()).or_default().insert(
        "alice-view".into(),
        b(json!({"metadata": {"name": "alice-view", "namespace": "dev"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "alice"}]})),
    );
    p.bindings.entry("dev".into()).or_default().insert(
        "alice-cm".into(),
        b(json!({"metadata": {"name": "alice-cm", "namespace": "dev"}, "roleRef": {"kind": "Role", "name": "cm-writer"},
            "subjects": [{"kind": "User", "name": "alice"}]})),
    );
    p.cluster_bindings.insert(
        "broken".into(),
        b(json!({"metadata": {"name": "broken"}, "roleRef": {"kind": "ClusterRole", "name": "gone"}, "subjects": [{"kind": "Group", "name": "ops"}]})),
    );
    p
}

#[test]
fn bindings_are_scoped_and_explained() {
    let p = policy();
    let alice = user("alice", &[]);
    let a = from_request(alice.clone(), "GET", "/api/v1/namespaces/dev/pods", None);
    assert_eq!(
        p.authorize(&a),
        Verdict::Allowed(r#"RBAC: allowed by RoleBinding "alice-view/dev" of ClusterRole "view" to User "alice""#.into())
    );
    let a = from_request(alice.clone(), "GET", "/api/v1/namespaces/prod/pods", None);
    assert_eq!(p.authorize(&a), Verdict::NotAllowed(vec![]));
    let a = from_request(alice.clone(), "GET", "/api/v1/pods", None);
    assert_eq!(p.authorize(&a), Verdict::NotAllowed(vec![]), "a RoleBinding does not grant cluster-wide lists");
    let a = from_request(alice.clone(), "POST", "/api/v1/namespaces/dev/configmaps", None);
    assert!(matches!(p.authorize(&a), Verdict::Allowed(_)));
    let ops = user("carol", &["ops"]);
    let a = from_request(ops.clone(), "GET", "/api/v1/pods", None);
    assert_eq!(p.authorize(&a), Verdict::NotAllowed(vec![r#"clusterrole.rbac.authorization.k8s.io "gone" not found"#.into()]));
    let (rules, errors) = p.rules_for(&alice, "dev");
    assert_eq!((rules.len(), errors.len()), (2, 0));
}
