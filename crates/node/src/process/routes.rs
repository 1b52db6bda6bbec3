//! host-gw pod routing (flannel's `host-gw` backend): every other node's pod CIDR is routed
//! via that node's InternalIP, so pods reach pods on other hosts without encapsulation or
//! NAT. Only for nodes on different hosts of one L2 network (the next hop must be directly
//! reachable); agents sharing one host (`berth up --nodes N`) share the bridges' connected
//! routes and need none of this.
//!
//! **Ours only.** Every route the agent installs carries `proto 236` and `metric 236` in the
//! main table. Listing, replacing and deleting always name both, so routes anyone else made —
//! including the connected route of the node's own bridge, or an admin's route to the same
//! CIDR (metric 0 wins over ours) — are never touched.
//!
//! [`desired`] and [`plan`] are pure; [`sync`] is the thin `ip route` executor.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::simulated::PodCidr;

/// The `proto` and `metric` marking berth's host-gw routes (unassigned in iproute2's
/// rt_protos; any value ≥ 5 is a "routing daemon" protocol to the kernel).
pub const ROUTE_PROTO: u8 = 236;
pub const ROUTE_METRIC: u32 = 236;

/// What the route decision needs from a Node object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerNode {
    pub name: String,
    pub pod_cidr: Option<String>,
    pub internal_ip: Option<Ipv4Addr>,
}

/// One route: destination CIDR (normalized `a.b.c.d/n`) via a next hop.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub dst: String,
    pub via: Ipv4Addr,
}

/// The routes this node wants: each other node's pod CIDR via its InternalIP. Skipped: this
/// node (by name or by sharing our address: same host), nodes without a pod CIDR or an
/// IPv4 InternalIP, loopback/unspecified next hops (agents on the server's host that reach
/// nobody else), and CIDRs overlapping our own. When two nodes claim one CIDR the first by
/// name wins, so every agent decides the same.
pub fn desired(nodes: &[PeerNode], self_name: &str, self_ip: Ipv4Addr, own: Option<PodCidr>) -> BTreeMap<String, Ipv4Addr> {
    let mut sorted: Vec<&PeerNode> = nodes.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = BTreeMap::new();
    for n in sorted {
        let (Some(cidr), Some(via)) = (&n.pod_cidr, n.internal_ip) else { continue };
        if n.name == self_name || via == self_ip || via.is_loopback() || via.is_unspecified() {
            continue;
        }
        let Ok(cidr) = PodCidr::parse(cidr) else { continue };
        if own.is_some_and(|own| overlaps(cidr, own)) {
            continue;
        }
        out.entry(cidr.to_string()).or_insert(via);
    }
    out
}

fn overlaps(a: PodCidr, b: PodCidr) -> bool {
    let net = |c: PodCidr| c.to_string().split('/').next().and_then(|s| s.parse::<Ipv4Addr>().ok()).expect("PodCidr displays a.b.c.d/n");
    a.contains(net(b)) || b.contains(net(a))
}

/// What to change: routes to add or re-point (`ip route replace`), and ours to delete.
pub fn plan(current: &[Route], want: &BTreeMap<String, Ipv4Addr>) -> (Vec<Route>, Vec<Route>) {
    let replace = want
        .iter()
        .filter(|(dst, via)| !current.iter().any(|r| &r.dst == *dst && r.via == **via))
        .map(|(dst, via)| Route { dst: dst.clone(), via: *via })
        .collect();
    let delete = current.iter().filter(|r| !want.contains_key(&r.dst)).cloned().collect();
    (replace, delete)
}

/// Parse `ip -4 -o route show table main proto 236`: `10.243.2.0/24 via 10.254.0.3 dev … metric 236`.
pub fn parse_routes(out: &str) -> Vec<Route> {
    out.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let dst = words.next()?;
            let dst = if dst.contains('/') { dst.to_string() } else { format!("{dst}/32") };
            let via = words.skip_while(|w| *w != "via").nth(1)?.parse().ok()?;
            Some(Route { dst, via })
        })
        .collect()
}

async fn ip(args: &[&str]) -> Result<String, String> {
    let out = tokio::process::Command::new("ip").args(args).kill_on_drop(true).output().await.map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Our routes as the kernel has them now.
pub async fn current() -> Result<Vec<Route>, String> {
    let proto = ROUTE_PROTO.to_string();
    let metric = ROUTE_METRIC.to_string();
    let out = ip(&["-4", "-o", "route", "show", "table", "main", "proto", &proto, "metric", &metric]).await?;
    Ok(parse_routes(&out))
}

/// Make the kernel's routes of ours equal `want`. Every change is tried; the first error is
/// returned (the next sync retries).
pub async fn sync(want: &BTreeMap<String, Ipv4Addr>) -> Result<(), String> {
    let (replace, delete) = plan(&current().await?, want);
    let (proto, metric) = (ROUTE_PROTO.to_string(), ROUTE_METRIC.to_string());
    let mut first_err = None;
    for r in &replace {
        let via = r.via.to_string();
        let res = ip(&["route", "replace", &r.dst, "via", &via, "proto", &proto, "metric", &metric]).await;
        first_err = first_err.or(res.err());
    }
    for r in &delete {
        let res = ip(&["route", "del", &r.dst, "proto", &proto, "metric", &metric]).await;
        first_err = first_err.or(res.err());
    }
    first_err.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, cidr: Option<&str>, ip: Option<&str>) -> PeerNode {
        PeerNode { name: name.into(), pod_cidr: cidr.map(Into::into), internal_ip: ip.map(|i| i.parse().unwrap()) }
    }

    #[test]
    fn routes_every_other_hosts_pod_cidr_via_its_address() {
        let own = PodCidr::parse("10.243.1.0/24").unwrap();
        let me: Ipv4Addr = "10.254.0.2".parse().unwrap();
        let nodes = [
            node("host-a", Some("10.243.1.0/24"), Some("10.254.0.2")),
            node("host-b", Some("10.243.2.0/24"), Some("10.254.0.3")),
            node("host-c", Some("10.243.3.7/24"), Some("10.254.0.4")),
            node("same-host", Some("10.243.4.0/24"), Some("10.254.0.2")),
            node("local", Some("10.243.5.0/24"), Some("127.0.0.1")),
            node("no-cidr", None, Some("10.254.0.6")),
            node("no-ip", Some("10.243.7.0/24"), None),
            node("overlap", Some("10.243.0.0/16"), Some("10.254.0.8")),
            node("z-dup", Some("10.243.2.0/24"), Some("10.254.0.9")),
        ];
        let want = desired(&nodes, "host-a", me, Some(own));
        let got: Vec<(String, String)> = want.iter().map(|(d, v)| (d.clone(), v.to_string())).collect();
        assert_eq!(got, [("10.243.2.0/24".to_string(), "10.254.0.3".to_string()), ("10.243.3.0/24".into(), "10.254.0.4".into())]);
    }

    #[test]
    fn plan_adds_repoints_and_deletes_only_what_differs() {
        let r = |d: &str, v: &str| Route { dst: d.into(), via: v.parse().unwrap() };
        let current = [r("10.243.2.0/24", "10.254.0.3"), r("10.243.3.0/24", "10.254.0.4"), r("10.243.9.0/24", "10.254.0.9")];
        let want: BTreeMap<String, Ipv4Addr> =
            [("10.243.2.0/24", "10.254.0.3"), ("10.243.3.0/24", "10.254.0.5"), ("10.243.4.0/24", "10.254.0.6")]
                .into_iter()
                .map(|(d, v)| (d.to_string(), v.parse().unwrap()))
                .collect();
        let (replace, delete) = plan(&current, &want);
        assert_eq!(replace, [r("10.243.3.0/24", "10.254.0.5"), r("10.243.4.0/24", "10.254.0.6")]);
        assert_eq!(delete, [r("10.243.9.0/24", "10.254.0.9")]);
        assert_eq!(plan(&[], &BTreeMap::new()), (vec![], vec![]));
    }

    #[test]
    fn parses_ip_route_output() {
        let out = "10.243.2.0/24 via 10.254.0.3 dev eth1 proto 236 metric 236 \n10.243.3.5 via 10.254.0.4 dev eth1 proto 236 metric 236\nblackhole 10.1.0.0/16 proto 236 metric 236\n";
        let got = parse_routes(out);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].dst.as_str(), got[0].via.to_string()), ("10.243.2.0/24", "10.254.0.3".into()));
        assert_eq!(got[1].dst, "10.243.3.5/32");
    }
}
