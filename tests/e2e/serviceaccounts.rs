//! ServiceAccounts: the `default` account and `kube-root-ca.crt` in every namespace, the
//! ServiceAccount admission on pods, and TokenRequest tokens that authenticate until their
//! ServiceAccount (or bound pod) goes away.

use std::time::Duration;

use serde_json::json;

use crate::harness::{eventually, Cluster};

const WAIT: Duration = Duration::from_secs(30);

/// The API server's port, from the kubeconfig `berth up` wrote.
fn server_port(c: &Cluster) -> u16 {
    let kc = std::fs::read_to_string(c.kubeconfig()).unwrap();
    let server = kc.lines().find_map(|l| l.trim().strip_prefix("server: ")).expect("a server line");
    server.rsplit(':').next().unwrap().parse().unwrap()
}

fn has_default_sa(c: &Cluster, ns: &str) -> bool {
    c.kubectl(&["get", "sa", "default", "-n", ns]).status.success()
}

#[test]
fn every_namespace_gets_default_account_and_root_ca() {
    let c = Cluster::start_with(&["--simulated-nodes", "1"]);
    for ns in ["kube-system", "default", "kube-public", "kube-node-lease"] {
        assert!(eventually(WAIT, || has_default_sa(&c, ns)), "no default ServiceAccount in {ns}");
    }
    let all = c.ok(&["get", "sa", "-A"]);
    assert!(all.lines().next().unwrap().split_whitespace().eq(["NAMESPACE", "NAME", "SECRETS", "AGE"]), "{all}");
    c.ok(&["create", "namespace", "fresh"]);
    assert!(eventually(WAIT, || has_default_sa(&c, "fresh")));

    let ca = std::fs::read_to_string(c.dir.path().join("pki/ca.crt")).unwrap();
    let root_ca = |ns: &str| c.json(&["get", "configmap", "kube-root-ca.crt", "-n", ns]);
    assert!(eventually(WAIT, || c.kubectl(&["get", "cm", "kube-root-ca.crt", "-n", "fresh"]).status.success()));
    let cm = root_ca("fresh");
    assert_eq!(cm["data"], json!({"ca.crt": ca}));
    assert!(cm["metadata"]["annotations"]["kubernetes.io/description"].as_str().unwrap().starts_with("Contains a CA bundle"));

    // Edits are reverted, deletions recreated.
    c.ok(&["patch", "cm", "kube-root-ca.crt", "-n", "fresh", "--type=merge", "-p", r#"{"data":{"ca.crt":"bogus"}}"#]);
    assert!(eventually(WAIT, || root_ca("fresh")["data"]["ca.crt"] == json!(ca)));
    c.ok(&["delete", "cm", "kube-root-ca.crt", "-n", "fresh"]);
    assert!(eventually(WAIT, || c.kubectl(&["get", "cm", "kube-root-ca.crt", "-n", "fresh"]).status.success()));
    let uid = c.json(&["get", "sa", "default", "-n", "fresh"])["metadata"]["uid"].clone();
    c.ok(&["delete", "sa", "default", "-n", "fresh"]);
    assert!(eventually(WAIT, || has_default_sa(&c, "fresh") && c.json(&["get", "sa", "default", "-n", "fresh"])["metadata"]["uid"] != uid));
}

const PODS: &str = "\
apiVersion: v1
kind: Pod
metadata: {name: plain}
spec:
  initContainers: [{name: init, image: busybox}]
  containers: [{name: c, image: nginx}]
---
apiVersion: v1
kind: Pod
metadata: {name: opted-out}
spec:
  automountServiceAccountToken: false
  containers: [{name: c, image: nginx}]
";

#[test]
fn pods_get_the_service_account_and_its_token_volume() {
    let c = Cluster::start_with(&["--simulated-nodes", "1"]);
    assert!(eventually(WAIT, || has_default_sa(&c, "default")));
    let f = c.manifest("pods.yaml", PODS);
    c.ok(&["apply", "-f", &f]);
    let pod = c.json(&["get", "pod", "plain"]);
    let spec = &pod["spec"];
    assert_eq!((spec["serviceAccountName"].as_str(), spec["serviceAccount"].as_str()), (Some("default"), Some("default")));
    let vols = spec["volumes"].as_array().unwrap();
    assert_eq!(vols.len(), 1);
    let name = vols[0]["name"].as_str().unwrap();
    assert!(name.starts_with("kube-api-access-") && name.len() == "kube-api-access-".len() + 5, "{name}");
    assert_eq!(
        vols[0]["projected"],
        json!({"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}]}},
        ]})
    );
    let mount = json!([{"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "name": name, "readOnly": true}]);
    assert_eq!(spec["containers"][0]["volumeMounts"], mount);
    assert_eq!(spec["initContainers"][0]["volumeMounts"], mount);

    let opted = c.json(&["get", "pod", "opted-out"]);
    assert_eq!(opted["spec"]["serviceAccountName"], "default");
    assert!(opted["spec"].get("volumes").is_none() && opted["spec"]["containers"][0].get("volumeMounts").is_none());
    assert!(eventually(WAIT, || c.ok(&["get", "pod", "plain", "-o", "jsonpath={.status.phase}"]) == "Running"));

    // The API server's own Service, with Endpoints and an EndpointSlice at its address.
    let svc = c.ok(&["get", "svc", "kubernetes"]);
    assert!(regex::Regex::new(r"(?m)^kubernetes\s+ClusterIP\s+10\.96\.0\.1\s+<none>\s+443/TCP\s+\d+s$").unwrap().is_match(&svc), "{svc}");
    let port = server_port(&c);
    let ep = c.json(&["get", "endpoints", "kubernetes"]);
    assert_eq!(ep["subsets"][0]["ports"], json!([{"name": "https", "port": port, "protocol": "TCP"}]));
    let ip = ep["subsets"][0]["addresses"][0]["ip"].as_str().unwrap().to_string();
    assert!(!ip.starts_with("127."), "{ip}");
    let slice = c.json(&["get", "endpointslice", "kubernetes"]);
    assert_eq!(slice["endpoints"][0]["addresses"], json!([ip]));

    let f = c.manifest("missing.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  serviceAccountName: missing\n  containers: [{name: c, image: nginx}]\n");
    let err = c.fails(&["create", "-f", &f]);
    assert!(
        err.contains(r#"Error from server (Forbidden): error when creating "#)
            && err.contains(r#"pods "x" is forbidden: error looking up service account default/missing: serviceaccount "missing" not found"#),
        "{err}"
    );
}

fn with_token(c: &Cluster, token: &str, args: &[&str]) -> std::process::Output {
    let mut a = vec!["--token", token];
    a.extend_from_slice(args);
    c.kubectl(&a)
}

fn authenticates(c: &Cluster, token: &str) -> bool {
    let out = with_token(c, token, &["get", "--raw", "/apis"]);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Unauthorized"), "not a 401: {err}");
    }
    out.status.success()
}

#[test]
fn token_requests_issue_tokens_that_authenticate_until_revoked() {
    let c = Cluster::start_with(&["--simulated-nodes", "1"]);
    assert!(eventually(WAIT, || has_default_sa(&c, "default")));
    let token = c.ok(&["create", "token", "default", "--duration=10m"]).trim().to_string();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    assert!(authenticates(&c, &token));
    let who = with_token(&c, &token, &["auth", "whoami", "-o", "json"]);
    let who: serde_json::Value = serde_json::from_slice(&who.stdout).unwrap();
    assert_eq!(who["status"]["userInfo"]["username"], "system:serviceaccount:default:default");
    assert_eq!(who["status"]["userInfo"]["groups"], json!(["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"]));
    // RBAC: the account may not list pods until granted `view`.
    let err = String::from_utf8_lossy(&with_token(&c, &token, &["get", "pods"]).stderr).to_string();
    assert!(err.contains(r#"User "system:serviceaccount:default:default" cannot list resource "pods" in API group "" in the namespace "default""#), "{err}");
    c.ok(&["create", "rolebinding", "sa-view", "--clusterrole=view", "--serviceaccount=default:default"]);
    assert!(eventually(WAIT, || with_token(&c, &token, &["get", "pods"]).status.success()));

    // Forged: the claims of another account under the same signature.
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], parts[1].replacen('e', "f", 1), parts[2]);
    assert!(!authenticates(&c, &forged));
    assert!(!authenticates(&c, "eyJhbGciOiJFUzI1NiJ9.e30.AAAA"));

    let err = c.fails(&["create", "token", "default", "--duration=1m"]);
    assert!(err.contains("may not specify a duration less than 10 minutes"), "{err}");
    let err = c.fails(&["create", "token", "nobody"]);
    assert!(err.contains(r#"serviceaccounts "nobody" not found"#), "{err}");

    // Deleting the account revokes its tokens.
    c.ok(&["create", "sa", "robot"]);
    let robot = c.ok(&["create", "token", "robot", "--audience", "https://kubernetes.default.svc.cluster.local"]).trim().to_string();
    assert!(authenticates(&c, &robot));
    c.ok(&["delete", "sa", "robot"]);
    assert!(!authenticates(&c, &robot));
    c.ok(&["create", "sa", "robot"]);
    assert!(!authenticates(&c, &robot), "a new account of the same name has another uid");
    // Tokens for another audience are not for the API server.
    let other = c.ok(&["create", "token", "robot", "--audience", "vault"]).trim().to_string();
    assert!(!authenticates(&c, &other));

    // Pod-bound tokens die with the pod.
    let f = c.manifest("p.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: nginx}]\n");
    c.ok(&["create", "-f", &f]);
    let bound = c.ok(&["create", "token", "default", "--bound-object-kind", "Pod", "--bound-object-name", "p"]).trim().to_string();
    assert!(authenticates(&c, &bound));
    c.ok(&["delete", "pod", "p", "--wait=true", "--timeout=60s"]);
    assert!(!authenticates(&c, &bound));
}

/// A real node writes the pod's token, the cluster CA and the namespace into the
/// `kube-api-access-*` volume; the token authenticates as the pod's ServiceAccount.
#[test]
fn real_node_mounts_a_working_token() {
    if !crate::real_node::can_run_real_nodes() {
        return;
    }
    let c = crate::real_node::Teardown(Cluster::start_with(&["--nodes", "1", "--cluster-cidr", "10.252.0.0/16"]));
    let f = c.manifest("p.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: sa-pod}\nspec:\n  containers: [{name: c, image: busybox, command: [sleep, \"3600\"]}]\n");
    c.ok(&["create", "-f", &f]);
    let running = || c.ok(&["get", "pod", "sa-pod", "-o", "jsonpath={.status.phase}"]) == "Running";
    assert!(eventually(Duration::from_secs(120), running), "{}", c.ok(&["describe", "pod", "sa-pod"]));
    let dir = "/var/run/secrets/kubernetes.io/serviceaccount";
    let token = c.ok(&["exec", "sa-pod", "--", "cat", &format!("{dir}/token")]);
    assert_eq!(token.split('.').count(), 3, "{token}");
    assert_eq!(c.ok(&["exec", "sa-pod", "--", "cat", &format!("{dir}/namespace")]), "default");
    let ca = std::fs::read_to_string(c.dir.path().join("pki/ca.crt")).unwrap();
    assert_eq!(c.ok(&["exec", "sa-pod", "--", "cat", &format!("{dir}/ca.crt")]), ca);
    assert!(authenticates(&c, &token));
    // In-cluster configuration finds the API server through the `kubernetes` Service.
    let env = c.ok(&["exec", "sa-pod", "--", "env"]);
    assert!(env.lines().any(|l| l == "KUBERNETES_SERVICE_HOST=10.96.0.1") && env.lines().any(|l| l == "KUBERNETES_SERVICE_PORT=443"), "{env}");
    // In-cluster access as a client library does it: https://kubernetes.default.svc (cluster
    // DNS, then 10.96.0.1:443 through the service proxy) with the mounted CA and token; RBAC
    // decides: upstream's 403 until the account is granted `view`.
    let list_pods = format!(
        "curl -sS --max-time 10 --cacert {dir}/ca.crt -H \"Authorization: Bearer $(cat {dir}/token)\" https://kubernetes.default.svc/api/v1/namespaces/default/pods"
    );
    let answer = c.ok(&["exec", "sa-pod", "--", "sh", "-c", &list_pods]);
    assert!(
        answer.contains(r#"pods is forbidden: User \"system:serviceaccount:default:default\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""#),
        "{answer}"
    );
    c.ok(&["create", "rolebinding", "sa-view", "--clusterrole=view", "--serviceaccount=default:default"]);
    assert!(
        eventually(Duration::from_secs(10), || c.ok(&["exec", "sa-pod", "--", "sh", "-c", &list_pods]).contains(r#""name":"sa-pod""#)),
        "{}",
        c.ok(&["exec", "sa-pod", "--", "sh", "-c", &list_pods])
    );
    // The mount is read-only.
    let err = c.fails(&["exec", "sa-pod", "--", "sh", "-c", &format!("echo x > {dir}/token")]);
    assert!(err.to_lowercase().contains("read-only"), "{err}");
    // Bound to the pod: gone with it.
    c.ok(&["delete", "pod", "sa-pod", "--wait=true", "--timeout=90s"]);
    assert!(!authenticates(&c, &token));
}
