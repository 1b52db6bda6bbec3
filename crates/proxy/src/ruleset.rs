//! The nftables ruleset for a set of service ports: pure text, applied as one `nft -f -`
//! transaction. The structure follows kube-proxy's nftables mode:
//!
//! * a verdict map `service-ips` (`ip . proto . port : goto svc-…`) consulted from `prerouting`
//!   (traffic from this cluster's pods) and `output` (the host's own traffic);
//! * per service port a chain picking an endpoint with `numgen random mod N vmap`, and per
//!   endpoint a chain that marks pod traffic for masquerading and DNATs;
//! * a map `no-endpoint-services` sending new connections to services without endpoints to a
//!   reject chain (ICMP port-unreachable, TCP reset) from `forward` and `output` filter hooks
//!   (a NAT chain cannot reject).
//!
//! Every pod→service connection is masqueraded, not only hairpin ones: pods of one node share
//! a bridge, and without `br_netfilter` (a host-wide setting berth does not change) a reply
//! between two pods on one bridge never passes the host's conntrack, so it would come back
//! from the endpoint's address instead of the service's. With the source rewritten to the
//! bridge gateway, replies go through the host and are un-NATed.
//!
//! The transaction first creates (`add table`), then deletes and re-declares the whole table,
//! so an update replaces everything atomically and a stale table of an earlier run goes too.
//! Established connections keep their NAT (it lives in conntrack).

use std::fmt::Write;

use crate::model::ServicePort;

/// The mark bit kube-proxy uses for "masquerade this connection".
const MASQ_MARK: &str = "0x4000";

/// What the ruleset depends on besides the service ports.
#[derive(Clone, Debug)]
pub struct Params {
    /// The table's name in family `ip` (one per cluster: `berth-<cluster id>`).
    pub table: String,
    /// The cluster's pod CIDR (`--cluster-cidr`): whose traffic `prerouting` handles.
    pub pod_cidr: String,
}

/// Chain names are `svc-<key>` / `ep-<key>/<ip>/<port>`; keys are made of DNS labels, `/`
/// and digits, all valid in nft identifiers.
fn svc_chain(p: &ServicePort) -> String {
    format!("svc-{}", p.key)
}

fn ep_chain(p: &ServicePort, i: usize) -> String {
    let (ip, port) = p.endpoints[i];
    format!("ep-{}/{ip}/{port}", p.key)
}

fn map_elements(entries: &[String]) -> String {
    if entries.is_empty() {
        String::new()
    } else {
        format!("\t\telements = {{ {} }}\n", entries.join(", "))
    }
}

/// The table to delete when the proxy stops.
pub fn delete(table: &str) -> String {
    format!("add table ip {table}\ndelete table ip {table}\n")
}

/// The full ruleset for `ports`.
pub fn render(params: &Params, ports: &[ServicePort]) -> String {
    let t = &params.table;
    let cidr = &params.pod_cidr;
    let mut with_eps = Vec::new();
    let mut without = Vec::new();
    for p in ports {
        let key = format!("{} . {} . {}", p.ip, p.proto.nft(), p.port);
        if p.endpoints.is_empty() {
            without.push(format!("{key} : goto reject-chain"));
        } else {
            with_eps.push(format!("{key} : goto {}", svc_chain(p)));
        }
    }
    let mut s = delete(t);
    let _ = writeln!(s, "table ip {t} {{");
    let _ = write!(
        s,
        "\tmap service-ips {{\n\t\ttype ipv4_addr . inet_proto . inet_service : verdict\n{}\t}}\n",
        map_elements(&with_eps)
    );
    let _ = write!(
        s,
        "\tmap no-endpoint-services {{\n\t\ttype ipv4_addr . inet_proto . inet_service : verdict\n{}\t}}\n",
        map_elements(&without)
    );
    let _ = writeln!(s, "\tchain prerouting {{ type nat hook prerouting priority dstnat; policy accept; ip saddr {cidr} jump services; }}");
    let _ = writeln!(s, "\tchain output {{ type nat hook output priority -100; policy accept; jump services; }}");
    let _ = writeln!(
        s,
        "\tchain postrouting {{ type nat hook postrouting priority srcnat; policy accept; meta mark & {MASQ_MARK} == 0 return; meta mark set meta mark ^ {MASQ_MARK}; masquerade fully-random; }}"
    );
    let _ = writeln!(s, "\tchain services {{ ip daddr . meta l4proto . th dport vmap @service-ips; }}");
    let _ = writeln!(
        s,
        "\tchain filter-forward {{ type filter hook forward priority -110; policy accept; ct state new ip saddr {cidr} ip daddr . meta l4proto . th dport vmap @no-endpoint-services; }}"
    );
    let _ = writeln!(
        s,
        "\tchain filter-output {{ type filter hook output priority -110; policy accept; ct state new ip daddr . meta l4proto . th dport vmap @no-endpoint-services; }}"
    );
    let _ = writeln!(s, "\tchain reject-chain {{ meta l4proto tcp reject with tcp reset; reject; }}");
    for p in ports.iter().filter(|p| !p.endpoints.is_empty()) {
        let n = p.endpoints.len();
        if n == 1 {
            let _ = writeln!(s, "\tchain {} {{ goto {}; }}", svc_chain(p), ep_chain(p, 0));
        } else {
            let arms: Vec<String> = (0..n).map(|i| format!("{i} : goto {}", ep_chain(p, i))).collect();
            let _ = writeln!(s, "\tchain {} {{ numgen random mod {n} vmap {{ {} }}; }}", svc_chain(p), arms.join(", "));
        }
        for (i, (ip, port)) in p.endpoints.iter().enumerate() {
            let _ = writeln!(
                s,
                "\tchain {} {{ ip saddr {cidr} meta mark set meta mark | {MASQ_MARK}; meta l4proto {} dnat to {ip}:{port}; }}",
                ep_chain(p, i),
                p.proto.nft()
            );
        }
    }
    s.push_str("}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Proto;

    fn params() -> Params {
        Params { table: "berth-abc".into(), pod_cidr: "10.250.0.0/16".into() }
    }

    fn port(key: &str, ip: &str, eps: &[(&str, u16)]) -> ServicePort {
        ServicePort {
            key: key.into(),
            ip: ip.parse().unwrap(),
            proto: Proto::Tcp,
            port: 80,
            endpoints: eps.iter().map(|(i, p)| (i.parse().unwrap(), *p)).collect(),
        }
    }

    #[test]
    fn random_endpoint_per_service_and_reject_without_endpoints() {
        let ports = [
            port("default/web/tcp/http", "10.96.0.20", &[("10.250.1.5", 8080), ("10.250.2.5", 8080)]),
            port("default/empty/tcp/80", "10.96.0.21", &[]),
        ];
        let s = render(&params(), &ports);
        assert!(s.starts_with("add table ip berth-abc\ndelete table ip berth-abc\ntable ip berth-abc {\n"), "{s}");
        assert!(s.contains("elements = { 10.96.0.20 . tcp . 80 : goto svc-default/web/tcp/http }"), "{s}");
        assert!(s.contains("elements = { 10.96.0.21 . tcp . 80 : goto reject-chain }"), "{s}");
        assert!(s.contains(
            "chain svc-default/web/tcp/http { numgen random mod 2 vmap { 0 : goto ep-default/web/tcp/http/10.250.1.5/8080, 1 : goto ep-default/web/tcp/http/10.250.2.5/8080 }; }"
        ));
        assert!(s.contains("chain ep-default/web/tcp/http/10.250.2.5/8080 { ip saddr 10.250.0.0/16 meta mark set meta mark | 0x4000; meta l4proto tcp dnat to 10.250.2.5:8080; }"));
        assert!(!s.contains("svc-default/empty"), "no service chain without endpoints");
        assert!(s.contains("ip saddr 10.250.0.0/16 jump services"));
        assert!(s.ends_with("}\n"));
    }

    #[test]
    fn one_endpoint_needs_no_numgen_and_nothing_gives_empty_maps() {
        let s = render(&params(), &[port("a/b/tcp/80", "10.96.0.22", &[("10.250.1.9", 80)])]);
        assert!(s.contains("chain svc-a/b/tcp/80 { goto ep-a/b/tcp/80/10.250.1.9/80; }"), "{s}");
        let s = render(&params(), &[]);
        assert!(!s.contains("elements"), "{s}");
    }

    /// The text is valid nftables when `nft` is at hand (`nft -c` checks without applying;
    /// it still needs CAP_NET_ADMIN, so the check is skipped without it).
    #[test]
    fn nft_accepts_the_ruleset() {
        let ports = [port("default/web/tcp/http", "10.96.0.20", &[("10.250.1.5", 8080), ("10.250.2.5", 8080)]), port("x/y/tcp/80", "10.96.0.23", &[])];
        let text = render(&params(), &ports);
        match crate::nft::check(&text) {
            Ok(()) => {}
            Err(crate::nft::Error::Unavailable(why)) => eprintln!("skipped: {why}"),
            Err(e) => panic!("{e}\n{text}"),
        }
    }
}
