//! Which addresses the API server may dial for logs, exec and proxying: only ones that stay
//! on this machine. Simulated nodes publish made-up addresses (10.250.x.y, pods in
//! 10.244.0.0/14) that no interface here owns; dialing them would send packets to the default
//! gateway. So an address is dialed only if it is loopback, or the most specific IPv4 route
//! to it (main table, `/proc/net/route`) is a directly connected one — no gateway — or one
//! of berth's own host-gw routes to another node's pods (metric [`HOST_GW_METRIC`], set by
//! `--pod-routes`), whose gateway is a node on the same LAN.

use std::net::{IpAddr, Ipv4Addr};

const RTF_UP: u32 = 0x1;
const RTF_GATEWAY: u32 = 0x2;
/// The metric berth's host-gw routes carry (`berth_node::process::routes`).
const HOST_GW_METRIC: u32 = 236;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Route {
    dest: Ipv4Addr,
    mask: Ipv4Addr,
    flags: u32,
    metric: u32,
}

/// `/proc/net/route` prints addresses as the hex of the in-memory (network order) u32.
fn hex_addr(s: &str) -> Option<Ipv4Addr> {
    u32::from_str_radix(s, 16).ok().map(|x| Ipv4Addr::from(x.to_le_bytes()))
}

fn parse_routes(table: &str) -> Vec<Route> {
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some(Route {
                dest: hex_addr(f.get(1)?)?,
                flags: u32::from_str_radix(f.get(3)?, 16).ok()?,
                metric: f.get(6)?.parse().ok()?,
                mask: hex_addr(f.get(7)?)?,
            })
        })
        .collect()
}

/// Why `ip` must not be dialed, given the routing table text; `None` when it stays local.
pub fn refusal(ip: IpAddr, route_table: &str) -> Option<String> {
    if ip.is_loopback() {
        return None;
    }
    let IpAddr::V4(v4) = ip else {
        return Some(format!("{ip} is not a loopback address and only IPv4 routes are checked"));
    };
    let best = parse_routes(route_table)
        .into_iter()
        .filter(|r| r.flags & RTF_UP != 0 && u32::from(v4) & u32::from(r.mask) == u32::from(r.dest) & u32::from(r.mask))
        .max_by_key(|r| u32::from(r.mask).count_ones());
    match best {
        Some(r) if r.flags & RTF_GATEWAY == 0 => None,
        Some(r) if r.metric == HOST_GW_METRIC && u32::from(r.mask) != 0 => None,
        Some(_) => Some(format!("{ip} is reached through a gateway, off this machine")),
        None => Some(format!("no route to {ip}")),
    }
}

/// [`refusal`] against this host's routing table.
pub fn check(ip: IpAddr) -> Result<(), String> {
    let table = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    match refusal(ip, &table) {
        None => Ok(()),
        Some(why) => Err(format!("berth does not dial {ip}: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t0114A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
eth0\t0014A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
berth0\t0000F40A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";

    #[test]
    fn only_local_destinations_are_dialed() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(refusal(ip("127.0.0.1"), ""), None);
        assert_eq!(refusal(ip("::1"), ""), None);
        // a pod on the node agent's bridge, and a host on the directly connected LAN
        assert_eq!(refusal(ip("10.244.3.7"), TABLE), None);
        assert_eq!(refusal(ip("192.168.20.9"), TABLE), None);
        // a simulated node's address: only the default route (via the gateway) matches
        assert!(refusal(ip("10.250.0.1"), TABLE).unwrap().contains("gateway"));
        assert!(refusal(ip("10.250.0.1"), "").is_some());
        assert!(refusal(ip("fd00::1"), TABLE).is_some());
        // another host's pods through berth's host-gw route (10.243.2.0/24 via 192.168.20.3, metric 236)
        let host_gw = format!("{TABLE}eth0\t0002F30A\t0314A8C0\t0003\t0\t0\t236\t00FFFFFF\t0\t0\t0\n");
        assert_eq!(refusal(ip("10.243.2.9"), &host_gw), None);
        // the same route without berth's mark is someone else's gateway
        let foreign = host_gw.replace("\t236\t", "\t0\t");
        assert!(refusal(ip("10.243.2.9"), &foreign).unwrap().contains("gateway"));
    }
}
