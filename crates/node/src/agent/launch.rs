//! Starting and stopping one container instance through the shim, and the container's
//! command line, environment and mounts from its spec.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_images::Image;
use k8s_openapi::api::core::v1::{Container, Pod};
use nix::sys::signal::Signal;

use crate::process::spec::{BindMount, ContainerSpec, ExitRecord, DEFAULT_PATH};
use crate::process::{procs, sandbox, shim};

/// Why a container could not start: the waiting reason and message the kubelet would report.
#[derive(Debug, Clone, PartialEq)]
pub struct StartError {
    pub reason: &'static str,
    pub message: String,
}

/// argv for a container of `image`: the image's program unless the container has a
/// `command` (which, as with a real image, replaces the entrypoint); `args` follow.
pub fn argv(c: &Container) -> Result<Vec<String>, StartError> {
    let image = c.image.clone().unwrap_or_default();
    let resolved = berth_images::resolve(&image).map_err(|e| StartError { reason: "ErrImagePull", message: e.to_string() })?;
    let args = c.args.clone().unwrap_or_default();
    let command = c.command.clone().filter(|c| !c.is_empty());
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

/// The container's environment: PATH and HOSTNAME as an image and the kubelet set them, then
/// `env` in order (with `$(VAR)` references expanded and `fieldRef`s resolved).
pub fn env(c: &Container, pod: &Pod, hostname: &str, pod_ip: &str) -> Result<Vec<(String, String)>, StartError> {
    let mut out: Vec<(String, String)> = vec![("PATH".into(), DEFAULT_PATH.into()), ("HOSTNAME".into(), hostname.into())];
    for e in c.env.iter().flatten() {
        let value = if let Some(from) = &e.value_from {
            let Some(f) = &from.field_ref else {
                return Err(StartError {
                    reason: "CreateContainerConfigError",
                    message: format!("env {}: only value and valueFrom.fieldRef are supported by berth nodes yet", e.name),
                });
            };
            field(pod, &f.field_path, pod_ip).ok_or_else(|| StartError {
                reason: "CreateContainerConfigError",
                message: format!("env {}: unsupported fieldPath {:?}", e.name, f.field_path),
            })?
        } else {
            expand(e.value.as_deref().unwrap_or_default(), &out)
        };
        out.retain(|(k, _)| *k != e.name);
        out.push((e.name.clone(), value));
    }
    Ok(out)
}

fn field(pod: &Pod, path: &str, pod_ip: &str) -> Option<String> {
    let m = &pod.metadata;
    let s = pod.spec.as_ref();
    Some(match path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => m.namespace.clone().unwrap_or_default(),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "spec.nodeName" => s.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => s.and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
        "status.podIP" => pod_ip.to_string(),
        "status.hostIP" => "127.0.0.1".into(),
        _ => {
            let key = path.strip_prefix("metadata.labels['")?.strip_suffix("']");
            if let Some(k) = key {
                return m.labels.as_ref()?.get(k).cloned();
            }
            let k = path.strip_prefix("metadata.annotations['")?.strip_suffix("']")?;
            m.annotations.as_ref()?.get(k).cloned()?
        }
    })
}

/// `$(VAR)` expansion against earlier variables; `$$` escapes; unknown references stay.
fn expand(s: &str, vars: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(a) = after.strip_prefix('$') {
            out.push('$');
            rest = a;
        } else if let Some(end) = after.strip_prefix('(').and_then(|a| a.find(')')) {
            let name = &after[1..=end];
            match vars.iter().rev().find(|(k, _)| k == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&format!("$({name})")),
            }
            rest = &after[end + 2..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

pub fn mounts(c: &Container, volumes: &BTreeMap<String, PathBuf>) -> Result<Vec<BindMount>, StartError> {
    let mut out = Vec::new();
    for m in c.volume_mounts.iter().flatten() {
        let base = volumes.get(&m.name).ok_or_else(|| StartError {
            reason: "CreateContainerConfigError",
            message: format!("cannot find volume {:?} to mount into container {:?}", m.name, c.name),
        })?;
        let mut source = base.clone();
        if let Some(sub) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            source = base.join(sub);
            let _ = std::fs::create_dir_all(&source);
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
        assert_eq!(argv(&c).unwrap(), ["/proc/self/exe", "image", "run", "luksa/kubia-pet"]);
        let c = container(serde_json::json!({"name": "a", "image": "busybox", "command": ["sh", "-c"], "args": ["exit 1"]}));
        assert_eq!(argv(&c).unwrap(), ["sh", "-c", "exit 1"]);
        let c = container(serde_json::json!({"name": "a", "image": "busybox:1.36"}));
        assert_eq!(argv(&c).unwrap(), ["sh"]);
        let c = container(serde_json::json!({"name": "a", "image": "nginx"}));
        let e = argv(&c).unwrap_err();
        assert_eq!(e.reason, "ErrImagePull");
        assert!(e.message.contains("luksa/kubia-pet, luksa/kubia-pet-peers, busybox, alpine"));
    }

    #[test]
    fn env_resolves_field_refs_and_references() {
        let pod: Pod = serde_json::from_value(serde_json::json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {"nodeName": "node-1", "containers": []}})).unwrap();
        let c = container(serde_json::json!({"name": "a", "env": [
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "WHO", "value": "$(POD).$(NS) $(NOPE) $$(POD)"}]}));
        let env = env(&c, &pod, "p", "10.0.0.2").unwrap();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap();
        assert_eq!((get("POD"), get("NS"), get("IP"), get("NODE")), ("p".into(), "ns".into(), "10.0.0.2".into(), "node-1".into()));
        assert_eq!(get("WHO"), "p.ns $(NOPE) $(POD)");
        assert_eq!(get("HOSTNAME"), "p");
    }
}
