//! Volumes as host directories to bind into containers: emptyDir under the pod's state dir,
//! hostPath (with upstream's type checks), a persistentVolumeClaim's PV (hostPath, local, nfs),
//! nfs, and configMap, secret, downwardAPI and projected volumes written as files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Volume};
use kube::{Api, Client};

use super::projection::{self, Payload, Source, DEFAULT_MODE};
use super::resources::Allocatable;

/// Host path of each pod volume by name, or the first error (volume name, message). As
/// upstream names it in `FailedMount`, a claim's volume is named after its PV once known.
pub async fn prepare(client: &Client, pod: &Pod, pod_dir: &Path, pod_ip: &str) -> Result<BTreeMap<String, PathBuf>, (String, String)> {
    let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let mut out = BTreeMap::new();
    for v in pod.spec.as_ref().and_then(|s| s.volumes.as_ref()).into_iter().flatten() {
        let mut name = v.name.clone();
        let path = one(client, &ns, pod, v, pod_dir, pod_ip, &mut name).await.map_err(|e| (name, e))?;
        out.insert(v.name.clone(), path);
    }
    Ok(out)
}

fn mkdir(p: &Path) -> Result<(), String> {
    std::fs::create_dir_all(p).map_err(|e| format!("creating {}: {e}", p.display()))
}

/// upstream's hostPath type check (pkg/volume/hostpath `checkTypeInternal`).
fn host_path(path: &str, type_: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::FileTypeExt;
    let p = PathBuf::from(path);
    if Path::new(path).components().any(|c| c == std::path::Component::ParentDir) {
        return Err(format!("invalid HostPath `{path}`: must not contain '..'"));
    }
    let ft = std::fs::metadata(&p).ok().map(|m| m.file_type());
    let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(format!("hostPath type check failed: {path} is not {what}")) };
    match type_ {
        // Unset: no check; made when missing, as Docker did for `-v`, so the bind mount works.
        "" => {
            if ft.is_none() {
                mkdir(&p)?;
            }
        }
        "DirectoryOrCreate" if ft.is_none() => mkdir(&p)?,
        "DirectoryOrCreate" | "Directory" => check(ft.is_some_and(|t| t.is_dir()), "a directory")?,
        "FileOrCreate" if ft.is_none() => {
            if let Some(parent) = p.parent() {
                mkdir(parent)?;
            }
            std::fs::write(&p, b"").map_err(|e| format!("creating {path}: {e}"))?;
        }
        "FileOrCreate" | "File" => check(ft.is_some_and(|t| t.is_file()), "a file")?,
        "Socket" => check(ft.is_some_and(|t| t.is_socket()), "a socket file")?,
        "CharDevice" => check(ft.is_some_and(|t| t.is_char_device()), "a character device")?,
        "BlockDevice" => check(ft.is_some_and(|t| t.is_block_device()), "a block device")?,
        other => return Err(format!("{other} is an invalid volume type")),
    }
    Ok(p)
}

async fn config_map(client: &Client, ns: &str, name: &str, optional: bool) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
    let obj = Api::<ConfigMap>::namespaced(client.clone(), ns).get_opt(name).await.map_err(|e| e.to_string())?;
    match obj {
        Some(o) => {
            let mut data: BTreeMap<String, Vec<u8>> = o.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
            data.extend(o.binary_data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)));
            Ok(Some(data))
        }
        None if optional => Ok(None),
        None => Err(format!("configmap {name:?} not found")),
    }
}

async fn secret(client: &Client, ns: &str, name: &str, optional: bool) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
    let obj = Api::<Secret>::namespaced(client.clone(), ns).get_opt(name).await.map_err(|e| e.to_string())?;
    match obj {
        Some(o) => Ok(Some(o.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect())),
        None if optional => Ok(None),
        None => Err(format!("secret {name:?} not found")),
    }
}

async fn one(client: &Client, ns: &str, pod: &Pod, v: &Volume, pod_dir: &Path, pod_ip: &str, shown_name: &mut String) -> Result<PathBuf, String> {
    let dir = pod_dir.join("volumes").join(&v.name);
    if v.empty_dir.is_some() {
        mkdir(&dir)?;
        return Ok(dir);
    }
    if let Some(hp) = &v.host_path {
        return host_path(&hp.path, hp.type_.as_deref().unwrap_or(""));
    }
    if let Some(nfs) = &v.nfs {
        super::nfs::mount(&nfs.server, &nfs.path, nfs.read_only == Some(true), &[], &dir).await?;
        return Ok(dir);
    }
    if let Some(pvc) = &v.persistent_volume_claim {
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
        let claim = claims.get(&pvc.claim_name).await.map_err(|e| format!("getting PersistentVolumeClaim {}: {e}", pvc.claim_name))?;
        let pv_name = claim.spec.and_then(|s| s.volume_name).filter(|n| !n.is_empty());
        let pv_name = pv_name.ok_or_else(|| format!("PersistentVolumeClaim {} is not bound", pvc.claim_name))?;
        let pv = Api::<PersistentVolume>::all(client.clone()).get(&pv_name).await.map_err(|e| format!("getting PersistentVolume {pv_name}: {e}"))?;
        let spec = pv.spec.unwrap_or_default();
        *shown_name = pv_name.clone();
        if let Some(hp) = spec.host_path {
            return host_path(&hp.path, hp.type_.as_deref().unwrap_or(""));
        }
        if let Some(local) = spec.local {
            return host_path(&local.path, "Directory");
        }
        if let Some(nfs) = spec.nfs {
            let ro = nfs.read_only == Some(true) || pvc.read_only == Some(true);
            super::nfs::mount(&nfs.server, &nfs.path, ro, &spec.mount_options.unwrap_or_default(), &dir).await?;
            return Ok(dir);
        }
        return Err(format!("PersistentVolume {pv_name}: only hostPath, local and nfs volumes can be mounted on a berth node"));
    }
    let payload = files(client, ns, pod, v, pod_ip).await?.ok_or_else(|| format!("volume {:?}: this volume type is not supported by berth nodes yet", v.name))?;
    super::atomic_writer::write(&dir, &payload)?;
    Ok(dir)
}

/// Rewrite the files of the pod's configMap, secret, downwardAPI and projected volumes from
/// the current objects (as the kubelet does on its periodic sync, so that running containers
/// see updates). A volume whose source fails keeps its files; the errors are returned.
pub async fn refresh(client: &Client, pod: &Pod, pod_dir: &Path, pod_ip: &str) -> Vec<(String, String)> {
    let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let mut errors = Vec::new();
    for v in pod.spec.as_ref().and_then(|s| s.volumes.as_ref()).into_iter().flatten() {
        let written = match files(client, &ns, pod, v, pod_ip).await {
            Ok(Some(payload)) => super::atomic_writer::write(&pod_dir.join("volumes").join(&v.name), &payload),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            errors.push((v.name.clone(), e));
        }
    }
    errors
}

/// The files of a configMap, secret, downwardAPI or projected volume; None for other types.
async fn files(client: &Client, ns: &str, pod: &Pod, v: &Volume, pod_ip: &str) -> Result<Option<Payload>, String> {
    let alloc = Allocatable::host();
    if let Some(cm) = &v.config_map {
        let optional = cm.optional == Some(true);
        let data = config_map(client, ns, &cm.name, optional).await?.unwrap_or_default();
        return projection::keys(Source::ConfigMap, &data, cm.items.as_deref(), cm.default_mode.unwrap_or(DEFAULT_MODE), optional).map(Some);
    }
    if let Some(sec) = &v.secret {
        let optional = sec.optional == Some(true);
        let name = sec.secret_name.clone().unwrap_or_default();
        let data = secret(client, ns, &name, optional).await?.unwrap_or_default();
        return projection::keys(Source::Secret, &data, sec.items.as_deref(), sec.default_mode.unwrap_or(DEFAULT_MODE), optional).map(Some);
    }
    if let Some(d) = &v.downward_api {
        return projection::downward(d.items.as_deref().unwrap_or_default(), pod, pod_ip, d.default_mode.unwrap_or(DEFAULT_MODE), &alloc).map(Some);
    }
    let Some(p) = &v.projected else { return Ok(None) };
    let mode = p.default_mode.unwrap_or(DEFAULT_MODE);
    let mut out = Payload::new();
    let mut errors = Vec::new();
    for s in p.sources.iter().flatten() {
        let part = if let Some(cm) = &s.config_map {
            let optional = cm.optional == Some(true);
            match config_map(client, ns, &cm.name, optional).await {
                Ok(data) => projection::keys(Source::ConfigMap, &data.unwrap_or_default(), cm.items.as_deref(), mode, optional),
                Err(e) => Err(e),
            }
        } else if let Some(sec) = &s.secret {
            let optional = sec.optional == Some(true);
            match secret(client, ns, &sec.name, optional).await {
                Ok(data) => projection::keys(Source::Secret, &data.unwrap_or_default(), sec.items.as_deref(), mode, optional),
                Err(e) => Err(e),
            }
        } else if let Some(d) = &s.downward_api {
            projection::downward(d.items.as_deref().unwrap_or_default(), pod, pod_ip, mode, &alloc)
        } else if s.service_account_token.is_some() {
            Err("serviceAccountToken projections are not supported by berth nodes yet (no token issuer)".into())
        } else {
            Err("this projected volume source is not supported by berth nodes yet".into())
        };
        match part {
            Ok(files) => out.extend(files),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(projection::aggregate(errors));
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_path_type_checks_as_upstream() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("nope");
        let m = missing.to_string_lossy().to_string();
        assert_eq!(host_path(&m, "Directory").unwrap_err(), format!("hostPath type check failed: {m} is not a directory"));
        assert_eq!(host_path(&m, "File").unwrap_err(), format!("hostPath type check failed: {m} is not a file"));
        assert_eq!(host_path(&m, "Socket").unwrap_err(), format!("hostPath type check failed: {m} is not a socket file"));
        assert!(host_path(&m, "DirectoryOrCreate").is_ok() && missing.is_dir());
        assert_eq!(host_path(&m, "File").unwrap_err(), format!("hostPath type check failed: {m} is not a file"));
        let f = d.path().join("f").to_string_lossy().to_string();
        assert!(host_path(&f, "FileOrCreate").is_ok());
        assert!(host_path(&f, "File").is_ok());
        assert!(host_path(&f, "Directory").is_err());
        assert_eq!(host_path("/x", "Weird").unwrap_err(), "Weird is an invalid volume type");
    }
}
