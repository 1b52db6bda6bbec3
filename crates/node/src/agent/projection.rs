//! Files of configMap, secret, downwardAPI and projected volumes, as upstream's volume plugins
//! build their payloads (pkg/volume/configmap, secret, downwardapi, projected): every key, or
//! only the listed `items` at their (possibly nested) `path`s, with `mode` or the volume's
//! `defaultMode` (0644). Building a payload is pure; `atomic_writer::write` puts one into a
//! directory.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, DownwardAPIVolumeFile, KeyToPath, Pod};

use super::resources::Allocatable;
use super::{fieldref, resources};

/// Upstream's default file mode for these volumes (0644).
pub const DEFAULT_MODE: i32 = 0o644;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub data: Vec<u8>,
    pub mode: u32,
}

/// Relative path → file.
pub type Payload = BTreeMap<String, File>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    ConfigMap,
    Secret,
}

fn mode(m: Option<i32>, default: i32) -> u32 {
    (m.unwrap_or(default) as u32) & 0o777
}

/// The files of a ConfigMap's or Secret's `data` (binaryData merged in by the caller).
pub fn keys(kind: Source, data: &BTreeMap<String, Vec<u8>>, items: Option<&[KeyToPath]>, default_mode: i32, optional: bool) -> Result<Payload, String> {
    let mut out = Payload::new();
    match items.filter(|i| !i.is_empty()) {
        None => {
            for (k, v) in data {
                out.insert(k.clone(), File { data: v.clone(), mode: mode(None, default_mode) });
            }
        }
        Some(items) => {
            for it in items {
                let Some(v) = data.get(&it.key) else {
                    if optional {
                        continue;
                    }
                    return Err(match kind {
                        Source::ConfigMap => format!("configmap references non-existent config key: {}", it.key),
                        Source::Secret => format!("references non-existent secret key: {}", it.key),
                    });
                };
                let path = if it.path.is_empty() { it.key.clone() } else { it.path.clone() };
                out.insert(path, File { data: v.clone(), mode: mode(it.mode, default_mode) });
            }
        }
    }
    Ok(out)
}

/// The files of a downwardAPI volume (or projection): fieldRef and resourceFieldRef values.
pub fn downward(items: &[DownwardAPIVolumeFile], pod: &Pod, pod_ip: &str, default_mode: i32, alloc: &Allocatable) -> Result<Payload, String> {
    let containers: Vec<Container> = pod.spec.as_ref().map(|s| s.containers.clone()).unwrap_or_default();
    let mut out = Payload::new();
    let mut errors = Vec::new();
    for it in items {
        let v = if let Some(f) = &it.field_ref {
            fieldref::value(pod, &f.field_path, pod_ip)
        } else if let Some(r) = &it.resource_field_ref {
            resources::field(&containers, None, r, alloc)
        } else {
            continue;
        };
        match v {
            Ok(v) => {
                out.insert(it.path.clone(), File { data: v.into_bytes(), mode: mode(it.mode, default_mode) });
            }
            Err(e) => errors.push(e),
        }
    }
    match errors.len() {
        0 => Ok(out),
        _ => Err(aggregate(errors)),
    }
}

/// Several errors as Go's `utilerrors.NewAggregate` prints them.
pub fn aggregate(errors: Vec<String>) -> String {
    match errors.len() {
        1 => errors.into_iter().next().unwrap_or_default(),
        _ => format!("[{}]", errors.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> BTreeMap<String, Vec<u8>> {
        [("a".to_string(), b"1".to_vec()), ("b".to_string(), b"2".to_vec())].into()
    }

    fn ktp(key: &str, path: &str, mode: Option<i32>) -> KeyToPath {
        KeyToPath { key: key.into(), path: path.into(), mode }
    }

    #[test]
    fn all_keys_or_listed_items() {
        let all = keys(Source::ConfigMap, &data(), None, DEFAULT_MODE, false).unwrap();
        assert_eq!(all.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(all["a"].mode, 0o644);
        let items = [ktp("b", "nested/dir/b.txt", Some(0o400))];
        let some = keys(Source::ConfigMap, &data(), Some(&items), 0o600, false).unwrap();
        assert_eq!(some.len(), 1);
        assert_eq!(some["nested/dir/b.txt"], File { data: b"2".to_vec(), mode: 0o400 });
        let items = [ktp("a", "x", None), ktp("zz", "y", None)];
        assert_eq!(keys(Source::ConfigMap, &data(), Some(&items), DEFAULT_MODE, false).unwrap_err(), "configmap references non-existent config key: zz");
        assert_eq!(keys(Source::Secret, &data(), Some(&items), DEFAULT_MODE, false).unwrap_err(), "references non-existent secret key: zz");
        let opt = keys(Source::Secret, &data(), Some(&items), 0o600, true).unwrap();
        assert_eq!(opt.keys().collect::<Vec<_>>(), ["x"]);
        assert_eq!(opt["x"].mode, 0o600);
    }

    #[test]
    fn downward_files() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web", "tier": "fe"}},
            "spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "250m"}}}]}})).unwrap();
        let items: Vec<DownwardAPIVolumeFile> = serde_json::from_value(serde_json::json!([
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "meta/name", "fieldRef": {"fieldPath": "metadata.name"}, "mode": 0o400},
            {"path": "cpu", "resourceFieldRef": {"containerName": "c", "resource": "limits.cpu", "divisor": "1m"}}])).unwrap();
        let alloc = Allocatable { cpu: "2".into(), memory: "1Gi".into(), ephemeral_storage: "1Gi".into() };
        let p = downward(&items, &pod, "10.0.0.2", DEFAULT_MODE, &alloc).unwrap();
        assert_eq!(String::from_utf8(p["labels"].data.clone()).unwrap(), "app=\"web\"\ntier=\"fe\"");
        assert_eq!(p["meta/name"], File { data: b"p".to_vec(), mode: 0o400 });
        assert_eq!(p["cpu"].data, b"250");
        let bad: Vec<DownwardAPIVolumeFile> = serde_json::from_value(serde_json::json!([{"path": "x", "fieldRef": {"fieldPath": "spec.nope"}}])).unwrap();
        assert_eq!(downward(&bad, &pod, "", DEFAULT_MODE, &alloc).unwrap_err(), "unsupported fieldPath: spec.nope");
    }
}
