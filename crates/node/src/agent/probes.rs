//! Readiness, liveness and startup probes (httpGet, tcpSocket, exec) with upstream's timing
//! fields: initialDelaySeconds, periodSeconds (10), timeoutSeconds (1), successThreshold (1),
//! failureThreshold (3). One task per container instance reports result changes.

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Startup,
    Readiness,
    Liveness,
}

/// A probe's outcome changed (after its thresholds).
#[derive(Debug, Clone)]
pub struct Result_ {
    pub container: String,
    pub instance: u64,
    pub kind: Kind,
    pub ok: bool,
    pub message: String,
    /// The probe could not be run at all (upstream's "probe errored"): the result is thrown
    /// away and only an event says why.
    pub errored: bool,
}

/// Why one probe attempt did not succeed.
#[derive(Debug, Clone, PartialEq)]
enum NotOk {
    /// The probe ran and failed (upstream's `probe failed: <output>`).
    Failed(String),
    /// The probe is malformed (upstream's `probe errored: <err>`), e.g. an unknown named port.
    Errored(String),
}

/// upstream's `ResolveContainerPort`: a number, or a named container port, or a name that
/// parses as a number; else the error the prober reports.
fn port(c: &Container, p: &IntOrString) -> Result<u16, NotOk> {
    let n: i64 = match p {
        IntOrString::Int(i) => *i as i64,
        IntOrString::String(name) => match c.ports.iter().flatten().find(|cp| cp.name.as_deref() == Some(name)) {
            Some(cp) => cp.container_port as i64,
            None => name.parse().map_err(|_| NotOk::Errored(format!("strconv.Atoi: parsing {name:?}: invalid syntax")))?,
        },
    };
    if n > 0 && n < 65536 {
        Ok(n as u16)
    } else {
        Err(NotOk::Errored(format!("invalid port number: {n}")))
    }
}

/// Run one probe once; Err says why it did not succeed (as in the `Unhealthy` event).
async fn run_once(c: &Container, p: &Probe, pod_ip: &str, pid: i32) -> Result<(), NotOk> {
    let timeout = Duration::from_secs(p.timeout_seconds.unwrap_or(1).max(1) as u64);
    if let Some(port_ref) = p.http_get.as_ref().map(|h| &h.port).or(p.tcp_socket.as_ref().map(|t| &t.port)) {
        port(c, port_ref)?;
    }
    if p.http_get.is_none() && p.tcp_socket.is_none() && p.exec.is_none() && p.grpc.is_none() {
        return Err(NotOk::Errored("missing probe handler".into()));
    }
    let attempt = async {
        if let Some(h) = &p.http_get {
            let port = port(c, &h.port).map_err(|_| "invalid port")?;
            let host = h.host.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| pod_ip.to_string());
            let path = h.path.clone().unwrap_or_else(|| "/".into());
            let mut s = tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|e| format!("Get \"http://{host}:{port}{path}\": {e}"))?;
            let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n");
            for hh in h.http_headers.iter().flatten() {
                req.push_str(&format!("{}: {}\r\n", hh.name, hh.value));
            }
            req.push_str("\r\n");
            s.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
            let mut buf = vec![0u8; 64];
            let n = s.read(&mut buf).await.map_err(|e| e.to_string())?;
            let line = String::from_utf8_lossy(&buf[..n]);
            let code: u16 = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or("malformed HTTP response")?;
            return if (200..400).contains(&code) { Ok(()) } else { Err(format!("HTTP probe failed with statuscode: {code}")) };
        }
        if let Some(t) = &p.tcp_socket {
            let port = port(c, &t.port).map_err(|_| "invalid port")?;
            let host = t.host.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| pod_ip.to_string());
            tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|e| format!("dial tcp {host}:{port}: {e}"))?;
            return Ok(());
        }
        if let Some(e) = &p.exec {
            let cmd = e.command.clone().unwrap_or_default();
            let code = exec_in_container(pid, &cmd).await?;
            return if code == 0 { Ok(()) } else { Err(format!("command {cmd:?} exited with {code}")) };
        }
        Err("grpc probes are not supported by berth nodes yet".to_string())
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r.map_err(NotOk::Failed),
        Err(_) => Err(NotOk::Failed(format!("probe timed out after {}s", timeout.as_secs()))),
    }
}

/// Run `cmd` inside the container of main process `pid`: its namespaces (mount last, which
/// also sets the root), its environment, working directory `/`. Returns the exit code.
pub async fn exec_in_container(pid: i32, cmd: &[String]) -> Result<i32, String> {
    let (prog, args) = cmd.split_first().ok_or("empty command")?;
    let mut fds: Vec<(OwnedFd, libc::c_int)> = Vec::new();
    for (ns, flag) in [("ipc", libc::CLONE_NEWIPC), ("uts", libc::CLONE_NEWUTS), ("net", libc::CLONE_NEWNET), ("mnt", libc::CLONE_NEWNS)] {
        let f = std::fs::File::open(format!("/proc/{pid}/ns/{ns}")).map_err(|e| format!("container not running: {e}"))?;
        fds.push((f.into(), flag));
    }
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    let env: Vec<(String, String)> = environ
        .split(|b| *b == 0)
        .filter_map(|kv| String::from_utf8_lossy(kv).split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    let raw: Vec<(i32, libc::c_int)> = fds.iter().map(|(f, n)| (f.as_raw_fd(), *n)).collect();
    let mut command = tokio::process::Command::new(prog);
    command.args(args).env_clear().envs(env).kill_on_drop(true).stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    // SAFETY: only async-signal-safe calls (setns, chdir) on fds opened before the fork.
    unsafe {
        command.pre_exec(move || {
            for (fd, flag) in &raw {
                if libc::setns(*fd, *flag) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if libc::chdir(c"/".as_ptr()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = command.status().await.map_err(|e| format!("exec {prog:?}: {e}"))?;
    drop(fds);
    Ok(status.code().unwrap_or(128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)))
}

/// Spawn the probe loops of one container instance; results go to `tx`. Abort the returned
/// handles when the instance stops.
pub fn spawn(c: &Container, instance: u64, pod_ip: String, pid: i32, tx: mpsc::UnboundedSender<Result_>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut out = Vec::new();
    let has_startup = c.startup_probe.is_some();
    let (started_tx, started_rx) = tokio::sync::watch::channel(!has_startup);
    for (kind, probe) in [(Kind::Startup, &c.startup_probe), (Kind::Readiness, &c.readiness_probe), (Kind::Liveness, &c.liveness_probe)] {
        let Some(probe) = probe.clone() else { continue };
        let (c, tx, pod_ip, started_tx, mut started_rx) = (c.clone(), tx.clone(), pod_ip.clone(), started_tx.clone(), started_rx.clone());
        out.push(tokio::spawn(async move {
            if kind != Kind::Startup {
                // Readiness and liveness probes start once the startup probe succeeded.
                let _ = started_rx.wait_for(|s| *s).await;
            }
            tokio::time::sleep(Duration::from_secs(probe.initial_delay_seconds.unwrap_or(0).max(0) as u64)).await;
            let period = Duration::from_secs(probe.period_seconds.unwrap_or(10).max(1) as u64);
            let success_threshold = probe.success_threshold.unwrap_or(1).max(1);
            let failure_threshold = probe.failure_threshold.unwrap_or(3).max(1);
            let (mut successes, mut failures, mut reported): (i32, i32, Option<bool>) = (0, 0, None);
            loop {
                let r = run_once(&c, &probe, &pod_ip, pid).await;
                if let Err(NotOk::Errored(message)) = r {
                    // As upstream's worker: a prober error throws the result away.
                    let _ = tx.send(Result_ { container: c.name.clone(), instance, kind, ok: false, message, errored: true });
                    tokio::time::sleep(period).await;
                    continue;
                }
                let message = match &r {
                    Err(NotOk::Failed(m) | NotOk::Errored(m)) => m.clone(),
                    Ok(()) => String::new(),
                };
                if r.is_ok() {
                    successes += 1;
                    failures = 0;
                } else {
                    failures += 1;
                    successes = 0;
                }
                let verdict = if successes >= success_threshold {
                    Some(true)
                } else if failures >= failure_threshold {
                    Some(false)
                } else {
                    None
                };
                if let Some(v) = verdict {
                    if reported != Some(v) || (!v && kind == Kind::Liveness) {
                        reported = Some(v);
                        let _ = tx.send(Result_ { container: c.name.clone(), instance, kind, ok: v, message, errored: false });
                        if kind == Kind::Startup && v {
                            let _ = started_tx.send(true);
                            return;
                        }
                        if kind == Kind::Liveness && !v {
                            return;
                        }
                    }
                }
                tokio::time::sleep(period).await;
            }
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_ports_as_upstream() {
        let c: Container = serde_json::from_value(serde_json::json!({"name": "c", "ports": [{"name": "http", "containerPort": 8080}]})).unwrap();
        assert_eq!(port(&c, &IntOrString::String("http".into())), Ok(8080));
        assert_eq!(port(&c, &IntOrString::String("9090".into())), Ok(9090));
        assert_eq!(port(&c, &IntOrString::Int(80)), Ok(80));
        assert_eq!(port(&c, &IntOrString::String("web".into())), Err(NotOk::Errored("strconv.Atoi: parsing \"web\": invalid syntax".into())));
        assert_eq!(port(&c, &IntOrString::Int(0)), Err(NotOk::Errored("invalid port number: 0".into())));
        assert_eq!(port(&c, &IntOrString::Int(70000)), Err(NotOk::Errored("invalid port number: 70000".into())));
    }
}
