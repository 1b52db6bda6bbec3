//! The container shim (`berth runtime shim DIR RESTART`), like containerd's shim or conmon:
//! one per container instance, not a child of the agent, so the container outlives an agent
//! restart. It
//!
//! 1. forks; the first process waits for the outcome and prints `ok <shim-pid> <pid>` or
//!    `err <message>`, then exits (the agent waits only for this);
//! 2. the forked shim starts a session, forks the container process — which enters the pod's
//!    namespaces and its own root ([`super::rootfs::enter`]) and execs the command — writes
//!    `pid`, copies stdout/stderr into `<RESTART>.log` as CRI records, and when the container
//!    exits kills what is left of its session, writes `<RESTART>.exit` and removes `pid`.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{SecondsFormat, Utc};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, pipe2, setsid, ForkResult, Pid};

use super::logs::{record, LineSplitter};
use super::procs;
use super::spec::{ContainerSpec, ExitRecord, DEFAULT_PATH};

pub fn pid_file(dir: &Path) -> PathBuf {
    dir.join("pid")
}

pub fn shim_pid_file(dir: &Path) -> PathBuf {
    dir.join("shim.pid")
}

pub fn log_file(dir: &Path, restart: i32) -> PathBuf {
    dir.join(format!("{restart}.log"))
}

pub fn exit_file(dir: &Path, restart: i32) -> PathBuf {
    dir.join(format!("{restart}.exit"))
}

fn read_all(fd: OwnedFd) -> String {
    let mut s = String::new();
    let _ = File::from(fd).read_to_string(&mut s);
    s
}

/// Entry point of `berth runtime shim`. Returns the exit code of the first process.
pub fn main(dir: &Path, restart: i32) -> i32 {
    // A fenced node (heartbeat expired, see `fence`) starts no container.
    if dir.parent().and_then(Path::parent).and_then(super::fence::state_dir_of_pod).is_some_and(super::fence::expired_at) {
        println!("err the node is fenced: no Lease renewal within --auto-failover-after");
        return 1;
    }
    let spec: ContainerSpec = match fs::read(dir.join("spec.json")).map_err(|e| e.to_string()).and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string())) {
        Ok(s) => s,
        Err(e) => {
            println!("err reading spec.json: {e}");
            return 1;
        }
    };
    let (sync_r, sync_w) = match pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => {
            println!("err pipe: {e}");
            return 1;
        }
    };
    // SAFETY: the shim is single-threaded here (no runtime started), so forking is sound.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { .. }) => {
            drop(sync_w);
            let outcome = read_all(sync_r);
            let outcome = if outcome.is_empty() { "err the shim died while starting the container".to_string() } else { outcome };
            println!("{}", outcome.trim_end());
            if outcome.starts_with("ok ") { 0 } else { 1 }
        }
        Ok(ForkResult::Child) => {
            drop(sync_r);
            let code = daemon(dir, restart, &spec, sync_w);
            std::process::exit(code)
        }
        Err(e) => {
            println!("err fork: {e}");
            1
        }
    }
}

fn redirect_std_to_null() {
    if let Ok(null) = OpenOptions::new().read(true).write(true).open("/dev/null") {
        for fd in 0..3 {
            let _ = super::dup_onto(null.as_raw_fd(), fd);
        }
    }
}

fn daemon(dir: &Path, restart: i32, spec: &ContainerSpec, sync: OwnedFd) -> i32 {
    let _ = setsid();
    redirect_std_to_null();
    let mut sync = File::from(sync);
    let fail = |sync: &mut File, msg: String| {
        let _ = write!(sync, "err {msg}");
        1
    };
    let log = match OpenOptions::new().create(true).append(true).open(log_file(dir, restart)) {
        Ok(f) => Arc::new(Mutex::new(f)),
        Err(e) => return fail(&mut sync, format!("opening the log file: {e}")),
    };
    let me = std::process::id() as i32;
    let rootfs = PathBuf::from(format!("/tmp/.berth-root-{me}"));
    if let Err(e) = fs::create_dir_all(&rootfs) {
        return fail(&mut sync, format!("creating {}: {e}", rootfs.display()));
    }
    let pipes = (|| Ok::<_, nix::Error>((nix::unistd::pipe()?, nix::unistd::pipe()?, pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)))();
    let ((out_r, out_w), (err_r, err_w), (x_r, x_w)) = match pipes {
        Ok(p) => p,
        Err(e) => return fail(&mut sync, format!("pipe: {e}")),
    };
    // SAFETY: still single-threaded; the child only sets up mounts and execs.
    let child = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop((out_r, err_r, x_r));
            let msg = match exec_container(spec, &rootfs, &out_w, &err_w) {
                Err(m) => m,
                Ok(never) => match never {},
            };
            let mut x = File::from(x_w);
            let _ = x.write_all(msg.as_bytes());
            // SAFETY: _exit skips the parent's atexit handlers and buffers, as a child must.
            unsafe { libc::_exit(127) }
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => return fail(&mut sync, format!("fork: {e}")),
    };
    drop((out_w, err_w, x_w));
    let exec_error = read_all(x_r);
    let _ = fs::remove_dir(&rootfs);
    if !exec_error.is_empty() {
        let _ = waitpid(child, None);
        return fail(&mut sync, exec_error);
    }
    let _ = fs::write(pid_file(dir), child.as_raw().to_string());
    let _ = write!(sync, "ok {me} {}", child.as_raw());
    drop(sync);

    let pumps: Vec<_> = [(out_r, "stdout"), (err_r, "stderr")]
        .into_iter()
        .map(|(fd, stream)| {
            let log = log.clone();
            std::thread::spawn(move || pump(File::from(fd), stream, &log))
        })
        .collect();
    let (exit_code, signal) = wait_for(child);
    // Like the end of a container's PID namespace: nothing it started outlives it.
    procs::signal_session(me, Signal::SIGKILL, Some(me));
    for p in pumps {
        let _ = p.join();
    }
    let rec = ExitRecord { exit_code, signal, finished_at: Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true) };
    let tmp = dir.join(format!("{restart}.exit.tmp"));
    if fs::write(&tmp, serde_json::to_vec(&rec).unwrap_or_default()).is_ok() {
        let _ = fs::rename(&tmp, exit_file(dir, restart));
    }
    let _ = fs::remove_file(pid_file(dir));
    0
}

fn wait_for(child: Pid) -> (i32, Option<i32>) {
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => return (code, None),
            Ok(WaitStatus::Signaled(_, sig, _)) => return (128 + sig as i32, Some(sig as i32)),
            Ok(_) => continue,
            Err(nix::Error::EINTR) => continue,
            Err(_) => return (255, None),
        }
    }
}

fn pump(mut from: File, stream: &str, log: &Mutex<File>) {
    let mut split = LineSplitter::default();
    let mut buf = vec![0u8; 8192];
    let write = |line: &[u8], partial: bool| {
        if let Ok(mut f) = log.lock() {
            let _ = f.write_all(&record(Utc::now(), stream, line, partial));
        }
    };
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                for (line, partial) in split.push(&buf[..n]) {
                    write(&line, partial);
                }
            }
        }
    }
    if let Some(rest) = split.finish() {
        write(&rest, false);
    }
}

/// In the forked child: enter the container and exec; returns only on failure.
fn exec_container(spec: &ContainerSpec, rootfs: &Path, out: &OwnedFd, err: &OwnedFd) -> Result<std::convert::Infallible, String> {
    // Before the container's own root hides the host's cgroupfs.
    if let Some(cg) = &spec.cgroup {
        super::cgroup::join(Path::new(cg))?;
    }
    super::rootfs::enter(spec, rootfs)?;
    let null = File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
    super::dup_onto(null.as_raw_fd(), 0).map_err(|e| format!("dup2: {e}"))?;
    super::dup_onto(out.as_raw_fd(), 1).map_err(|e| format!("dup2: {e}"))?;
    super::dup_onto(err.as_raw_fd(), 2).map_err(|e| format!("dup2: {e}"))?;
    let path = spec.env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.as_str()).unwrap_or(DEFAULT_PATH);
    let argv0 = spec.argv.first().ok_or("the container has no command")?;
    let program = resolve(argv0, path).ok_or_else(|| {
        format!("exec: {argv0:?}: executable file not found in $PATH")
    })?;
    let c = |s: &str| std::ffi::CString::new(s).map_err(|_| format!("{s:?} contains a NUL byte"));
    let argv = spec.argv.iter().map(|a| c(a)).collect::<Result<Vec<_>, _>>()?;
    let env = spec.env.iter().map(|(k, v)| c(&format!("{k}={v}"))).collect::<Result<Vec<_>, _>>()?;
    let e = nix::unistd::execve(&c(&program.to_string_lossy())?, &argv, &env).unwrap_err();
    Err(format!("exec {argv0:?}: {e}"))
}

/// `execvp`'s lookup, against the container's PATH rather than the shim's.
fn resolve(argv0: &str, path: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if argv0.contains('/') {
        return Some(PathBuf::from(argv0));
    }
    path.split(':').map(|d| Path::new(d).join(argv0)).find(|p| {
        fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_searches_path() {
        assert_eq!(resolve("/x/y", "/bin"), Some(PathBuf::from("/x/y")));
        assert!(resolve("sh", DEFAULT_PATH).is_some());
        assert_eq!(resolve("no-such-program-berth", DEFAULT_PATH), None);
    }
}
