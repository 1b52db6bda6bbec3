//! Starting a command inside a running container: the namespaces, root, working directory
//! and environment of its main process (`/proc/<pid>/…`), with pipes or a pseudo-terminal.
//!
//! Everything that can allocate or fail slowly (opening namespace files, reading the
//! environment) happens before the fork; the `pre_exec` hook only makes raw system calls,
//! as code between fork and exec in a multi-threaded process must.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;
use std::process::Stdio;

/// Namespaces entered, in order; the mount namespace last because entering it changes what
/// paths mean (the files are opened beforehand anyway).
const NAMESPACES: &[(&str, libc::c_int)] = &[
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("pid", libc::CLONE_NEWPID),
    ("mnt", libc::CLONE_NEWNS),
];

/// What must be opened before forking to put a child into the container of `pid`.
pub struct Target {
    namespaces: Vec<(OwnedFd, libc::c_int)>,
    enters_pid_ns: bool,
    /// The container's root, when it differs from ours.
    root: Option<File>,
    cwd: File,
    env: Vec<(OsString, OsString)>,
    /// The main process's identity, taken on by the command (as a runtime's exec does).
    ids: Identity,
}

/// Effective user and groups of a process, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

/// Parse the `Uid:`, `Gid:` (real, effective, saved, fs: the effective one counts) and
/// `Groups:` lines of `/proc/<pid>/status`.
pub fn parse_identity(status: &str) -> Option<Identity> {
    let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).map(str::split_whitespace);
    let uid = field("Uid:")?.nth(1)?.parse().ok()?;
    let gid = field("Gid:")?.nth(1)?.parse().ok()?;
    let groups = field("Groups:").map(|g| g.filter_map(|x| x.parse().ok()).collect()).unwrap_or_default();
    Some(Identity { uid, gid, groups })
}

fn same_file(a: &str, b: &str) -> io::Result<bool> {
    let (ma, mb) = (std::fs::metadata(a)?, std::fs::metadata(b)?);
    Ok(ma.dev() == mb.dev() && ma.ino() == mb.ino())
}

impl Target {
    /// Open the namespaces, root and cwd of process `pid` and read its environment.
    /// Namespaces we already share are skipped, so this also works without privileges for
    /// a process in our own namespaces.
    pub fn of(pid: i32) -> io::Result<Target> {
        let mut namespaces = Vec::new();
        let mut enters_pid_ns = false;
        for (name, flag) in NAMESPACES {
            let theirs = format!("/proc/{pid}/ns/{name}");
            if same_file(&theirs, &format!("/proc/self/ns/{name}"))? {
                continue;
            }
            enters_pid_ns |= *flag == libc::CLONE_NEWPID;
            namespaces.push((File::open(&theirs)?.into(), *flag));
        }
        let root_path = format!("/proc/{pid}/root");
        let root = if same_file(&root_path, "/")? { None } else { Some(File::open(&root_path)?) };
        let cwd = File::open(format!("/proc/{pid}/cwd"))?;
        let env = parse_environ(&std::fs::read(format!("/proc/{pid}/environ"))?);
        let ids = parse_identity(&std::fs::read_to_string(format!("/proc/{pid}/status"))?)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("/proc/{pid}/status: no Uid/Gid")))?;
        Ok(Target { namespaces, enters_pid_ns, root, cwd, env, ids })
    }

    /// A command that runs `argv` in the container with its environment. `tty` makes the
    /// child a session leader with stdin as its controlling terminal.
    pub fn command(&self, argv: &[String], tty: bool) -> io::Result<tokio::process::Command> {
        let Some((program, args)) = argv.split_first() else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "command is empty"));
        };
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args).env_clear().envs(self.env.iter().cloned()).kill_on_drop(true);
        let ns: Vec<(libc::c_int, libc::c_int)> = self.namespaces.iter().map(|(fd, f)| (fd.as_raw_fd(), *f)).collect();
        let root = self.root.as_ref().map(|f| f.as_raw_fd());
        let cwd = self.cwd.as_raw_fd();
        let fork_for_pid_ns = self.enters_pid_ns;
        // Switch identity only when it differs: an unprivileged caller exec-ing into its own
        // process could not call setgroups.
        let me = unsafe { (libc::geteuid(), libc::getegid()) };
        let ids = (me != (self.ids.uid, self.ids.gid)).then(|| self.ids.clone());
        // SAFETY: the hook only makes async-signal-safe system calls on values prepared
        // before the fork; it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                enter(&ns, root, cwd, fork_for_pid_ns, tty)?;
                if let Some(ids) = &ids {
                    check(libc::setgroups(ids.groups.len(), ids.groups.as_ptr()))?;
                    check(libc::setgid(ids.gid))?;
                    check(libc::setuid(ids.uid))?;
                }
                Ok(())
            });
        }
        Ok(cmd)
    }
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Runs in the forked child, before exec.
fn enter(ns: &[(libc::c_int, libc::c_int)], root: Option<libc::c_int>, cwd: libc::c_int, fork_for_pid_ns: bool, tty: bool) -> io::Result<()> {
    unsafe {
        for &(fd, flag) in ns {
            check(libc::setns(fd, flag))?;
        }
        if let Some(root) = root {
            check(libc::fchdir(root))?;
            check(libc::chroot(c".".as_ptr()))?;
        }
        check(libc::fchdir(cwd))?;
        if fork_for_pid_ns {
            // Joining a PID namespace only applies to children: fork once more. The middle
            // process waits and passes the exit status on; the command dies with it.
            let child = libc::fork();
            if child < 0 {
                return Err(io::Error::last_os_error());
            }
            if child > 0 {
                // Hold no descriptor but stdio, so the spawner sees exec succeed as soon as
                // the grandchild's close-on-exec descriptors close.
                libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
                let mut status = 0;
                while libc::waitpid(child, &mut status, 0) < 0 {}
                let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 128 + libc::WTERMSIG(status) };
                libc::_exit(code);
            }
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            // The middle process lives outside the namespace, so it shows as PID 0; had it
            // died before the prctl, we would have been given to the namespace's init.
            if libc::getppid() != 0 {
                libc::_exit(137);
            }
        }
        if tty {
            check(libc::setsid())?;
            check(libc::ioctl(0, libc::TIOCSCTTY as _, 0))?;
        }
    }
    Ok(())
}

/// `/proc/<pid>/environ`: NUL-separated `KEY=value` entries.
pub fn parse_environ(data: &[u8]) -> Vec<(OsString, OsString)> {
    data.split(|b| *b == 0)
        .filter(|e| !e.is_empty())
        .filter_map(|e| {
            let eq = e.iter().position(|b| *b == b'=')?;
            Some((OsString::from_vec(e[..eq].to_vec()), OsString::from_vec(e[eq + 1..].to_vec())))
        })
        .collect()
}

/// A pseudo-terminal: the master side for us, three copies of the slave for the child.
pub struct Pty {
    pub master: File,
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
}

pub fn open_pty() -> io::Result<Pty> {
    let p = nix::pty::openpty(None, None).map_err(io::Error::from)?;
    let slave = File::from(p.slave);
    let master = File::from(p.master);
    // The master must not leak into the child.
    unsafe { check(libc::fcntl(master.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC))? };
    Ok(Pty {
        stdin: Stdio::from(slave.try_clone()?),
        stdout: Stdio::from(slave.try_clone()?),
        stderr: Stdio::from(slave),
        master,
    })
}

/// Apply a terminal size sent on the resize channel.
pub fn resize(master: &File, width: u16, height: u16) -> io::Result<()> {
    let ws = libc::winsize { ws_row: height, ws_col: width, ws_xpixel: 0, ws_ypixel: 0 };
    unsafe { check(libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_the_effective_one() {
        let st = "Name:\tsleep\nUid:\t0\t1000\t1000\t1000\nGid:\t5\t100\t100\t100\nGroups:\t4 27 \n";
        assert_eq!(parse_identity(st), Some(Identity { uid: 1000, gid: 100, groups: vec![4, 27] }));
        assert_eq!(parse_identity("Name: x\n"), None);
    }

    #[test]
    fn environ_is_split_on_nul_and_first_equals() {
        let env = parse_environ(b"A=1\0PATH=/bin:/usr/bin\0X=a=b\0\0junk\0");
        let env: Vec<(String, String)> =
            env.into_iter().map(|(k, v)| (k.into_string().unwrap(), v.into_string().unwrap())).collect();
        assert_eq!(
            env,
            vec![("A".into(), "1".into()), ("PATH".into(), "/bin:/usr/bin".into()), ("X".into(), "a=b".into())]
        );
    }
}
