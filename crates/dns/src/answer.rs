//! The record rules of the Kubernetes DNS specification (schema 1.1.0), as a pure function of
//! the [`Index`] and one question: which records answer it, or that it is not ours.

use std::net::Ipv4Addr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, CNAME, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::index::{Index, Kind};

/// The schema version served as `dns-version.<zone>` TXT.
pub const SCHEMA_VERSION: &str = "1.1.0";

#[derive(Debug, Default)]
pub struct Answer {
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    pub additionals: Vec<Record>,
    /// SOA for the authority section of negative answers.
    pub soa: Option<Record>,
}

/// What to do with a question (a short-lived return value: its size does not matter).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    /// Authoritative answer from the cluster's records.
    Local(Answer),
    /// Not in the cluster's zone (or a reverse name the cluster does not own): ask upstream.
    Forward,
}

pub fn soa(index: &Index, ttl: u32) -> Record {
    let zone = index.zone().clone();
    let mname = Name::from_ascii("ns.dns").ok().and_then(|n| n.append_domain(&zone).ok()).unwrap_or_else(|| zone.clone());
    let rname = Name::from_ascii("hostmaster").ok().and_then(|n| n.append_domain(&zone).ok()).unwrap_or_else(|| zone.clone());
    Record::from_rdata(zone, ttl, RData::SOA(SOA::new(mname, rname, index.generation, 7200, 1800, 86400, ttl)))
}

/// Answer `qname`/`qtype` (qname exactly as asked; matching is case-insensitive).
pub fn resolve(index: &Index, qname: &Name, qtype: RecordType, ttl: u32) -> Outcome {
    let lowered = qname.to_lowercase();
    if let Some(ip) = reverse_v4(&lowered) {
        let names = index.ptr(ip);
        if names.is_empty() {
            return Outcome::Forward;
        }
        let mut a = Answer::default();
        if qtype == RecordType::PTR || qtype == RecordType::ANY {
            a.answers = names.into_iter().map(|n| Record::from_rdata(qname.clone(), ttl, RData::PTR(PTR(n)))).collect();
        } else {
            a.soa = Some(soa(index, ttl));
        }
        return Outcome::Local(a);
    }
    if !index.zone().zone_of(&lowered) {
        return Outcome::Forward;
    }
    let nlabels = lowered.num_labels() as usize - index.zone().num_labels() as usize;
    let labels: Vec<String> = lowered.iter().take(nlabels).map(|l| String::from_utf8_lossy(l).into_owned()).collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    let rec = |rdata: RData| Record::from_rdata(qname.clone(), ttl, rdata);
    let mut out = Answer::default();
    // Name exists: `want` gives the records of the asked type (possibly none: NODATA).
    let exists = |records: Vec<Record>, out: &mut Answer| {
        let matching: Vec<Record> =
            records.into_iter().filter(|r| qtype == RecordType::ANY || r.record_type() == qtype || r.record_type() == RecordType::CNAME).collect();
        if matching.is_empty() {
            out.soa = Some(soa(index, ttl));
        }
        out.answers = matching;
    };
    match labels.as_slice() {
        [] => {
            let mut recs = vec![soa(index, ttl)];
            recs[0].set_name(qname.clone());
            exists(recs, &mut out);
        }
        ["dns-version"] => exists(vec![rec(RData::TXT(TXT::new(vec![SCHEMA_VERSION.to_string()])))], &mut out),
        ["svc"] | ["pod"] => exists(Vec::new(), &mut out),
        [ns, "svc"] | [ns, "pod"] if index.namespace_has_services(ns) || labels[1] == "pod" => exists(Vec::new(), &mut out),
        [ip, _ns, "pod"] => match undashed(ip) {
            Some(ip) => exists(vec![rec(RData::A(A(ip)))], &mut out),
            None => out.rcode = ResponseCode::NXDomain,
        },
        [svc, ns, "svc"] => match index.service(ns, svc) {
            None => out.rcode = ResponseCode::NXDomain,
            Some(r) => match &r.kind {
                Kind::ExternalName(target) => exists(vec![rec(RData::CNAME(CNAME(target.clone())))], &mut out),
                // Spec 2.4.1: a headless service without ready endpoints is NXDOMAIN.
                Kind::Headless if r.addrs.is_empty() => out.rcode = ResponseCode::NXDomain,
                _ => {
                    // CoreDNS also answers SRV on the service name itself: one record per
                    // endpoint and named port (what kubia-pet-peers asks for).
                    let mut records: Vec<Record> = r.addrs.iter().map(|ip| rec(RData::A(A(*ip)))).collect();
                    if qtype == RecordType::SRV {
                        let mut srv: Vec<&(u16, Name)> = r.srv.values().flatten().collect();
                        srv.sort();
                        srv.dedup();
                        let weight = (100 / srv.len().max(1)).max(1) as u16;
                        out.additionals = srv.iter().flat_map(|(_, t)| target_addresses(r, t, ttl)).collect();
                        out.additionals.dedup();
                        records.extend(srv.into_iter().map(|(port, t)| rec(RData::SRV(SRV::new(0, weight, *port, t.clone())))));
                    }
                    exists(records, &mut out)
                }
            },
        },
        [port, proto, svc, ns, "svc"] if port.starts_with('_') && proto.starts_with('_') => {
            match index.service(ns, svc).and_then(|r| r.srv.get(&(port.to_string(), proto.to_string()))) {
                None => out.rcode = ResponseCode::NXDomain,
                Some(targets) => {
                    let weight = (100 / targets.len().max(1)).max(1) as u16;
                    let r = index.service(ns, svc).expect("looked up above");
                    let mut additionals = Vec::new();
                    let answers = targets
                        .iter()
                        .map(|(port, target)| {
                            additionals.extend(target_addresses(r, target, ttl));
                            rec(RData::SRV(SRV::new(0, weight, *port, target.clone())))
                        })
                        .collect();
                    exists(answers, &mut out);
                    if out.answers.is_empty() {
                        additionals.clear();
                    }
                    additionals.dedup();
                    out.additionals = additionals;
                }
            }
        }
        [host, svc, ns, "svc"] => match index.service(ns, svc).and_then(|r| r.hosts.get(*host)) {
            None => out.rcode = ResponseCode::NXDomain,
            Some(ips) => exists(ips.iter().map(|ip| rec(RData::A(A(*ip)))).collect(), &mut out),
        },
        _ => out.rcode = ResponseCode::NXDomain,
    }
    if out.rcode == ResponseCode::NXDomain {
        out.soa = Some(soa(index, ttl));
    }
    Outcome::Local(out)
}

/// The A records an SRV target names (the additional section the specification allows).
fn target_addresses(r: &crate::index::ServiceRecords, target: &Name, ttl: u32) -> Vec<Record> {
    if *target == r.fqdn {
        return r.addrs.iter().map(|ip| Record::from_rdata(target.clone(), ttl, RData::A(A(*ip)))).collect();
    }
    let host = target.iter().next().map(|l| String::from_utf8_lossy(l).into_owned()).unwrap_or_default();
    r.hosts.get(&host).into_iter().flatten().map(|ip| Record::from_rdata(target.clone(), ttl, RData::A(A(*ip)))).collect()
}

/// `a-b-c-d` → a.b.c.d.
fn undashed(label: &str) -> Option<Ipv4Addr> {
    let parts: Vec<u8> = label.split('-').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [a, b, c, d] = parts.as_slice() else { return None };
    Some(Ipv4Addr::new(*a, *b, *c, *d))
}

/// `d.c.b.a.in-addr.arpa.` → a.b.c.d.
fn reverse_v4(name: &Name) -> Option<Ipv4Addr> {
    let labels: Vec<&[u8]> = name.iter().collect();
    let [d, c, b, a, in_addr, arpa] = labels.as_slice() else { return None };
    if !in_addr.eq_ignore_ascii_case(b"in-addr") || !arpa.eq_ignore_ascii_case(b"arpa") {
        return None;
    }
    let octet = |l: &[u8]| std::str::from_utf8(l).ok()?.parse::<u8>().ok();
    Some(Ipv4Addr::new(octet(a)?, octet(b)?, octet(c)?, octet(d)?))
}
