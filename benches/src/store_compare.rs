//! `creates-etcd`: durable creates per second and latency on etcd vs on SQLite, same machine,
//! same client load (1 and then 16 closed-loop clients). A fresh `berth up` for each store; the
//! etcd is a throwaway single-member server on loopback (Debian's `etcd-server`), whose own CPU
//! is not in the "server" CPU column (that is `berth up` only).

use std::path::Path;
use std::time::Duration;

use berth_store::etcd::testing::EtcdServer;

use crate::child::{Berth, TempDir};
use crate::client::{self, Result};
use crate::creates;
use crate::report::Report;

pub async fn run(berth: &Path, secs: Duration, report: &mut Report) -> Result<()> {
    let etcd = EtcdServer::start_or_skip()
        .await
        .ok_or("creates-etcd needs an `etcd` binary (Debian's etcd-server, or BERTH_ETCD)")?;
    for (tag, extra) in [(" on SQLite", vec![]), (" on etcd", vec!["--etcd-endpoints", etcd.endpoint()])] {
        eprintln!("berth-bench: durable creates{tag}");
        let dir = TempDir::new("store-compare")?;
        let (b, _) = Berth::start_with(berth, dir.path(), &extra).await?;
        let outcome = async {
            let ep = b.endpoint()?;
            let mut conn = ep.connect().await?;
            client::ensure_namespace(&mut conn, "bench").await?;
            creates::run_tagged(&ep, b.pid, "bench", 1, secs, tag, report).await?;
            creates::run_tagged(&ep, b.pid, "bench", 16, secs, tag, report).await
        }
        .await;
        if outcome.is_err() {
            eprintln!("berth stderr (tail):\n{}", b.stderr_tail());
        }
        b.stop().await;
        outcome?;
    }
    report.note(format!("etcd: {} (pid {}), single member, default fsync", etcd.endpoint(), etcd.pid()));
    Ok(())
}
