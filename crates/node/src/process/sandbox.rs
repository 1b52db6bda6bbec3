//! The pod sandbox holder (`berth runtime sandbox POD_DIR HOSTNAME`), like the pause
//! container: it owns the pod's network, UTS and IPC namespaces and does nothing else, so the
//! namespaces live as long as the pod, whatever its containers do. It is not a child of the
//! agent (it forks and starts its own session), so pods survive an agent restart.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::sched::{unshare, CloneFlags};
use nix::unistd::{fork, pipe2, setsid, ForkResult};

pub fn pid_file(pod_dir: &Path) -> PathBuf {
    pod_dir.join("sandbox.pid")
}

/// Entry point of `berth runtime sandbox`; returns the first process's exit code after
/// printing `ok <pid>` or `err <message>`.
pub fn main(pod_dir: &Path, hostname: &str) -> i32 {
    let (r, w) = match pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => {
            println!("err pipe: {e}");
            return 1;
        }
    };
    // SAFETY: single-threaded at this point.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { .. }) => {
            drop(w);
            let mut s = String::new();
            let _ = File::from(r).read_to_string(&mut s);
            if s.is_empty() {
                s = "err the sandbox died while starting".into();
            }
            println!("{s}");
            if s.starts_with("ok ") { 0 } else { 1 }
        }
        Ok(ForkResult::Child) => {
            drop(r);
            let mut w = File::from(w);
            let _ = setsid();
            if let Ok(null) = OpenOptions::new().read(true).write(true).open("/dev/null") {
                for fd in 0..3 {
                    let _ = super::dup_onto(null.as_raw_fd(), fd);
                }
            }
            let setup = || -> Result<(), String> {
                unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC)
                    .map_err(|e| format!("creating the pod's namespaces (berth needs root): {e}"))?;
                nix::unistd::sethostname(hostname).map_err(|e| format!("setting the hostname: {e}"))?;
                std::fs::write(pid_file(pod_dir), std::process::id().to_string()).map_err(|e| format!("writing the pid file: {e}"))
            };
            match setup() {
                Ok(()) => {
                    let _ = write!(w, "ok {}", std::process::id());
                    drop(w);
                    // The holder doubles as the pod's self-fencing watchdog (see `fence`);
                    // SIGTERM/SIGKILL end it as before.
                    loop {
                        std::thread::sleep(super::fence::WATCHDOG_POLL);
                        super::fence::watchdog_tick(pod_dir);
                    }
                }
                Err(e) => {
                    let _ = write!(w, "err {e}");
                    std::process::exit(1)
                }
            }
        }
        Err(e) => {
            println!("err fork: {e}");
            1
        }
    }
}

/// Parse the `ok …` / `err …` line a helper prints.
pub fn parse_outcome(stdout: &[u8]) -> Result<Vec<i32>, String> {
    let s = String::from_utf8_lossy(stdout);
    let s = s.trim();
    match s.strip_prefix("ok ") {
        Some(rest) => rest.split_whitespace().map(|p| p.parse().map_err(|_| format!("bad helper output {s:?}"))).collect(),
        None => Err(s.strip_prefix("err ").unwrap_or(s).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_parse() {
        assert_eq!(parse_outcome(b"ok 12 34\n"), Ok(vec![12, 34]));
        assert_eq!(parse_outcome(b"err no root\n"), Err("no root".into()));
        assert!(parse_outcome(b"").is_err());
    }
}
