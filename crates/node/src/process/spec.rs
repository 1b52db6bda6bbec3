//! What the agent hands to the runtime's helper processes, as JSON files in the pod's state
//! directory (the helpers are separate processes, so that pods outlive the agent).

use serde::{Deserialize, Serialize};

/// One bind mount into a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindMount {
    /// Host path.
    pub source: String,
    /// Path inside the container.
    pub target: String,
    pub read_only: bool,
}

/// Everything the shim needs to start one container instance. Written by the agent to
/// `pods/<uid>/containers/<name>/spec.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// PID of the pod's sandbox holder, whose net/uts/ipc namespaces the container joins.
    pub sandbox_pid: i32,
    /// argv; argv[0] is looked up in the container's PATH unless it contains a `/`.
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Working directory inside the container (created if missing).
    pub working_dir: Option<String>,
    pub mounts: Vec<BindMount>,
    /// Files written into the container's private `/etc`: hosts, hostname, resolv.conf.
    pub etc_files: Vec<(String, String)>,
    /// The cgroup v2 directory holding the container's limits, joined before exec.
    #[serde(default)]
    pub cgroup: Option<String>,
}

/// How a container instance ended; written by its shim to `<restartCount>.exit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// Exit status, or 128 + signal for a container killed by a signal (as runtimes report).
    pub exit_code: i32,
    pub signal: Option<i32>,
    /// RFC 3339 UTC.
    pub finished_at: String,
}

/// The `PATH` a container gets when its env has none (Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
