//! A container's view of the machine, built in its own mount namespace just before exec:
//!
//! * a tmpfs root holding a read-only recursive bind of every top-level host directory
//!   (`/proc`, `/sys`, `/dev` stay writable, as in a container runtime);
//! * a private writable tmpfs `/tmp`;
//! * a private `/etc`: read-only binds of the host's entries plus the pod's own `hosts`,
//!   `hostname` and `resolv.conf`;
//! * each volume bind-mounted at its `mountPath`. A mount point missing from the read-only
//!   view is made by "shadowing" its parent: a tmpfs over the parent that re-binds the
//!   parent's host entries read-only, so nothing is ever created on the host.
//!
//! The new root is entered with `pivot_root`, so entering the container's mount namespace
//! later (`exec`) lands in the same view.

use std::fs;
use std::io;
use std::os::unix::fs::{symlink, FileTypeExt};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use super::spec::ContainerSpec;

/// Host directories that stay writable in the container (kernel interfaces and devices).
const WRITABLE: [&str; 3] = ["proc", "sys", "dev"];

fn ctx<T>(what: impl std::fmt::Display, r: Result<T, impl std::fmt::Display>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// Join the sandbox's namespaces and a fresh mount namespace, build the root at `rootfs`
/// (an empty directory on the host) and pivot into it. Runs in the forked child.
pub fn enter(spec: &ContainerSpec, rootfs: &Path) -> Result<(), String> {
    for (ns, flag) in [("net", CloneFlags::CLONE_NEWNET), ("uts", CloneFlags::CLONE_NEWUTS), ("ipc", CloneFlags::CLONE_NEWIPC)] {
        let path = format!("/proc/{}/ns/{ns}", spec.sandbox_pid);
        let f = ctx(format!("opening {path} (is the pod sandbox running?)"), fs::File::open(&path))?;
        ctx(format!("joining the sandbox's {ns} namespace"), setns(f, flag))?;
    }
    ctx("creating a mount namespace", unshare(CloneFlags::CLONE_NEWNS))?;
    ctx("making mounts private", mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>))?;
    ctx("mounting the root tmpfs", mount(Some("tmpfs"), rootfs, Some("tmpfs"), MsFlags::MS_NOSUID, Some("mode=0755")))?;
    for entry in ctx("listing /", fs::read_dir("/"))? {
        let entry = ctx("listing /", entry)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let target = rootfs.join(&*name);
        match name.as_ref() {
            "tmp" => {
                ctx("creating /tmp", fs::create_dir(&target))?;
                ctx("mounting /tmp", mount(Some("tmpfs"), &target, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some("mode=1777")))?;
            }
            "etc" => {
                ctx("creating /etc", fs::create_dir(&target))?;
                replicate_children(Path::new("/etc"), &target)?;
                for (file, contents) in &spec.etc_files {
                    let p = target.join(file);
                    // An entry of the same name is a read-only bind of the host's: replace it.
                    let _ = umount2(&p, MntFlags::MNT_DETACH);
                    let _ = fs::remove_file(&p);
                    let _ = fs::remove_dir(&p);
                    ctx(format!("writing /etc/{file}"), fs::write(&p, contents))?;
                }
            }
            _ => replicate(&Path::new("/").join(&*name), &target, !WRITABLE.contains(&name.as_ref()))?,
        }
    }
    for m in &spec.mounts {
        let src = Path::new(&m.source);
        let is_dir = ctx(format!("volume source {}", m.source), fs::metadata(src))?.is_dir();
        // Symlinks on the way (e.g. /var/run -> /run) resolve inside the container's root, never
        // on the host's.
        let rel = resolve_in_root(rootfs, &m.target);
        ensure(rootfs, &rel, is_dir)?;
        bind(src, &rootfs.join(&rel), m.read_only)?;
    }
    if let Some(wd) = &spec.working_dir {
        ensure(rootfs, &relative(wd), true)?;
    }
    let old = rootfs.join(".oldroot");
    ctx("creating .oldroot", fs::create_dir(&old))?;
    ctx("pivot_root", nix::unistd::pivot_root(rootfs, &old))?;
    ctx("chdir /", nix::unistd::chdir("/"))?;
    ctx("detaching the old root", umount2("/.oldroot", MntFlags::MNT_DETACH))?;
    ctx("removing /.oldroot", fs::remove_dir("/.oldroot"))?;
    // The root tmpfs itself becomes read-only too: the container writes only to its volumes
    // and /tmp.
    ctx(
        "making / read-only",
        mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY, None::<&str>),
    )?;
    let wd = spec.working_dir.as_deref().unwrap_or("/");
    ctx(format!("chdir {wd}"), nix::unistd::chdir(wd))?;
    Ok(())
}

fn relative(p: &str) -> PathBuf {
    Path::new(p).components().filter(|c| matches!(c, std::path::Component::Normal(_))).collect()
}

/// `target` as a path relative to `rootfs` with every symlink along it resolved as the
/// container will see it: absolute links restart at `rootfs`, `..` stops at it (as runc's
/// securejoin). Components that do not exist yet are kept as they are.
fn resolve_in_root(rootfs: &Path, target: &str) -> PathBuf {
    let mut pending: Vec<std::ffi::OsString> = Path::new(target).components().rev().filter_map(part).collect();
    let mut out = PathBuf::new();
    let mut hops = 0;
    while let Some(c) = pending.pop() {
        if c == ".." {
            out.pop();
            continue;
        }
        let candidate = out.join(&c);
        match fs::read_link(rootfs.join(&candidate)) {
            Ok(to) if hops < 40 => {
                hops += 1;
                if to.is_absolute() {
                    out = PathBuf::new();
                }
                pending.extend(to.components().rev().filter_map(part));
            }
            _ => out = candidate,
        }
    }
    out
}

fn part(c: std::path::Component<'_>) -> Option<std::ffi::OsString> {
    match c {
        std::path::Component::Normal(s) => Some(s.to_os_string()),
        std::path::Component::ParentDir => Some("..".into()),
        _ => None,
    }
}

/// Recursive bind of `src` at `dst` (which exists), read-only if asked.
fn bind(src: &Path, dst: &Path, read_only: bool) -> Result<(), String> {
    ctx(
        format!("bind-mounting {} at {}", src.display(), dst.display()),
        mount(Some(src), dst, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>),
    )?;
    if read_only {
        ctx(
            format!("making {} read-only", dst.display()),
            mount(None::<&str>, dst, None::<&str>, MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | MsFlags::MS_REC, None::<&str>),
        )?;
    }
    Ok(())
}

/// Make `dst` show the host entry `src`: symlinks are copied, directories and files bound.
fn replicate(src: &Path, dst: &Path, read_only: bool) -> Result<(), String> {
    let md = ctx(format!("stat {}", src.display()), fs::symlink_metadata(src))?;
    let ft = md.file_type();
    if ft.is_symlink() {
        let to = ctx(format!("readlink {}", src.display()), fs::read_link(src))?;
        return ctx(format!("symlink {}", dst.display()), symlink(to, dst));
    }
    if ft.is_dir() {
        ctx(format!("mkdir {}", dst.display()), fs::create_dir(dst))?;
    } else if ft.is_file() || ft.is_char_device() || ft.is_block_device() || ft.is_socket() || ft.is_fifo() {
        ctx(format!("creating {}", dst.display()), fs::File::create(dst))?;
    } else {
        return Ok(());
    }
    bind(src, dst, read_only)
}

/// Fill the (writable) directory `dst` with read-only replicas of `src`'s entries.
fn replicate_children(src: &Path, dst: &Path) -> Result<(), String> {
    for entry in ctx(format!("listing {}", src.display()), fs::read_dir(src))? {
        let entry = ctx(format!("listing {}", src.display()), entry)?;
        replicate(&entry.path(), &dst.join(entry.file_name()), true)?;
    }
    Ok(())
}

/// Make `rootfs/rel` exist (a directory, or an empty file for a file mount), shadowing
/// read-only parents as needed.
fn ensure(rootfs: &Path, rel: &Path, dir: bool) -> Result<(), String> {
    let p = rootfs.join(rel);
    if p.symlink_metadata().is_ok() || rel.as_os_str().is_empty() {
        return Ok(());
    }
    let parent = rel.parent().unwrap_or(Path::new(""));
    ensure(rootfs, parent, true)?;
    let create = |p: &Path| if dir { fs::create_dir(p) } else { fs::File::create(p).map(|_| ()) };
    match create(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EROFS) => {
            shadow(rootfs, parent)?;
            ctx(format!("creating mount point {}", p.display()), create(&p))
        }
        Err(e) => Err(format!("creating mount point {}: {e}", p.display())),
    }
}

/// Replace the read-only view of host directory `/rel` by a tmpfs with the same entries
/// (each a read-only bind of the host's), so that new mount points can be made in it.
fn shadow(rootfs: &Path, rel: &Path) -> Result<(), String> {
    let dst = rootfs.join(rel);
    let host = Path::new("/").join(rel);
    ctx(
        format!("shadowing {}", host.display()),
        mount(Some("tmpfs"), &dst, Some("tmpfs"), MsFlags::MS_NOSUID, Some("mode=0755")),
    )?;
    match fs::read_dir(&host) {
        Ok(_) => replicate_children(&host, &dst),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("listing {}: {e}", host.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_targets_resolve_symlinks_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("var")).unwrap();
        fs::create_dir_all(r.join("run")).unwrap();
        symlink("/run", r.join("var/run")).unwrap();
        symlink("../../..", r.join("run/up")).unwrap();
        symlink("run", r.join("rel")).unwrap();
        assert_eq!(resolve_in_root(r, "/var/run/secrets/x"), PathBuf::from("run/secrets/x"));
        assert_eq!(resolve_in_root(r, "/rel/a"), PathBuf::from("run/a"));
        assert_eq!(resolve_in_root(r, "/run/up/etc"), PathBuf::from("etc"), "`..` stops at the root");
        assert_eq!(resolve_in_root(r, "/data/./d"), PathBuf::from("data/d"));
    }

    #[test]
    fn relative_paths_drop_root_and_dots() {
        assert_eq!(relative("/var/data"), PathBuf::from("var/data"));
        assert_eq!(relative("/"), PathBuf::from(""));
        assert_eq!(relative("/a/./b/"), PathBuf::from("a/b"));
    }
}
