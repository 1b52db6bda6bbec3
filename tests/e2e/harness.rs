//! A real berth cluster for a test: `berth up` on a free loopback port with a temporary data
//! directory, driven by the real kubectl with its own cache directory.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct Cluster {
    pub dir: tempfile::TempDir,
    /// Extra `berth up` flags, kept for restarts.
    extra: Vec<String>,
    pub port: u16,
    /// The address `--listen` binds (with `port`): loopback unless the test says otherwise.
    pub listen_ip: String,
    child: Option<Child>,
    cache: tempfile::TempDir,
    /// `up`, or `server` for a server joining another's cluster ([`Cluster::join`]).
    command: &'static str,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn kubectl_binary() -> String {
    std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".to_string())
}

impl Cluster {
    pub fn start() -> Cluster {
        Cluster::start_with(&[])
    }

    /// `berth up` with extra flags, e.g. `["--disable", "scheduler"]` for a test that runs its
    /// own copy of a component in-process.
    pub fn start_with(extra: &[&str]) -> Cluster {
        Cluster::start_listening("127.0.0.1", extra)
    }

    /// `berth up --listen <ip>:<free port>`: for tests whose nodes reach the API server from
    /// other (simulated) hosts. The port is free on loopback, so almost surely on `ip` too.
    pub fn start_listening(ip: &str, extra: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Cluster {
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            port: free_port(),
            listen_ip: ip.to_string(),
            child: None,
            cache: tempfile::tempdir().unwrap(),
            command: "up",
        };
        c.boot();
        c
    }

    /// A second API server for the same cluster: `berth server` with `extra` flags (the same
    /// `--etcd-endpoints`) on a data dir holding a copy of this one's `pki/`, as a user copies
    /// the credentials to another control-plane host.
    pub fn join(&self, extra: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("cp").arg("-a").arg(self.dir.path().join("pki")).arg(dir.path()).status().unwrap();
        assert!(status.success(), "copying pki/");
        let mut c = Cluster {
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            port: free_port(),
            listen_ip: self.listen_ip.clone(),
            child: None,
            cache: tempfile::tempdir().unwrap(),
            command: "server",
        };
        c.boot();
        c
    }

    /// Replace the extra `berth up` flags for the next [`Cluster::boot`] (e.g. to restart the
    /// same data directory on another store).
    pub fn set_flags(&mut self, extra: &[&str]) {
        self.extra = extra.iter().map(|s| s.to_string()).collect();
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig.yaml")
    }

    /// Start `berth up` and wait for its `export KUBECONFIG=` line.
    pub fn boot(&mut self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args([self.command, "--data-dir"])
            .arg(self.dir.path())
            .args(["--listen", &format!("{}:{}", self.listen_ip, self.port)])
            .args(&self.extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start berth");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.starts_with("export KUBECONFIG=") => {
                    assert_eq!(line, format!("export KUBECONFIG={}", self.kubeconfig().display()));
                    break;
                }
                Ok(_) => continue,
                Err(_) => panic!("berth {} did not print export KUBECONFIG= within 60 s", self.command),
            }
        }
        self.child = Some(child);
    }

    /// SIGKILL the server (no chance to clean up) and wait for it to be gone.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait; returns whether it exited successfully.
    pub fn stop(&mut self) -> bool {
        match self.child.take() {
            Some(mut c) => {
                unsafe_sigterm(c.id());
                c.wait().map(|s| s.success()).unwrap_or(false)
            }
            None => true,
        }
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(kubectl_binary())
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run kubectl")
    }

    /// Run kubectl, require success, return stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "kubectl {args:?} failed\nstdout: {stdout}\nstderr: {stderr}");
        stdout
    }

    /// Run kubectl, require failure, return stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success(), "kubectl {args:?} unexpectedly succeeded\nstdout: {stdout}");
        stderr
    }

    /// Write a manifest into the data dir's scratch area and return its path.
    pub fn manifest(&self, name: &str, yaml: &str) -> String {
        let p = self.cache.path().join(name);
        std::fs::write(&p, yaml).unwrap();
        p.to_string_lossy().to_string()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&a)).expect("kubectl -o json prints JSON")
    }
}

fn unsafe_sigterm(pid: u32) {
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Rows of `kubectl get` output as whitespace-split columns.
pub fn rows(out: &str) -> Vec<Vec<String>> {
    out.lines().map(|l| l.split_whitespace().map(str::to_string).collect()).collect()
}

/// Poll `f` until it returns true or the timeout passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
