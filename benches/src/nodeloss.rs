//! `nodeloss`: time from losing a node to its StatefulSet pods Running elsewhere, with the
//! operator's force delete (issue 7). `berth up --simulated-nodes 0` plus two
//! `berth node --simulated` processes: sim-2 joins first and gets all 10 pods of a Parallel
//! set, then sim-1 joins. sim-2 is frozen with SIGSTOP (off the network); as soon as the API
//! shows it not Ready the benchmark force-deletes its pods (what a human would do, at the
//! earliest), and waits for all 10 Ready on sim-1. Figures: detection (SIGSTOP → NotReady,
//! governed by `--node-monitor-grace-period`), recovery (force delete → all Ready), total.
//! Run with upstream's defaults (grace 50 s, lease 40 s) and with short settings (4 s, 2 s),
//! and with automatic failover (`--auto-failover-after 3s --auto-failover-margin 2s`) and no
//! force delete.

use std::path::Path;
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::child::{Berth, TempDir};
use crate::client::{Conn, Result};
use crate::report::Report;
use crate::stats::fmt_dur;

const REPLICAS: i64 = 10;
const POLL: Duration = Duration::from_millis(20);
const TIMEOUT: Duration = Duration::from_secs(180);
const PODS: &str = "/api/v1/namespaces/default/pods";

async fn get_json(conn: &mut Conn, path: &str) -> Result<Value> {
    let (status, body) = conn.send(Method::GET, path, String::new()).await?;
    if status != 200 {
        return Err(format!("GET {path}: HTTP {status}: {}", String::from_utf8_lossy(&body)));
    }
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}

async fn until(conn: &mut Conn, what: &str, mut done: impl FnMut(&mut Conn) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool>> + '_>>) -> Result<Instant> {
    let start = Instant::now();
    loop {
        if done(conn).await? {
            return Ok(Instant::now());
        }
        if start.elapsed() > TIMEOUT {
            return Err(format!("{what}: not within {TIMEOUT:?}"));
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn node_ready(conn: &mut Conn, name: &str) -> Result<bool> {
    let (status, body) = conn.send(Method::GET, &format!("/api/v1/nodes/{name}"), String::new()).await?;
    if status != 200 {
        return Ok(false);
    }
    let n: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    Ok(n["status"]["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True")))
}

/// Pods of the set that are Ready, per node.
async fn ready_on(conn: &mut Conn, node: &str) -> Result<i64> {
    let pods = get_json(conn, &format!("{PODS}?labelSelector=app%3Dweb")).await?;
    Ok(pods["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|p| p["spec"]["nodeName"] == node && p["metadata"]["deletionTimestamp"].is_null())
                .filter(|p| p["status"]["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True")))
                .count() as i64
        })
        .unwrap_or(0))
}

fn sim_node(berth: &Path, dir: &Path, name: &str, lease: &str) -> Result<Child> {
    Command::new(berth)
        .args(["node", "--simulated", "--name", name, "--node-lease-duration-seconds", lease, "--kubeconfig"])
        .arg(dir.join("kubeconfig.yaml"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| e.to_string())
}

async fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([sig, &pid.to_string()]).status().await;
}

/// One run; `flags` are `berth up`'s, `lease` the nodes' lease duration.
pub async fn run(berth: &Path, report: &mut Report, label: &str, flags: &[&str], lease: &str, force: bool) -> Result<()> {
    let dir = TempDir::new("nodeloss")?;
    let mut up = vec!["--simulated-nodes", "0", "--node-lease-duration-seconds", lease];
    up.extend(flags);
    let (b, _) = Berth::start_with(berth, dir.path(), &up).await?;
    let outcome = async {
        let mut conn = b.endpoint()?.connect().await?;
        let lost = sim_node(berth, dir.path(), "sim-2", lease)?;
        until(&mut conn, "sim-2 Ready", |c| Box::pin(node_ready(c, "sim-2"))).await?;
        let set = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
            "spec": {"serviceName": "web", "replicas": REPLICAS, "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "luksa/kubia-pet"}]}}}});
        let (status, body) = conn.send(Method::POST, "/apis/apps/v1/namespaces/default/statefulsets", set.to_string()).await?;
        if status != 201 {
            return Err(format!("creating the set: HTTP {status}: {}", String::from_utf8_lossy(&body)));
        }
        until(&mut conn, "10 pods Ready on sim-2", |c| Box::pin(async move { Ok(ready_on(c, "sim-2").await? == REPLICAS) })).await?;
        let _healthy = sim_node(berth, dir.path(), "sim-1", lease)?;
        until(&mut conn, "sim-1 Ready", |c| Box::pin(node_ready(c, "sim-1"))).await?;

        let pid = lost.id().ok_or("sim-2 exited")?;
        let t0 = Instant::now();
        signal(pid, "-STOP").await;
        let t1 = until(&mut conn, "sim-2 NotReady", |c| Box::pin(async move { Ok(!node_ready(c, "sim-2").await?) })).await?;
        for i in (0..REPLICAS).filter(|_| force) {
            let (status, body) = conn.send(Method::DELETE, &format!("{PODS}/web-{i}"), json!({"gracePeriodSeconds": 0}).to_string()).await?;
            if status != 200 {
                return Err(format!("force delete web-{i}: HTTP {status}: {}", String::from_utf8_lossy(&body)));
            }
        }
        let t2 = until(&mut conn, "10 pods Ready on sim-1", |c| Box::pin(async move { Ok(ready_on(c, "sim-1").await? == REPLICAS) })).await?;
        report.row(format!("node loss → NotReady ({label})"), fmt_dur(t1 - t0), "grace period");
        if force {
            report.row(format!("force delete → {REPLICAS} pods Ready elsewhere ({label})"), fmt_dur(t2 - t1), "—");
        }
        report.row(format!("node loss → {REPLICAS} pods Ready elsewhere ({label})"), fmt_dur(t2 - t0), "—");
        signal(pid, "-CONT").await;
        Ok(())
    }
    .await;
    b.stop().await;
    outcome
}
