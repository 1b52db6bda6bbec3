//! Volumes as host directories to bind into containers: emptyDir under the pod's state dir,
//! hostPath, a persistentVolumeClaim's PV (hostPath or local), configMap and secret keys
//! written as files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Volume};
use kube::{Api, Client};

/// Host path of each pod volume by name, or the first error (volume name, message).
pub async fn prepare(client: &Client, pod: &Pod, pod_dir: &Path) -> Result<BTreeMap<String, PathBuf>, (String, String)> {
    let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let mut out = BTreeMap::new();
    for v in pod.spec.as_ref().and_then(|s| s.volumes.as_ref()).into_iter().flatten() {
        let path = one(client, &ns, v, pod_dir).await.map_err(|e| (v.name.clone(), e))?;
        out.insert(v.name.clone(), path);
    }
    Ok(out)
}

fn mkdir(p: &Path) -> Result<(), String> {
    std::fs::create_dir_all(p).map_err(|e| format!("creating {}: {e}", p.display()))
}

fn host_path(path: &str, type_: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(path);
    match type_ {
        // Unset (as Docker did for -v) and DirectoryOrCreate: made when missing.
        "" | "DirectoryOrCreate" => mkdir(&p)?,
        "Directory" if !p.is_dir() => return Err(format!("hostPath type check failed: {path} is not a directory")),
        "File" if !p.is_file() => return Err(format!("hostPath type check failed: {path} is not a file")),
        "FileOrCreate" if !p.exists() => {
            if let Some(parent) = p.parent() {
                mkdir(parent)?;
            }
            std::fs::write(&p, b"").map_err(|e| format!("creating {path}: {e}"))?;
        }
        _ if !p.exists() => return Err(format!("hostPath {path} does not exist")),
        _ => {}
    }
    Ok(p)
}

async fn one(client: &Client, ns: &str, v: &Volume, pod_dir: &Path) -> Result<PathBuf, String> {
    let dir = pod_dir.join("volumes").join(&v.name);
    if v.empty_dir.is_some() {
        mkdir(&dir)?;
        return Ok(dir);
    }
    if let Some(hp) = &v.host_path {
        return host_path(&hp.path, hp.type_.as_deref().unwrap_or(""));
    }
    if let Some(pvc) = &v.persistent_volume_claim {
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
        let claim = claims.get(&pvc.claim_name).await.map_err(|e| format!("getting PersistentVolumeClaim {}: {e}", pvc.claim_name))?;
        let pv_name = claim.spec.and_then(|s| s.volume_name).filter(|n| !n.is_empty());
        let pv_name = pv_name.ok_or_else(|| format!("PersistentVolumeClaim {} is not bound", pvc.claim_name))?;
        let pv = Api::<PersistentVolume>::all(client.clone()).get(&pv_name).await.map_err(|e| format!("getting PersistentVolume {pv_name}: {e}"))?;
        let spec = pv.spec.unwrap_or_default();
        if let Some(hp) = spec.host_path {
            return host_path(&hp.path, hp.type_.as_deref().unwrap_or(""));
        }
        if let Some(local) = spec.local {
            return host_path(&local.path, "Directory");
        }
        return Err(format!("PersistentVolume {pv_name}: only hostPath and local volumes can be mounted on a berth node"));
    }
    if let Some(cm) = &v.config_map {
        let obj = Api::<ConfigMap>::namespaced(client.clone(), ns).get_opt(&cm.name).await.map_err(|e| e.to_string())?;
        let data = match obj {
            Some(o) => o.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.into_bytes())).collect(),
            None if cm.optional == Some(true) => BTreeMap::new(),
            None => return Err(format!("configmap \"{}\" not found", cm.name)),
        };
        return write_files(&dir, data);
    }
    if let Some(sec) = &v.secret {
        let name = sec.secret_name.clone().unwrap_or_default();
        let obj = Api::<Secret>::namespaced(client.clone(), ns).get_opt(&name).await.map_err(|e| e.to_string())?;
        let data = match obj {
            Some(o) => o.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect(),
            None if sec.optional == Some(true) => BTreeMap::new(),
            None => return Err(format!("secret \"{name}\" not found")),
        };
        return write_files(&dir, data);
    }
    Err(format!("volume {:?}: this volume type is not supported by berth nodes yet", v.name))
}

fn write_files(dir: &Path, data: BTreeMap<String, Vec<u8>>) -> Result<PathBuf, String> {
    mkdir(dir)?;
    for (k, v) in data {
        std::fs::write(dir.join(&k), v).map_err(|e| format!("writing {k}: {e}"))?;
    }
    Ok(dir.to_path_buf())
}
