//! Pod resource requests and the NodeResourcesFit filter (`noderesources/fit.go`,
//! component-helpers `resource.PodRequests`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;

use crate::quantity::{parse_or_zero, Quantity};

/// `DefaultMilliCPURequest` / `DefaultMemoryRequest`: what scoring assumes for a container that
/// requests nothing, so that many request-less pods don't pile onto one node.
const DEFAULT_MILLI_CPU_REQUEST: i128 = 100;
const DEFAULT_MEMORY_REQUEST: i128 = 200 * 1024 * 1024;

/// Upstream `framework.Resource`: cpu in millicores, the rest in units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    pub milli_cpu: i128,
    pub memory: i128,
    pub ephemeral_storage: i128,
    pub allowed_pod_number: i128,
    /// Extended resources, hugepages and other scalar resources, by name.
    pub scalar: BTreeMap<String, i128>,
}

/// Names the fit filter checks besides cpu/memory/ephemeral-storage/pods
/// (`IsScalarResourceName`): extended (`example.com/gpu`), prefixed native (`kubernetes.io/…`),
/// `hugepages-*` and `attachable-volumes-*`.
fn is_scalar(name: &str) -> bool {
    name.contains('/') || name.starts_with("hugepages-") || name.starts_with("attachable-volumes-")
}

impl Resource {
    /// `Resource.Add(ResourceList)`.
    pub fn add_list(&mut self, list: &BTreeMap<String, ApiQuantity>) {
        for (name, q) in list {
            self.add_one(name, parse_or_zero(q));
        }
    }

    fn add_one(&mut self, name: &str, q: Quantity) {
        match name {
            "cpu" => self.milli_cpu += q.milli(),
            "memory" => self.memory += q.value(),
            "ephemeral-storage" => self.ephemeral_storage += q.value(),
            "pods" => self.allowed_pod_number += q.value(),
            other if is_scalar(other) => *self.scalar.entry(other.to_string()).or_default() += q.value(),
            _ => {}
        }
    }

    pub fn add(&mut self, other: &Resource) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        self.allowed_pod_number += other.allowed_pod_number;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_default() += v;
        }
    }

    /// Take back what [`Resource::add`] added (a pod leaving its node).
    pub fn sub(&mut self, other: &Resource) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
        self.allowed_pod_number -= other.allowed_pod_number;
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e -= v;
            if *e == 0 {
                self.scalar.remove(k);
            }
        }
    }

    fn max_with(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }
}

/// A container's requests. The API server defaults a missing request to the limit; doing the same
/// here keeps the scheduler right even for objects stored before defaulting.
fn container_requests(c: &Container) -> Resource {
    let mut r = Resource::default();
    let Some(res) = c.resources.as_ref() else { return r };
    let requests = res.requests.as_ref();
    if let Some(req) = requests {
        r.add_list(req);
    }
    for (name, q) in res.limits.iter().flatten() {
        if requests.is_none_or(|req| !req.contains_key(name)) {
            r.add_one(name, parse_or_zero(q));
        }
    }
    r
}

/// Requests with scoring's defaults for containers that ask for no cpu / memory.
fn container_non_zero_requests(c: &Container) -> Resource {
    let mut r = container_requests(c);
    if r.milli_cpu == 0 {
        r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
    }
    if r.memory == 0 {
        r.memory = DEFAULT_MEMORY_REQUEST;
    }
    r
}

fn is_restartable_init(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// `PodRequests`: app containers plus sidecars (restartable init containers) run together; each
/// ordinary init container runs alone beside the sidecars started before it; the pod needs the
/// larger of the two, plus `spec.overhead`.
fn pod_requests_with(pod: &Pod, per_container: fn(&Container) -> Resource) -> Resource {
    let Some(spec) = pod.spec.as_ref() else { return Resource::default() };
    let mut reqs = Resource::default();
    for c in &spec.containers {
        reqs.add(&per_container(c));
    }
    let mut sidecars = Resource::default();
    let mut init_max = Resource::default();
    for c in spec.init_containers.iter().flatten() {
        let own = per_container(c);
        let running = if is_restartable_init(c) {
            reqs.add(&own);
            sidecars.add(&own);
            sidecars.clone()
        } else {
            let mut alone = own;
            alone.add(&sidecars);
            alone
        };
        init_max.max_with(&running);
    }
    reqs.max_with(&init_max);
    if let Some(overhead) = spec.overhead.as_ref() {
        reqs.add_list(overhead);
    }
    reqs
}

pub fn pod_requests(pod: &Pod) -> Resource {
    pod_requests_with(pod, container_requests)
}

pub fn pod_non_zero_requests(pod: &Pod) -> Resource {
    pod_requests_with(pod, container_non_zero_requests)
}

/// `status.allocatable` (falling back to `status.capacity`, which is what a node reports when
/// it reserves nothing).
pub fn node_allocatable(node: &Node) -> Resource {
    let mut r = Resource::default();
    if let Some(status) = node.status.as_ref() {
        if let Some(list) = status.allocatable.as_ref().or(status.capacity.as_ref()) {
            r.add_list(list);
        }
    }
    r
}

/// `fitsRequest`: every reason the node cannot take the pod, in upstream's order (pods, cpu,
/// memory, ephemeral-storage, then scalar resources by name).
pub fn insufficient(request: &Resource, pods_on_node: usize, allocatable: &Resource, requested: &Resource) -> Vec<String> {
    let mut reasons = Vec::new();
    if pods_on_node as i128 + 1 > allocatable.allowed_pod_number {
        reasons.push("Too many pods".to_string());
    }
    if request.milli_cpu == 0 && request.memory == 0 && request.ephemeral_storage == 0 && request.scalar.values().all(|v| *v == 0) {
        return reasons;
    }
    if request.milli_cpu > 0 && request.milli_cpu > allocatable.milli_cpu - requested.milli_cpu {
        reasons.push("Insufficient cpu".to_string());
    }
    if request.memory > 0 && request.memory > allocatable.memory - requested.memory {
        reasons.push("Insufficient memory".to_string());
    }
    if request.ephemeral_storage > 0 && request.ephemeral_storage > allocatable.ephemeral_storage - requested.ephemeral_storage {
        reasons.push("Insufficient ephemeral-storage".to_string());
    }
    for (name, want) in &request.scalar {
        if *want == 0 {
            continue;
        }
        let free = allocatable.scalar.get(name).copied().unwrap_or(0) - requested.scalar.get(name).copied().unwrap_or(0);
        if *want > free {
            reasons.push(format!("Insufficient {name}"));
        }
    }
    reasons
}

/// LeastAllocated score (0–100) over cpu and memory, equally weighted, using non-zero requests:
/// the share of the node left free once the pod is placed.
pub fn least_allocated_score(pod_non_zero: &Resource, node_non_zero: &Resource, allocatable: &Resource) -> i128 {
    let part = |alloc: i128, used: i128| -> i128 {
        if alloc <= 0 || used > alloc {
            0
        } else {
            (alloc - used) * 100 / alloc
        }
    };
    let cpu = part(allocatable.milli_cpu, node_non_zero.milli_cpu + pod_non_zero.milli_cpu);
    let mem = part(allocatable.memory, node_non_zero.memory + pod_non_zero.memory);
    (cpu + mem) / 2
}
