//! Node credentials: `berth token node NAME` mints a `system:node:NAME` token; with it kubectl
//! can do what upstream's Node authorizer and NodeRestriction admission let a kubelet do, and
//! nothing else; `berth node --simulated` joins with such a token and runs a pod.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::{eventually, rows, Cluster};

fn mint(c: &Cluster, node: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["token", "node", node, "--data-dir"])
        .arg(c.dir.path())
        .output()
        .expect("run berth token");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn with_token<'a>(token: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--token", token];
    v.extend_from_slice(args);
    v
}

const OBJECTS: &str = "\
apiVersion: v1
kind: Secret
metadata: {name: used}
stringData: {k: v}
---
apiVersion: v1
kind: Secret
metadata: {name: unused}
stringData: {k: v}
---
apiVersion: v1
kind: Pod
metadata: {name: mine}
spec:
  nodeName: sim-1
  containers:
  - name: c
    image: nginx
    env:
    - name: K
      valueFrom: {secretKeyRef: {name: used, key: k}}
---
apiVersion: v1
kind: Pod
metadata: {name: theirs}
spec:
  nodeName: sim-2
  containers:
  - {name: c, image: nginx}
";

#[test]
fn a_node_token_allows_only_what_a_kubelet_may_do() {
    let c = Cluster::start_with(&["--simulated-nodes", "2"]);
    let f = c.manifest("objects.yaml", OBJECTS);
    c.ok(&["create", "-f", &f]);
    let t = mint(&c, "sim-1");
    assert_eq!(mint(&c, "sim-1"), t, "minting is idempotent");
    let me = r#"User "system:node:sim-1""#;

    // Reads: its own pods by field selector, its own Node, pods bound to it.
    let out = c.ok(&with_token(&t, &["get", "pods", "-A", "--field-selector", "spec.nodeName=sim-1", "--no-headers"]));
    assert!(out.contains("mine") && !out.contains("theirs"), "{out}");
    c.ok(&with_token(&t, &["get", "pod", "mine"]));
    c.ok(&with_token(&t, &["get", "node", "sim-1"]));
    assert!(c.fails(&with_token(&t, &["get", "nodes"])).contains("node 'sim-1' cannot read all nodes, only its own Node object"));
    assert_eq!(
        c.fails(&with_token(&t, &["get", "pods"])).trim(),
        format!(r#"Error from server (Forbidden): pods is forbidden: {me} cannot list resource "pods" in API group "" in the namespace "default": can only list/watch pods with spec.nodeName field selector"#)
    );
    assert!(c.fails(&with_token(&t, &["get", "pod", "theirs"])).contains("no relationship found between node 'sim-1' and this object"));

    // Secrets: only those a pod bound to the node uses.
    c.ok(&with_token(&t, &["get", "secret", "used"]));
    assert_eq!(
        c.fails(&with_token(&t, &["get", "secret", "unused"])).trim(),
        format!(r#"Error from server (Forbidden): secrets "unused" is forbidden: {me} cannot get resource "secrets" in API group "" in the namespace "default": no relationship found between node 'sim-1' and this object"#)
    );

    // Its own Node: labels yes, taints and restricted labels no; another Node: not at all.
    c.ok(&with_token(&t, &["label", "node", "sim-1", "disk=ssd"]));
    assert_eq!(c.ok(&["get", "node", "sim-1", "-o", "jsonpath={.metadata.labels.disk}"]), "ssd");
    assert!(c.fails(&with_token(&t, &["taint", "node", "sim-1", "k=v:NoSchedule"])).contains(r#"nodes "sim-1" is forbidden: node "sim-1" is not allowed to modify taints"#));
    assert!(c
        .fails(&with_token(&t, &["label", "node", "sim-1", "node-role.kubernetes.io/control-plane="]))
        .contains(r#"nodes "sim-1" is forbidden: is not allowed to modify labels: node-role.kubernetes.io/control-plane"#));
    assert_eq!(
        c.fails(&with_token(&t, &["label", "node", "sim-2", "disk=ssd"])).trim(),
        format!(r#"Error from server (Forbidden): nodes "sim-2" is forbidden: {me} cannot get resource "nodes" in API group "" at the cluster scope: node 'sim-1' cannot read 'sim-2', only its own Node object"#)
    );
    // kubectl label/patch read the Node first; a write sent straight away meets NodeRestriction.
    let mut other = c.json(&["get", "node", "sim-2"]);
    other["metadata"]["labels"]["disk"] = "ssd".into();
    let f = c.manifest("sim-2.json", &other.to_string());
    let err = c.fails(&with_token(&t, &["replace", "--raw", "/api/v1/nodes/sim-2", "-f", &f]));
    assert_eq!(err.trim(), r#"Error from server (Forbidden): nodes "sim-2" is forbidden: node "sim-1" is not allowed to modify node "sim-2""#);
    assert_eq!(c.ok(&["get", "node", "sim-2", "-o", "jsonpath={.metadata.labels.disk}"]), "");

    // Pods: no creates (mirror pods only), no deletes of another node's pods.
    assert_eq!(
        c.fails(&with_token(&t, &["run", "x", "--image", "nginx"])).trim(),
        r#"Error from server (Forbidden): pods "x" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "sim-1" can only create mirror pods"#
    );
    assert_eq!(
        c.fails(&with_token(&t, &["delete", "pod", "theirs"])).trim(),
        r#"Error from server (Forbidden): pods "theirs" is forbidden: node "sim-1" can only delete pods with spec.nodeName set to itself"#
    );
    c.ok(&["get", "pod", "theirs"]);
    // Nor anything else: other kinds, other paths.
    assert!(c.fails(&with_token(&t, &["get", "statefulsets"])).contains(&format!(r#"statefulsets.apps is forbidden: {me} cannot list resource "statefulsets" in API group "apps" in the namespace "default""#)));
    let err = c.fails(&with_token(&t, &["get", "--raw", "/metrics"]));
    assert_eq!(err.trim(), format!(r#"Error from server (Forbidden): forbidden: {me} cannot get path "/metrics""#));
    // An unknown token is still unauthenticated.
    assert!(c.fails(&with_token("not-a-token", &["get", "pods"])).contains("Unauthorized"));
}

const SOLO_POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  nodeName: solo\n  containers:\n  - name: c\n    image: nginx\n";

#[test]
fn a_simulated_node_joins_with_its_node_token() {
    let c = Cluster::start_with(&["--simulated-nodes", "0"]);
    let token = c.dir.path().join("solo.token");
    std::fs::write(&token, mint(&c, "solo")).unwrap();
    let ca = c.dir.path().join("pki/ca.crt");
    let mut node: Child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["node", "--simulated", "--name", "solo", "--pod-cidr", "10.244.41.0/24", "--node-ip", "10.250.0.41"])
        .args(["--server", &format!("https://127.0.0.1:{}", c.port)])
        .arg("--token-file")
        .arg(&token)
        .arg("--ca-file")
        .arg(&ca)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start berth node");
    let ready = eventually(Duration::from_secs(30), || rows(&c.ok(&["get", "nodes", "--no-headers"])).iter().any(|r| r[0] == "solo" && r[1] == "Ready"));
    let f = c.manifest("web.yaml", SOLO_POD);
    c.ok(&["create", "-f", &f]);
    // Registration, pod status, the Lease and the final delete all go through with node rights.
    let running = ready && eventually(Duration::from_secs(30), || c.ok(&["get", "pod", "web", "-o", "jsonpath={.status.phase}"]) == "Running");
    let leased = running && eventually(Duration::from_secs(20), || c.kubectl(&["get", "lease", "solo", "-n", "kube-node-lease"]).status.success());
    let deleted = leased && {
        // Only the node's own final DELETE removes a pod; the grace period just keeps this short.
        c.ok(&["delete", "pod", "web", "--wait=false", "--grace-period=1"]);
        eventually(Duration::from_secs(60), || !c.kubectl(&["get", "pod", "web"]).status.success())
    };
    let _ = node.kill();
    let _ = node.wait();
    assert!(ready, "{}", c.ok(&["get", "nodes"]));
    assert!(running, "{}", c.ok(&["get", "pod", "web", "-o", "yaml"]));
    assert!(leased, "no lease for solo");
    assert!(deleted, "{}", String::from_utf8_lossy(&c.kubectl(&["get", "pod", "web", "-o", "yaml"]).stdout));
}

const REAL_POD: &str = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {greeting: hello}
---
apiVersion: v1
kind: Secret
metadata: {name: sec}
data: {token: czNjcmV0}  # s3cret (berth keeps stringData as sent, not merged into data)
---
apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  nodeName: node-1
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'cat /cfg/greeting; echo; cat /sec/token; echo; sleep 3600']
    volumeMounts:
    - {name: cfg, mountPath: /cfg}
    - {name: sec, mountPath: /sec}
  volumes:
  - name: cfg
    configMap: {name: cfg}
  - name: sec
    secret: {secretName: sec}
";

#[test]
fn a_real_agent_reads_its_pods_config_and_secrets_with_its_node_token() {
    if !crate::real_node::can_run_real_nodes() {
        return;
    }
    let c = crate::real_node::Teardown(Cluster::start_with(&["--nodes", "1", "--simulated-nodes", "0", "--cluster-cidr", "10.248.0.0/16"]));
    // The agent was given node-1's own token, not the admin's.
    let agent_token = std::fs::read_to_string(c.dir.path().join("nodes/node-1/token")).unwrap();
    assert_eq!(agent_token.trim(), mint(&c, "node-1"));
    assert_ne!(agent_token.trim(), std::fs::read_to_string(c.dir.path().join("pki/admin.token")).unwrap().trim());
    let f = c.manifest("reader.yaml", REAL_POD);
    c.ok(&["create", "-f", &f]);
    let logged = eventually(Duration::from_secs(60), || {
        let o = c.kubectl(&["logs", "reader"]);
        String::from_utf8_lossy(&o.stdout) == "hello\ns3cret\n"
    });
    assert!(logged, "{}\n{}", c.ok(&["get", "pod", "reader", "-o", "yaml"]), String::from_utf8_lossy(&c.kubectl(&["logs", "reader"]).stdout));
}
