//! `GET /exec/{namespace}/{pod}/{container}?command=…&input=1&output=1&error=1&tty=1` over a
//! WebSocket speaking the `channel.k8s.io` subprotocols (v5, v4): every binary message starts
//! with a channel byte — 0 stdin, 1 stdout, 2 stderr, 3 the final Status (JSON), 4 terminal
//! resize (JSON `{"Width":…,"Height":…}`), and in v5 255 "close channel <next byte>".

use std::path::Path;

use futures::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::spawn::{self, Target};
use super::{state, text, Resp};

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

/// Subprotocols served, most preferred first.
const PROTOCOLS: &[&str] = &["v5.channel.k8s.io", "v4.channel.k8s.io"];

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExecOptions {
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

pub fn parse_options(query: Option<&str>) -> Result<ExecOptions, String> {
    let mut o = ExecOptions::default();
    let flag = |v: &str| matches!(v, "1" | "true" | "True" | "TRUE");
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "command" => o.command.push(v.into_owned()),
            "input" | "stdin" => o.stdin = flag(&v),
            "output" | "stdout" => o.stdout = flag(&v),
            "error" | "stderr" => o.stderr = flag(&v),
            "tty" => o.tty = flag(&v),
            _ => {}
        }
    }
    if o.command.is_empty() {
        return Err("you must specify a command".into());
    }
    if !(o.stdin || o.stdout || o.stderr) {
        return Err("you must specify at least 1 of stdin, stdout, stderr".into());
    }
    // A terminal merges stderr into stdout.
    if o.tty {
        o.stderr = false;
    }
    Ok(o)
}

/// The subprotocol to answer with, from the client's `Sec-WebSocket-Protocol` offers.
pub fn negotiate(offered: &str) -> Option<&'static str> {
    let offers: Vec<&str> = offered.split(',').map(str::trim).collect();
    PROTOCOLS.iter().copied().find(|p| offers.contains(p))
}

pub async fn serve(state_dir: &Path, namespace: &str, pod: &str, container: &str, mut req: Request<Incoming>) -> Resp {
    let opts = match parse_options(req.uri().query()) {
        Ok(o) => o,
        Err(e) => return text(400, &e),
    };
    let cdir = match state::container(state_dir, namespace, pod, container) {
        Ok(c) => c,
        Err(e) => return text(e.code, &e.message),
    };
    let Some(pid) = cdir.pid() else {
        return text(400, &format!("container not found (\"{container}\")"));
    };
    let h = req.headers();
    let is_ws = h.get(header::UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let key = h.get(header::SEC_WEBSOCKET_KEY).cloned();
    let (true, Some(key)) = (is_ws, key) else {
        return text(400, "unable to upgrade: a websocket upgrade (v5.channel.k8s.io or v4.channel.k8s.io) is required");
    };
    let offered = h.get(header::SEC_WEBSOCKET_PROTOCOL).and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(protocol) = negotiate(offered) else {
        return text(400, &format!("unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server supports {PROTOCOLS:?}"));
    };
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(io) => {
                let ws = WebSocketStream::from_raw_socket(TokioIo::new(io), Role::Server, None).await;
                session(ws, pid, opts, protocol == "v5.channel.k8s.io").await;
            }
            Err(e) => tracing::debug!(error = %e, "exec upgrade failed"),
        }
    });
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut resp = hyper::Response::new(super::empty());
    *resp.status_mut() = hyper::StatusCode::SWITCHING_PROTOCOLS;
    let rh = resp.headers_mut();
    rh.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    rh.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    rh.insert(header::SEC_WEBSOCKET_ACCEPT, HeaderValue::from_str(&accept).expect("base64 is a valid header"));
    rh.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol));
    resp
}

/// The Status sent on the error channel when the command has finished.
pub fn exit_status(command: &[String], code: i32) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {code}", command.join(" ")),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

fn internal_error(message: String) -> Value {
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("Internal error occurred: {message}"),
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    })
}

/// A close frame with code 1000: clients (gorilla/websocket in kubectl) treat a close
/// without a code (1005) as an error rather than the end of the streams.
fn normal_close() -> Message {
    Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "".into() }))
}

type Ws = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(v.into())
}

/// Copy one output stream to the socket writer, tagged with its channel.
fn pump(mut r: impl AsyncRead + Unpin + Send + 'static, channel: u8, tx: mpsc::Sender<Message>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        // A terminal's master reports EIO once the last slave is closed: that is its EOF.
        while let Ok(n) = r.read(&mut buf).await {
            if n == 0 || tx.send(frame(channel, &buf[..n])).await.is_err() {
                break;
            }
        }
    })
}

async fn session(ws: Ws, pid: i32, opts: ExecOptions, v5: bool) {
    let (mut sink, mut incoming) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Message>(16);
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let last = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || last {
                break;
            }
        }
        let _ = sink.close().await;
    });

    let started = start(pid, &opts);
    let (mut child, mut stdin, pumps, master) = match started {
        Ok(s) => s,
        Err(e) => {
            let status = internal_error(format!("error executing command in container: {e}"));
            let _ = tx.send(frame(ERROR, status.to_string().as_bytes())).await;
            let _ = tx.send(normal_close()).await;
            drop(tx);
            let _ = writer.await;
            return;
        }
    };
    let pumps: Vec<_> = pumps.into_iter().map(|(r, ch)| pump(r, ch, tx.clone())).collect();

    let status = loop {
        tokio::select! {
            st = child.wait() => break st,
            msg = incoming.next() => match msg {
                Some(Ok(Message::Binary(b))) if !b.is_empty() => match b[0] {
                    STDIN => {
                        if let Some(w) = stdin.as_mut() {
                            if w.write_all(&b[1..]).await.is_err() || w.flush().await.is_err() {
                                stdin = None;
                            }
                        }
                    }
                    RESIZE => {
                        if let (Some(m), Ok(v)) = (master.as_ref(), serde_json::from_slice::<Value>(&b[1..])) {
                            let w = v["Width"].as_u64().unwrap_or(0) as u16;
                            let h = v["Height"].as_u64().unwrap_or(0) as u16;
                            let _ = spawn::resize(m, w, h);
                        }
                    }
                    CLOSE if v5 && b.get(1) == Some(&STDIN) => {
                        if let Some(mut w) = stdin.take() {
                            let _ = w.shutdown().await;
                        }
                    }
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    // The client went away: nobody reads the output any more.
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    drop(tx);
                    for p in pumps {
                        p.abort();
                    }
                    writer.abort();
                    return;
                }
                Some(Ok(_)) => {}
            },
        }
    };
    drop(stdin);
    drop(master);
    // All output reaches the client before the status.
    for p in pumps {
        let _ = p.await;
    }
    let status = match status {
        Ok(s) => exit_status(&opts.command, exit_code(s)),
        Err(e) => internal_error(format!("error executing command in container: {e}")),
    };
    let _ = tx.send(frame(ERROR, status.to_string().as_bytes())).await;
    let _ = tx.send(normal_close()).await;
    drop(tx);
    let _ = writer.await;
}

fn exit_code(s: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
}

type Reader = Box<dyn AsyncRead + Unpin + Send>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;
type Started = (tokio::process::Child, Option<Writer>, Vec<(Reader, u8)>, Option<std::fs::File>);

/// Start the command in the container with pipes, or a terminal when `tty`.
fn start(pid: i32, o: &ExecOptions) -> std::io::Result<Started> {
    let target = Target::of(pid)?;
    let mut cmd = target.command(&o.command, o.tty)?;
    if o.tty {
        let pty = spawn::open_pty()?;
        cmd.stdin(pty.stdin).stdout(pty.stdout).stderr(pty.stderr);
        let child = cmd.spawn()?;
        let reader: Reader = Box::new(tokio::fs::File::from_std(pty.master.try_clone()?));
        let writer: Option<Writer> = if o.stdin { Some(Box::new(tokio::fs::File::from_std(pty.master.try_clone()?))) } else { None };
        let pumps = if o.stdout { vec![(reader, STDOUT)] } else { vec![] };
        return Ok((child, writer, pumps, Some(pty.master)));
    }
    let io = |on: bool| if on { std::process::Stdio::piped() } else { std::process::Stdio::null() };
    cmd.stdin(io(o.stdin)).stdout(io(o.stdout)).stderr(io(o.stderr));
    let mut child = cmd.spawn()?;
    let writer = child.stdin.take().map(|w| Box::new(w) as Writer);
    let mut pumps: Vec<(Reader, u8)> = Vec::new();
    if let Some(r) = child.stdout.take() {
        pumps.push((Box::new(r), STDOUT));
    }
    if let Some(r) = child.stderr.take() {
        pumps.push((Box::new(r), STDERR));
    }
    Ok((child, writer, pumps, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_follow_the_kubelet() {
        let o = parse_options(Some("command=sh&command=-c&command=echo+hi&input=1&output=1&error=1&tty=1")).unwrap();
        assert_eq!(o.command, vec!["sh", "-c", "echo hi"]);
        assert!(o.stdin && o.stdout && o.tty && !o.stderr);
        assert_eq!(parse_options(Some("output=1")).unwrap_err(), "you must specify a command");
        assert!(parse_options(Some("command=ls")).is_err());
    }

    #[test]
    fn negotiates_v5_then_v4() {
        assert_eq!(negotiate("v4.channel.k8s.io, v5.channel.k8s.io"), Some("v5.channel.k8s.io"));
        assert_eq!(negotiate("v4.channel.k8s.io,channel.k8s.io"), Some("v4.channel.k8s.io"));
        assert_eq!(negotiate("channel.k8s.io"), None);
    }

    #[test]
    fn status_carries_the_exit_code() {
        assert_eq!(exit_status(&["true".into()], 0).to_string(), r#"{"metadata":{},"status":"Success"}"#);
        let s = exit_status(&["sh".into(), "-c".into(), "exit 3".into()], 3);
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0], json!({"reason": "ExitCode", "message": "3"}));
        assert_eq!(s["message"], "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3");
    }
}
