//! Stopping what the runtime started, from the state dir alone: one pod (orphan cleanup) or a
//! whole node (`berth up` shutting down), so that nothing outlives the cluster.

use std::path::Path;

use nix::sys::signal::Signal;

use crate::process::ipam::Ipam;
use crate::process::cgroup::{self, Cgroups};
use crate::process::{net, procs, sandbox, shim};

/// SIGKILL every process of the pod in `dir` (each shim's whole session, the sandbox holder),
/// drop its veth and remove its state.
fn kill_pod(dir: &Path, uid: &str) {
    for c in std::fs::read_dir(dir.join("containers")).into_iter().flatten().flatten() {
        if let Some(shim_pid) = procs::read_pid(&shim::shim_pid_file(&c.path())).filter(|p| procs::alive(*p)) {
            procs::signal_session(shim_pid, Signal::SIGKILL, None);
        }
    }
    if let Some(pid) = procs::read_pid(&sandbox::pid_file(dir)).filter(|p| procs::alive(*p)) {
        procs::signal(pid, Signal::SIGKILL);
    }
    net::delete_link_blocking(&net::host_veth_name(uid));
    crate::agent::nfs::unmount_under(dir);
    let _ = std::fs::remove_dir_all(dir);
}

/// Kill a pod's containers and sandbox, free its address and remove its state.
pub fn pod(state_dir: &Path, uid: &str, ipam: &Ipam) {
    kill_pod(&state_dir.join("pods").join(uid), uid);
    ipam.release(uid);
    if let Some(cg) = Cgroups::host() {
        cg.remove_pod(&cgroup::node_key(state_dir), uid);
    }
}

/// Tear down every pod of the node at `state_dir` and its bridge. The agent must be stopped.
pub fn node(state_dir: &Path) {
    let ipam_dir = state_dir.join("ipam");
    for e in std::fs::read_dir(state_dir.join("pods")).into_iter().flatten().flatten() {
        kill_pod(&e.path(), &e.file_name().to_string_lossy());
    }
    let _ = std::fs::remove_dir_all(ipam_dir);
    net::delete_link_blocking(&net::bridge_name(state_dir));
    if let Some(cg) = Cgroups::host() {
        cg.remove_node(&cgroup::node_key(state_dir));
    }
}
