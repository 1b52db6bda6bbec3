//! NFS volumes (a pod's `nfs` volume or a PV's `spec.nfs`): mounted on the host under the pod's
//! state dir with the system's NFS client (`mount -t nfs`, which needs `mount.nfs`), then bound
//! into containers like any other volume; unmounted when the pod's sandbox goes away. Failures
//! read as upstream's mount errors (`mount failed: …`, `Mounting command: …`) and become the
//! worker's `FailedMount` event.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the system's NFS mount helper lives (nfs-common / nfs-utils).
const HELPERS: [&str; 3] = ["/sbin/mount.nfs", "/usr/sbin/mount.nfs", "/usr/bin/mount.nfs"];

/// How long one mount attempt may take before it counts as failed (the pod worker retries).
const MOUNT_TIMEOUT: Duration = Duration::from_secs(30);

pub fn helper() -> Option<PathBuf> {
    HELPERS.iter().map(PathBuf::from).find(|p| p.exists())
}

/// `mount`'s arguments for an NFS export at `target`.
pub fn mount_args(server: &str, path: &str, read_only: bool, options: &[String], target: &Path) -> Vec<String> {
    let mut opts: Vec<String> = options.to_vec();
    if read_only {
        opts.push("ro".into());
    }
    let mut args = vec!["-t".to_string(), "nfs".to_string()];
    if !opts.is_empty() {
        args.extend(["-o".to_string(), opts.join(",")]);
    }
    // IPv6 servers are written in brackets, as upstream does.
    let host = if server.contains(':') && !server.starts_with('[') { format!("[{server}]") } else { server.to_string() };
    args.push(format!("{host}:{path}"));
    args.push(target.to_string_lossy().into_owned());
    args
}

fn failure(why: &str, args: &[String], output: &str) -> String {
    format!("mount failed: {why}\nMounting command: mount\nMounting arguments: {}\nOutput: {output}", args.join(" "))
}

/// Mount the export at `target` (created if missing); Ok when it is already mounted there.
pub async fn mount(server: &str, path: &str, read_only: bool, options: &[String], target: &Path) -> Result<(), String> {
    let args = mount_args(server, path, read_only, options, target);
    if helper().is_none() {
        return Err(failure("this node has no NFS client", &args, "mount.nfs not found (looked in /sbin, /usr/sbin, /usr/bin); install nfs-common"));
    }
    std::fs::create_dir_all(target).map_err(|e| format!("creating {}: {e}", target.display()))?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if mounts_under(&mountinfo, target).iter().any(|m| Path::new(m) == target) {
        return Ok(());
    }
    let child = tokio::process::Command::new("mount").args(&args).stdin(std::process::Stdio::null()).kill_on_drop(true).output();
    match tokio::time::timeout(MOUNT_TIMEOUT, child).await {
        Err(_) => Err(failure(&format!("timed out after {}s", MOUNT_TIMEOUT.as_secs()), &args, "")),
        Ok(Err(e)) => Err(failure(&e.to_string(), &args, "")),
        Ok(Ok(o)) if o.status.success() => Ok(()),
        Ok(Ok(o)) => {
            let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
            Err(failure(&format!("exit status {}", o.status.code().unwrap_or(-1)), &args, &out))
        }
    }
}

/// Mount points at or below `dir` in a `/proc/<pid>/mountinfo` text, deepest first.
pub fn mounts_under(mountinfo: &str, dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
        .filter(|m| Path::new(m).starts_with(dir))
        .collect();
    out.sort_by_key(|m| std::cmp::Reverse(m.len()));
    out.dedup();
    out
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Detach every mount under a pod's state dir (its NFS volumes) so that removing the dir can
/// never reach into a remote export.
pub fn unmount_under(pod_dir: &Path) {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for m in mounts_under(&mountinfo, pod_dir) {
        if let Err(e) = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH) {
            tracing::warn!(mount = %m, error = %e, "unmounting a pod volume failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_arguments() {
        let t = Path::new("/d/pods/u/volumes/data");
        assert_eq!(mount_args("10.0.0.9", "/exports", false, &[], t), ["-t", "nfs", "10.0.0.9:/exports", "/d/pods/u/volumes/data"]);
        assert_eq!(mount_args("fd00::1", "/x", true, &["nfsvers=4.1".into()], t), ["-t", "nfs", "-o", "nfsvers=4.1,ro", "[fd00::1]:/x", "/d/pods/u/volumes/data"]);
    }

    #[test]
    fn finds_mounts_below_a_dir() {
        let info = "22 1 0:21 / / rw - ext4 /dev/sda rw\n\
                    40 22 0:50 / /d/pods/u/volumes/data rw - nfs 1.2.3.4:/e rw\n\
                    41 40 0:51 / /d/pods/u/volumes/data/sub\\040dir rw - nfs 1.2.3.4:/f rw\n\
                    42 22 0:52 / /d/pods/u2/volumes/x rw - nfs 1.2.3.4:/g rw\n";
        assert_eq!(mounts_under(info, Path::new("/d/pods/u")), ["/d/pods/u/volumes/data/sub dir", "/d/pods/u/volumes/data"]);
        assert!(mounts_under(info, Path::new("/d/pods/u3")).is_empty());
    }
}
