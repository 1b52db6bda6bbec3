//! Which store the control plane runs on: the embedded SQLite file in the data directory (the
//! default), or etcd when `--etcd-endpoints` is given (the store upstream Kubernetes trusts, and
//! the one several API servers can share).

use std::path::Path;
use std::sync::Arc;

use berth_store::Store;
use clap::Args;

#[derive(Args, Clone, Debug)]
pub struct StoreArgs {
    /// Run on etcd instead of the embedded SQLite store: client URLs, comma-separated
    /// (e.g. `http://127.0.0.1:2379`).
    #[arg(long, value_delimiter = ',', value_name = "URLS")]
    pub etcd_endpoints: Vec<String>,
    /// Root of the cluster's keys in etcd (upstream's default layout under `/registry`).
    #[arg(long, default_value = "/registry", value_name = "PREFIX")]
    pub etcd_prefix: String,
}

/// Opens the selected store; returns it with a line describing it for the log.
pub async fn open(args: &StoreArgs, data_dir: &Path) -> Result<(Arc<dyn Store>, String), String> {
    if args.etcd_endpoints.is_empty() {
        let db_path = data_dir.join("store.db");
        let sqlite = berth_store::SqliteStore::open(&db_path)
            .map_err(|e| format!("opening {}: {e}", db_path.display()))?;
        let store: Arc<dyn Store> = sqlite;
        return Ok((store, format!("{} (sqlite", db_path.display())));
    }
    let mut options = berth_store::EtcdOptions::new(args.etcd_endpoints.clone());
    options.prefix = args.etcd_prefix.clone();
    let etcd = berth_store::EtcdStore::connect(options)
        .await
        .map_err(|e| format!("connecting to etcd {}: {e}", args.etcd_endpoints.join(",")))?;
    let store: Arc<dyn Store> = etcd;
    Ok((store, format!("etcd {} prefix {} (etcd", args.etcd_endpoints.join(","), args.etcd_prefix)))
}
