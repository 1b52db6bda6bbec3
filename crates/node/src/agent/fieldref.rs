//! The downward API's `fieldRef` values (env and volumes), as upstream's kubelet
//! (`podFieldSelectorRuntimeValue`, `fieldpath.ExtractFieldPathAsString`): whole label and
//! annotation maps are `key="value"` lines sorted by key with Go-quoted values.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

/// The node's address as the pod sees it (`--node-ip`; loopback for agents on the server's
/// host). One agent per process, so a process-wide value set once at start is enough and
/// spares threading it through every env/volume path.
static HOST_IP: std::sync::OnceLock<String> = std::sync::OnceLock::new();

pub fn set_host_ip(ip: std::net::Ipv4Addr) {
    let _ = HOST_IP.set(ip.to_string());
}

pub fn host_ip() -> &'static str {
    HOST_IP.get().map(String::as_str).unwrap_or("127.0.0.1")
}

pub fn value(pod: &Pod, path: &str, pod_ip: &str) -> Result<String, String> {
    let m = &pod.metadata;
    let s = pod.spec.as_ref();
    let empty = BTreeMap::new();
    let labels = m.labels.as_ref().unwrap_or(&empty);
    let annotations = m.annotations.as_ref().unwrap_or(&empty);
    Ok(match path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => m.namespace.clone().unwrap_or_default(),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(labels),
        "metadata.annotations" => format_map(annotations),
        "spec.nodeName" => s.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => s.and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => host_ip().into(),
        // One address family per pod here, so podIPs is the podIP.
        "status.podIP" | "status.podIPs" => pod_ip.into(),
        _ => {
            let sub = |prefix: &str| path.strip_prefix(prefix).and_then(|r| r.strip_suffix("']")).map(str::to_string);
            if let Some(k) = sub("metadata.labels['") {
                labels.get(&k).cloned().unwrap_or_default()
            } else if let Some(k) = sub("metadata.annotations['") {
                annotations.get(&k).cloned().unwrap_or_default()
            } else {
                return Err(format!("unsupported fieldPath: {path}"));
            }
        }
    })
}

/// `k="v"` lines, sorted by key, without a final newline (upstream's `fieldpath.FormatMap`).
pub fn format_map(m: &BTreeMap<String, String>) -> String {
    m.iter().map(|(k, v)| format!("{k}={}", go_quote(v))).collect::<Vec<_>>().join("\n")
}

/// A string as Go's `%q` writes it: double-quoted, with `\"`, `\\` and control characters
/// escaped; printable Unicode kept.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "labels": {"b": "2", "a": "x\"y"}, "annotations": {"note": "l1\nl2"}},
            "spec": {"nodeName": "node-1", "serviceAccountName": "sa", "containers": []}
        }))
        .unwrap()
    }

    #[test]
    fn resolves_upstream_field_paths() {
        let p = pod();
        let v = |f: &str| value(&p, f, "10.0.0.2").unwrap();
        assert_eq!(v("metadata.uid"), "u-1");
        assert_eq!(v("metadata.labels['b']"), "2");
        assert_eq!(v("metadata.labels['missing']"), "");
        assert_eq!(v("metadata.annotations['note']"), "l1\nl2");
        assert_eq!(v("spec.serviceAccountName"), "sa");
        assert_eq!(v("status.hostIP"), "127.0.0.1");
        assert_eq!(v("status.podIPs"), "10.0.0.2");
        assert_eq!(v("metadata.labels"), "a=\"x\\\"y\"\nb=\"2\"");
        assert_eq!(v("metadata.annotations"), "note=\"l1\\nl2\"");
        assert_eq!(value(&p, "spec.hostname", "").unwrap_err(), "unsupported fieldPath: spec.hostname");
    }

    #[test]
    fn quotes_as_go() {
        assert_eq!(go_quote("plain"), "\"plain\"");
        assert_eq!(go_quote("a\\b\t\x01é"), "\"a\\\\b\\t\\x01é\"");
    }
}
