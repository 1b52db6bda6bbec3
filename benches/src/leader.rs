//! `leader`: how long the controllers are leaderless when the leading `berth server` goes away.
//! Two servers on one throwaway etcd (the second with a copy of the first's `pki/`); each round
//! kills the server holding `kube-system/kube-controller-manager` (SIGKILL, or SIGTERM: a clean
//! stop releases the Lease) and measures until the other server's Lease read shows a new holder,
//! then restarts the killed one as the next candidate.

use std::path::Path;
use std::time::{Duration, Instant};

use berth_store::etcd::testing::EtcdServer;
use hyper::Method;

use crate::child::{Berth, TempDir};
use crate::client::Result;
use crate::report::Report;
use crate::stats;

const LEASE_PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager";

async fn holder(server: &Berth) -> Result<String> {
    let mut conn = server.endpoint()?.connect().await?;
    let (status, body) = conn.send(Method::GET, LEASE_PATH, String::new()).await?;
    if status != 200 {
        return Ok(String::new());
    }
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    Ok(v["spec"]["holderIdentity"].as_str().unwrap_or_default().to_string())
}

fn copy_pki(from: &Path, to: &Path) -> Result<()> {
    let (src, dst) = (from.join("pki"), to.join("pki"));
    std::fs::create_dir_all(&dst).map_err(|e| e.to_string())?;
    for entry in std::fs::read_dir(&src).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        std::fs::copy(entry.path(), dst.join(entry.file_name())).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// `rounds` takeovers with `election` flags; `graceful` stops the leader with SIGTERM.
pub async fn run(berth: &Path, report: &mut Report, label: &str, election: &[&str], rounds: usize, graceful: bool) -> Result<()> {
    let etcd = EtcdServer::start_or_skip().await.ok_or("leader needs an `etcd` binary (Debian's etcd-server, or BERTH_ETCD)")?;
    eprintln!("berth-bench: leader takeover, {label}");
    let mut flags = vec!["--etcd-endpoints", etcd.endpoint()];
    flags.extend(election);
    let dirs = [TempDir::new("leader-a")?, TempDir::new("leader-b")?];
    let (a, _) = Berth::start_with(berth, dirs[0].path(), &flags).await?;
    copy_pki(dirs[0].path(), dirs[1].path())?;
    let (b, _) = Berth::start_with(berth, dirs[1].path(), &flags).await?;
    let mut servers = [Some(a), Some(b)];
    let mut takeovers = stats::Samples::new();
    for _ in 0..rounds {
        let live = servers.iter().flatten().next().ok_or("no server")?;
        let old = holder(live).await?;
        // Each server logs the identity it leads as; that tells which process to stop.
        let leader = servers
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.stderr_tail().contains(&format!("leading kube-controller-manager as {old}"))))
            .ok_or_else(|| format!("no server logged leading as {old:?}"))?;
        let other = 1 - leader;
        let killed = servers[leader].take().expect("the leader is running");
        let t0 = Instant::now();
        if graceful {
            killed.stop().await;
        } else {
            drop(killed); // kill_on_drop: SIGKILL
        }
        let survivor = servers[other].as_ref().expect("the other server is running");
        loop {
            let now = holder(survivor).await.unwrap_or_default();
            if !now.is_empty() && now != old {
                break;
            }
            if t0.elapsed() > Duration::from_secs(120) {
                return Err(format!("no takeover within 120 s; survivor stderr:\n{}", survivor.stderr_tail()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        takeovers.push(t0.elapsed());
        let (restarted, _) = Berth::start_with(berth, dirs[leader].path(), &flags).await?;
        servers[leader] = Some(restarted);
    }
    for s in servers.into_iter().flatten() {
        s.stop().await;
    }
    let how = if graceful { "SIGTERM (lease released)" } else { "SIGKILL" };
    report.row(
        format!("controllers leaderless after {how}, {label}"),
        format!("p50 {}, max {} ({rounds} takeovers)", stats::fmt_dur(takeovers.median()), stats::fmt_dur(takeovers.max())),
        "≤ lease duration + 2.2 × retry period",
    );
    Ok(())
}
