//! Reading the node agent's state directory (see NODE-CONTRACT.md):
//! `pods/<uid>/pod.json`, `pods/<uid>/containers/<name>/{pid,<restartCount>.log}`.

use std::path::{Path, PathBuf};

/// A container's directory inside the state dir, found by namespace, pod and container name.
#[derive(Debug, Clone)]
pub struct ContainerDir {
    pub dir: PathBuf,
}

/// Why a lookup failed, with the kubelet's wording and status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupError {
    pub code: u16,
    pub message: String,
}

impl LookupError {
    fn not_found(message: String) -> LookupError {
        LookupError { code: 404, message }
    }
    pub fn bad_request(message: String) -> LookupError {
        LookupError { code: 400, message }
    }
}

/// Find the pod directory for `namespace/name`. Several directories can name the same pod
/// (a deleted pod's leftovers and its successor); prefer one with a running container, then
/// the most recently written `pod.json`.
pub fn find_pod(state_dir: &Path, namespace: &str, name: &str) -> Option<(PathBuf, serde_json::Value)> {
    let entries = std::fs::read_dir(state_dir.join("pods")).ok()?;
    let mut best: Option<(bool, std::time::SystemTime, PathBuf, serde_json::Value)> = None;
    for e in entries.flatten() {
        let dir = e.path();
        let Ok(data) = std::fs::read(dir.join("pod.json")) else { continue };
        let Ok(pod) = serde_json::from_slice::<serde_json::Value>(&data) else { continue };
        let meta = &pod["metadata"];
        if meta["namespace"].as_str().unwrap_or("default") != namespace || meta["name"].as_str() != Some(name) {
            continue;
        }
        let running = std::fs::read_dir(dir.join("containers"))
            .map(|cs| cs.flatten().any(|c| c.path().join("pid").exists()))
            .unwrap_or(false);
        let mtime = std::fs::metadata(dir.join("pod.json")).and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
        let better = match &best {
            None => true,
            Some((r, t, _, _)) => (running, mtime) > (*r, *t),
        };
        if better {
            best = Some((running, mtime, dir, pod));
        }
    }
    best.map(|(_, _, d, p)| (d, p))
}

fn pod_has_container(pod: &serde_json::Value, container: &str) -> bool {
    ["initContainers", "containers", "ephemeralContainers"].iter().any(|k| {
        pod["spec"][k].as_array().is_some_and(|cs| cs.iter().any(|c| c["name"].as_str() == Some(container)))
    })
}

/// The container's directory, with the kubelet's messages for an unknown pod or container.
pub fn container(state_dir: &Path, namespace: &str, pod: &str, container: &str) -> Result<ContainerDir, LookupError> {
    let (dir, obj) = find_pod(state_dir, namespace, pod)
        .ok_or_else(|| LookupError::not_found(format!("pod \"{pod}\" does not exist")))?;
    let cdir = dir.join("containers").join(container);
    if !pod_has_container(&obj, container) && !cdir.exists() {
        return Err(LookupError::not_found(format!("container \"{container}\" not found in pod \"{pod}\"")));
    }
    Ok(ContainerDir { dir: cdir })
}

impl ContainerDir {
    /// Host PID of the container's current main process, if it is running.
    pub fn pid(&self) -> Option<i32> {
        let s = std::fs::read_to_string(self.dir.join("pid")).ok()?;
        let pid: i32 = s.trim().parse().ok()?;
        // A pid file left behind by a crashed agent must not point at a recycled PID forever;
        // a process that is gone is not running.
        Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
    }

    /// Restart counts that have a log file, ascending.
    pub fn log_numbers(&self) -> Vec<u64> {
        let mut v: Vec<u64> = std::fs::read_dir(&self.dir)
            .map(|es| {
                es.flatten()
                    .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log")?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    pub fn log_path(&self, n: u64) -> PathBuf {
        self.dir.join(format!("{n}.log"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_pods_and_containers_by_name() {
        let d = tempfile::tempdir().unwrap();
        let pdir = d.path().join("pods/uid-1");
        std::fs::create_dir_all(pdir.join("containers/c")).unwrap();
        std::fs::write(
            pdir.join("pod.json"),
            r#"{"metadata":{"namespace":"ns","name":"p","uid":"uid-1"},"spec":{"containers":[{"name":"c"}]}}"#,
        )
        .unwrap();
        std::fs::write(pdir.join("containers/c/0.log"), "").unwrap();
        std::fs::write(pdir.join("containers/c/2.log"), "").unwrap();
        std::fs::write(pdir.join("containers/c/10.log"), "").unwrap();
        let c = container(d.path(), "ns", "p", "c").unwrap();
        assert_eq!(c.log_numbers(), vec![0, 2, 10]);
        assert_eq!(c.pid(), None);
        std::fs::write(pdir.join("containers/c/pid"), std::process::id().to_string()).unwrap();
        assert_eq!(c.pid(), Some(std::process::id() as i32));
        let e = container(d.path(), "ns", "q", "c").unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (404, "pod \"q\" does not exist"));
        let e = container(d.path(), "ns", "p", "x").unwrap_err();
        assert_eq!(e.message, "container \"x\" not found in pod \"p\"");
    }
}
