//! Running `berth up` as a child process: spawn on a free loopback port with a given data dir,
//! time its readiness the way a client would see it, read its RSS, stop it with SIGTERM.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use crate::client::{self, Endpoint, Result};
use crate::stats::fmt_dur;

/// How long a child gets to become ready before the benchmark gives up on it.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Interval between readiness probes (the brief asks for 1 ms).
const POLL_INTERVAL: Duration = Duration::from_millis(1);

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Result<Self> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("berth-bench-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(|e| format!("creating {}: {e}", path.display()))?;
        Ok(TempDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A free loopback port. There is a small race (another process could take it before berth
/// binds), acceptable on a benchmark machine.
pub fn free_port() -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map_err(|e| e.to_string())
}

pub struct Berth {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// Last lines of stderr, for error messages.
    stderr_tail: Arc<Mutex<Vec<String>>>,
    export_line: Option<oneshot::Receiver<Instant>>,
}

/// When the child was spawned and when it first became usable.
pub struct Startup {
    /// spawn → first `/readyz` 200 over TLS on a new connection.
    pub to_readyz: Duration,
    /// spawn → the `export KUBECONFIG=` line on stdout.
    pub to_export: Duration,
}

impl Berth {
    /// Spawn `berth up` and wait until `/readyz` answers 200 over TLS (polling every 1 ms with a
    /// fresh connection) and the `export KUBECONFIG=` line has been printed.
    pub async fn start(berth: &Path, data_dir: &Path) -> Result<(Berth, Startup)> {
        Self::start_with(berth, data_dir, &[]).await
    }

    /// [`Berth::start`] with extra `berth up` flags (e.g. `--simulated-nodes 100`).
    pub async fn start_with(berth: &Path, data_dir: &Path, extra: &[&str]) -> Result<(Berth, Startup)> {
        let addr = free_port()?;
        let spawned = Instant::now();
        let mut child = Command::new(berth)
            .arg("up")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(addr.to_string())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", berth.display()))?;
        let pid = child.id().ok_or("child exited immediately")?;

        let (tx, rx) = oneshot::channel();
        let stdout = child.stdout.take().expect("stdout piped");
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            let mut tx = Some(tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if line.starts_with("export KUBECONFIG=") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(Instant::now());
                    }
                }
            }
        });
        let stderr_tail = Arc::new(Mutex::new(Vec::new()));
        let tail = stderr_tail.clone();
        let stderr = child.stderr.take().expect("stderr piped");
        tokio::spawn(async move {
            // Drain stderr so the child never blocks on a full pipe; keep the tail for errors.
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut t = tail.lock().unwrap();
                if t.len() >= 20 {
                    t.remove(0);
                }
                t.push(line);
            }
        });

        let mut b = Berth { child, pid, addr, data_dir: data_dir.to_path_buf(), stderr_tail, export_line: Some(rx) };
        let to_readyz = match b.poll_ready(spawned).await {
            Ok(d) => d,
            Err(e) => {
                let tail = b.stderr_tail();
                b.stop().await;
                return Err(format!("{e}; berth stderr:\n{tail}"));
            }
        };
        let to_export = match tokio::time::timeout(READY_TIMEOUT, b.export_line.take().expect("set above")).await {
            Ok(Ok(t)) => t - spawned,
            _ => {
                let tail = b.stderr_tail();
                b.stop().await;
                return Err(format!("no `export KUBECONFIG=` line on stdout; berth stderr:\n{tail}"));
            }
        };
        Ok((b, Startup { to_readyz, to_export }))
    }

    async fn poll_ready(&mut self, spawned: Instant) -> Result<Duration> {
        let ca_path = self.data_dir.join("pki/ca.crt");
        let mut connector = None;
        let mut last_err = String::from("no attempt");
        let mut next = spawned;
        while spawned.elapsed() < READY_TIMEOUT {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("berth exited with {status} before becoming ready"));
            }
            if connector.is_none() {
                // The CA appears on disk during start-up and may be half-written when first
                // seen; a parse failure just means "not yet".
                if let Ok(pem) = std::fs::read_to_string(&ca_path) {
                    connector = client::tls_connector(&pem).ok();
                }
            }
            if let Some(c) = &connector {
                match client::probe_status(c, self.addr, "/readyz").await {
                    Ok(200) => return Ok(spawned.elapsed()),
                    Ok(s) => last_err = format!("HTTP {s}"),
                    Err(e) => last_err = e,
                }
            }
            next += POLL_INTERVAL;
            let now = Instant::now();
            if next > now {
                tokio::time::sleep(next - now).await;
            } else {
                // A slow attempt (e.g. a TLS handshake under load): poll again straight away.
                next = now;
            }
        }
        Err(format!("not ready within {READY_TIMEOUT:?} (last: {last_err})"))
    }

    /// An authenticated client endpoint for this server, from the files `berth up` wrote.
    pub fn endpoint(&self) -> Result<Endpoint> {
        let ca = std::fs::read_to_string(self.data_dir.join("pki/ca.crt")).map_err(|e| e.to_string())?;
        let token = std::fs::read_to_string(self.data_dir.join("pki/admin.token")).map_err(|e| e.to_string())?;
        Endpoint::new(self.addr, &ca, &token)
    }

    pub fn stderr_tail(&self) -> String {
        self.stderr_tail.lock().unwrap().join("\n")
    }

    /// Resident memory of the child, from /proc.
    pub fn memory(&self) -> Result<Memory> {
        read_memory(self.pid)
    }

    /// SIGTERM, then wait up to 10 s for a clean exit before killing. Returns how long the
    /// graceful shutdown took, if it was graceful.
    pub async fn stop(mut self) -> Option<Duration> {
        let t = Instant::now();
        // `kill` from procps rather than a libc binding: keeps the crate free of unsafe code
        // and extra dependencies, and a few ms of process spawn are not being measured here.
        let sent = Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status().await.map(|s| s.success()).unwrap_or(false);
        if sent {
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
                return Some(t.elapsed());
            }
        }
        let _ = self.child.kill().await;
        None
    }
}

/// CPU time (user + system, all threads) a process has used so far, from /proc/<pid>/stat.
/// Resolution is one clock tick (USER_HZ, 10 ms on Linux), fine over multi-second phases.
pub fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
    // The command name may contain spaces and parentheses; fields restart after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).ok_or("malformed /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).ok_or("malformed /proc stat");
    let ticks = tick(11)? + tick(12)?;
    const USER_HZ: u64 = 100;
    Ok(Duration::from_millis(ticks * 1000 / USER_HZ))
}

/// Server and benchmark-client CPU used over a phase, reported per operation: on a shared
/// 2-core machine this is steadier than throughput, and shows who is eating the cores.
pub struct CpuMeter {
    pid: u32,
    server: Duration,
    client: Duration,
}

impl CpuMeter {
    pub fn start(pid: u32) -> Result<Self> {
        Ok(CpuMeter { pid, server: cpu_time(pid)?, client: cpu_time(std::process::id())? })
    }

    /// `"93 µs / 41 µs"` per operation.
    pub fn finish(self, ops: usize) -> Result<String> {
        let server = cpu_time(self.pid)?.saturating_sub(self.server);
        let client = cpu_time(std::process::id())?.saturating_sub(self.client);
        let per = |d: Duration| fmt_dur(d / ops.max(1) as u32);
        Ok(format!("{} / {}", per(server), per(client)))
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Memory {
    pub rss_kb: u64,
    pub hwm_kb: u64,
}

fn read_memory(pid: u32) -> Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    let field = |name: &str| -> Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok(Memory { rss_kb: field("VmRSS:")?, hwm_kb: field("VmHWM:")? })
}
