//! The in-memory view the server answers from: Services and EndpointSlices as they arrive
//! from the informers, and per service a precomputed [`ServiceRecords`] that a query reads
//! with one hash lookup. A change to a service or one of its slices recomputes that service's
//! records only (cost: its own endpoints), so answering never scans the cluster.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;

use hickory_proto::rr::Name;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// (namespace, service name), lowercased (DNS comparisons are case-insensitive).
pub type SvcKey = (String, String);

pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// Legacy spelling of `publishNotReadyAddresses` that the DNS specification still honours.
pub const ANNOTATION_TOLERATE_UNREADY: &str = "service.alpha.kubernetes.io/tolerate-unready-endpoints";

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    ClusterIp,
    Headless,
    ExternalName(Name),
}

/// Everything the server can answer about one service.
#[derive(Debug, Clone)]
pub struct ServiceRecords {
    pub fqdn: Name,
    pub kind: Kind,
    /// The service name's A records: cluster IPs, or ready endpoint IPs of a headless service.
    pub addrs: Vec<Ipv4Addr>,
    /// `<hostname>.<svc>...` → IPs, for ready endpoints (hostname, else the dashed IP).
    pub hosts: HashMap<String, Vec<Ipv4Addr>>,
    /// (`_<port>`, `_<proto>`) → (port number, target name) per SRV record.
    pub srv: HashMap<(String, String), Vec<(u16, Name)>>,
    /// PTR records this service owns.
    pub ptrs: Vec<(Ipv4Addr, Name)>,
}

#[derive(Debug, Clone)]
struct SvcSpec {
    kind: Kind,
    cluster_ips: Vec<Ipv4Addr>,
    /// (name, protocol, port) of named service ports.
    ports: Vec<(String, String, u16)>,
    tolerate_unready: bool,
}

#[derive(Debug, Clone, Default)]
struct SliceEntry {
    svc: SvcKey,
    /// (ip, hostname, ready)
    endpoints: Vec<(Ipv4Addr, Option<String>, bool)>,
    /// (name, protocol, port) of named ports.
    ports: Vec<(String, String, u16)>,
}

pub struct Index {
    zone: Name,
    services: HashMap<SvcKey, SvcSpec>,
    slices: HashMap<(String, String), SliceEntry>,
    slices_of: HashMap<SvcKey, BTreeSet<String>>,
    records: HashMap<SvcKey, Arc<ServiceRecords>>,
    namespaces: HashMap<String, usize>,
    ptr: HashMap<Ipv4Addr, BTreeMap<SvcKey, Name>>,
    /// Bumped on every change; the SOA serial.
    pub generation: u32,
}

fn lower(s: Option<&String>) -> String {
    s.map(|s| s.to_ascii_lowercase()).unwrap_or_default()
}

fn dashed(ip: Ipv4Addr) -> String {
    ip.to_string().replace('.', "-")
}

impl Index {
    pub fn new(zone: Name) -> Index {
        Index {
            zone,
            services: HashMap::new(),
            slices: HashMap::new(),
            slices_of: HashMap::new(),
            records: HashMap::new(),
            namespaces: HashMap::new(),
            ptr: HashMap::new(),
            generation: 1,
        }
    }

    pub fn zone(&self) -> &Name {
        &self.zone
    }

    pub fn service(&self, ns: &str, name: &str) -> Option<&Arc<ServiceRecords>> {
        self.records.get(&(ns.to_string(), name.to_string()))
    }

    pub fn namespace_has_services(&self, ns: &str) -> bool {
        self.namespaces.get(ns).is_some_and(|n| *n > 0)
    }

    pub fn ptr(&self, ip: Ipv4Addr) -> Vec<Name> {
        self.ptr.get(&ip).map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    pub fn apply_service(&mut self, svc: &Service) {
        let key = (lower(svc.metadata.namespace.as_ref()), lower(svc.metadata.name.as_ref()));
        let spec = svc.spec.clone().unwrap_or_default();
        let kind = match (spec.type_.as_deref(), spec.cluster_ip.as_deref()) {
            (Some("ExternalName"), _) => match spec.external_name.as_deref().and_then(|n| Name::from_ascii(n).ok()) {
                Some(mut n) => {
                    n.set_fqdn(true);
                    Kind::ExternalName(n)
                }
                None => Kind::ClusterIp,
            },
            (_, Some("None")) => Kind::Headless,
            _ => Kind::ClusterIp,
        };
        let cluster_ips = spec
            .cluster_ips
            .clone()
            .filter(|v| !v.is_empty())
            .or_else(|| spec.cluster_ip.clone().map(|ip| vec![ip]))
            .unwrap_or_default()
            .iter()
            .filter_map(|ip| ip.parse().ok())
            .collect();
        let ports = spec
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                let name = p.name.as_deref().filter(|n| !n.is_empty())?;
                let proto = p.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase();
                Some((name.to_ascii_lowercase(), proto, u16::try_from(p.port).ok()?))
            })
            .collect();
        let tolerate_unready = spec.publish_not_ready_addresses.unwrap_or(false)
            || svc.metadata.annotations.as_ref().and_then(|a| a.get(ANNOTATION_TOLERATE_UNREADY)).map(String::as_str) == Some("true");
        if self.services.insert(key.clone(), SvcSpec { kind, cluster_ips, ports, tolerate_unready }).is_none() {
            *self.namespaces.entry(key.0.clone()).or_default() += 1;
        }
        self.recompute(&key);
    }

    pub fn delete_service(&mut self, svc: &Service) {
        let key = (lower(svc.metadata.namespace.as_ref()), lower(svc.metadata.name.as_ref()));
        if self.services.remove(&key).is_some() {
            if let Some(n) = self.namespaces.get_mut(&key.0) {
                *n -= 1;
                if *n == 0 {
                    self.namespaces.remove(&key.0);
                }
            }
        }
        self.recompute(&key);
    }

    pub fn apply_slice(&mut self, slice: &EndpointSlice) {
        let ns = lower(slice.metadata.namespace.as_ref());
        let id = (ns.clone(), slice.metadata.name.clone().unwrap_or_default());
        let svc_name = slice.metadata.labels.as_ref().and_then(|l| l.get(LABEL_SERVICE_NAME));
        let old = self.slices.remove(&id);
        if let Some(old) = &old {
            if let Some(set) = self.slices_of.get_mut(&old.svc) {
                set.remove(&id.1);
            }
        }
        let entry = match svc_name {
            Some(svc) if slice.address_type == "IPv4" => {
                let svc = (ns, svc.to_ascii_lowercase());
                let endpoints = slice
                    .endpoints
                    .iter()
                    .flat_map(|e| {
                        // An absent `ready` condition means ready (API documentation).
                        let ready = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
                        let host = e.hostname.as_ref().map(|h| h.to_ascii_lowercase());
                        e.addresses.iter().filter_map(move |a| Some((a.parse().ok()?, host.clone(), ready)))
                    })
                    .collect();
                let ports = slice
                    .ports
                    .iter()
                    .flatten()
                    .filter_map(|p| {
                        let name = p.name.as_deref().filter(|n| !n.is_empty())?;
                        let proto = p.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase();
                        Some((name.to_ascii_lowercase(), proto, u16::try_from(p.port?).ok()?))
                    })
                    .collect();
                Some(SliceEntry { svc, endpoints, ports })
            }
            _ => None,
        };
        if let Some(e) = entry {
            self.slices_of.entry(e.svc.clone()).or_default().insert(id.1.clone());
            let svc = e.svc.clone();
            self.slices.insert(id, e);
            self.recompute(&svc);
        }
        if let Some(old) = old {
            self.recompute(&old.svc);
        }
    }

    pub fn delete_slice(&mut self, slice: &EndpointSlice) {
        let id = (lower(slice.metadata.namespace.as_ref()), slice.metadata.name.clone().unwrap_or_default());
        if let Some(old) = self.slices.remove(&id) {
            if let Some(set) = self.slices_of.get_mut(&old.svc) {
                set.remove(&id.1);
                if set.is_empty() {
                    self.slices_of.remove(&old.svc);
                }
            }
            self.recompute(&old.svc);
        }
    }

    /// Forget services and slices that are not in `services` / `slices` (keys as the informer
    /// caches hold them): a watch that had to relist reports no deletions for what vanished
    /// during the gap.
    pub fn retain(&mut self, services: &std::collections::HashSet<SvcKey>, slices: &std::collections::HashSet<(String, String)>) {
        let gone: Vec<SvcKey> = self.services.keys().filter(|k| !services.contains(*k)).cloned().collect();
        for key in gone {
            self.services.remove(&key);
            if let Some(n) = self.namespaces.get_mut(&key.0) {
                *n -= 1;
                if *n == 0 {
                    self.namespaces.remove(&key.0);
                }
            }
            self.recompute(&key);
        }
        let gone: Vec<(String, String)> = self.slices.keys().filter(|k| !slices.contains(*k)).cloned().collect();
        for id in gone {
            if let Some(old) = self.slices.remove(&id) {
                if let Some(set) = self.slices_of.get_mut(&old.svc) {
                    set.remove(&id.1);
                }
                self.recompute(&old.svc);
            }
        }
    }

    fn fqdn(&self, labels: &[&str]) -> Name {
        let mut n = Name::from_labels(labels.iter().map(|l| l.as_bytes())).unwrap_or_else(|_| Name::root());
        n = n.append_domain(&self.zone).unwrap_or_else(|_| self.zone.clone());
        n.set_fqdn(true);
        n
    }

    /// Rebuild one service's records from its spec and slices, and its PTR entries.
    fn recompute(&mut self, key: &SvcKey) {
        self.generation = self.generation.wrapping_add(1);
        let new = self.services.get(key).map(|spec| Arc::new(self.build(key, spec)));
        let old = match &new {
            Some(r) => self.records.insert(key.clone(), r.clone()),
            None => self.records.remove(key),
        };
        for (ip, _) in old.iter().flat_map(|o| o.ptrs.iter()) {
            if let Some(m) = self.ptr.get_mut(ip) {
                m.remove(key);
                if m.is_empty() {
                    self.ptr.remove(ip);
                }
            }
        }
        for (ip, name) in new.iter().flat_map(|n| n.ptrs.iter()) {
            self.ptr.entry(*ip).or_default().insert(key.clone(), name.clone());
        }
    }

    fn build(&self, key: &SvcKey, spec: &SvcSpec) -> ServiceRecords {
        let (ns, name) = (key.0.as_str(), key.1.as_str());
        let fqdn = self.fqdn(&[name, ns, "svc"]);
        let mut addrs: Vec<Ipv4Addr> = Vec::new();
        let mut hosts: HashMap<String, Vec<Ipv4Addr>> = HashMap::new();
        let mut srv: HashMap<(String, String), Vec<(u16, Name)>> = HashMap::new();
        let mut ptrs = Vec::new();
        // Ready endpoints of every slice, deduplicated by (ip, host): an endpoint briefly in
        // two slices while the controller moves it is answered once.
        let mut seen = BTreeSet::new();
        for slice in self.slices_of.get(key).into_iter().flatten().filter_map(|s| self.slices.get(&(ns.to_string(), s.clone()))) {
            for (ip, host, ready) in &slice.endpoints {
                if !(*ready || spec.tolerate_unready) {
                    continue;
                }
                let label = host.clone().unwrap_or_else(|| dashed(*ip));
                if !seen.insert((*ip, label.clone())) {
                    continue;
                }
                let target = self.fqdn(&[&label, name, ns, "svc"]);
                hosts.entry(label).or_default().push(*ip);
                if spec.kind == Kind::Headless {
                    if !addrs.contains(ip) {
                        addrs.push(*ip);
                    }
                    for (pname, proto, port) in &slice.ports {
                        srv.entry((format!("_{pname}"), format!("_{proto}"))).or_default().push((*port, target.clone()));
                    }
                    ptrs.push((*ip, target));
                }
            }
        }
        if spec.kind == Kind::ClusterIp {
            addrs = spec.cluster_ips.clone();
            for (pname, proto, port) in &spec.ports {
                srv.entry((format!("_{pname}"), format!("_{proto}"))).or_default().push((*port, fqdn.clone()));
            }
            ptrs.extend(addrs.iter().map(|ip| (*ip, fqdn.clone())));
        }
        ServiceRecords { fqdn, kind: spec.kind.clone(), addrs, hosts, srv, ptrs }
    }
}
