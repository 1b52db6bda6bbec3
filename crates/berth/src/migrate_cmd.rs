//! `berth store migrate`: moves a stopped cluster from its embedded SQLite store onto etcd.
//! The copy itself is `berth_store::migrate`; this is the safety around it:
//!
//! - the cluster must be stopped: the SQLite file's lock (held by a running server) is taken for
//!   the whole copy, so no server starts on the old store meanwhile;
//! - the etcd prefix must be empty (no `--force`: merging two clusters' objects, or overwriting
//!   one, is never right; clear a failed attempt with `etcdctl del --prefix <prefix>/`);
//! - afterwards `<data-dir>/migrated-to-etcd` records where the cluster went, and `berth up`
//!   refuses to start on the stale SQLite copy while it exists.
//!
//! The credentials (`pki/`, `kubeconfig.yaml`) stay in the data directory, so
//! `berth up --data-dir D --etcd-endpoints …` resumes the same cluster.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, Subcommand};

use crate::store_cmd::{StoreArgs, MIGRATED_MARKER};

#[derive(Subcommand)]
pub enum StoreCommand {
    /// Copy a stopped cluster's state from `<data-dir>/store.db` into an empty etcd prefix, then
    /// start it with `berth up --data-dir D --etcd-endpoints …`.
    Migrate(MigrateArgs),
}

#[derive(Args)]
pub struct MigrateArgs {
    /// The cluster's data directory (its `store.db` is read; its credentials stay there).
    #[arg(long, default_value = "./.berth")]
    data_dir: PathBuf,
    /// Where to copy it (`--etcd-endpoints` is required).
    #[command(flatten)]
    store: StoreArgs,
}

pub async fn run(command: StoreCommand) -> Result<(), String> {
    match command {
        StoreCommand::Migrate(args) => migrate(args).await,
    }
}

async fn migrate(args: MigrateArgs) -> Result<(), String> {
    let started = Instant::now();
    if args.store.etcd_endpoints.is_empty() {
        return Err("berth store migrate needs --etcd-endpoints (where to copy the cluster to)".into());
    }
    let dir = &args.data_dir;
    let marker = dir.join(MIGRATED_MARKER);
    if let Ok(note) = std::fs::read_to_string(&marker) {
        return Err(format!("{} was already migrated ({})", dir.display(), note.trim()));
    }
    let db = dir.join("store.db");
    if !db.is_file() {
        return Err(format!("{} does not exist: no cluster to migrate in {}", db.display(), dir.display()));
    }
    let source = berth_store::SqliteStore::open(&db).map_err(|e| match e {
        berth_store::StoreError::Internal(m) if m.contains("in use") => {
            format!("a berth server is running on {} ({m}); stop it before migrating", dir.display())
        }
        e => format!("opening {}: {e}", db.display()),
    })?;
    if !dir.join("pki").is_dir() {
        eprintln!("berth: warning: no {} here: the cluster will get new credentials when it starts", dir.join("pki").display());
    }
    let target = args.store.connect().await?;
    eprintln!("berth: copying {} into {}", db.display(), args.store.describe());
    let summary = berth_store::copy_snapshot(source.as_ref(), target.as_ref(), |done, total| {
        if done % 1000 == 0 {
            eprintln!("berth: {done}/{total} objects copied");
        }
    })
    .await
    .map_err(|e| match e {
        berth_store::CopyError::TargetNotEmpty { first } => format!(
            "{} already holds keys (e.g. {first}); nothing was copied. Choose another --etcd-prefix, or clear it with `etcdctl del --prefix {}/`",
            args.store.describe(),
            args.store.etcd_prefix.trim_end_matches('/')
        ),
        e @ berth_store::CopyError::Target { written: 1.., .. } => format!(
            "{e}. The etcd prefix holds a partial copy: clear it with `etcdctl del --prefix {}/` before trying again (the SQLite store is unchanged)",
            args.store.etcd_prefix.trim_end_matches('/')
        ),
        e => e.to_string(),
    })?;
    let note = format!(
        "{}, {} objects at SQLite revision {}",
        args.store.describe(),
        summary.keys,
        summary.source_revision
    );
    std::fs::write(&marker, format!("{note}\n")).map_err(|e| format!("writing {}: {e}", marker.display()))?;
    drop(source);
    println!(
        "copied {} objects ({} bytes) from {} at revision {} into {} (etcd revision {}) in {} ms",
        summary.keys,
        summary.bytes,
        db.display(),
        summary.source_revision,
        args.store.describe(),
        summary.target_revision,
        started.elapsed().as_millis()
    );
    eprintln!(
        "berth: start the cluster with: berth up --data-dir {} --etcd-endpoints {}{}{}",
        dir.display(),
        args.store.etcd_endpoints.join(","),
        if args.store.etcd_prefix == "/registry" { String::new() } else { format!(" --etcd-prefix {}", args.store.etcd_prefix) },
        if args.store.etcd_cafile.is_some() { " and the same --etcd-cafile/certfile/keyfile" } else { "" }
    );
    Ok(())
}
