//! End-to-end tests: a real `berth up` driven by the real kubectl.
//!
//! They need `kubectl` on PATH (or `KUBECTL=/path/to/kubectl`); `.ci/run` installs it.

mod harness;
mod manifests;

mod apiserver;
mod dns;
mod durability;
mod real_node;
mod service_net;
mod gc;
mod kube_client;
mod pod_io;
mod statefulset;
mod statefulset_rules;
mod statefulset_sim;
mod scheduler;
mod sim_node_process;
mod simulated_node;
mod storage;
mod volume;
mod walkthrough;
mod walkthrough_sim;
