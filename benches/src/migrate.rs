//! `migrate-etcd`: how long `berth store migrate` takes to move N objects from a data
//! directory's SQLite store into a throwaway single-member etcd (loopback, default fsync). The
//! store is filled directly (ConfigMap-sized JSON values, ≈ 0.5 KB), then the real command runs
//! as an operator would run it; its wall time includes process start, the snapshot read and the
//! compaction at the end. The copy writes one key per etcd transaction in source revision order,
//! so it is bound by etcd's per-write commit latency.

use std::path::Path;
use std::time::Instant;

use berth_store::etcd::testing::EtcdServer;
use berth_store::Store;

use crate::child::TempDir;
use crate::client::Result;
use crate::report::Report;

/// Fills `<dir>/store.db` with `n` ConfigMaps across 10 namespaces, 256 creates in flight (the
/// SQLite store group-commits them).
async fn fill(dir: &Path, n: usize) -> Result<()> {
    let store = berth_store::SqliteStore::open(&dir.join("store.db")).map_err(|e| e.to_string())?;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let (ns, name) = (format!("ns-{}", i % 10), format!("cm-{i:06}"));
        let value = serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns, "uid": format!("00000000-0000-4000-8000-{i:012}"),
                         "creationTimestamp": "2026-11-27T00:00:00Z", "labels": {"app": "bench"}},
            "data": {"payload": "x".repeat(300)},
        });
        let key = format!("/registry/core/configmaps/{ns}/{name}");
        let store = store.clone();
        tasks.spawn(async move { store.create(&key, serde_json::to_vec(&value).unwrap().into()).await });
        if tasks.len() >= 256 {
            tasks.join_next().await.expect("a task").map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
    }
    Ok(())
}

pub async fn run(berth: &Path, sizes: &[usize], report: &mut Report) -> Result<()> {
    let etcd = EtcdServer::start_or_skip()
        .await
        .ok_or("migrate-etcd needs an `etcd` binary (Debian's etcd-server, or BERTH_ETCD)")?;
    for &n in sizes {
        let dir = TempDir::new("migrate")?;
        fill(dir.path(), n).await?;
        let prefix = format!("/bench-{n}");
        let started = Instant::now();
        let out = std::process::Command::new(berth)
            .args(["store", "migrate", "--data-dir"])
            .arg(dir.path())
            .args(["--etcd-endpoints", etcd.endpoint(), "--etcd-prefix", &prefix])
            .output()
            .map_err(|e| e.to_string())?;
        let elapsed = started.elapsed();
        if !out.status.success() {
            return Err(format!("berth store migrate failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        let summary = String::from_utf8_lossy(&out.stdout);
        if !summary.starts_with(&format!("copied {n} objects")) {
            return Err(format!("unexpected summary: {summary}"));
        }
        report.row(
            format!("`berth store migrate`, {n} ConfigMaps SQLite → etcd"),
            format!("{:.2} s ({:.0} objects/s)", elapsed.as_secs_f64(), n as f64 / elapsed.as_secs_f64()),
            "-",
        );
    }
    report.note(format!("etcd: {} (pid {}), single member, default fsync", etcd.endpoint(), etcd.pid()));
    Ok(())
}
