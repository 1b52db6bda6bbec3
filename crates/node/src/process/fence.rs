//! Self-fencing for automatic failover (`--auto-failover-after F`): pods must not outlive
//! their node's contact with the control plane by more than F, even when the agent itself is
//! frozen or dead — pods outlive their agent by design.
//!
//! The agent writes `<state-dir>/heartbeat` after every successful Lease renewal:
//! `<sent> <period>` in milliseconds of CLOCK_BOOTTIME, where `sent` is when the renewal
//! request was *sent* (never later than the API server accepting it, so never later than the
//! control plane seeing it) and `period` is F. Every pod's sandbox holder runs a watchdog
//! ([`watchdog_tick`]): once `now > sent + period` it SIGKILLs the pod's containers, and the
//! shim refuses to start a container while the heartbeat is expired ([`expired_at`]). Both
//! run outside the agent, on the node's own monotonic clock (no clock sync needed on the node;
//! suspend time counts). An agent restart inside F kills nothing: the file stays fresh.
//! Without the file (failover off) nothing is ever fenced.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;

use super::{procs, shim};

pub const HEARTBEAT_FILE: &str = "heartbeat";
/// How often the sandbox watchdog looks at the heartbeat (part of the control plane's margin).
pub const WATCHDOG_POLL: Duration = Duration::from_millis(200);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    pub sent_ms: u64,
    pub period_ms: u64,
}

impl Heartbeat {
    /// Expired at `now_ms`: the pod's containers must be dead.
    pub fn expired(&self, now_ms: u64) -> bool {
        self.period_ms > 0 && now_ms > self.sent_ms.saturating_add(self.period_ms)
    }

    fn parse(s: &str) -> Option<Heartbeat> {
        let mut f = s.split_whitespace().map(|x| x.parse::<u64>().ok());
        Some(Heartbeat { sent_ms: f.next()??, period_ms: f.next()?? })
    }
}

/// Milliseconds of CLOCK_BOOTTIME (monotonic, counts suspend).
pub fn boottime_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

pub fn heartbeat_path(state_dir: &Path) -> PathBuf {
    state_dir.join(HEARTBEAT_FILE)
}

/// Write the heartbeat atomically (a reader never sees half a file).
pub fn write(state_dir: &Path, hb: Heartbeat) -> std::io::Result<()> {
    let tmp = state_dir.join(".heartbeat.tmp");
    std::fs::write(&tmp, format!("{} {}\n", hb.sent_ms, hb.period_ms))?;
    std::fs::rename(tmp, heartbeat_path(state_dir))
}

pub fn read(state_dir: &Path) -> Option<Heartbeat> {
    Heartbeat::parse(&std::fs::read_to_string(heartbeat_path(state_dir)).ok()?)
}

/// Whether the node at `state_dir` is fenced now.
pub fn expired_at(state_dir: &Path) -> bool {
    read(state_dir).is_some_and(|hb| hb.expired(boottime_ms()))
}

/// The node state dir of a pod dir (`<state>/pods/<uid>`).
pub fn state_dir_of_pod(pod_dir: &Path) -> Option<&Path> {
    pod_dir.parent()?.parent()
}

/// One watchdog look (the sandbox holder calls it every [`WATCHDOG_POLL`]): if the heartbeat
/// expired, SIGKILL every container of the pod (each shim's session). Returns whether it did.
pub fn watchdog_tick(pod_dir: &Path) -> bool {
    let Some(state) = state_dir_of_pod(pod_dir) else { return false };
    if !expired_at(state) {
        return false;
    }
    let mut killed = false;
    for c in std::fs::read_dir(pod_dir.join("containers")).into_iter().flatten().flatten() {
        if let Some(shim_pid) = procs::read_pid(&shim::shim_pid_file(&c.path())).filter(|p| procs::alive(*p)) {
            procs::signal_session(shim_pid, Signal::SIGKILL, None);
            killed = true;
        }
    }
    killed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heartbeat_expires_after_its_period_and_never_without_one() {
        let hb = Heartbeat { sent_ms: 10_000, period_ms: 3_000 };
        assert!(!hb.expired(13_000));
        assert!(hb.expired(13_001));
        assert!(!Heartbeat { sent_ms: 0, period_ms: 0 }.expired(u64::MAX));
        assert_eq!(Heartbeat::parse("10000 3000\n"), Some(hb));
        assert_eq!(Heartbeat::parse("garbage"), None);
    }

    #[test]
    fn the_file_round_trips_and_a_missing_file_never_fences() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!expired_at(dir.path()));
        write(dir.path(), Heartbeat { sent_ms: boottime_ms(), period_ms: 60_000 }).unwrap();
        assert!(!expired_at(dir.path()));
        write(dir.path(), Heartbeat { sent_ms: 1, period_ms: 1 }).unwrap();
        assert!(expired_at(dir.path()));
        let pod = dir.path().join("pods").join("uid-1");
        assert_eq!(state_dir_of_pod(&pod), Some(dir.path()));
    }
}
