//! The EndpointSlice controller's decision (upstream `pkg/controller/endpointslice` and the
//! staging `k8s.io/endpointslice` reconciler), for IPv4 services with a selector. Pure: the
//! executor ([`runner`]) passes the service, the namespace's pods and the service's existing
//! slices, and performs the returned [`Plan`] (creates with `generateName`, PUTs carrying the
//! resourceVersion, DELETEs with the UID as precondition).
//!
//! Minimal churn, as upstream: an endpoint stays in the slice it is in; a slice is written only
//! when one of its endpoints or its labels changed; new endpoints first fill slices that are
//! written anyway, then the fullest unchanged slice that takes them all, then new slices of at
//! most `max_per_slice`; a slice left empty is deleted — or renamed into a slice that would
//! otherwise be created; a service without endpoints keeps one placeholder slice (no ports,
//! no endpoints). Slices are owned by the service (controller ownerReference), so the
//! garbage collector removes them with it.

mod desired;
pub mod runner;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

pub use desired::{endpoint_key, port_key};

use crate::endpoints::podutil::{is_headless, trigger_time, ANNOTATION_TRIGGER_TIME, LABEL_HEADLESS};

pub const COMPONENT: &str = "endpointslice-controller";
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
/// Upstream's `--max-endpoints-per-slice` default.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;
const ADDRESS_TYPE: &str = "IPv4";

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Plan {
    pub create: Vec<EndpointSlice>,
    pub update: Vec<EndpointSlice>,
    pub delete: Vec<EndpointSlice>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// Whether `slice` is one this controller manages for the service named `service`.
pub fn managed_for(slice: &EndpointSlice, service: &str) -> bool {
    let labels = slice.metadata.labels.as_ref();
    labels.and_then(|l| l.get(LABEL_SERVICE_NAME)).map(String::as_str) == Some(service)
        && labels.and_then(|l| l.get(LABEL_MANAGED_BY)).map(String::as_str) == Some(CONTROLLER_NAME)
}

/// Upstream `setEndpointSliceLabels`: the service's labels (less the reserved ones) plus the
/// service name, the manager and, for headless services, the headless label.
pub fn slice_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = svc
        .metadata
        .labels
        .iter()
        .flatten()
        .filter(|(k, _)| ![LABEL_SERVICE_NAME, LABEL_MANAGED_BY, LABEL_HEADLESS].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(LABEL_SERVICE_NAME.into(), svc.metadata.name.clone().unwrap_or_default());
    labels.insert(LABEL_MANAGED_BY.into(), CONTROLLER_NAME.into());
    if is_headless(svc) {
        labels.insert(LABEL_HEADLESS.into(), String::new());
    }
    labels
}

fn owner_ref(svc: &Service) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Service".into(),
        name: svc.metadata.name.clone().unwrap_or_default(),
        uid: svc.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn owned_by(slice: &EndpointSlice, svc: &Service) -> bool {
    slice.metadata.owner_references.iter().flatten().any(|r| r.controller == Some(true) && Some(&r.uid) == svc.metadata.uid.as_ref())
}

/// Upstream `newEndpointSlice`: `generateName: <service>-`.
fn new_slice(svc: &Service, ports: Vec<k8s_openapi::api::discovery::v1::EndpointPort>) -> EndpointSlice {
    EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", svc.metadata.name.as_deref().unwrap_or(""))),
            namespace: svc.metadata.namespace.clone(),
            labels: Some(slice_labels(svc)),
            owner_references: Some(vec![owner_ref(svc)]),
            ..Default::default()
        },
        address_type: ADDRESS_TYPE.into(),
        endpoints: Vec::new(),
        ports: Some(ports),
    }
}

/// Decide the writes that make `existing` (this service's managed slices) match the pods.
pub fn reconcile(svc: &Service, pods: &[Pod], existing: &[EndpointSlice], max_per_slice: usize) -> Plan {
    let max = max_per_slice.max(1);
    let mut plan = Plan::default();
    if svc.metadata.deletion_timestamp.is_some() || crate::endpoints::podutil::selector(svc).is_none() {
        return plan;
    }
    let (mut groups, included) = desired::desired(svc, pods);
    let labels = slice_labels(svc);
    let mut existing: Vec<&EndpointSlice> = existing.iter().collect();
    existing.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    // Slices of another address type are not this controller's to keep.
    let (mut existing, wrong_type): (Vec<_>, Vec<_>) = existing.into_iter().partition(|s| s.address_type == ADDRESS_TYPE);
    plan.delete.extend(wrong_type.into_iter().cloned());
    existing.retain(|s| s.metadata.deletion_timestamp.is_none());

    let mut keys: BTreeSet<String> = groups.keys().cloned().collect();
    keys.extend(existing.iter().map(|s| port_key(s.ports.as_deref().unwrap_or_default())));
    for key in keys {
        let group = groups.remove(&key);
        let slices: Vec<&EndpointSlice> =
            existing.iter().copied().filter(|s| port_key(s.ports.as_deref().unwrap_or_default()) == key).collect();
        by_port_mapping(svc, &labels, group, &slices, max, &mut plan);
    }

    // Rename would-be deletions into would-be creations (fewer objects churned).
    while !plan.create.is_empty() {
        let Some(i) = plan.delete.iter().position(|d| owned_by(d, svc) && d.address_type == ADDRESS_TYPE) else { break };
        let old = plan.delete.remove(i);
        let mut slice = plan.create.pop().expect("non-empty");
        adopt_identity(&mut slice, &old);
        plan.update.push(slice);
    }

    // A service without endpoints keeps exactly one placeholder slice.
    if plan.create.is_empty() && plan.update.is_empty() && existing.len() == plan.delete.iter().filter(|d| d.address_type == ADDRESS_TYPE).count() {
        let placeholder = new_slice(svc, Vec::new());
        let same = |s: &EndpointSlice| {
            s.endpoints.is_empty() && s.ports.as_deref().unwrap_or_default().is_empty() && s.metadata.labels.as_ref() == Some(&labels) && owned_by(s, svc)
        };
        match plan.delete.iter().position(same) {
            Some(i) if plan.delete.len() == 1 => {
                plan.delete.remove(i);
            }
            _ => plan.create.push(placeholder),
        }
    }

    let trigger = trigger_time(svc, included.into_iter());
    for s in plan.create.iter_mut().chain(plan.update.iter_mut()) {
        let ann = s.metadata.annotations.get_or_insert_with(BTreeMap::new);
        match &trigger {
            Some(t) => ann.insert(ANNOTATION_TRIGGER_TIME.into(), t.clone()),
            None => ann.remove(ANNOTATION_TRIGGER_TIME),
        };
        if ann.is_empty() {
            s.metadata.annotations = None;
        }
    }
    plan
}

fn adopt_identity(slice: &mut EndpointSlice, old: &EndpointSlice) {
    slice.metadata.name = old.metadata.name.clone();
    slice.metadata.generate_name = old.metadata.generate_name.clone();
    slice.metadata.resource_version = old.metadata.resource_version.clone();
    slice.metadata.uid = old.metadata.uid.clone();
    slice.metadata.creation_timestamp = old.metadata.creation_timestamp.clone();
}

/// Upstream `reconcileByPortMapping` for one port set.
fn by_port_mapping(
    svc: &Service,
    labels: &BTreeMap<String, String>,
    group: Option<desired::Group>,
    slices: &[&EndpointSlice],
    max: usize,
    plan: &mut Plan,
) {
    // A port set no longer wanted: all its slices go (upstream deletes them outright).
    let Some(desired::Group { ports, endpoints: mut wanted, order }) = group else {
        plan.delete.extend(slices.iter().map(|s| (*s).clone()));
        return;
    };
    let mut to_update: Vec<EndpointSlice> = Vec::new();
    let mut unchanged: Vec<&EndpointSlice> = Vec::new();
    for slice in slices {
        let mut kept: Vec<Endpoint> = Vec::new();
        let mut changed = false;
        for ep in &slice.endpoints {
            if let Some(want) = wanted.remove(&endpoint_key(ep)) {
                changed |= want != *ep;
                kept.push(want);
            }
        }
        let labels_changed = slice.metadata.labels.as_ref() != Some(labels) || !owned_by(slice, svc);
        if changed || kept.len() != slice.endpoints.len() {
            if kept.is_empty() {
                plan.delete.push((*slice).clone());
            } else {
                to_update.push(refreshed(slice, svc, labels, kept));
            }
        } else if labels_changed {
            to_update.push(refreshed(slice, svc, labels, kept));
        } else {
            unchanged.push(slice);
        }
    }
    let mut remaining: std::collections::VecDeque<Endpoint> = order.iter().filter_map(|k| wanted.remove(k)).collect();
    for s in to_update.iter_mut() {
        while s.endpoints.len() < max {
            let Some(e) = remaining.pop_front() else { break };
            s.endpoints.push(e);
        }
    }
    // The fullest unchanged slice that can take every remaining endpoint.
    if !remaining.is_empty() && remaining.len() < max {
        let fit = unchanged
            .iter()
            .enumerate()
            .filter(|(_, s)| s.endpoints.len() + remaining.len() <= max)
            .max_by_key(|(_, s)| s.endpoints.len())
            .map(|(i, _)| i);
        if let Some(i) = fit {
            let slice = unchanged.remove(i);
            let mut s = refreshed(slice, svc, labels, slice.endpoints.clone());
            s.endpoints.extend(remaining.drain(..));
            to_update.push(s);
        }
    }
    while !remaining.is_empty() {
        let mut s = new_slice(svc, ports.clone());
        let n = remaining.len().min(max);
        s.endpoints.extend(remaining.drain(..n));
        plan.create.push(s);
    }
    plan.update.extend(to_update);
}

/// A copy of `slice` with the desired labels, owner and the given endpoints.
fn refreshed(slice: &EndpointSlice, svc: &Service, labels: &BTreeMap<String, String>, endpoints: Vec<Endpoint>) -> EndpointSlice {
    let mut s = slice.clone();
    s.metadata.labels = Some(labels.clone());
    if !owned_by(slice, svc) {
        s.metadata.owner_references.get_or_insert_with(Vec::new).push(owner_ref(svc));
    }
    s.endpoints = endpoints;
    s
}
