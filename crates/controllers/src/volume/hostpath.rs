//! What berth does to `hostPath` volumes on this machine when reclaiming them: scrub the
//! contents (Recycle) or remove the directory (Delete). Both only under `/tmp/`, the limit
//! upstream's hostPath deleter enforces (`host_path deleter only supports /tmp/.+`) — a
//! controller deleting files outside a scratch area on the strength of an API object is a
//! hazard. Network volumes (NFS …) are never touched, mounted or contacted.

use std::io;
use std::path::{Component, Path};

/// Upstream's hostPath deleter refusal, followed by the path.
pub const DELETER_TMP_ONLY: &str = "host_path deleter only supports /tmp/.+ but received provided";
/// berth's recycler refusal in the same words (upstream's recycler pod has no such limit).
pub const RECYCLER_TMP_ONLY: &str = "host_path recycler only supports /tmp/.+ but received provided";

/// Whether `path` is strictly below `/tmp/`: absolute, no `..`, at least one component
/// after `tmp` (so `/tmp`, `/tmp/`, `/tmp/.` and `/` are refused).
pub fn tmp_path_allowed(path: &str) -> bool {
    let p = Path::new(path);
    let comps: Vec<Component> = p.components().collect();
    if comps.iter().any(|c| matches!(c, Component::ParentDir)) {
        return false;
    }
    matches!(comps.as_slice(), [Component::RootDir, Component::Normal(t), Component::Normal(_), ..] if *t == "tmp")
}

fn refuse(path: &str, what: &str) -> Result<(), String> {
    if tmp_path_allowed(path) {
        Ok(())
    } else {
        Err(format!("{what} {path}"))
    }
}

/// The scrub upstream's recycler pod runs (`test -e /scrub && find /scrub -mindepth 1 -delete
/// && test -z "$(ls -A /scrub)"`): delete everything inside the directory, keep it, and fail
/// when it is missing, not a directory (a symlink is not followed), or not empty afterwards.
pub fn scrub(path: &str) -> Result<(), String> {
    refuse(path, RECYCLER_TMP_ONLY)?;
    let meta = std::fs::symlink_metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => format!("hostPath {path} does not exist on this node"),
        _ => format!("hostPath {path}: {e}"),
    })?;
    if !meta.is_dir() {
        return Err(format!("hostPath {path} is not a directory"));
    }
    let entries = std::fs::read_dir(path).map_err(|e| format!("reading {path}: {e}"))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("reading {path}: {e}"))?;
        let p = entry.path();
        // file_type() does not follow symlinks: a link to a directory is removed as a link.
        let ft = entry.file_type().map_err(|e| format!("{}: {e}", p.display()))?;
        let r = if ft.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        r.map_err(|e| format!("removing {}: {e}", p.display()))?;
    }
    match std::fs::read_dir(path).map(|mut d| d.next().is_none()) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!("hostPath {path} is not empty after scrubbing")),
        Err(e) => Err(format!("reading {path}: {e}")),
    }
}

/// `os.RemoveAll(path)` as upstream's hostPath deleter does; a missing directory is fine.
pub fn remove(path: &str) -> Result<(), String> {
    refuse(path, DELETER_TMP_ONLY)?;
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.to_string()),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path).map_err(|e| e.to_string()),
        Ok(_) => std::fs::remove_file(path).map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_strictly_below_tmp_are_allowed() {
        for ok in ["/tmp/x", "/tmp/x/y", "/tmp/pv-1/"] {
            assert!(tmp_path_allowed(ok), "{ok}");
        }
        for bad in ["/", "/tmp", "/tmp/", "/tmp/.", "/tmp/../etc", "/tmp/x/../../etc", "/data/tmp/x", "tmp/x", "/var/tmp/x", ""] {
            assert!(!tmp_path_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn scrub_empties_the_directory_and_keeps_it() {
        let dir = tempfile_in_tmp();
        let p = dir.to_str().unwrap().to_string();
        std::fs::write(dir.join("a"), "x").unwrap();
        std::fs::create_dir_all(dir.join("sub/deeper")).unwrap();
        std::fs::write(dir.join("sub/deeper/b"), "y").unwrap();
        std::fs::write(dir.join(".hidden"), "z").unwrap();
        scrub(&p).unwrap();
        assert!(dir.is_dir());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        remove(&p).unwrap();
        assert!(!dir.exists());
        remove(&p).unwrap(); // already gone: fine
    }

    #[test]
    fn scrub_refuses_missing_and_outside_paths() {
        assert_eq!(scrub("/etc/x"), Err(format!("{RECYCLER_TMP_ONLY} /etc/x")));
        assert_eq!(remove("/data/x"), Err(format!("{DELETER_TMP_ONLY} /data/x")));
        let missing = "/tmp/berth-volume-test-definitely-missing-dir";
        assert_eq!(scrub(missing), Err(format!("hostPath {missing} does not exist on this node")));
    }

    #[test]
    fn scrub_does_not_follow_symlinks_out_of_the_volume() {
        let outside = tempfile_in_tmp();
        std::fs::write(outside.join("keep"), "k").unwrap();
        let vol = tempfile_in_tmp();
        std::os::unix::fs::symlink(&outside, vol.join("link")).unwrap();
        scrub(vol.to_str().unwrap()).unwrap();
        assert!(outside.join("keep").exists());
        std::fs::remove_dir_all(&outside).unwrap();
        std::fs::remove_dir_all(&vol).unwrap();
    }

    fn tempfile_in_tmp() -> std::path::PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::path::PathBuf::from(format!("/tmp/berth-volume-test-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
        std::fs::create_dir_all(&p).unwrap();
        p
    }
}
