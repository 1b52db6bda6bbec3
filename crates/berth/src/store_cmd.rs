//! Which store the control plane runs on: the embedded SQLite file in the data directory (the
//! default), or etcd when `--etcd-endpoints` is given (the store upstream Kubernetes trusts, and
//! the one several API servers can share). The etcd flags are kube-apiserver's.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_store::Store;
use clap::Args;

/// Written into the data directory by `berth store migrate`: the SQLite file is a stale copy
/// from then on, so starting on it again would fork the cluster.
pub const MIGRATED_MARKER: &str = "migrated-to-etcd";

/// The store flags (all about etcd: without `--etcd-endpoints` the store is SQLite).
#[derive(Args, Clone, Debug)]
pub struct StoreArgs {
    /// etcd's client URLs, comma-separated (e.g. `http://127.0.0.1:2379`; `https://…` with the
    /// TLS flags below). Without it the cluster runs on the embedded SQLite store.
    #[arg(long, value_delimiter = ',', value_name = "URLS")]
    pub etcd_endpoints: Vec<String>,
    /// Root of the cluster's keys in etcd (upstream's default layout under `/registry`).
    #[arg(long, default_value = "/registry", value_name = "PREFIX")]
    pub etcd_prefix: String,
    /// CA certificate(s) that verify etcd's serving certificate (PEM); needed for `https://`.
    #[arg(long, value_name = "FILE")]
    pub etcd_cafile: Option<PathBuf>,
    /// Client certificate (PEM) to present to etcd, for etcd's `--client-cert-auth`.
    #[arg(long, value_name = "FILE", requires = "etcd_keyfile")]
    pub etcd_certfile: Option<PathBuf>,
    /// Private key (PEM) of `--etcd-certfile`.
    #[arg(long, value_name = "FILE", requires = "etcd_certfile")]
    pub etcd_keyfile: Option<PathBuf>,
}

impl StoreArgs {
    pub fn options(&self) -> berth_store::EtcdOptions {
        let mut options = berth_store::EtcdOptions::new(self.etcd_endpoints.clone());
        options.prefix = self.etcd_prefix.clone();
        options.tls = berth_store::EtcdTls {
            ca_file: self.etcd_cafile.clone(),
            cert_file: self.etcd_certfile.clone(),
            key_file: self.etcd_keyfile.clone(),
        };
        options
    }

    pub async fn connect(&self) -> Result<Arc<berth_store::EtcdStore>, String> {
        berth_store::EtcdStore::connect(self.options())
            .await
            .map_err(|e| format!("connecting to etcd {}: {e}", self.etcd_endpoints.join(",")))
    }

    pub fn describe(&self) -> String {
        format!("etcd {} prefix {}", self.etcd_endpoints.join(","), self.etcd_prefix)
    }
}

/// Opens the selected store; returns it with a line describing it for the log.
pub async fn open(args: &StoreArgs, data_dir: &Path) -> Result<(Arc<dyn Store>, String), String> {
    if args.etcd_endpoints.is_empty() {
        let marker = data_dir.join(MIGRATED_MARKER);
        if let Ok(note) = std::fs::read_to_string(&marker) {
            return Err(format!(
                "this cluster was migrated to etcd ({}); start it with --etcd-endpoints (its {} is a stale copy; remove {} to start on that copy anyway)",
                note.trim(),
                data_dir.join("store.db").display(),
                marker.display()
            ));
        }
        let db_path = data_dir.join("store.db");
        let sqlite = berth_store::SqliteStore::open(&db_path)
            .map_err(|e| format!("opening {}: {e}", db_path.display()))?;
        let store: Arc<dyn Store> = sqlite;
        return Ok((store, format!("{} (sqlite", db_path.display())));
    }
    let etcd = args.connect().await?;
    // A SQLite cluster in this directory that never moved: starting an empty one on etcd with
    // its credentials would bootstrap a second cluster and block the migration (prefix taken).
    let db_path = data_dir.join("store.db");
    if db_path.exists() && !data_dir.join(MIGRATED_MARKER).exists() {
        match berth_store::migrate::ensure_empty(etcd.as_ref()).await {
            // The cluster is in etcd already (the marker was removed by hand): go on.
            Err(berth_store::CopyError::TargetNotEmpty { .. }) => {}
            Err(e) => return Err(format!("reading {}: {e}", args.describe())),
            Ok(()) => {
                return Err(format!(
                    "{} holds this cluster's state and {} is empty: run `berth store migrate --data-dir {} --etcd-endpoints …` first, or use another --data-dir",
                    db_path.display(),
                    args.describe(),
                    data_dir.display()
                ))
            }
        }
    }
    let store: Arc<dyn Store> = etcd;
    let tls = if args.etcd_cafile.is_some() { ", TLS" } else { "" };
    Ok((store, format!("{} (etcd{tls}", args.describe())))
}
