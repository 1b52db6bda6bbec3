//! Stopping what the runtime started, from the state dir alone: one pod (orphan cleanup) or a
//! whole node (`berth up` shutting down), so that nothing outlives the cluster.

use std::path::Path;

use nix::sys::signal::Signal;

use crate::process::ipam::Ipam;
use crate::process::{net, procs, sandbox, shim};

/// Kill a pod's containers and sandbox, free its address and remove its state.
pub fn pod(state_dir: &Path, uid: &str, ipam: &Ipam) {
    let dir = state_dir.join("pods").join(uid);
    for c in std::fs::read_dir(dir.join("containers")).into_iter().flatten().flatten() {
        if let Some(shim_pid) = procs::read_pid(&shim::shim_pid_file(&c.path())).filter(|p| procs::alive(*p)) {
            procs::signal_session(shim_pid, Signal::SIGKILL, None);
        }
    }
    if let Some(pid) = procs::read_pid(&sandbox::pid_file(&dir)).filter(|p| procs::alive(*p)) {
        procs::signal(pid, Signal::SIGKILL);
    }
    net::delete_link_blocking(&net::host_veth_name(uid));
    ipam.release(uid);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Tear down every pod of the node at `state_dir` and its bridge. The agent must be stopped.
pub fn node(state_dir: &Path) {
    let ipam_dir = state_dir.join("ipam");
    for e in std::fs::read_dir(state_dir.join("pods")).into_iter().flatten().flatten() {
        let uid = e.file_name().to_string_lossy().to_string();
        let dir = e.path();
        for c in std::fs::read_dir(dir.join("containers")).into_iter().flatten().flatten() {
            if let Some(shim_pid) = procs::read_pid(&shim::shim_pid_file(&c.path())).filter(|p| procs::alive(*p)) {
                procs::signal_session(shim_pid, Signal::SIGKILL, None);
            }
        }
        if let Some(pid) = procs::read_pid(&sandbox::pid_file(&dir)).filter(|p| procs::alive(*p)) {
            procs::signal(pid, Signal::SIGKILL);
        }
        net::delete_link_blocking(&net::host_veth_name(&uid));
        let _ = std::fs::remove_dir_all(&dir);
    }
    let _ = std::fs::remove_dir_all(ipam_dir);
    net::delete_link_blocking(&net::bridge_name(state_dir));
}
