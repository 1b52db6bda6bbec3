//! The Endpoints controller's decision (upstream `pkg/controller/endpoint`): one `v1/Endpoints`
//! per service with a selector, named like the service, listing the selected pods' addresses
//! — ready ones in `addresses`, the rest in `notReadyAddresses` — grouped into subsets by the
//! ports each pod resolves. Pure: the executor ([`runner`]) feeds it cached objects and
//! performs the one [`Action`] it returns.
//!
//! Upstream facts kept: pods are included per `ShouldPodBeInEndpoints` with
//! `includeTerminating = publishNotReadyAddresses` (so terminating pods are dropped unless the
//! service publishes not-ready addresses); `hostname` only when `ShouldSetHostname`;
//! a headless service without ports still lists addresses (subset without ports); pods whose
//! named target port does not resolve are left out of that port; at most 1000 addresses, then
//! the `endpoints.kubernetes.io/over-capacity: truncated` annotation; labels are the service's
//! plus `service.kubernetes.io/headless`; nothing is written when subsets and labels already
//! match; the Endpoints object goes away with its service.

pub mod podutil;
pub mod triggers;
pub mod runner;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use podutil::*;

pub const COMPONENT: &str = "endpoint-controller";
/// Upstream `maxCapacity`.
pub const MAX_CAPACITY: usize = 1000;
pub const ANNOTATION_OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Create(Endpoints),
    /// PUT; carries the existing object's resourceVersion.
    Update(Endpoints),
    Delete { namespace: String, name: String },
}

/// Decide what to do for one service key. `service` is `None` when it no longer exists;
/// `pods` may hold every pod of the namespace (selection happens here).
pub fn reconcile(service: Option<&Service>, pods: &[Pod], existing: Option<&Endpoints>) -> Option<Action> {
    let Some(svc) = service else {
        let ep = existing?;
        return Some(Action::Delete {
            namespace: ep.metadata.namespace.clone().unwrap_or_default(),
            name: ep.metadata.name.clone().unwrap_or_default(),
        });
    };
    // Services without a selector have user-managed Endpoints.
    let selector = selector(svc)?;
    if svc.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let tolerate_unready = publish_not_ready(svc);
    let ports = svc.spec.as_ref().and_then(|s| s.ports.clone()).unwrap_or_default();
    let mut subsets: Vec<EndpointSubset> = Vec::new();
    let mut included: Vec<&Pod> = Vec::new();
    for pod in pods.iter().filter(|p| p.metadata.namespace == svc.metadata.namespace && selects(selector, p)) {
        if !should_pod_be_in_endpoints(pod, tolerate_unready) {
            continue;
        }
        let address = address_for(pod, svc);
        let ready = tolerate_unready || is_pod_ready(pod);
        let mut push = |ports: Option<Vec<EndpointPort>>| {
            subsets.push(if ready {
                EndpointSubset { addresses: Some(vec![address.clone()]), ports, ..Default::default() }
            } else {
                EndpointSubset { not_ready_addresses: Some(vec![address.clone()]), ports, ..Default::default() }
            })
        };
        if ports.is_empty() {
            if is_headless(svc) {
                push(None);
                included.push(pod);
            }
            continue;
        }
        for sp in &ports {
            let Some(port) = find_port(pod, sp) else {
                tracing::debug!(pod = ?pod.metadata.name, port = ?sp.name, "no suitable port in pod");
                continue;
            };
            push(Some(vec![EndpointPort {
                name: sp.name.clone(),
                port,
                protocol: Some(sp.protocol.clone().unwrap_or_else(|| "TCP".into())),
                app_protocol: sp.app_protocol.clone(),
            }]));
            included.push(pod);
        }
    }
    let mut subsets = repack(subsets);
    let over_capacity = truncate(&mut subsets);
    let labels = service_labels(svc);

    if let Some(cur) = existing {
        let cur_subsets = cur.subsets.clone().unwrap_or_default();
        let cur_labels = cur.metadata.labels.clone().unwrap_or_default();
        let cur_capacity = cur.metadata.annotations.as_ref().and_then(|a| a.get(ANNOTATION_OVER_CAPACITY)).is_some();
        if cur_subsets == subsets && cur_labels == labels && cur_capacity == over_capacity {
            return None;
        }
    }
    let mut annotations = existing.and_then(|e| e.metadata.annotations.clone()).unwrap_or_default();
    annotations.remove(ANNOTATION_OVER_CAPACITY);
    if over_capacity {
        annotations.insert(ANNOTATION_OVER_CAPACITY.into(), "truncated".into());
    }
    match trigger_time(svc, included.into_iter()) {
        Some(t) => annotations.insert(ANNOTATION_TRIGGER_TIME.into(), t),
        None => annotations.remove(ANNOTATION_TRIGGER_TIME),
    };
    let metadata = ObjectMeta {
        name: svc.metadata.name.clone(),
        namespace: svc.metadata.namespace.clone(),
        labels: Some(labels),
        annotations: (!annotations.is_empty()).then_some(annotations),
        resource_version: existing.and_then(|e| e.metadata.resource_version.clone()),
        uid: existing.and_then(|e| e.metadata.uid.clone()),
        creation_timestamp: existing.and_then(|e| e.metadata.creation_timestamp.clone()),
        ..Default::default()
    };
    let ep = Endpoints { metadata, subsets: (!subsets.is_empty()).then_some(subsets) };
    Some(if existing.is_some() { Action::Update(ep) } else { Action::Create(ep) })
}

fn address_for(pod: &Pod, svc: &Service) -> EndpointAddress {
    EndpointAddress {
        ip: pod_ip(pod).unwrap_or_default().to_string(),
        hostname: should_set_hostname(pod, svc).then(|| pod.spec.as_ref().and_then(|s| s.hostname.clone())).flatten(),
        node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        }),
    }
}

/// Upstream `RepackSubsets`: one subset per distinct port set, addresses deduplicated by IP
/// (ready wins over not-ready), sorted by IP then target UID. Subsets are ordered by their
/// ports (upstream orders by a hash; any stable order serves).
fn repack(subsets: Vec<EndpointSubset>) -> Vec<EndpointSubset> {
    // port-set key → (ports, ready addresses by IP, not-ready addresses by IP)
    type Group = (Vec<EndpointPort>, BTreeMap<String, EndpointAddress>, BTreeMap<String, EndpointAddress>);
    let mut by_ports: BTreeMap<String, Group> = BTreeMap::new();
    for s in subsets {
        let mut ports = s.ports.unwrap_or_default();
        ports.sort_by(|a, b| (&a.name, a.port, &a.protocol).cmp(&(&b.name, b.port, &b.protocol)));
        let key = serde_json::to_string(&ports).unwrap_or_default();
        let entry = by_ports.entry(key).or_insert_with(|| (ports, BTreeMap::new(), BTreeMap::new()));
        for a in s.addresses.unwrap_or_default() {
            entry.2.remove(&a.ip);
            entry.1.insert(a.ip.clone(), a);
        }
        for a in s.not_ready_addresses.unwrap_or_default() {
            if !entry.1.contains_key(&a.ip) {
                entry.2.insert(a.ip.clone(), a);
            }
        }
    }
    by_ports
        .into_values()
        .map(|(ports, ready, not_ready)| EndpointSubset {
            addresses: non_empty(sorted(ready.into_values().collect())),
            not_ready_addresses: non_empty(sorted(not_ready.into_values().collect())),
            ports: non_empty(ports),
        })
        .collect()
}

fn sorted(mut v: Vec<EndpointAddress>) -> Vec<EndpointAddress> {
    let uid = |a: &EndpointAddress| a.target_ref.as_ref().and_then(|r| r.uid.clone());
    // Upstream `addrsByIPAndUID`: IP as a string, then UID.
    v.sort_by(|a, b| (&a.ip, uid(a)).cmp(&(&b.ip, uid(b))));
    v
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// Keep at most [`MAX_CAPACITY`] addresses (ready first); true when some were dropped.
fn truncate(subsets: &mut [EndpointSubset]) -> bool {
    let total: usize = subsets
        .iter()
        .map(|s| s.addresses.as_ref().map_or(0, Vec::len) + s.not_ready_addresses.as_ref().map_or(0, Vec::len))
        .sum();
    if total <= MAX_CAPACITY {
        return false;
    }
    let mut budget = MAX_CAPACITY;
    for s in subsets.iter_mut() {
        if let Some(a) = s.addresses.as_mut() {
            a.truncate(budget);
            budget -= a.len();
        }
    }
    for s in subsets.iter_mut() {
        if let Some(a) = s.not_ready_addresses.as_mut() {
            a.truncate(budget);
            budget -= a.len();
        }
    }
    true
}
