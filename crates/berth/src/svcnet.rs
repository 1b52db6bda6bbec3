//! `berth up`'s service networking for pods on real nodes (root): the cluster DNS on the
//! `kube-dns` Service IP, and the service proxy.
//!
//! **DNS on the Service IP.** As NodeLocal DNSCache does with 169.254.20.10, the kube-dns
//! ClusterIP is put as a /32 on a link of its own in the host network namespace
//! (`bdns<cluster id>`, a dummy link, or a port-less bridge where the kernel has no dummy
//! driver) and the DNS server binds `<ip>:53`. Pods reach it through their default route (the
//! host is their gateway); the host reaches it directly. This does not depend on the proxy
//! (DNS keeps working with `--disable proxy`), costs no NAT per query, and everything goes with
//! the link: deleting it on stop removes the address and its routes. The proxy is told to
//! leave that IP alone.
//!
//! **Parallel clusters.** The DNS IP is the cluster's own: `--cluster-dns-ip`, else the
//! kube-dns Service's existing IP (a resumed data dir), else 10.96.0.10 — or, when another
//! cluster on this host already holds 10.96.0.10 (or takes it at the same moment: then our
//! bind fails), a free address of the service range. The
//! link name and the proxy's nft table derive from the data dir, so two clusters never share
//! them, and stale ones from a killed run are removed at start.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, PostParams};

/// kubeadm's choice: the 10th address of the default service range.
pub const DEFAULT_DNS_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);

pub struct Settings<'a> {
    pub cluster_cidr: &'a str,
    pub dns_ip: Option<Ipv4Addr>,
    /// The cluster DNS's handler, when DNS runs.
    pub dns: Option<berth_dns::Handler>,
    pub proxy: bool,
}

/// What runs for pods; [`PodNetwork::stop`] removes it all.
#[derive(Default)]
pub struct PodNetwork {
    pub dns_ip: Option<Ipv4Addr>,
    link: Option<String>,
    dns_task: Option<tokio::task::JoinHandle<()>>,
    proxy: Option<berth_proxy::Proxy>,
}

/// FNV-1a of the data dir: a short id stable across runs on the same dir.
pub fn cluster_id(data_dir: &Path) -> String {
    let mut h: u32 = 0x811c9dc5;
    for b in data_dir.to_string_lossy().bytes() {
        h = (h ^ b as u32).wrapping_mul(0x01000193);
    }
    format!("{h:08x}")
}

async fn ip(args: &[&str]) -> Result<String, String> {
    let out = tokio::process::Command::new("ip").args(args).output().await.map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Is `addr` assigned to any interface of this host?
async fn address_in_use(addr: Ipv4Addr) -> bool {
    ip(&["-o", "addr", "show", "to", &format!("{addr}/32")]).await.map(|o| !o.trim().is_empty()).unwrap_or(false)
}

async fn add_link(link: &str) -> Result<(), String> {
    if ip(&["link", "add", link, "type", "dummy"]).await.is_err() {
        // No dummy driver (some containers): a bridge without ports holds an address the same way.
        ip(&["link", "add", link, "type", "bridge"]).await?;
    }
    ip(&["link", "set", link, "up"]).await.map(|_| ())
}

/// The `attempt`-th DNS IP to try (see the module docs): the requested one, else the kube-dns
/// Service's existing IP and 10.96.0.10, else addresses of 10.96.0.0/12 derived from the pid.
fn dns_ip_candidate(attempt: usize, requested: Option<Ipv4Addr>, existing: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
    if let Some(ip) = requested {
        return (attempt == 0).then_some(ip);
    }
    let preferred: Vec<Ipv4Addr> = existing.into_iter().chain([DEFAULT_DNS_IP]).collect();
    if let Some(ip) = preferred.get(attempt) {
        return Some(*ip);
    }
    let k = (std::process::id() as u64).wrapping_mul(7919).wrapping_add(attempt as u64 * 104_729);
    Some(Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 96, 1, 0)) + (k % ((1 << 20) - 512)) as u32))
}

/// Put a free DNS IP on `link`, serve DNS on it and make it the kube-dns Service's IP. Two
/// clusters starting at once may both pick the same address: the one whose bind fails (or
/// whose Service create finds the IP taken) moves on to the next candidate.
async fn serve_dns_ip(
    client: &kube::Client,
    link: &str,
    requested: Option<Ipv4Addr>,
    handler: berth_dns::Handler,
) -> Result<(Ipv4Addr, tokio::task::JoinHandle<()>), String> {
    let existing = existing_dns_ip(client).await;
    let mut last_error = String::from("no address left to try");
    for attempt in 0..8 {
        let Some(addr) = dns_ip_candidate(attempt, requested, existing) else { break };
        if address_in_use(addr).await {
            last_error = format!("{addr} is already in use on this host (another cluster?)");
            continue;
        }
        ip(&["addr", "add", &format!("{addr}/32"), "dev", link]).await?;
        let served: Result<(), String> = match berth_dns::serve(SocketAddr::from((addr, 53)), handler.clone()).await {
            Ok((_, task)) => match ensure_kube_dns_service(client, addr).await {
                Ok(()) => return Ok((addr, task)),
                Err(e) => {
                    task.abort();
                    Err(e)
                }
            },
            Err(e) => Err(e),
        };
        last_error = served.err().unwrap_or_default();
        let _ = ip(&["addr", "del", &format!("{addr}/32"), "dev", link]).await;
    }
    Err(match requested {
        Some(ip) => format!("--cluster-dns-ip {ip}: {last_error}"),
        None => format!("no cluster DNS IP could be set up: {last_error}"),
    })
}

/// Create (or re-create, when its IP differs) the `kube-system/kube-dns` Service, as kubeadm's
/// CoreDNS addon defines it.
async fn ensure_kube_dns_service(client: &kube::Client, addr: Ipv4Addr) -> Result<(), String> {
    let api: Api<Service> = Api::namespaced(client.clone(), "kube-system");
    if let Some(s) = api.get_opt("kube-dns").await.map_err(|e| e.to_string())? {
        if s.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some(addr.to_string().as_str()) {
            return Ok(());
        }
        api.delete("kube-dns", &DeleteParams::default()).await.map_err(|e| e.to_string())?;
        for _ in 0..100 {
            if api.get_opt("kube-dns").await.map_err(|e| e.to_string())?.is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let svc: Service = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "kube-dns", "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"}},
        "spec": {"clusterIP": addr.to_string(), "selector": {"k8s-app": "kube-dns"},
            "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                      {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]}
    }))
    .map_err(|e| e.to_string())?;
    api.create(&PostParams::default(), &svc).await.map_err(|e| format!("creating kube-system/kube-dns: {e}"))?;
    Ok(())
}

async fn existing_dns_ip(client: &kube::Client) -> Option<Ipv4Addr> {
    let api: Api<Service> = Api::namespaced(client.clone(), "kube-system");
    let s = api.get_opt("kube-dns").await.ok()??;
    s.spec?.cluster_ip?.parse().ok()
}

/// Start DNS-on-the-Service-IP and the proxy (root and real nodes only; the caller checks).
pub async fn start(client: kube::Client, data_dir: &Path, settings: Settings<'_>) -> Result<PodNetwork, String> {
    let id = cluster_id(data_dir);
    let link = format!("bdns{id}");
    let table = berth_proxy::table_name(&id);
    // Leftovers of a run that was killed.
    let _ = ip(&["link", "del", &link]).await;
    let _ = tokio::task::spawn_blocking({
        let t = table.clone();
        move || berth_proxy::nft::apply(&berth_proxy::ruleset::delete(&t))
    })
    .await;
    let mut net = PodNetwork::default();
    if let Some(handler) = settings.dns {
        add_link(&link).await?;
        net.link = Some(link.clone());
        match serve_dns_ip(&client, &link, settings.dns_ip, handler).await {
            Ok((addr, task)) => {
                net.dns_ip = Some(addr);
                net.dns_task = Some(task);
                eprintln!("berth: cluster DNS for pods on {addr}:53 (Service kube-system/kube-dns, link {link})");
            }
            Err(e) => {
                net.stop().await;
                return Err(e);
            }
        }
    }
    if settings.proxy {
        let config = berth_proxy::Config {
            table: table.clone(),
            pod_cidr: settings.cluster_cidr.to_string(),
            skip_ips: net.dns_ip.into_iter().collect(),
            debounce: Duration::from_millis(5),
        };
        match berth_proxy::start(client, config).await {
            Ok(p) => net.proxy = Some(p),
            Err(e) => {
                net.stop().await;
                return Err(e);
            }
        }
        eprintln!("berth: service proxy (nftables table ip {table})");
    }
    Ok(net)
}

impl PodNetwork {
    /// Remove the nft table and the DNS link.
    pub async fn stop(self) {
        if let Some(p) = self.proxy {
            p.stop().await;
        }
        if let Some(t) = self.dns_task {
            t.abort();
        }
        if let Some(link) = self.link {
            if let Err(e) = ip(&["link", "del", &link]).await {
                eprintln!("berth: removing {link}: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_ip_candidates() {
        let want: Ipv4Addr = "10.96.0.53".parse().unwrap();
        assert_eq!(dns_ip_candidate(0, Some(want), None), Some(want));
        assert_eq!(dns_ip_candidate(1, Some(want), None), None, "an explicit IP is the only one tried");
        let old: Ipv4Addr = "10.96.0.77".parse().unwrap();
        assert_eq!(dns_ip_candidate(0, None, Some(old)), Some(old));
        assert_eq!(dns_ip_candidate(1, None, Some(old)), Some(DEFAULT_DNS_IP));
        assert_eq!(dns_ip_candidate(0, None, None), Some(DEFAULT_DNS_IP));
        let more: Vec<Ipv4Addr> = (1..6).filter_map(|a| dns_ip_candidate(a, None, None)).collect();
        assert!(more.iter().all(|ip| ip.octets()[0] == 10 && (96..112).contains(&ip.octets()[1])), "{more:?}");
        assert_eq!(more.iter().collect::<std::collections::HashSet<_>>().len(), 5, "distinct: {more:?}");
        assert_ne!(cluster_id(Path::new("/a")), cluster_id(Path::new("/b")));
        assert_eq!(cluster_id(Path::new("/a")).len(), 8);
    }
}
