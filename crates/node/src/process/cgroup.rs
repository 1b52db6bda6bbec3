//! Container resource limits with cgroup v2, only where the unified hierarchy is mounted at
//! `/sys/fs/cgroup` with the cpu and memory controllers and is writable (elsewhere — cgroup v1
//! hosts, unprivileged containers — containers run without limits, as before).
//!
//! Layout: `<root>/berth/<node>/pod<uid>/<container>`; the container's shim process joins its
//! leaf before exec, so everything the container starts is accounted there. `cpu.max` is
//! `<quota> 100000` with upstream's `milliCPUToQuota` (quota = milli × period / 1000, at least
//! 1000 µs); `memory.max` is the limit in bytes.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The CFS period the kubelet uses (100 ms).
pub const PERIOD_US: i128 = 100_000;
/// The smallest quota the kernel accepts (1 ms).
const MIN_QUOTA_US: i128 = 1_000;

/// `cpu.max` for a cpu limit in millicores (`max` without one).
pub fn cpu_max(limit_milli: Option<i128>) -> String {
    match limit_milli {
        Some(m) if m > 0 => format!("{} {PERIOD_US}", (m * PERIOD_US / 1000).max(MIN_QUOTA_US)),
        _ => format!("max {PERIOD_US}"),
    }
}

/// `memory.max` for a memory limit in bytes (`max` without one).
pub fn memory_max(limit_bytes: Option<i128>) -> String {
    match limit_bytes {
        Some(b) if b > 0 => b.to_string(),
        _ => "max".into(),
    }
}

#[derive(Debug, Clone)]
pub struct Cgroups {
    root: PathBuf,
}

impl Cgroups {
    /// A hierarchy rooted at `root` (tests use a plain directory).
    pub fn at(root: impl Into<PathBuf>) -> Cgroups {
        Cgroups { root: root.into() }
    }

    /// The host's cgroup v2 hierarchy when it can hold container limits.
    pub fn host() -> Option<&'static Cgroups> {
        static HOST: OnceLock<Option<Cgroups>> = OnceLock::new();
        HOST.get_or_init(|| {
            let root = Path::new("/sys/fs/cgroup");
            let controllers = std::fs::read_to_string(root.join("cgroup.controllers")).ok()?;
            let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
            if !(has("cpu") && has("memory")) {
                return None;
            }
            let berth = root.join("berth");
            std::fs::create_dir_all(&berth).ok()?;
            Some(Cgroups::at(root))
        })
        .as_ref()
    }

    fn node_dir(&self, node: &str) -> PathBuf {
        self.root.join("berth").join(node)
    }

    fn pod_dir(&self, node: &str, pod_uid: &str) -> PathBuf {
        self.node_dir(node).join(format!("pod{pod_uid}"))
    }

    /// Create the container's cgroup with its limits; returns the directory its shim joins.
    pub fn container(&self, node: &str, pod_uid: &str, container: &str, cpu_max: &str, memory_max: &str) -> Result<PathBuf, String> {
        let pod = self.pod_dir(node, pod_uid);
        let leaf = pod.join(container);
        std::fs::create_dir_all(&leaf).map_err(|e| format!("creating cgroup {}: {e}", leaf.display()))?;
        // Delegate cpu and memory down to the leaf (already enabled is fine).
        for dir in [self.root.clone(), self.root.join("berth"), self.node_dir(node), pod] {
            let f = dir.join("cgroup.subtree_control");
            std::fs::write(&f, "+cpu +memory").map_err(|e| format!("enabling cpu and memory in {}: {e}", f.display()))?;
        }
        for (file, value) in [("cpu.max", cpu_max), ("memory.max", memory_max)] {
            std::fs::write(leaf.join(file), value).map_err(|e| format!("writing {file} of {}: {e}", leaf.display()))?;
        }
        Ok(leaf)
    }

    /// Remove a pod's cgroups (they must be empty of processes; retried briefly while the
    /// kernel finishes reaping them).
    pub fn remove_pod(&self, node: &str, pod_uid: &str) {
        remove_tree(&self.pod_dir(node, pod_uid));
    }

    pub fn remove_node(&self, node: &str) {
        remove_tree(&self.node_dir(node));
    }
}

/// cgroup directories go with `rmdir`, children first; their interface files are not removable.
fn remove_tree(dir: &Path) {
    if !dir.is_dir() {
        return;
    }
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&e.path());
        }
    }
    for _ in 0..20 {
        match std::fs::remove_dir(dir) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => std::thread::sleep(std::time::Duration::from_millis(50)),
            _ => return,
        }
    }
}

/// A node's name in the hierarchy: its state dir's name (`<data-dir>/nodes/<node>`), which
/// the agent and the teardown from disk both know.
pub fn node_key(state_dir: &Path) -> String {
    state_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "node".into())
}

/// In the container's process, before exec: join `cgroup` (writing 0 moves the writer).
pub fn join(cgroup: &Path) -> Result<(), String> {
    std::fs::write(cgroup.join("cgroup.procs"), "0").map_err(|e| format!("joining cgroup {}: {e}", cgroup.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_as_the_kubelet_sets_them() {
        assert_eq!(cpu_max(Some(500)), "50000 100000");
        assert_eq!(cpu_max(Some(2000)), "200000 100000");
        assert_eq!(cpu_max(Some(1)), "1000 100000");
        assert_eq!(cpu_max(None), "max 100000");
        assert_eq!(memory_max(Some(64 << 20)), "67108864");
        assert_eq!(memory_max(None), "max");
    }

    #[test]
    fn writes_the_hierarchy_and_removes_it() {
        // A plain directory stands in for cgroupfs: the files written are what the kernel reads.
        let d = tempfile::tempdir().unwrap();
        let cg = Cgroups::at(d.path());
        let leaf = cg.container("node-1", "u1", "c", "50000 100000", "67108864").unwrap();
        assert_eq!(leaf, d.path().join("berth/node-1/podu1/c"));
        assert_eq!(std::fs::read_to_string(leaf.join("cpu.max")).unwrap(), "50000 100000");
        assert_eq!(std::fs::read_to_string(leaf.join("memory.max")).unwrap(), "67108864");
        for dir in ["", "berth", "berth/node-1", "berth/node-1/podu1"] {
            assert_eq!(std::fs::read_to_string(d.path().join(dir).join("cgroup.subtree_control")).unwrap(), "+cpu +memory");
        }
        // On a plain directory the interface files keep rmdir from succeeding; on cgroupfs
        // they do not. Clear them to check the children-first removal.
        for f in ["cpu.max", "memory.max"] {
            std::fs::remove_file(leaf.join(f)).unwrap();
        }
        std::fs::remove_file(d.path().join("berth/node-1/podu1/cgroup.subtree_control")).unwrap();
        cg.remove_pod("node-1", "u1");
        assert!(!d.path().join("berth/node-1/podu1").exists());
        assert!(d.path().join("berth/node-1").exists());
    }
}
