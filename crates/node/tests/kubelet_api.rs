//! The kubelet API against a real process: a `sleep` started (as root) in fresh UTS, IPC,
//! network and mount namespaces, or as a plain child otherwise; container logs (with follow)
//! over HTTPS with a client certificate, exec over a v5 WebSocket.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_node::kubelet_api;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const HOSTNAME: &str = "berth-ctr";

struct Fixture {
    _dir: tempfile::TempDir,
    pki: PathBuf,
    container: PathBuf,
    addr: std::net::SocketAddr,
    child: std::process::Child,
    namespaced: bool,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

fn start_sleep() -> (std::process::Child, bool) {
    let mut cmd = std::process::Command::new("sleep");
    cmd.arg("1000").env_clear().env("CTR_VAR", "hello").env("PATH", "/usr/bin:/bin").current_dir("/tmp");
    let namespaced = is_root();
    if namespaced {
        // SAFETY: only raw system calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                let flags = libc::CLONE_NEWUTS | libc::CLONE_NEWIPC | libc::CLONE_NEWNET | libc::CLONE_NEWNS;
                if libc::unshare(flags) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::sethostname(HOSTNAME.as_ptr().cast(), HOSTNAME.len()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    (cmd.spawn().expect("start sleep"), namespaced)
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    kubelet_api::tls::write_test_ca(&pki).unwrap();
    let state = dir.path().join("node");
    let pod = state.join("pods/uid-1");
    let container = pod.join("containers/c");
    std::fs::create_dir_all(&container).unwrap();
    std::fs::write(
        pod.join("pod.json"),
        r#"{"metadata":{"namespace":"ns","name":"p","uid":"uid-1"},"spec":{"containers":[{"name":"c"}]}}"#,
    )
    .unwrap();
    std::fs::write(container.join("0.log"), "2024-05-01T10:00:00.5Z stdout F old run\n").unwrap();
    std::fs::write(
        container.join("1.log"),
        "2024-05-01T10:01:00.000000001Z stdout F first\n2024-05-01T10:01:01Z stderr F second\n",
    )
    .unwrap();
    let (child, namespaced) = start_sleep();
    std::fs::write(container.join("pid"), child.id().to_string()).unwrap();

    let tls = Arc::new(kubelet_api::tls::server_config(&pki, "node-a").unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(kubelet_api::serve(listener, tls, state, futures::future::pending::<()>()));
    Fixture { _dir: dir, pki, container, addr, child, namespaced }
}

async fn tls_stream(pki: &Path, addr: std::net::SocketAddr) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut cfg = kubelet_api::tls::client_config_for_tests(pki).unwrap();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(name, tcp).await.unwrap()
}

/// GET over HTTPS; returns the status and the body as a stream of chunks.
async fn get(f: &Fixture, path: &str) -> (u16, hyper::body::Incoming) {
    let io = TokioIo::new(tls_stream(&f.pki, f.addr).await);
    let (mut send, conn) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(io).await.unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get(path).header("host", "127.0.0.1").body(Empty::new()).unwrap();
    let resp = send.send_request(req).await.unwrap();
    (resp.status().as_u16(), resp.into_body())
}

async fn get_text(f: &Fixture, path: &str) -> (u16, String) {
    let (code, body) = get(f, path).await;
    let bytes = body.collect().await.unwrap().to_bytes();
    (code, String::from_utf8_lossy(&bytes).to_string())
}

/// Append the next chunk of a streamed body to `seen`; false at its end.
async fn next_chunk(body: &mut hyper::body::Incoming, seen: &mut String) -> bool {
    let frame = tokio::time::timeout(Duration::from_secs(10), body.frame()).await.expect("follow stalled");
    match frame {
        Some(Ok(fr)) => {
            seen.push_str(&String::from_utf8_lossy(&fr.into_data().unwrap_or_default()));
            true
        }
        _ => false,
    }
}

#[tokio::test]
async fn container_logs_and_follow() {
    let f = fixture().await;
    assert_eq!(get_text(&f, "/healthz").await, (200, "ok".to_string()));
    assert_eq!(get_text(&f, "/containerLogs/ns/p/c").await, (200, "first\nsecond\n".to_string()));
    assert_eq!(
        get_text(&f, "/containerLogs/ns/p/c?tailLines=1&timestamps=true").await,
        (200, "2024-05-01T10:01:01Z second\n".to_string())
    );
    assert_eq!(get_text(&f, "/containerLogs/ns/p/c?previous=true").await, (200, "old run\n".to_string()));
    assert_eq!(get_text(&f, "/containerLogs/ns/p/c?limitBytes=3").await, (200, "fir".to_string()));
    let (code, msg) = get_text(&f, "/containerLogs/ns/p/nope").await;
    assert_eq!((code, msg.as_str()), (404, "container \"nope\" not found in pod \"p\""));
    std::fs::remove_file(f.container.join("0.log")).unwrap();
    let (code, msg) = get_text(&f, "/containerLogs/ns/p/c?previous=true").await;
    assert_eq!((code, msg.as_str()), (400, "previous terminated container \"c\" in pod \"p\" not found"));

    // follow: the existing lines, then appended ones, until the container's pid file goes.
    let (code, mut body) = get(&f, "/containerLogs/ns/p/c?follow=true").await;
    assert_eq!(code, 200);
    let mut seen = String::new();
    while !seen.contains("second\n") {
        assert!(next_chunk(&mut body, &mut seen).await);
    }
    let mut log = std::fs::OpenOptions::new().append(true).open(f.container.join("1.log")).unwrap();
    log.write_all(b"2024-05-01T10:01:02Z stdout F third\n").unwrap();
    while !seen.contains("third\n") {
        assert!(next_chunk(&mut body, &mut seen).await);
    }
    std::fs::remove_file(f.container.join("pid")).unwrap();
    while next_chunk(&mut body, &mut seen).await {}
    assert_eq!(seen, "first\nsecond\nthird\n");
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

async fn exec_ws(f: &Fixture, query: &str) -> Ws {
    exec_ws_with(f, query, "v5.channel.k8s.io, v4.channel.k8s.io", "v5.channel.k8s.io").await
}

async fn exec_ws_with(f: &Fixture, query: &str, offer: &str, expect: &str) -> Ws {
    let url = format!("wss://127.0.0.1:{}/exec/ns/p/c?{query}", f.addr.port());
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", offer.parse().unwrap());
    let (ws, resp) = tokio_tungstenite::client_async(req, tls_stream(&f.pki, f.addr).await).await.unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], expect);
    ws
}

/// Read until the server closes: (stdout, stderr, status JSON).
async fn drain(ws: &mut Ws) -> (String, String, serde_json::Value) {
    let (mut out, mut err, mut status) = (String::new(), String::new(), serde_json::Value::Null);
    while let Some(m) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("exec stalled") {
        match m.unwrap() {
            Message::Binary(b) if !b.is_empty() => match b[0] {
                1 => out.push_str(&String::from_utf8_lossy(&b[1..])),
                2 => err.push_str(&String::from_utf8_lossy(&b[1..])),
                3 => status = serde_json::from_slice(&b[1..]).unwrap(),
                _ => {}
            },
            Message::Close(_) => break,
            _ => {}
        }
    }
    (out, err, status)
}

#[tokio::test]
async fn exec_enters_the_container_and_reports_the_exit_code() {
    let f = fixture().await;
    let script = "echo $CTR_VAR; pwd; hostname; echo oops >&2; cat; exit 3";
    let q = format!(
        "command=sh&command=-c&command={}&input=1&output=1&error=1",
        form_urlencoded::byte_serialize(script.as_bytes()).collect::<String>()
    );
    let mut ws = exec_ws(&f, &q).await;
    ws.send(Message::Binary(Bytes::from_static(b"\x00from stdin\n"))).await.unwrap();
    ws.send(Message::Binary(Bytes::from_static(b"\xff\x00"))).await.unwrap();
    let (out, err, status) = drain(&mut ws).await;
    let host = if f.namespaced { HOSTNAME.to_string() } else { std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string() };
    assert_eq!(out, format!("hello\n/tmp\n{host}\nfrom stdin\n"));
    assert_eq!(err, "oops\n");
    assert_eq!(status["status"], "Failure");
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0]["message"], "3");

    let mut ws = exec_ws(&f, "command=true&output=1").await;
    let (_, _, status) = drain(&mut ws).await;
    assert_eq!(status, serde_json::json!({"metadata": {}, "status": "Success"}));

    // A terminal: stdout is the pty, stderr merged into it.
    let mut ws = exec_ws(&f, "command=sh&command=-c&command=tty%3B+echo+err+%3E%262&output=1&error=1&tty=1").await;
    let (out, err, status) = drain(&mut ws).await;
    assert!(out.starts_with("/dev/pts/"), "{out:?}");
    assert!(out.contains("err\r\n"), "{out:?}");
    assert_eq!(err, "");
    assert_eq!(status["status"], "Success");

    // v4: the same framing, without the close-channel message.
    let mut ws = exec_ws_with(&f, "command=sh&command=-c&command=exit+7&output=1", "v4.channel.k8s.io", "v4.channel.k8s.io").await;
    let (_, _, status) = drain(&mut ws).await;
    assert_eq!(status["details"]["causes"][0], serde_json::json!({"reason": "ExitCode", "message": "7"}));

    // A command that does not exist fails with an internal error on the status channel.
    let mut ws = exec_ws(&f, "command=/no/such/binary&output=1").await;
    let (_, _, status) = drain(&mut ws).await;
    assert_eq!(status["reason"], "InternalError");
}

#[tokio::test]
async fn exec_errors_are_plain_http_answers() {
    let f = fixture().await;
    let (code, msg) = get_text(&f, "/exec/ns/p/c?command=ls&output=1").await;
    assert_eq!(code, 400);
    assert!(msg.starts_with("unable to upgrade"), "{msg}");
    let (code, msg) = get_text(&f, "/exec/ns/p/c?command=ls").await;
    assert_eq!((code, msg.as_str()), (400, "you must specify at least 1 of stdin, stdout, stderr"));
    std::fs::remove_file(f.container.join("pid")).unwrap();
    let (code, msg) = get_text(&f, "/exec/ns/p/c?command=ls&output=1").await;
    assert_eq!((code, msg.as_str()), (400, "container not found (\"c\")"));
    let (code, _) = get_text(&f, "/exec/ns/nope/c?command=ls&output=1").await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn clients_without_a_certificate_are_refused() {
    let f = fixture().await;
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(f.pki.join("ca.crt")).unwrap();
    for c in rustls_pemfile::certs(&mut ca.as_slice()) {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(f.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let res = async {
        let mut s = tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(name, tcp).await?;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await?;
        Ok::<usize, std::io::Error>(n)
    }
    .await;
    // TLS 1.3 reports the refusal on the first read; either way no response arrives.
    assert!(!matches!(res, Ok(n) if n > 0), "{res:?}");
}

#[tokio::test]
async fn exec_runs_as_the_containers_user() {
    if !is_root() {
        return; // switching to another user needs root
    }
    let f = fixture().await;
    let mut nobody = std::process::Command::new("sleep");
    nobody.arg("1000").env("PATH", "/usr/bin:/bin").current_dir("/").uid(65534).gid(65534);
    let mut nobody = nobody.spawn().unwrap();
    std::fs::write(f.container.join("pid"), nobody.id().to_string()).unwrap();
    let mut ws = exec_ws(&f, "command=sh&command=-c&command=id+-u%3B+id+-g&output=1&error=1").await;
    let (out, err, status) = drain(&mut ws).await;
    let _ = nobody.kill();
    let _ = nobody.wait();
    assert_eq!((out.as_str(), err.as_str()), ("65534\n65534\n", ""));
    assert_eq!(status["status"], "Success");
}

/// The first child of `pid` (what `unshare --fork` started).
fn child_of(pid: u32) -> Option<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    tasks.flatten().find_map(|t| {
        let children = std::fs::read_to_string(t.path().join("children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    })
}

#[tokio::test]
async fn exec_joins_the_containers_pid_namespace() {
    if !is_root() || !Path::new("/usr/bin/unshare").exists() {
        return; // needs root and util-linux's unshare
    }
    let f = fixture().await;
    // sleep as PID 1 of a new PID namespace with its own /proc, like a container's main process.
    let mut outer = std::process::Command::new("/usr/bin/unshare")
        .args(["--pid", "--fork", "--mount-proc", "--kill-child", "sleep", "1000"])
        .spawn()
        .unwrap();
    let mut inner = None;
    for _ in 0..100 {
        inner = child_of(outer.id());
        if inner.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let inner = inner.expect("unshare started its child");
    std::fs::write(f.container.join("pid"), inner.to_string()).unwrap();
    // `$$` is the shell's PID as seen inside: the namespace has only sleep (1) before it.
    let mut ws = exec_ws(&f, "command=sh&command=-c&command=echo+%24%24%3B+ls+%2Fproc+%7C+grep+-c+%27%5E%5B0-9%5D%27%3B+exit+4&output=1&error=1").await;
    let (out, err, status) = drain(&mut ws).await;
    let _ = outer.kill();
    let _ = outer.wait();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(err, "");
    assert_eq!(lines.len(), 2, "{out:?} {status}");
    let shell_pid: u32 = lines[0].parse().unwrap();
    assert!(shell_pid < 10, "shell PID {shell_pid} is not from the container's namespace");
    // sleep, sh and ls (grep too, in the same pipeline): a handful, not the host's hundreds.
    let visible: u32 = lines[1].parse().unwrap();
    assert!(visible <= 5, "{visible} processes visible");
    assert_eq!(status["details"]["causes"][0]["message"], "4");
}
