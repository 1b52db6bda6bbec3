//! Writing a volume's files the way upstream's `AtomicWriter` (pkg/volume/util) lays them
//! out, so that a running container sees each update all at once:
//!
//! ```text
//! <dir>/..2026_11_27_05_00_00.123456789/<files>   this version's files, with their modes
//! <dir>/..data -> ..2026_11_27_05_00_00.123456789  switched atomically (rename of ..data_tmp)
//! <dir>/<top-level name> -> ..data/<top-level name>
//! ```
//!
//! The directory itself stays, so a container's bind mount of it remains valid.

use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

use super::projection::Payload;

const DATA: &str = "..data";
const DATA_TMP: &str = "..data_tmp";

/// A relative path inside the volume: no absolute paths, no `..`, not hidden by a leading `..`.
fn safe(rel: &str) -> Result<&Path, String> {
    let p = Path::new(rel);
    if rel.is_empty() || rel.starts_with("..") || p.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(format!("invalid path {rel:?} in the volume's items"));
    }
    Ok(p)
}

fn first_component(rel: &str) -> String {
    Path::new(rel).components().next().map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default()
}

/// The files under a version dir, to skip rewriting an unchanged payload.
fn current(dir: &Path, payload: &Payload) -> bool {
    payload.iter().all(|(rel, f)| {
        let p = dir.join(rel);
        std::fs::read(&p).is_ok_and(|d| d == f.data) && std::fs::metadata(&p).is_ok_and(|m| m.permissions().mode() & 0o777 == f.mode)
    }) && count_files(dir) == payload.len()
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| if e.path().is_dir() { count_files(&e.path()) } else { 1 }).sum()
}

pub fn write(dir: &Path, payload: &Payload) -> Result<(), String> {
    let err = |what: &str, p: &Path, e: std::io::Error| format!("{what} {}: {e}", p.display());
    for rel in payload.keys() {
        safe(rel)?;
    }
    std::fs::create_dir_all(dir).map_err(|e| err("creating", dir, e))?;
    let old = std::fs::read_link(dir.join(DATA)).ok().map(|t| dir.join(t));
    if old.as_deref().is_some_and(|o| current(o, payload)) {
        return Ok(());
    }
    let version = format!("..{}", chrono::Utc::now().format("%Y_%m_%d_%H_%M_%S.%9f"));
    let vdir = dir.join(&version);
    std::fs::create_dir(&vdir).map_err(|e| err("creating", &vdir, e))?;
    for (rel, f) in payload {
        let target = vdir.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| err("creating", parent, e))?;
        }
        std::fs::write(&target, &f.data).map_err(|e| err("writing", &target, e))?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(f.mode)).map_err(|e| err("chmod", &target, e))?;
    }
    let tmp = dir.join(DATA_TMP);
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&version, &tmp).map_err(|e| err("linking", &tmp, e))?;
    std::fs::rename(&tmp, dir.join(DATA)).map_err(|e| err("switching", &tmp, e))?;
    // User-visible names: one link per top-level path component; stale ones removed.
    let visible: std::collections::BTreeSet<String> = payload.keys().map(|k| first_component(k)).collect();
    for name in &visible {
        let link = dir.join(name);
        let want = Path::new(DATA).join(name);
        if std::fs::read_link(&link).is_ok_and(|t| t == want) {
            continue;
        }
        if link.is_dir() && !link.is_symlink() {
            let _ = std::fs::remove_dir_all(&link);
        } else {
            let _ = std::fs::remove_file(&link);
        }
        std::os::unix::fs::symlink(&want, &link).map_err(|e| err("linking", &link, e))?;
    }
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let p = e.path();
        if name.starts_with("..") {
            if name != DATA && name != version {
                let _ = std::fs::remove_dir_all(&p);
            }
        } else if !visible.contains(&name) {
            if p.is_dir() && !p.is_symlink() {
                let _ = std::fs::remove_dir_all(&p);
            } else {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::projection::File;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| !n.starts_with("..2")).collect();
        v.sort();
        v
    }

    #[test]
    fn data_link_layout_updates_and_prunes() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut p = Payload::new();
        p.insert("a".into(), File { data: b"1".to_vec(), mode: 0o400 });
        p.insert("d/e".into(), File { data: b"2".to_vec(), mode: 0o644 });
        write(d, &p).unwrap();
        assert_eq!(names(d), ["..data", "a", "d"]);
        assert_eq!(std::fs::read_link(d.join("a")).unwrap(), Path::new("..data/a"));
        assert_eq!(std::fs::read(d.join("d/e")).unwrap(), b"2");
        assert_eq!(std::fs::metadata(d.join("a")).unwrap().permissions().mode() & 0o777, 0o400);
        let first = std::fs::read_link(d.join("..data")).unwrap();
        // Unchanged: nothing rewritten.
        write(d, &p).unwrap();
        assert_eq!(std::fs::read_link(d.join("..data")).unwrap(), first);
        p.remove("d/e");
        p.insert("a".into(), File { data: b"3".to_vec(), mode: 0o644 });
        write(d, &p).unwrap();
        assert_eq!(std::fs::read(d.join("a")).unwrap(), b"3");
        assert_eq!(names(d), ["..data", "a"]);
        assert!(!d.join(&first).exists(), "the old version is removed");
        let mut bad = Payload::new();
        bad.insert("../x".into(), File { data: vec![], mode: 0o644 });
        assert!(write(d, &bad).is_err());
        let mut hidden = Payload::new();
        hidden.insert("..data".into(), File { data: vec![], mode: 0o644 });
        assert!(write(d, &hidden).is_err());
    }
}
