//! RBAC as a new user meets it: `kubectl auth can-i` (impersonating a ServiceAccount) and
//! `kubectl auth whoami`; a user minted with `berth kubeconfig` gets upstream's 403, then
//! reads pods once `kubectl create rolebinding --clusterrole=view` grants it; ClusterRole
//! privilege-escalation prevention; aggregation; the admin unaffected.

use std::process::Command;
use std::time::Duration;

use crate::harness::{eventually, kubectl_binary, Cluster};

fn as_user(c: &Cluster, kubeconfig: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(kubectl_binary())
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(c.dir.path().join("alice-cache"))
        .args(args)
        .output()
        .expect("run kubectl");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
}

#[test]
fn rbac_grants_bindings_to_service_accounts_and_minted_users() {
    let c = Cluster::start_with(&["--simulated-nodes", "1"]);
    let sa = "--as=system:serviceaccount:default:default";

    // The admin is all-powerful; a ServiceAccount without bindings may do nothing.
    assert_eq!(c.ok(&["auth", "can-i", "list", "pods"]).trim(), "yes");
    assert_eq!(c.kubectl(&["auth", "can-i", "list", "pods", sa]).stdout, b"no\n");
    c.ok(&["create", "rolebinding", "sa-view", "--clusterrole=view", "--serviceaccount=default:default"]);
    assert!(eventually(Duration::from_secs(10), || c.kubectl(&["auth", "can-i", "list", "pods", sa]).stdout == b"yes\n"));
    assert_eq!(c.kubectl(&["auth", "can-i", "list", "pods", sa, "-n", "kube-system"]).stdout, b"no\n", "a RoleBinding is namespaced");
    assert_eq!(c.kubectl(&["auth", "can-i", "delete", "pods", sa]).stdout, b"no\n", "view does not write");

    let whoami = c.ok(&["auth", "whoami"]);
    assert!(whoami.contains("kubernetes-admin") && whoami.contains("system:masters"), "{whoami}");

    // A minted user: authenticated, but forbidden until bound.
    let kc = c.dir.path().join("alice.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["kubeconfig", "--user", "alice", "--group", "devs", "--data-dir"])
        .arg(c.dir.path())
        .arg("--out")
        .arg(&kc)
        .output()
        .expect("run berth kubeconfig");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut denied = String::new();
    assert!(eventually(Duration::from_secs(10), || {
        let (ok, _, err) = as_user(&c, &kc, &["get", "pods"]);
        denied = err;
        !ok && denied.contains("Forbidden")
    }));
    assert!(
        denied.contains(r#"pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default""#),
        "{denied}"
    );
    let (_, who, _) = as_user(&c, &kc, &["auth", "whoami"]);
    assert!(who.contains("alice") && who.contains("[devs system:authenticated]"), "{who}");
    // The admin asks about alice with a SubjectAccessReview.
    let sar = c.manifest(
        "sar.yaml",
        "apiVersion: authorization.k8s.io/v1\nkind: SubjectAccessReview\nspec:\n  user: alice\n  resourceAttributes: {namespace: default, verb: list, resource: pods}\n",
    );
    assert_eq!(c.ok(&["create", "-f", &sar, "-o", "jsonpath={.status.allowed}"]), "false");
    c.ok(&["create", "rolebinding", "alice-view", "--clusterrole=view", "--user=alice"]);
    assert!(eventually(Duration::from_secs(10), || as_user(&c, &kc, &["get", "pods"]).0));
    assert_eq!(
        c.ok(&["create", "-f", &sar, "-o", "jsonpath={.status.reason}"]),
        r#"RBAC: allowed by RoleBinding "alice-view/default" of ClusterRole "view" to User "alice""#
    );
    // A namespace's own review (LocalSubjectAccessReview), confined to that namespace.
    let lsar = |ns: &str| {
        format!("apiVersion: authorization.k8s.io/v1\nkind: LocalSubjectAccessReview\nmetadata:\n  namespace: default\nspec:\n  user: alice\n  resourceAttributes: {{namespace: {ns}, verb: list, resource: pods}}\n")
    };
    assert_eq!(c.ok(&["create", "-f", &c.manifest("lsar.yaml", &lsar("default")), "-o", "jsonpath={.status.allowed}"]), "true");
    let err = c.fails(&["create", "-f", &c.manifest("lsar-other.yaml", &lsar("kube-system"))]);
    assert!(err.contains("spec.resourceAttributes.namespace must match namespace: default"), "{err}");
    let (_, list, _) = as_user(&c, &kc, &["auth", "can-i", "--list"]);
    assert!(list.lines().any(|l| l.starts_with("pods ") && l.ends_with("[get list watch]")), "{list}");
    assert!(list.contains("selfsubjectaccessreviews.authorization.k8s.io"), "{list}");
    let (ok, _, err) = as_user(&c, &kc, &["get", "pods", "-n", "kube-system"]);
    assert!(!ok && err.contains(r#"in the namespace "kube-system""#), "{err}");
    let (ok, _, err) = as_user(&c, &kc, &["get", "pods", "--as=bob"]);
    assert!(!ok && err.contains(r#"users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope"#), "{err}");

    // Escalation prevention: a namespace admin may hand out view, not cluster-admin.
    c.ok(&["create", "rolebinding", "alice-admin", "--clusterrole=admin", "--user=alice"]);
    assert!(eventually(Duration::from_secs(10), || as_user(&c, &kc, &["create", "rolebinding", "bob-view", "--clusterrole=view", "--user=bob"]).0));
    let (ok, _, err) = as_user(&c, &kc, &["create", "rolebinding", "alice-root", "--clusterrole=cluster-admin", "--user=alice"]);
    assert!(!ok, "binding cluster-admin must be refused");
    assert!(
        err.contains(r#"rolebindings.rbac.authorization.k8s.io "alice-root" is forbidden: user "alice" (groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:"#),
        "{err}"
    );
    let (ok, _, err) = as_user(&c, &kc, &["create", "role", "everything", "--verb=*", "--resource=nodes"]);
    assert!(!ok && err.contains("is attempting to grant RBAC permissions not currently held"), "{err}");

    // Aggregation: a labelled ClusterRole's rules show up in view's (and so edit's).
    c.ok(&["create", "clusterrole", "widget-reader", "--verb=get", "--resource=configmaps", "--resource-name=special"]);
    c.ok(&["label", "clusterrole", "widget-reader", "rbac.authorization.k8s.io/aggregate-to-view=true"]);
    let has_rule = |role: &str| {
        c.json(&["get", "clusterrole", role])["rules"]
            .as_array()
            .is_some_and(|r| r.iter().any(|rule| rule["resourceNames"] == serde_json::json!(["special"])))
    };
    assert!(eventually(Duration::from_secs(10), || has_rule("view") && has_rule("edit")));
    c.ok(&["delete", "clusterrole", "widget-reader"]);
    assert!(eventually(Duration::from_secs(10), || !has_rule("view")));

    // The admin and the in-process components (pods get scheduled and run) are unaffected.
    c.ok(&["run", "p", "--image=nginx"]);
    assert!(eventually(Duration::from_secs(30), || c.ok(&["get", "pod", "p"]).contains("Running")));
    let (ok, out, _) = as_user(&c, &kc, &["get", "pods"]);
    assert!(ok && out.contains("p "), "{out}");
}
