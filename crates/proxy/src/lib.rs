//! berth's service proxy: makes `<clusterIP>:<port>` reach a ready endpoint through the
//! kernel (nftables DNAT), from pods and from the host, as kube-proxy's nftables mode does.
//!
//! * [`model`]: Services + EndpointSlices → service ports with their endpoints (pure);
//! * [`ruleset`]: service ports → the nft ruleset text (pure);
//! * [`nft`]: applies the text (`nft -f -`);
//! * [`start`]: informers, a debounced sync loop, and the table's removal on [`Proxy::stop`].
//!
//! One proxy runs per host (all node agents of one machine share the host network namespace);
//! its table `ip berth-<cluster id>` is the cluster's own, so test clusters in parallel keep
//! apart (their pod CIDRs differ; their service IPs must too where the host reaches them).

pub mod model;
pub mod nft;
pub mod ruleset;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_runtime::Informer;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;
use kube::runtime::watcher;

#[derive(Clone, Debug)]
pub struct Config {
    pub table: String,
    /// The cluster's pod CIDR.
    pub pod_cidr: String,
    /// Cluster IPs the host serves itself (the cluster DNS on its dummy interface).
    pub skip_ips: Vec<Ipv4Addr>,
    /// How long a change waits for more changes before the ruleset is rebuilt.
    pub debounce: Duration,
}

/// The last ruleset applied, for tests and the benchmark.
#[derive(Clone, Debug)]
pub struct Applied {
    pub at: Instant,
    pub generation: u64,
    pub ports: Vec<model::ServicePort>,
}

pub struct Proxy {
    table: String,
    task: tokio::task::JoinHandle<()>,
    pub applied: tokio::sync::watch::Receiver<Option<Applied>>,
}

impl Proxy {
    /// Stop syncing and delete the table.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        let table = self.table.clone();
        let text = ruleset::delete(&table);
        match tokio::task::spawn_blocking(move || nft::apply(&text)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(%table, error = %e, "deleting the proxy's nft table"),
            Err(e) => tracing::warn!(error = %e, "deleting the proxy's nft table"),
        }
    }
}

/// The table name for a cluster id (nft names are free-form; keep it short and readable).
pub fn table_name(cluster_id: &str) -> String {
    format!("berth-{cluster_id}")
}

/// Start the proxy: checks that `nft` works, then keeps the table in sync.
pub async fn start(client: kube::Client, config: Config) -> Result<Proxy, String> {
    tokio::task::spawn_blocking(nft::available).await.map_err(|e| e.to_string())?.map_err(|e| format!("service proxy: {e}"))?;
    let changed = Arc::new(tokio::sync::Notify::new());
    let n = changed.clone();
    let services = Informer::spawn(Api::<Service>::all(client.clone()), watcher::Config::default(), move |_| n.notify_one());
    let n = changed.clone();
    let slices = Informer::spawn(Api::<EndpointSlice>::all(client), watcher::Config::default(), move |_| n.notify_one());
    let (tx, applied) = tokio::sync::watch::channel(None);
    let table = config.table.clone();
    let params = ruleset::Params { table: config.table.clone(), pod_cidr: config.pod_cidr.clone() };
    let task = tokio::spawn(async move {
        services.ready().await;
        slices.ready().await;
        let mut last: Option<Vec<model::ServicePort>> = None;
        let mut generation = 0;
        loop {
            let ports = model::service_ports(&services.state(), &slices.state(), &config.skip_ips);
            if last.as_ref() != Some(&ports) {
                let text = ruleset::render(&params, &ports);
                match tokio::task::spawn_blocking(move || nft::apply(&text)).await {
                    Ok(Ok(())) => {
                        generation += 1;
                        let _ = tx.send(Some(Applied { at: Instant::now(), generation, ports: ports.clone() }));
                        last = Some(ports);
                    }
                    // Retried on the next change or after a second.
                    Ok(Err(e)) => tracing::warn!(error = %e, "service proxy: applying rules"),
                    Err(e) => tracing::warn!(error = %e, "service proxy: applying rules"),
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), changed.notified()).await;
            // Coalesce a burst (a rollout touches many slices) into one transaction.
            tokio::time::sleep(config.debounce).await;
        }
    });
    Ok(Proxy { table, task, applied })
}
