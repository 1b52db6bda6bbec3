//! A throwaway etcd for tests: started on free loopback ports in its own temporary directory,
//! killed (by its PID, through the child handle) and removed when dropped.
//!
//! The binary is `$BERTH_ETCD` or `etcd` on `PATH` (Debian's `etcd-server` package). Without it
//! [`EtcdServer::start_or_skip`] fails under CI (`CI=true`, where `.ci/run` installs it) and
//! skips elsewhere, so a developer without etcd still runs the rest of the suite.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::{EtcdOptions, EtcdStore};

pub use super::test_pki::{write_ca, TestPki};

pub struct EtcdServer {
    child: Child,
    dir: PathBuf,
    endpoint: String,
    binary: PathBuf,
    /// Client and peer ports, kept for a restart.
    ports: (u16, u16),
    /// With TLS: the certificates etcd serves with and requires of clients.
    pki: Option<TestPki>,
}

fn spawn(
    binary: &PathBuf,
    dir: &std::path::Path,
    client: u16,
    peer: u16,
    pki: Option<&TestPki>,
) -> Result<Child, String> {
    let scheme = if pki.is_some() { "https" } else { "http" };
    let endpoint = format!("{scheme}://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("etcd.log"))
        .map_err(|e| e.to_string())?;
    let mut command = Command::new(binary);
    if let Some(pki) = pki {
        // Clients must present a certificate signed by the CA, as kube-apiserver's etcd does.
        command
            .arg("--cert-file")
            .arg(&pki.server_cert)
            .arg("--key-file")
            .arg(&pki.server_key)
            .arg("--trusted-ca-file")
            .arg(&pki.ca_cert)
            .arg("--client-cert-auth");
    }
    command
        .args(["--name", "berth-test", "--data-dir"])
        .arg(dir.join("data"))
        .args(["--listen-client-urls", &endpoint, "--advertise-client-urls", &endpoint])
        .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
        .args(["--initial-cluster", &format!("berth-test={peer_url}")])
        .args(["--log-level", "warn"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("running {}: {e}", binary.display()))
}

/// The etcd binary, if any.
pub fn etcd_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("BERTH_ETCD") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("etcd"))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl EtcdServer {
    /// Starts etcd, or returns `None` (after saying why) when there is none outside CI.
    pub async fn start_or_skip() -> Option<EtcdServer> {
        Self::start_or_skip_with(false).await
    }

    /// The same with TLS: an `https://` client URL, a fresh CA and client certificate
    /// authentication ([`EtcdServer::options`] carries the client certificate).
    pub async fn start_tls_or_skip() -> Option<EtcdServer> {
        Self::start_or_skip_with(true).await
    }

    async fn start_or_skip_with(tls: bool) -> Option<EtcdServer> {
        let Some(binary) = etcd_binary() else {
            let message = "no `etcd` binary (install Debian's etcd-server or set BERTH_ETCD)";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{message}: the etcd store tests must run under CI");
            }
            eprintln!("skipping: {message}");
            return None;
        };
        // A port picked free may be taken again before etcd binds it: try a few times.
        let mut last_error = String::new();
        for _ in 0..3 {
            match EtcdServer::start(&binary, tls).await {
                Ok(server) => return Some(server),
                Err(e) => last_error = e,
            }
        }
        panic!("etcd did not start: {last_error}");
    }

    async fn start(binary: &PathBuf, tls: bool) -> Result<EtcdServer, String> {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "berth-etcd-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let (client, peer) = (free_port(), free_port());
        let pki = match tls {
            true => Some(TestPki::generate(&dir.join("pki"))?),
            false => None,
        };
        let scheme = if tls { "https" } else { "http" };
        let mut server = EtcdServer {
            child: spawn(binary, &dir, client, peer, pki.as_ref())?,
            dir,
            endpoint: format!("{scheme}://127.0.0.1:{client}"),
            binary: binary.clone(),
            ports: (client, peer),
            pki,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("etcd exited ({status}): {}", self.log_tail()));
            }
            let mut options = self.options();
            options.timeout = Duration::from_secs(2);
            if EtcdStore::connect(options).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("etcd not ready after 30s: {}", self.log_tail()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills etcd (keeping its data), as an outage would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the killed etcd again on the same ports and data.
    pub async fn restart(&mut self) {
        self.kill();
        let (client, peer) = self.ports;
        self.child = spawn(&self.binary, &self.dir, client, peer, self.pki.as_ref())
            .expect("respawning etcd");
        if let Err(e) = self.wait_ready().await {
            panic!("etcd did not come back: {e}");
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Options for a store on this server (with TLS: its CA and a client certificate).
    pub fn options(&self) -> EtcdOptions {
        let mut options = EtcdOptions::new(vec![self.endpoint.clone()]);
        if let Some(pki) = &self.pki {
            options.tls = pki.client_tls();
        }
        options
    }

    /// The certificates of a TLS server.
    pub fn pki(&self) -> Option<&TestPki> {
        self.pki.as_ref()
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("etcd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
