//! Which control-plane components run, grouped as upstream deploys them: the controllers
//! (`kube-controller-manager`'s Lease) and the scheduler (`kube-scheduler`'s), each an
//! [`elected::Group`]. Each group builds its own client on its own runtime (see `elected`).

use std::path::PathBuf;
use std::sync::Arc;

use berth_runtime::{ClusterAccess, EventRecorder};

use crate::elected::{Group, Start, Timing};
use crate::{Component, ServerArgs};

/// The Lease names upstream's components use.
pub const CONTROLLER_MANAGER_LEASE: &str = "kube-controller-manager";
pub const SCHEDULER_LEASE: &str = "kube-scheduler";

/// Start both groups; `election` is `None` when this process runs them unconditionally.
pub fn spawn_groups(
    access: &ClusterAccess,
    args: &ServerArgs,
    data_dir: PathBuf,
    election: Option<(kube::Client, Timing, String)>,
) -> Vec<Group> {
    let args = Arc::new(args.clone());
    let mut groups = Vec::new();
    groups.push(Group::spawn(CONTROLLER_MANAGER_LEASE, election.clone(), controller_manager(access.clone(), args.clone(), data_dir)));
    if !args.disable.contains(&Component::Scheduler) {
        groups.push(Group::spawn(SCHEDULER_LEASE, election, scheduler(access.clone())));
    }
    groups
}

fn client(access: &ClusterAccess) -> Option<kube::Client> {
    match berth_runtime::connect(access) {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("berth: components cannot reach the API server: {e}");
            None
        }
    }
}

fn scheduler(access: ClusterAccess) -> Start {
    Arc::new(move || {
        let access = access.clone();
        Box::pin(async move {
            let Some(client) = client(&access) else { return };
            tokio::spawn(berth_scheduler::runner::run(client, std::future::pending()));
        })
    })
}

/// The controllers; they reach the API server over HTTPS like any client, with the admin
/// credentials for now.
fn controller_manager(access: ClusterAccess, args: Arc<ServerArgs>, data_dir: PathBuf) -> Start {
    Arc::new(move || {
        let (access, args, data_dir) = (access.clone(), args.clone(), data_dir.clone());
        Box::pin(async move {
            let Some(client) = client(&access) else { return };
            spawn_controllers(&client, &args, &access.ca_pem, data_dir);
        })
    })
}

fn spawn_controllers(client: &kube::Client, args: &ServerArgs, ca_pem: &str, data_dir: PathBuf) {
    use berth_controllers::{disruption, endpoints, endpointslice, gc, protection, serviceaccount, statefulset, volume};
    let enabled = |c: Component| !args.disable.contains(&c);
    let recorder = |component: &str| EventRecorder::new(client.clone(), component);
    if enabled(Component::Statefulset) {
        statefulset::runner::spawn(client.clone(), recorder("statefulset-controller"));
    }
    if enabled(Component::Volume) {
        let config = volume::runner::Config { storage_root: data_dir.join("storage") };
        volume::runner::spawn(client.clone(), recorder(volume::COMPONENT), config);
    }
    if enabled(Component::Protection) {
        protection::runner::spawn(client.clone());
    }
    if enabled(Component::Serviceaccount) {
        serviceaccount::runner::spawn(client.clone(), ca_pem.to_string());
    }
    if enabled(Component::Gc) {
        tokio::spawn(gc::run(client.clone(), std::future::pending()));
    }
    if enabled(Component::Endpoints) {
        endpoints::runner::spawn(client.clone(), recorder(endpoints::COMPONENT));
    }
    if enabled(Component::Endpointslice) {
        endpointslice::runner::spawn(client.clone(), recorder(endpointslice::COMPONENT));
    }
    if enabled(Component::Disruption) {
        disruption::runner::spawn(client.clone(), recorder(disruption::COMPONENT));
    }
    spawn_node_lifecycle(client, args);
}

/// The node lifecycle controller, the taint eviction controller and pod GC.
fn spawn_node_lifecycle(client: &kube::Client, args: &ServerArgs) {
    use berth_controllers::{nodelifecycle, podgc, tainteviction};
    let enabled = |c: Component| !args.disable.contains(&c);
    let recorder = |component: &str| EventRecorder::new(client.clone(), component);
    if enabled(Component::Nodelifecycle) {
        let cfg = nodelifecycle::Config {
            grace_period: args.node_monitor_grace_period,
            monitor_period: args.node_monitor_period,
            auto_failover: args.auto_failover_after.map(|after| (after, args.auto_failover_margin)),
        };
        nodelifecycle::runner::spawn(client.clone(), recorder(nodelifecycle::COMPONENT), cfg);
    }
    if enabled(Component::Tainteviction) {
        tainteviction::runner::spawn(client.clone(), recorder(tainteviction::COMPONENT));
    }
    if enabled(Component::Podgc) {
        podgc::runner::spawn(client.clone());
    }
}
