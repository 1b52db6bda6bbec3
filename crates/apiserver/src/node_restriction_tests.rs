use berth_api::registry::lookup;
use serde_json::{json, Value};

use super::*;

fn pod(node: &str) -> Value {
    json!({"metadata": {"name": "p", "namespace": "default", "labels": {"app": "a"}}, "spec": {"nodeName": node}})
}

fn node_obj(name: &str, labels: Value, taints: Value) -> Value {
    json!({"metadata": {"name": name, "labels": labels}, "spec": {"taints": taints}})
}

#[test]
fn node_restriction_rules() {
    let pods = lookup("", "v1", "pods").unwrap();
    let nodes = lookup("", "v1", "nodes").unwrap();
    let leases = lookup("coordination.k8s.io", "v1", "leases").unwrap();
    let lease = |ns: &str, name: &str| json!({"metadata": {"name": name, "namespace": ns}});
    let mut relabelled = pod("n1");
    relabelled["metadata"]["labels"]["app"] = json!("b");
    let n1 = node_obj("n1", json!({"kubernetes.io/hostname": "n1"}), json!(null));
    let tainted = node_obj("n1", json!({"kubernetes.io/hostname": "n1"}), json!([{"key": "k", "effect": "NoSchedule"}]));
    let user_label = node_obj("n1", json!({"kubernetes.io/hostname": "n1", "disk": "ssd"}), json!([]));
    let role_label = node_obj("n1", json!({"kubernetes.io/hostname": "n1", "node-role.kubernetes.io/control-plane": ""}), json!(null));
    let own_label = node_obj("n1", json!({"kubernetes.io/hostname": "n1", "node.kubernetes.io/exclude-from-external-load-balancers": ""}), json!(null));

    let (p1, p2, n2) = (pod("n1"), pod("n2"), node_obj("n2", json!({}), json!(null)));
    let (l1, l2, l3) = (lease("kube-node-lease", "n1"), lease("kube-node-lease", "n2"), lease("default", "n1"));
    type Case<'a> = (&'a ResourceInfo, &'a str, Op, Option<&'a Value>, Option<&'a Value>, Result<(), String>);
    let ok = Ok(());
    let err = |s: &str| Err(s.to_string());
    let cases: Vec<Case> = vec![
        (pods, "", Op::Create, Some(&p1), None, err(r#"pod does not have "kubernetes.io/config.mirror" annotation, node "n1" can only create mirror pods"#)),
        (pods, "", Op::Delete, None, Some(&p1), ok.clone()),
        (pods, "", Op::Delete, None, Some(&p2), err(r#"node "n1" can only delete pods with spec.nodeName set to itself"#)),
        (pods, "status", Op::Update, Some(&p1), Some(&p1), ok.clone()),
        (pods, "status", Op::Update, Some(&p2), Some(&p2), err(r#"node "n1" can only update pod status for pods with spec.nodeName set to itself"#)),
        (pods, "status", Op::Update, Some(&relabelled), Some(&p1), err(r#"node "n1" cannot update labels through pod status"#)),
        (pods, "binding", Op::Create, Some(&p1), None, err(r#"unexpected pod subresource "binding", only 'status' and 'eviction' are allowed"#)),
        (nodes, "", Op::Create, Some(&n1), None, ok.clone()),
        (nodes, "", Op::Update, Some(&user_label), Some(&n1), ok.clone()),
        (nodes, "", Op::Update, Some(&own_label), Some(&n1), ok.clone()),
        (nodes, "status", Op::Update, Some(&n1), Some(&n1), ok.clone()),
        (nodes, "", Op::Update, Some(&n2), Some(&n2), err(r#"node "n1" is not allowed to modify node "n2""#)),
        (nodes, "", Op::Create, Some(&n2), None, err(r#"node "n1" is not allowed to modify node "n2""#)),
        (nodes, "", Op::Update, Some(&n1), Some(&tainted), err(r#"node "n1" is not allowed to modify taints"#)),
        (nodes, "", Op::Update, Some(&role_label), Some(&n1), err("is not allowed to modify labels: node-role.kubernetes.io/control-plane")),
        (nodes, "", Op::Create, Some(&role_label), None, err(r#"node "n1" is not allowed to set the following labels: node-role.kubernetes.io/control-plane"#)),
        (leases, "", Op::Create, Some(&l1), None, ok.clone()),
        (leases, "", Op::Create, Some(&l2), None, err("can only access node lease with the same name as the requesting node")),
        (leases, "", Op::Update, Some(&l3), Some(&l3), err(r#"can only access leases in the "kube-node-lease" system namespace"#)),
    ];
    for (info, sub, op, new, old, want) in cases {
        assert_eq!(admit("n1", info, sub, op, new, old), want, "{} {sub} {op:?}", info.plural);
    }
}

#[test]
fn mirror_pods_must_be_owned_by_the_node() {
    let pods = lookup("", "v1", "pods").unwrap();
    let mut p = pod("n1");
    p["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "x"});
    assert_eq!(admit("n1", pods, "", Op::Create, Some(&p), None), Err(r#"node "n1" can only create pods with an owner reference set to itself"#.into()));
    p["metadata"]["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": "u", "controller": true}]);
    assert_eq!(admit("n1", pods, "", Op::Create, Some(&p), None), Ok(()));
    p["spec"]["volumes"] = json!([{"name": "s", "secret": {"secretName": "s"}}]);
    assert_eq!(admit("n1", pods, "", Op::Create, Some(&p), None), Err(r#"node "n1" can not create pods that reference secrets"#.into()));
}

#[test]
fn pvc_status_only() {
    let pvcs = lookup("", "v1", "persistentvolumeclaims").unwrap();
    let old = json!({"metadata": {"name": "c", "resourceVersion": "1"}, "spec": {"volumeName": "pv"}, "status": {"phase": "Bound"}});
    let mut new = old.clone();
    new["status"]["capacity"] = json!({"storage": "2Gi"});
    new["metadata"]["resourceVersion"] = json!("2");
    assert_eq!(admit("n1", pvcs, "status", Op::Update, Some(&new), Some(&old)), Ok(()));
    new["metadata"]["labels"] = json!({"x": "y"});
    assert!(admit("n1", pvcs, "status", Op::Update, Some(&new), Some(&old)).unwrap_err().starts_with("node \"n1\" is not allowed to update fields other than"));
    assert_eq!(admit("n1", pvcs, "", Op::Update, Some(&new), Some(&old)), Err("may only update PVC status".into()));
}
