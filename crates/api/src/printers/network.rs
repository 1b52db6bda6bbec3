//! Printers for services, endpoints and discovery.k8s.io endpointslices.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::descriptions as d;
use super::util::{self, arr_at, get, i64_at, opt_i64_at, opt_str_at, str_at};
use super::{Column, Row};

pub(super) fn service_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Type", d::SERVICE_SPEC_TYPE),
        Column::string("Cluster-IP", d::SERVICE_SPEC_CLUSTER_IP),
        Column::string("External-IP", d::SERVICE_SPEC_EXTERNAL_IPS),
        Column::string("Port(s)", d::SERVICE_SPEC_PORTS),
        Column::age(),
        Column::string("Selector", d::SERVICE_SPEC_SELECTOR).wide(),
    ]
}

fn strings(values: &[Value]) -> Vec<String> {
    values
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// Load-balancer ingress points (IP, else hostname), de-duplicated and sorted. The server
/// prints wide, so upstream's 16-character clipping never applies.
fn load_balancer_ingress(svc: &Value) -> Vec<String> {
    let mut set = BTreeSet::new();
    for ing in arr_at(svc, &["status", "loadBalancer", "ingress"]) {
        let ip = str_at(ing, &["ip"]);
        let host = str_at(ing, &["hostname"]);
        if !ip.is_empty() {
            set.insert(ip.to_string());
        } else if !host.is_empty() {
            set.insert(host.to_string());
        }
    }
    set.into_iter().collect()
}

/// Upstream `getServiceExternalIP`.
fn external_ip(svc: &Value) -> String {
    let external_ips = strings(arr_at(svc, &["spec", "externalIPs"]));
    match str_at(svc, &["spec", "type"]) {
        "ClusterIP" | "NodePort" => {
            if external_ips.is_empty() {
                "<none>".to_string()
            } else {
                external_ips.join(",")
            }
        }
        "LoadBalancer" => {
            let mut all = load_balancer_ingress(svc);
            if !external_ips.is_empty() {
                all.extend(external_ips);
                return all.join(",");
            }
            if all.is_empty() {
                "<pending>".to_string()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => str_at(svc, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

/// Upstream `makePortString`: `80/TCP`, or `80:30080/TCP` with a node port.
fn service_ports(svc: &Value) -> String {
    let ports: Vec<String> = arr_at(svc, &["spec", "ports"])
        .iter()
        .map(|p| {
            let port = i64_at(p, &["port"]);
            // Defaulting always sets a protocol on stored objects; TCP is that default.
            let protocol = opt_str_at(p, &["protocol"]).unwrap_or("TCP");
            match i64_at(p, &["nodePort"]) {
                np if np > 0 => format!("{port}:{np}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect();
    if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    }
}

pub(super) fn service_row(svc: &Value, now: DateTime<Utc>) -> Row {
    // Upstream reads clusterIPs[0]; defaulting fills clusterIPs from clusterIP.
    let cluster_ip = arr_at(svc, &["spec", "clusterIPs"])
        .first()
        .and_then(Value::as_str)
        .or_else(|| opt_str_at(svc, &["spec", "clusterIP"]).filter(|s| !s.is_empty()))
        .unwrap_or("<none>");
    Row::new(vec![
        util::name(svc),
        Value::String(str_at(svc, &["spec", "type"]).to_string()),
        Value::String(cluster_ip.to_string()),
        Value::String(external_ip(svc)),
        Value::String(service_ports(svc)),
        util::age(svc, now),
        Value::String(util::format_labels(get(svc, &["spec", "selector"]))),
    ])
}

pub(super) fn endpoints_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Endpoints", d::ENDPOINTS_SUBSETS),
        Column::age(),
    ]
}

/// Go's `net.JoinHostPort`: brackets around hosts containing a colon (IPv6).
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Upstream `formatEndpoints`: `ip:port` for every (port, address) pair, bare IPs for subsets
/// without ports, at most 3 shown then ` + N more...`; `<none>` without subsets.
fn format_endpoints(ep: &Value) -> String {
    const MAX: usize = 3;
    let subsets = arr_at(ep, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let mut list = Vec::new();
    let mut count = 0usize;
    for ss in subsets {
        let addresses = arr_at(ss, &["addresses"]);
        let ports = arr_at(ss, &["ports"]);
        if ports.is_empty() {
            // Headless services may have no ports.
            count += addresses.len();
            list.extend(addresses.iter().map(|a| str_at(a, &["ip"]).to_string()));
            continue;
        }
        for port in ports {
            count += addresses.len();
            let p = i64_at(port, &["port"]);
            list.extend(
                addresses
                    .iter()
                    .map(|a| join_host_port(str_at(a, &["ip"]), p)),
            );
        }
    }
    list.truncate(MAX);
    let joined = list.join(",");
    if count > MAX {
        format!("{joined} + {} more...", count - MAX)
    } else {
        joined
    }
}

pub(super) fn endpoints_row(ep: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![
        util::name(ep),
        Value::String(format_endpoints(ep)),
        util::age(ep, now),
    ])
}

pub(super) fn endpoint_slice_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("AddressType", d::ENDPOINT_SLICE_ADDRESS_TYPE),
        Column::string("Ports", d::ENDPOINT_SLICE_PORTS),
        Column::string("Endpoints", d::ENDPOINT_SLICE_ENDPOINTS),
        Column::age(),
    ]
}

pub(super) fn endpoint_slice_row(slice: &Value, now: DateTime<Utc>) -> Row {
    const MAX: usize = 3;
    // Upstream `formatDiscoveryPorts`: the number, else the name, else `*`.
    let ports: Vec<String> = arr_at(slice, &["ports"])
        .iter()
        .map(
            |p| match (opt_i64_at(p, &["port"]), opt_str_at(p, &["name"])) {
                (Some(n), _) => n.to_string(),
                (None, Some(name)) => name.to_string(),
                (None, None) => "*".to_string(),
            },
        )
        .collect();
    // Upstream `formatDiscoveryEndpoints`: every address of every endpoint.
    let addresses: Vec<String> = arr_at(slice, &["endpoints"])
        .iter()
        .flat_map(|e| strings(arr_at(e, &["addresses"])))
        .collect();
    Row::new(vec![
        util::name(slice),
        Value::String(str_at(slice, &["addressType"]).to_string()),
        Value::String(util::list_with_more(&ports, ports.len(), MAX)),
        Value::String(util::list_with_more(&addresses, addresses.len(), MAX)),
        util::age(slice, now),
    ])
}
