//! Starting and stopping one container instance through the shim, and the container's
//! command line, environment and mounts from its spec.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_images::Image;
use k8s_openapi::api::core::v1::{Container, VolumeMount};
use nix::sys::signal::Signal;

use super::expand::{expand, in_env};
use crate::process::spec::{BindMount, ContainerSpec, ExitRecord};
use crate::process::{procs, sandbox, shim};

/// Why a container could not start: the waiting reason and message the kubelet would report.
#[derive(Debug, Clone, PartialEq)]
pub struct StartError {
    pub reason: &'static str,
    pub message: String,
}

/// argv for a container of `image`: the image's program unless the container has a
/// `command` (which, as with a real image, replaces the entrypoint); `args` follow. `$(VAR)`
/// in `command` and `args` expands against the container's environment `env`.
pub fn argv(c: &Container, env: &[(String, String)]) -> Result<Vec<String>, StartError> {
    let image = c.image.clone().unwrap_or_default();
    let resolved = berth_images::resolve(&image).map_err(|e| StartError { reason: "ErrImagePull", message: e.to_string() })?;
    let x = |v: &Vec<String>| v.iter().map(|s| expand(s, in_env(env))).collect::<Vec<_>>();
    let args = c.args.as_ref().map(x).unwrap_or_default();
    let command = c.command.as_ref().map(x).filter(|c| !c.is_empty());
    let mut argv = match (command, resolved) {
        (Some(cmd), _) => cmd,
        (None, Image::App { name }) => vec!["/proc/self/exe".into(), "image".into(), "run".into(), name.into()],
        (None, Image::Base { default_command, .. }) if args.is_empty() => default_command.iter().map(|s| s.to_string()).collect(),
        (None, Image::Base { .. }) => Vec::new(),
    };
    argv.extend(args);
    if argv.is_empty() {
        return Err(StartError { reason: "CreateContainerConfigError", message: "no command specified".into() });
    }
    Ok(argv)
}

/// A volume mount's `subPath`, or its `subPathExpr` expanded against the container's env
/// (upstream's `ExpandContainerVolumeMounts`: every referenced variable must be set and
/// non-empty), checked as upstream's `makeMounts` does.
fn sub_path(m: &VolumeMount, env: &[(String, String)]) -> Result<Option<String>, StartError> {
    let config = |message: String| StartError { reason: "CreateContainerConfigError", message };
    let mut sub = m.sub_path.clone().filter(|s| !s.is_empty());
    if let Some(expr) = m.sub_path_expr.as_deref().filter(|s| !s.is_empty()) {
        let missing = std::cell::RefCell::new(std::collections::BTreeSet::new());
        let lookup = in_env(env);
        let expanded = expand(expr, |k| match lookup(k).filter(|v| !v.is_empty()) {
            Some(v) => Some(v),
            None => {
                missing.borrow_mut().insert(k.to_string());
                Some(String::new())
            }
        });
        let missing = missing.into_inner();
        if !missing.is_empty() {
            return Err(config(format!("missing value for {}", missing.into_iter().collect::<Vec<_>>().join(", "))));
        }
        sub = Some(expanded).filter(|s| !s.is_empty());
    }
    let Some(sub) = sub else { return Ok(None) };
    if sub.starts_with('/') {
        return Err(config(format!("error SubPath `{sub}` must not be an absolute path")));
    }
    if Path::new(&sub).components().any(|c| c == std::path::Component::ParentDir) {
        return Err(config(format!("unable to provision SubPath `{sub}`: must not contain '..'")));
    }
    Ok(Some(sub))
}

pub fn mounts(c: &Container, volumes: &BTreeMap<String, PathBuf>, env: &[(String, String)]) -> Result<Vec<BindMount>, StartError> {
    let mut out = Vec::new();
    for m in c.volume_mounts.iter().flatten() {
        let base = volumes.get(&m.name).ok_or_else(|| StartError {
            reason: "CreateContainerConfigError",
            message: format!("cannot find volume {:?} to mount into container {:?}", m.name, c.name),
        })?;
        let mut source = base.clone();
        if let Some(sub) = sub_path(m, env)? {
            source = base.join(&sub);
            if std::fs::symlink_metadata(&source).is_err() {
                let _ = std::fs::create_dir_all(&source);
            }
            // A symlink inside the volume must not lead out of it.
            let (real, real_base) = (std::fs::canonicalize(&source).unwrap_or_else(|_| source.clone()), std::fs::canonicalize(base).unwrap_or_else(|_| base.clone()));
            if !real.starts_with(&real_base) {
                return Err(StartError { reason: "CreateContainerConfigError", message: format!("subpath {:?} not within volume path {:?}", real.display().to_string(), real_base.display().to_string()) });
            }
        }
        out.push(BindMount { source: source.to_string_lossy().into(), target: m.mount_path.clone(), read_only: m.read_only == Some(true) });
    }
    Ok(out)
}

/// A started container instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    pub shim_pid: i32,
    pub pid: i32,
}

/// Write the spec and run the shim; returns once the container process has exec'd.
pub async fn start(exe: &Path, dir: &Path, restart: i32, spec: &ContainerSpec) -> Result<Started, StartError> {
    let err = |m: String| StartError { reason: "StartError", message: m };
    std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    std::fs::write(dir.join("spec.json"), serde_json::to_vec(spec).unwrap_or_default()).map_err(|e| err(e.to_string()))?;
    let out = tokio::process::Command::new(exe)
        .args(["runtime", "shim"])
        .arg(dir)
        .arg(restart.to_string())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| err(format!("running the shim: {e}")))?;
    match sandbox::parse_outcome(&out.stdout) {
        Ok(p) if p.len() == 2 => {
            let _ = std::fs::write(shim::shim_pid_file(dir), p[0].to_string());
            Ok(Started { shim_pid: p[0], pid: p[1] })
        }
        Ok(_) => Err(err("bad shim output".into())),
        Err(m) => Err(err(m)),
    }
}

/// The exit record of instance `restart`, once its shim has exited. A shim killed before it
/// could write one reports the container as killed (137).
pub fn exit_record(dir: &Path, restart: i32) -> ExitRecord {
    std::fs::read(shim::exit_file(dir, restart))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| ExitRecord { exit_code: 137, signal: Some(9), finished_at: chrono::Utc::now().to_rfc3339() })
}

/// SIGTERM the container's main process, SIGKILL everything of it after `grace`.
pub async fn stop(s: Started, grace: Duration) {
    procs::signal(s.pid, Signal::SIGTERM);
    if tokio::time::timeout(grace, procs::wait_exit(s.shim_pid)).await.is_err() {
        procs::signal_session(s.shim_pid, Signal::SIGKILL, Some(s.shim_pid));
        procs::signal(s.pid, Signal::SIGKILL);
        if tokio::time::timeout(Duration::from_secs(5), procs::wait_exit(s.shim_pid)).await.is_err() {
            procs::signal(s.shim_pid, Signal::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(json: serde_json::Value) -> Container {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn argv_follows_image_command_and_args() {
        let c = container(serde_json::json!({"name": "a", "image": "luksa/kubia-pet"}));
        assert_eq!(argv(&c, &[]).unwrap(), ["/proc/self/exe", "image", "run", "luksa/kubia-pet"]);
        let c = container(serde_json::json!({"name": "a", "image": "busybox", "command": ["sh", "-c"], "args": ["exit 1"]}));
        assert_eq!(argv(&c, &[]).unwrap(), ["sh", "-c", "exit 1"]);
        let env = vec![("N".to_string(), "3".to_string())];
        let c = container(serde_json::json!({"name": "a", "image": "busybox", "command": ["echo", "$(N)"], "args": ["$$(N)", "$(M)"]}));
        assert_eq!(argv(&c, &env).unwrap(), ["echo", "3", "$(N)", "$(M)"]);
        let c = container(serde_json::json!({"name": "a", "image": "busybox:1.36"}));
        assert_eq!(argv(&c, &[]).unwrap(), ["sh"]);
        let c = container(serde_json::json!({"name": "a", "image": "nginx"}));
        let e = argv(&c, &[]).unwrap_err();
        assert_eq!(e.reason, "ErrImagePull");
        assert!(e.message.contains("luksa/kubia-pet, luksa/kubia-pet-peers, busybox, alpine"));
    }

    #[test]
    fn sub_paths_and_sub_path_exprs() {
        let vm = |json: serde_json::Value| -> VolumeMount { serde_json::from_value(json).unwrap() };
        let env = vec![("POD".to_string(), "p-0".to_string()), ("EMPTY".to_string(), String::new())];
        assert_eq!(sub_path(&vm(serde_json::json!({"name": "v", "mountPath": "/m", "subPath": "a/b"})), &env).unwrap().as_deref(), Some("a/b"));
        assert_eq!(sub_path(&vm(serde_json::json!({"name": "v", "mountPath": "/m", "subPathExpr": "logs/$(POD)"})), &env).unwrap().as_deref(), Some("logs/p-0"));
        let e = sub_path(&vm(serde_json::json!({"name": "v", "mountPath": "/m", "subPathExpr": "$(NOPE)/$(EMPTY)/$(POD)"})), &env).unwrap_err();
        assert_eq!((e.reason, e.message.as_str()), ("CreateContainerConfigError", "missing value for EMPTY, NOPE"));
        assert_eq!(sub_path(&vm(serde_json::json!({"name": "v", "mountPath": "/m", "subPath": "/etc"})), &env).unwrap_err().message, "error SubPath `/etc` must not be an absolute path");
        assert_eq!(sub_path(&vm(serde_json::json!({"name": "v", "mountPath": "/m", "subPath": "a/../.."})), &env).unwrap_err().message, "unable to provision SubPath `a/../..`: must not contain '..'");
        assert_eq!(sub_path(&vm(serde_json::json!({"name": "v", "mountPath": "/m"})), &env).unwrap(), None);
    }

    #[test]
    fn a_sub_path_may_not_leave_its_volume() {
        let d = tempfile::tempdir().unwrap();
        let vol = d.path().join("vol");
        std::fs::create_dir(&vol).unwrap();
        std::os::unix::fs::symlink("/etc", vol.join("out")).unwrap();
        let volumes: BTreeMap<String, PathBuf> = [("v".to_string(), vol.clone())].into();
        let c = container(serde_json::json!({"name": "a", "volumeMounts": [{"name": "v", "mountPath": "/m", "subPath": "out"}]}));
        assert!(mounts(&c, &volumes, &[]).unwrap_err().message.starts_with("subpath \"/etc\" not within volume path"));
        let c = container(serde_json::json!({"name": "a", "volumeMounts": [{"name": "v", "mountPath": "/m", "subPath": "new/dir"}]}));
        assert_eq!(mounts(&c, &volumes, &[]).unwrap()[0].source, vol.join("new/dir").to_string_lossy());
        assert!(vol.join("new/dir").is_dir());
    }
}
