//! The files the kubelet writes into every (non-hostNetwork) pod: `/etc/hosts`
//! (`managedHostsFileContent`), `/etc/hostname`, `/etc/resolv.conf` (per dnsPolicy).

use k8s_openapi::api::core::v1::Pod;

pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// `spec.hostname`, else the pod name; at most 63 characters with trailing `-`/`.` trimmed.
pub fn pod_hostname(pod: &Pod) -> String {
    let h = pod.spec.as_ref().and_then(|s| s.hostname.clone()).filter(|h| !h.is_empty());
    let mut h = h.unwrap_or_else(|| pod.metadata.name.clone().unwrap_or_default());
    if h.len() > 63 {
        h.truncate(63);
        while h.ends_with('-') || h.ends_with('.') {
            h.pop();
        }
    }
    h
}

/// `<hostname>.<subdomain>.<ns>.svc.<domain>` when the pod has a subdomain.
pub fn pod_fqdn(pod: &Pod) -> Option<String> {
    let sub = pod.spec.as_ref()?.subdomain.clone().filter(|s| !s.is_empty())?;
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    Some(format!("{}.{sub}.{ns}.svc.{CLUSTER_DOMAIN}", pod_hostname(pod)))
}

pub fn hosts(pod: &Pod, pod_ip: &str) -> String {
    let mut s = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    let host = pod_hostname(pod);
    match pod_fqdn(pod) {
        Some(fqdn) => s.push_str(&format!("{pod_ip}\t{fqdn}\t{host}\n")),
        None => s.push_str(&format!("{pod_ip}\t{host}\n")),
    }
    let aliases = pod.spec.as_ref().and_then(|s| s.host_aliases.as_ref()).filter(|a| !a.is_empty());
    if let Some(aliases) = aliases {
        s.push_str("\n# Entries added by HostAliases.\n");
        for a in aliases {
            s.push_str(&format!("{}\t{}\n", a.ip, a.hostnames.clone().unwrap_or_default().join("\t")));
        }
    }
    s
}

/// The pod's `/etc/resolv.conf` ([`super::dns_config`] decides its content).
pub fn resolv_conf(pod: &Pod, node: &super::dns_config::NodeDns) -> String {
    super::dns_config::pod_resolv(pod, node).render()
}

/// The node's own resolver settings (`/etc/resolv.conf`), for `dnsPolicy: Default`.
pub fn host_resolv() -> super::dns_config::Resolv {
    super::dns_config::Resolv::parse(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn hosts_file_has_the_fqdn_with_a_subdomain() {
        let p = pod(serde_json::json!({"metadata": {"name": "web-0", "namespace": "default"},
            "spec": {"hostname": "web-0", "subdomain": "nginx", "containers": []}}));
        let h = hosts(&p, "10.245.1.5");
        assert!(h.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("fe00::2\tip6-allrouters\n10.245.1.5\tweb-0.nginx.default.svc.cluster.local\tweb-0\n"), "{h}");
        let p = pod(serde_json::json!({"metadata": {"name": "solo", "namespace": "x"}, "spec": {"containers": []}}));
        assert!(hosts(&p, "10.0.0.2").ends_with("\n10.0.0.2\tsolo\n"));
        let node = super::super::dns_config::NodeDns { cluster_dns: vec!["10.96.0.10".into()], cluster_domain: CLUSTER_DOMAIN.into(), ..Default::default() };
        assert_eq!(resolv_conf(&p, &node), "search x.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n");
    }

    #[test]
    fn hostname_is_truncated_to_63() {
        let long = format!("{}-{}", "a".repeat(62), "b");
        let p = pod(serde_json::json!({"metadata": {"name": long}, "spec": {"containers": []}}));
        assert_eq!(pod_hostname(&p), "a".repeat(62));
    }
}
