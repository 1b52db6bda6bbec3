//! Processes the runtime did not necessarily start in this incarnation of the agent: liveness
//! by PID, waiting for exit through a pidfd (works for non-children), killing a shim's session.

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The fields of `/proc/<pid>/stat` after the command name: (state, session id).
fn stat(pid: i32) -> Option<(char, i32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let session = f.nth(2)?.parse().ok()?;
    Some((state, session))
}

/// Is `pid` a live process (not a zombie)? PIDs whose parent never reaps them — the runtime's
/// helpers are re-parented to PID 1 — would otherwise look alive forever.
pub fn alive(pid: i32) -> bool {
    pid > 0 && matches!(stat(pid), Some((s, _)) if s != 'Z' && s != 'X')
}

/// Send `sig` to every process of session `sid` except `except`.
pub fn signal_session(sid: i32, sig: Signal, except: Option<i32>) {
    let Ok(dir) = std::fs::read_dir("/proc") else { return };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        if Some(pid) == except {
            continue;
        }
        if matches!(stat(pid), Some((_, s)) if s == sid) {
            let _ = kill(Pid::from_raw(pid), sig);
        }
    }
}

pub fn signal(pid: i32, sig: Signal) {
    if pid > 0 {
        let _ = kill(Pid::from_raw(pid), sig);
    }
}

/// Resolves when `pid` has exited (immediately if it is already gone).
pub async fn wait_exit(pid: i32) {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return;
    }
    // SAFETY: the fd was just returned by pidfd_open and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // A pidfd is readable once the process has exited, whoever its parent is.
    #[allow(deprecated)]
    let Ok(afd) = tokio::io::unix::AsyncFd::new(fd) else {
        // Not pollable (very old kernel): fall back to polling the PID.
        while alive(pid) {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        return;
    };
    loop {
        if !alive(pid) {
            return;
        }
        match afd.readable().await {
            Ok(mut g) => {
                g.clear_ready();
                if !alive(pid) {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

/// Read a PID file.
pub fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_in_its_session() {
        let me = std::process::id() as i32;
        assert!(alive(me));
        let (_, sid) = stat(me).unwrap();
        assert_eq!(sid, nix::unistd::getsid(None).unwrap().as_raw());
        assert!(!alive(0));
    }

    #[tokio::test]
    async fn wait_exit_sees_a_child_exit() {
        let child = std::process::Command::new("sleep").arg("0.2").spawn().unwrap();
        let pid = child.id() as i32;
        // Reap in the background so the pid does not stay a zombie.
        let t = std::thread::spawn(move || {
            let mut c = child;
            c.wait()
        });
        tokio::time::timeout(std::time::Duration::from_secs(5), wait_exit(pid)).await.expect("exit seen");
        t.join().unwrap().unwrap();
    }
}
