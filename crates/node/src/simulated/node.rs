//! The Node object, its periodic status heartbeat and its Lease — what a real kubelet
//! registers and keeps fresh (`pkg/kubelet/nodestatus/setters.go`, `kubelet_node_status.go`,
//! `pkg/kubelet/nodelease`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeFeatures, NodeSpec, NodeStatus,
    NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::config::SimNodeConfig;
use super::ids;
use super::time::{k8s_time, micro_time};

/// `nodeInfo.kubeletVersion`; the Kubernetes API level berth serves, marked as berth's.
pub const KUBELET_VERSION: &str = "v1.33.0-berth";
/// Label present on every simulated node, so tests and users can select them
/// (`kubectl get nodes -l node.berth.dev/simulated=true`, nodeSelector, affinity).
pub const SIMULATED_LABEL: &str = "node.berth.dev/simulated";
/// `node.kubernetes.io/instance-type` of simulated nodes.
pub const INSTANCE_TYPE: &str = "berth-simulated";
/// Namespace of node heartbeat leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
/// The kubelet's default `nodeLeaseDurationSeconds`.
pub const NODE_LEASE_DURATION_SECONDS: i32 = 40;

/// The kubelet-owned node conditions in the order a real kubelet reports them, with the
/// healthy status, reason and message from upstream's setters.
const HEALTHY_CONDITIONS: [(&str, &str, &str, &str); 4] = [
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
];

/// The Node a simulated node registers (POST /api/v1/nodes), status included.
pub fn node_object(cfg: &SimNodeConfig, now: DateTime<Utc>) -> Node {
    let mut labels = BTreeMap::from([
        ("beta.kubernetes.io/arch".to_string(), cfg.architecture.clone()),
        ("beta.kubernetes.io/os".to_string(), "linux".to_string()),
        ("kubernetes.io/arch".to_string(), cfg.architecture.clone()),
        ("kubernetes.io/hostname".to_string(), cfg.name.clone()),
        ("kubernetes.io/os".to_string(), "linux".to_string()),
    ]);
    if cfg.simulated {
        labels.insert("node.kubernetes.io/instance-type".to_string(), INSTANCE_TYPE.to_string());
        labels.insert(SIMULATED_LABEL.to_string(), "true".to_string());
    }
    labels.extend(cfg.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let annotations = BTreeMap::from([
        // Set by every kubelet that registers with attach/detach done by the controller.
        ("volumes.kubernetes.io/controller-managed-attach-detach".to_string(), "true".to_string()),
    ]);
    let capacity = capacity(cfg);
    let cidr = cfg.pod_cidr.to_string();
    Node {
        metadata: ObjectMeta {
            name: Some(cfg.name.clone()),
            labels: Some(labels),
            annotations: Some(annotations),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            // A real cluster's node-ipam controller assigns this; a simulated node brings its
            // own range, since pod IPs are allocated from it here.
            pod_cidr: Some(cidr.clone()),
            pod_cidrs: Some(vec![cidr]),
            taints: (!cfg.taints.is_empty()).then(|| cfg.taints.clone()),
            ..Default::default()
        }),
        status: Some(NodeStatus {
            addresses: Some(vec![
                NodeAddress { type_: "InternalIP".into(), address: cfg.internal_ip.to_string() },
                NodeAddress { type_: "Hostname".into(), address: cfg.name.clone() },
            ]),
            allocatable: Some(capacity.clone()),
            capacity: Some(capacity),
            conditions: Some(
                HEALTHY_CONDITIONS
                    .iter()
                    .map(|(t, s, r, m)| NodeCondition {
                        type_: (*t).into(),
                        status: (*s).into(),
                        reason: Some((*r).into()),
                        message: Some((*m).into()),
                        last_heartbeat_time: Some(k8s_time(now)),
                        last_transition_time: Some(k8s_time(now)),
                    })
                    .collect(),
            ),
            daemon_endpoints: Some(NodeDaemonEndpoints {
                kubelet_endpoint: Some(DaemonEndpoint { port: cfg.kubelet_port }),
            }),
            features: Some(NodeFeatures { supplemental_groups_policy: Some(true) }),
            node_info: Some(NodeSystemInfo {
                architecture: cfg.architecture.clone(),
                boot_id: ids::uuid_like(&["boot-id", &cfg.name]),
                container_runtime_version: format!("{}://{}", cfg.runtime_scheme, cfg.runtime_version),
                kernel_version: cfg.kernel_version.clone(),
                kube_proxy_version: String::new(),
                kubelet_version: KUBELET_VERSION.into(),
                machine_id: ids::machine_id(&cfg.name),
                operating_system: "linux".into(),
                os_image: cfg.os_image.clone(),
                swap: None,
                system_uuid: ids::uuid_like(&["system-uuid", &cfg.name]),
            }),
            ..Default::default()
        }),
    }
}

fn capacity(cfg: &SimNodeConfig) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_string(), Quantity(cfg.cpu.clone())),
        ("ephemeral-storage".to_string(), Quantity(cfg.ephemeral_storage.clone())),
        ("hugepages-1Gi".to_string(), Quantity("0".into())),
        ("hugepages-2Mi".to_string(), Quantity("0".into())),
        ("memory".to_string(), Quantity(cfg.memory.clone())),
        ("pods".to_string(), Quantity(cfg.pods.to_string())),
    ])
}

/// The status to PUT to `nodes/<name>/status` on a periodic update: the node's current status
/// with the kubelet-owned conditions refreshed. `lastHeartbeatTime` becomes `now`;
/// `lastTransitionTime` is kept unless the condition's status changes — e.g. when the node
/// lifecycle controller had set Ready to Unknown while this node was away, Ready goes back to
/// True with a new transition time. Conditions owned by others (NetworkUnavailable) are kept.
pub fn node_status_heartbeat(node: &Node, now: DateTime<Utc>) -> NodeStatus {
    let mut status = node.status.clone().unwrap_or_default();
    let mut conditions = status.conditions.take().unwrap_or_default();
    for (t, s, r, m) in HEALTHY_CONDITIONS {
        let fresh = |transition| NodeCondition {
            type_: t.into(),
            status: s.into(),
            reason: Some(r.into()),
            message: Some(m.into()),
            last_heartbeat_time: Some(k8s_time(now)),
            last_transition_time: Some(transition),
        };
        match conditions.iter_mut().find(|c| c.type_ == t) {
            Some(c) => {
                let transition = match (&c.last_transition_time, c.status == s) {
                    (Some(old), true) => old.clone(),
                    _ => k8s_time(now),
                };
                *c = fresh(transition);
            }
            None => conditions.push(fresh(k8s_time(now))),
        }
    }
    status.conditions = Some(conditions);
    status
}

/// The node's heartbeat Lease `kube-node-lease/<node>`: created once, then renewed by PUTting
/// the same object with a new `renewTime` (about every 10 s, a quarter of the duration).
pub fn lease(node_name: &str, holder_identity: &str, now: DateTime<Utc>) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(node_name.to_string()),
            namespace: Some(NODE_LEASE_NAMESPACE.to_string()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder_identity.to_string()),
            lease_duration_seconds: Some(NODE_LEASE_DURATION_SECONDS),
            renew_time: Some(micro_time(now)),
            ..Default::default()
        }),
    }
}

/// The owner reference a kubelet puts on its Lease once its Node exists (so deleting the Node
/// garbage-collects the Lease). `None` until the Node has a uid.
pub fn lease_owner_reference(node: &Node) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: "v1".into(),
        kind: "Node".into(),
        name: node.metadata.name.clone()?,
        uid: node.metadata.uid.clone()?,
        ..Default::default()
    })
}
