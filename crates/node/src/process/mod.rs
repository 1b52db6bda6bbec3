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

pub mod ipam;
pub mod logs;
pub mod net;
pub mod procs;
pub mod rootfs;
pub mod sandbox;
pub mod shim;
pub mod spec;
