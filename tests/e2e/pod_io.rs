//! `kubectl logs`, `kubectl exec`, `kubectl proxy` and `get --raw …/proxy/…` through a real
//! `berth up`, against a kubelet API (`berth_node::kubelet_api::serve`) run by the test on
//! loopback over a state directory it prepares: a CRI log file and a live `sleep` as the
//! container's process. The pod's IP is 127.0.0.1, where the test serves HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::harness::{eventually, kubectl_binary, Cluster};

const LOG: &str = "2024-05-01T10:00:00.25Z stdout F line one\n2024-05-01T10:00:01Z stderr F line two\n";

/// Everything on the "node" side, torn down on drop.
struct Node {
    /// Runs the kubelet API; dropped (stopping it) with the node.
    _rt: tokio::runtime::Runtime,
    _state: tempfile::TempDir,
    container: PathBuf,
    sleep: Child,
    kubelet_port: u16,
    http_port: u16,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.sleep.kill();
        let _ = self.sleep.wait();
    }
}

/// A tiny HTTP server standing in for the pod's web server: echoes method and path.
fn serve_http() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut first = String::new();
                if r.read_line(&mut first).is_err() {
                    return;
                }
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                let mut parts = first.split_whitespace();
                let body = format!("hello from pod: {} {}\n", parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Pod: io\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let mut w = conn;
                let _ = w.write_all(resp.as_bytes());
            });
        }
    });
    port
}

fn start_node(pki: &Path) -> Node {
    let state = tempfile::tempdir().unwrap();
    let pod_dir = state.path().join("pods/uid-io");
    let container = pod_dir.join("containers/c");
    std::fs::create_dir_all(&container).unwrap();
    std::fs::write(
        pod_dir.join("pod.json"),
        r#"{"metadata":{"namespace":"default","name":"io","uid":"uid-io"},"spec":{"containers":[{"name":"c"}]}}"#,
    )
    .unwrap();
    std::fs::write(container.join("0.log"), LOG).unwrap();
    // A second pod with two containers; only `b` has logged anything.
    let two = state.path().join("pods/uid-two");
    std::fs::create_dir_all(two.join("containers/b")).unwrap();
    std::fs::write(
        two.join("pod.json"),
        r#"{"metadata":{"namespace":"default","name":"two","uid":"uid-two"},"spec":{"containers":[{"name":"a"},{"name":"b"}]}}"#,
    )
    .unwrap();
    std::fs::write(two.join("containers/b/0.log"), "2024-05-01T10:00:00Z stdout F from b\n").unwrap();
    let sleep = Command::new("sleep")
        .arg("1000")
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("GREETING", "hi from the container")
        .spawn()
        .unwrap();
    std::fs::write(container.join("pid"), sleep.id().to_string()).unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let tls = Arc::new(berth_node::kubelet_api::tls::server_config(pki, "node-1").unwrap());
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let kubelet_port = listener.local_addr().unwrap().port();
    rt.spawn(berth_node::kubelet_api::serve(listener, tls, state.path().to_path_buf(), futures::future::pending::<()>()));
    Node { _rt: rt, _state: state, container, sleep, kubelet_port, http_port: serve_http() }
}

fn setup(c: &Cluster, n: &Node) {
    let node = c.manifest("node.json", r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-1"}}"#);
    c.ok(&["create", "-f", &node]);
    let status = format!(
        r#"{{"status":{{"addresses":[{{"type":"InternalIP","address":"127.0.0.1"}},{{"type":"Hostname","address":"node-1"}}],"daemonEndpoints":{{"kubeletEndpoint":{{"Port":{}}}}}}}}}"#,
        n.kubelet_port
    );
    c.ok(&["patch", "node", "node-1", "--subresource=status", "--type=merge", "-p", &status]);
    let pod = c.manifest(
        "pod.yaml",
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: io, labels: {{app: io}}}}\nspec:\n  nodeName: node-1\n  containers:\n  - name: c\n    image: busybox\n    ports: [{{name: web, containerPort: {}}}]\n",
            n.http_port
        ),
    );
    c.ok(&["create", "-f", &pod]);
    let pod_status = r#"{"status":{"phase":"Running","podIP":"127.0.0.1","podIPs":[{"ip":"127.0.0.1"}],
        "conditions":[{"type":"Ready","status":"True"}],
        "containerStatuses":[{"name":"c","ready":true,"restartCount":0,"image":"busybox","imageID":"","started":true,
        "state":{"running":{"startedAt":"2024-05-01T10:00:00Z"}}}]}}"#;
    c.ok(&["patch", "pod", "io", "--subresource=status", "--type=merge", "-p", pod_status]);
    let svc = c.manifest(
        "svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: io}\nspec:\n  selector: {app: io}\n  ports: [{port: 80, targetPort: web}]\n---\napiVersion: v1\nkind: Service\nmetadata: {name: empty}\nspec:\n  selector: {app: nobody}\n  ports: [{port: 80}]\n",
    );
    c.ok(&["create", "-f", &svc]);

    // `two`: two containers, `b` the default by annotation; `waiting`: not started yet.
    let pods = c.manifest(
        "pods.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: two\n  annotations: {kubectl.kubernetes.io/default-container: b}\nspec:\n  nodeName: node-1\n  containers: [{name: a, image: busybox}, {name: b, image: busybox}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: waiting}\nspec:\n  nodeName: node-1\n  containers: [{name: c, image: busybox}]\n",
    );
    c.ok(&["create", "-f", &pods]);
    let running = |n: &str| format!(r#"{{"name":"{n}","ready":true,"restartCount":0,"image":"busybox","imageID":"","state":{{"running":{{"startedAt":"2024-05-01T10:00:00Z"}}}}}}"#);
    let two_status = format!(r#"{{"status":{{"phase":"Running","containerStatuses":[{},{}]}}}}"#, running("a"), running("b"));
    c.ok(&["patch", "pod", "two", "--subresource=status", "--type=merge", "-p", &two_status]);
    let waiting = r#"{"status":{"phase":"Pending","containerStatuses":[{"name":"c","ready":false,"restartCount":0,"image":"busybox","imageID":"","state":{"waiting":{"reason":"ContainerCreating"}}}]}}"#;
    c.ok(&["patch", "pod", "waiting", "--subresource=status", "--type=merge", "-p", waiting]);

    // `far`: on a node whose addresses (like a simulated node's) are not on this machine.
    let far = c.manifest(
        "far.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: {name: faraway}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: far}\nspec:\n  nodeName: faraway\n  containers: [{name: c, image: busybox, ports: [{containerPort: 80}]}]\n",
    );
    c.ok(&["create", "-f", &far]);
    c.ok(&["patch", "node", "faraway", "--subresource=status", "--type=merge", "-p",
        r#"{"status":{"addresses":[{"type":"InternalIP","address":"10.250.0.99"}],"daemonEndpoints":{"kubeletEndpoint":{"Port":10250}}}}"#]);
    c.ok(&["patch", "pod", "far", "--subresource=status", "--type=merge", "-p", &format!(
        r#"{{"status":{{"phase":"Running","podIP":"10.244.99.5","podIPs":[{{"ip":"10.244.99.5"}}],"containerStatuses":[{}]}}}}"#, running("c"))]);
}

/// kubectl with piped stdio, for streaming and stdin.
fn kubectl_cmd(c: &Cluster, args: &[&str]) -> Command {
    let mut cmd = Command::new(kubectl_binary());
    cmd.arg("--kubeconfig").arg(c.kubeconfig()).args(args);
    cmd
}

fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let code = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (code, body)
}

#[test]
fn logs_exec_and_proxy_through_kubectl() {
    let c = Cluster::start_with(&["--simulated-nodes", "0"]);
    let n = start_node(&c.dir.path().join("pki"));
    setup(&c, &n);

    // logs
    assert_eq!(c.ok(&["logs", "io"]), "line one\nline two\n");
    assert_eq!(c.ok(&["logs", "io", "--tail=1", "--timestamps"]), "2024-05-01T10:00:01Z line two\n");
    assert_eq!(c.ok(&["logs", "pod/io", "-c", "c", "--limit-bytes=4"]), "line");
    let e = c.fails(&["logs", "io", "-c", "nope"]);
    assert!(e.contains("container nope is not valid for pod io"), "{e}");
    let e = c.fails(&["logs", "io", "--previous"]);
    assert!(e.contains("previous terminated container \"c\" in pod \"io\" not found"), "{e}");
    assert_eq!(c.ok(&["logs", "two"]), "from b\n");
    let e = c.fails(&["get", "--raw", "/api/v1/namespaces/default/pods/two/log"]);
    assert!(e.contains("a container name must be specified for pod two, choose one of: [a b]"), "{e}");
    let e = c.fails(&["logs", "waiting"]);
    assert!(e.contains("Error from server (BadRequest): container \"c\" in pod \"waiting\" is waiting to start: ContainerCreating"), "{e}");

    // Nothing is dialed off this machine.
    let e = c.fails(&["logs", "far"]);
    assert!(e.contains("berth does not dial 10.250.0.99"), "{e}");
    let e = c.fails(&["get", "--raw", "/api/v1/namespaces/default/pods/far/proxy/"]);
    assert!(e.contains("error trying to reach service: berth does not dial 10.244.99.5"), "{e}");

    // logs -f: the existing lines, then one appended while following.
    let mut follow = kubectl_cmd(&c, &["logs", "-f", "io"]).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let next = || rx.recv_timeout(Duration::from_secs(20)).expect("kubectl logs -f printed a line");
    assert_eq!(next(), "line one");
    assert_eq!(next(), "line two");
    let mut log = std::fs::OpenOptions::new().append(true).open(n.container.join("0.log")).unwrap();
    log.write_all(b"2024-05-01T10:00:02Z stdout F line three\n").unwrap();
    assert_eq!(next(), "line three");
    let _ = follow.kill();
    let _ = follow.wait();

    // exec
    assert_eq!(c.ok(&["exec", "io", "--", "echo", "hi"]), "hi\n");
    assert_eq!(c.ok(&["exec", "io", "--", "sh", "-c", "echo $GREETING"]), "hi from the container\n");
    let out = c.kubectl(&["exec", "io", "--", "sh", "-c", "echo to-stderr >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("to-stderr"), "{out:?}");
    let mut cat = kubectl_cmd(&c, &["exec", "-i", "io", "--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    cat.stdin.take().unwrap().write_all(b"piped through exec\n").unwrap();
    let out = cat.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "piped through exec\n");
    let e = c.fails(&["exec", "io", "-c", "nope", "--", "true"]);
    assert!(e.contains("container nope is not valid for pod io") || e.contains("container nope not found"), "{e}");

    // proxy: get --raw and kubectl proxy, to the pod and through the service.
    let raw = c.ok(&["get", "--raw", "/api/v1/namespaces/default/pods/io/proxy/x?y=1"]);
    assert_eq!(raw, "hello from pod: GET /x?y=1\n");
    let raw = c.ok(&["get", "--raw", &format!("/api/v1/namespaces/default/pods/io:{}/proxy/", n.http_port)]);
    assert_eq!(raw, "hello from pod: GET /\n");
    let e = c.fails(&["get", "--raw", "/api/v1/namespaces/default/services/empty/proxy/"]);
    assert!(e.contains("no endpoints available for service \"empty\""), "{e}");

    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut proxy = kubectl_cmd(&c, &["proxy", &format!("--port={port}")]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    assert!(eventually(Duration::from_secs(20), || TcpStream::connect(("127.0.0.1", port)).is_ok()));
    let (code, body) = http_get(port, "/api/v1/namespaces/default/pods/io/proxy/");
    assert_eq!((code, body.as_str()), (200, "hello from pod: GET /\n"));
    let (code, body) = http_get(port, "/api/v1/namespaces/default/services/io/proxy/status");
    assert_eq!((code, body.as_str()), (200, "hello from pod: GET /status\n"));
    let (code, _) = http_get(port, "/api/v1/namespaces/default/services/empty/proxy/");
    assert_eq!(code, 503);
    let _ = proxy.kill();
    let _ = proxy.wait();

    // The container stopped: logs -f ends at once, exec reports the kubelet's error.
    std::fs::remove_file(n.container.join("pid")).unwrap();
    assert!(c.ok(&["logs", "-f", "io"]).ends_with("line three\n"));
    let e = c.fails(&["exec", "io", "--", "true"]);
    assert!(e.contains("container not found (\"c\")"), "{e}");
}
