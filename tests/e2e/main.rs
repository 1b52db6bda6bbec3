//! End-to-end tests: a real `berth up` driven by the real kubectl.
//!
//! They need `kubectl` on PATH (or `KUBECTL=/path/to/kubectl`); `.ci/run` installs it.

mod harness;
mod manifests;

mod apiserver;
mod disruption;
mod dns;
mod durability;
mod etcd;
mod etcd_migrate;
mod ha;
mod ha_multi_host;
mod real_node;
mod real_node_config;
mod service_net;
mod gc;
mod kube_client;
mod multi_host;
mod netns_hosts;
mod node_auth;
mod node_failover_real;
mod node_lifecycle;
mod node_lifecycle_real;
mod pod_io;
mod rbac;
mod statefulset;
mod statefulset_rules;
mod statefulset_sim;
mod scheduler;
mod serviceaccounts;
mod sim_node_process;
mod simulated_node;
mod storage;
mod volume;
mod walkthrough;
mod walkthrough_sim;
