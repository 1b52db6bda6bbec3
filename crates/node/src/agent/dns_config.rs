//! A pod's DNS settings from its `dnsPolicy` and `dnsConfig`, as the kubelet computes them
//! (pkg/kubelet/network/dns): `ClusterFirst` uses the cluster DNS with the cluster search path
//! and `ndots:5`, falling back to `Default` without a cluster DNS (or on the host network);
//! `ClusterFirstWithHostNet` is `ClusterFirst` for host-network pods too; `Default` inherits
//! the node's resolv.conf; `None` takes only `dnsConfig`. `dnsConfig` is appended in every
//! case, then trimmed to the resolver's limits.

use k8s_openapi::api::core::v1::Pod;

/// At most 3 nameservers (glibc's MAXNS), 32 search domains (upstream's MaxDNSSearchPaths).
const MAX_NAMESERVERS: usize = 3;
const MAX_SEARCHES: usize = 32;

/// What the node knows: `--cluster-dns` and its own resolv.conf.
#[derive(Clone, Debug, Default)]
pub struct NodeDns {
    pub cluster_dns: Vec<String>,
    pub cluster_domain: String,
    pub host: Resolv,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolv {
    pub nameservers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

impl Resolv {
    /// Parse a resolv.conf; loopback nameservers are left out (a pod has its own loopback).
    pub fn parse(text: &str) -> Resolv {
        let mut r = Resolv::default();
        for line in text.lines() {
            let mut f = line.split_whitespace();
            match f.next() {
                Some("nameserver") => r.nameservers.extend(f.next().filter(|n| !n.starts_with("127.") && *n != "::1").map(str::to_string)),
                // The last search/domain line wins, as in the resolver.
                Some("search") | Some("domain") => r.searches = f.map(str::to_string).collect(),
                Some("options") => r.options.extend(f.map(str::to_string)),
                _ => {}
            }
        }
        r
    }

    /// The file, in containerd's order (search, nameserver, options).
    pub fn render(&self) -> String {
        let mut s = String::new();
        if !self.searches.is_empty() {
            s.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        for n in &self.nameservers {
            s.push_str(&format!("nameserver {n}\n"));
        }
        if !self.options.is_empty() {
            s.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        s
    }
}

fn push_unique(into: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for i in items {
        if !i.is_empty() && !into.contains(&i) {
            into.push(i);
        }
    }
}

/// Options merge by name; a later `name[:value]` replaces an earlier one.
fn merge_options(into: &mut Vec<String>, name: &str, value: Option<&str>) {
    let opt = match value {
        Some(v) => format!("{name}:{v}"),
        None => name.to_string(),
    };
    match into.iter_mut().find(|o| o.split(':').next() == Some(name)) {
        Some(existing) => *existing = opt,
        None => into.push(opt),
    }
}

/// The pod's resolv.conf settings.
pub fn pod_resolv(pod: &Pod, node: &NodeDns) -> Resolv {
    let spec = pod.spec.as_ref();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let policy = spec.and_then(|s| s.dns_policy.as_deref()).unwrap_or("ClusterFirst");
    let cluster = match policy {
        "None" => None,
        "ClusterFirstWithHostNet" => Some(true),
        "Default" => Some(false),
        _ => Some(!host_network),
    };
    let mut r = match cluster {
        None => Resolv::default(),
        Some(true) if !node.cluster_dns.is_empty() => {
            let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
            let d = &node.cluster_domain;
            let mut searches = vec![format!("{ns}.svc.{d}"), format!("svc.{d}"), d.clone()];
            push_unique(&mut searches, node.host.searches.clone());
            Resolv { nameservers: node.cluster_dns.clone(), searches, options: vec!["ndots:5".into()] }
        }
        // No cluster DNS: upstream falls back to Default.
        Some(_) => node.host.clone(),
    };
    if let Some(c) = spec.and_then(|s| s.dns_config.as_ref()) {
        push_unique(&mut r.nameservers, c.nameservers.clone().unwrap_or_default());
        push_unique(&mut r.searches, c.searches.clone().unwrap_or_default());
        for o in c.options.iter().flatten() {
            if let Some(name) = o.name.as_deref() {
                merge_options(&mut r.options, name, o.value.as_deref());
            }
        }
    }
    r.nameservers.truncate(MAX_NAMESERVERS);
    r.searches.truncate(MAX_SEARCHES);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({"metadata": {"name": "p", "namespace": "x"}, "spec": spec})).unwrap()
    }

    fn node(cluster_dns: &[&str]) -> NodeDns {
        NodeDns {
            cluster_dns: cluster_dns.iter().map(|s| s.to_string()).collect(),
            cluster_domain: "cluster.local".into(),
            host: Resolv::parse("search corp.example\nnameserver 127.0.0.53\nnameserver 192.0.2.53\noptions edns0\n"),
        }
    }

    #[test]
    fn cluster_first_uses_the_cluster_dns_and_search_path() {
        let r = pod_resolv(&pod(serde_json::json!({"containers": []})), &node(&["10.96.0.10"]));
        assert_eq!(
            r.render(),
            "search x.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\noptions ndots:5\n"
        );
        // Without a cluster DNS, or on the host network: the node's own settings.
        let r = pod_resolv(&pod(serde_json::json!({"containers": []})), &node(&[]));
        assert_eq!(r.render(), "search corp.example\nnameserver 192.0.2.53\noptions edns0\n");
        let r = pod_resolv(&pod(serde_json::json!({"hostNetwork": true, "containers": []})), &node(&["10.96.0.10"]));
        assert_eq!(r.nameservers, ["192.0.2.53"]);
        let r = pod_resolv(&pod(serde_json::json!({"hostNetwork": true, "dnsPolicy": "ClusterFirstWithHostNet", "containers": []})), &node(&["10.96.0.10"]));
        assert_eq!(r.nameservers, ["10.96.0.10"]);
    }

    #[test]
    fn default_none_and_dns_config() {
        let r = pod_resolv(&pod(serde_json::json!({"dnsPolicy": "Default", "containers": []})), &node(&["10.96.0.10"]));
        assert_eq!(r.nameservers, ["192.0.2.53"]);
        let spec = serde_json::json!({"dnsPolicy": "None", "containers": [], "dnsConfig": {
            "nameservers": ["1.2.3.4"], "searches": ["ns1.svc.cluster-domain.example", "my.dns.search.suffix"],
            "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}});
        assert_eq!(
            pod_resolv(&pod(spec), &node(&["10.96.0.10"])).render(),
            "search ns1.svc.cluster-domain.example my.dns.search.suffix\nnameserver 1.2.3.4\noptions ndots:2 edns0\n"
        );
        // dnsConfig adds to ClusterFirst; its options override by name.
        let spec = serde_json::json!({"containers": [], "dnsConfig": {"nameservers": ["10.96.0.10", "1.1.1.1", "8.8.8.8", "9.9.9.9"], "options": [{"name": "ndots", "value": "1"}]}});
        let r = pod_resolv(&pod(spec), &node(&["10.96.0.10"]));
        assert_eq!(r.nameservers, ["10.96.0.10", "1.1.1.1", "8.8.8.8"], "deduplicated, at most 3");
        assert_eq!(r.options, ["ndots:1"]);
    }
}
