//! The process runtime: pods as namespaced Linux processes.
//!
//! ```text
//! agent ──spawns──► berth runtime sandbox POD_DIR HOSTNAME   (forks, setsid; holds net/uts/ipc ns)
//!       ──spawns──► berth runtime shim CONTAINER_DIR N       (forks, setsid; per container instance)
//!                       └─fork─► container: setns(sandbox ns) + own mount ns + pivot_root + exec
//! ```
//!
//! Neither helper stays a child of the agent, so pods survive an agent restart; the agent
//! re-adopts them from the PID files in its state dir (see NODE-CONTRACT: `pid`, logs).
//! Requires root (namespaces, mounts, links) and iproute2's `ip`.

pub mod cgroup;
pub mod fence;
pub mod ipam;
pub mod logs;
pub mod masq;
pub mod net;
pub mod procs;
pub mod rootfs;
pub mod routes;
pub mod sandbox;
pub mod shim;
pub mod spec;

/// `dup2(src, dst)` on raw descriptors: used between fork and exec to point a child's standard
/// streams somewhere, where nix's owned-descriptor `dup2` doesn't fit.
pub(crate) fn dup_onto(src: std::os::fd::RawFd, dst: std::os::fd::RawFd) -> nix::Result<()> {
    // SAFETY: dup2 only manipulates the descriptor table; both are plain integers here.
    nix::errno::Errno::result(unsafe { libc::dup2(src, dst) }).map(drop)
}
