//! StatefulSets on 100 simulated nodes, over the API (issue 3's speed targets):
//! * `sts-ordered`: a 100-replica OrderedReady set, create → `readyReplicas == 100`, then a
//!   rolling update of it (image change → every pod updated and Ready, currentRevision ==
//!   updateRevision);
//! * `sts-parallel`: a 1,000-replica Parallel set, create → `readyReplicas == 1000`, and the
//!   RSS of the whole `berth up` (API server, store, controllers, scheduler, 100 simulated
//!   nodes) before and after.
//!
//! Each case gets its own fresh `berth up --simulated-nodes 100`. Progress is read by polling
//! the set every 10 ms on one connection (so each figure includes up to 10 ms of slack).

use std::path::Path;
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{json, Value};

use crate::child::{Berth, TempDir};
use crate::client::{Conn, Result};
use crate::report::Report;
use crate::stats::fmt_dur;

const NODES: usize = 100;
const POLL: Duration = Duration::from_millis(10);
const TIMEOUT: Duration = Duration::from_secs(120);
const SETS: &str = "/apis/apps/v1/namespaces/default/statefulsets";

fn set_body(name: &str, replicas: i32, policy: &str) -> String {
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "serviceName": name, "replicas": replicas, "podManagementPolicy": policy,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "c", "image": "luksa/kubia-pet",
                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]
                }
            }
        }
    })
    .to_string()
}

async fn get_json(conn: &mut Conn, path: &str) -> Result<Value> {
    let (status, body) = conn.send(Method::GET, path, String::new()).await?;
    if status != 200 {
        return Err(format!("GET {path}: HTTP {status}: {}", String::from_utf8_lossy(&body)));
    }
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}

/// Poll until `done(set)` holds; returns when it first did.
async fn wait_set(conn: &mut Conn, name: &str, done: impl Fn(&Value) -> bool) -> Result<Instant> {
    let start = Instant::now();
    loop {
        let set = get_json(conn, &format!("{SETS}/{name}")).await?;
        if done(&set) {
            return Ok(Instant::now());
        }
        if start.elapsed() > TIMEOUT {
            return Err(format!("statefulset {name} not done within {TIMEOUT:?}: status {}", set["status"]));
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn wait_nodes_ready(conn: &mut Conn) -> Result<()> {
    let start = Instant::now();
    loop {
        let nodes = get_json(conn, "/api/v1/nodes").await?;
        let ready = nodes["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|n| n["status"]["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True")))
                    .count()
            })
            .unwrap_or(0);
        if ready == NODES {
            return Ok(());
        }
        if start.elapsed() > TIMEOUT {
            return Err(format!("only {ready}/{NODES} nodes Ready"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn create(conn: &mut Conn, body: String) -> Result<Instant> {
    let t = Instant::now();
    let (status, resp) = conn.send(Method::POST, SETS, body).await?;
    if status != 201 {
        return Err(format!("creating a statefulset: HTTP {status}: {}", String::from_utf8_lossy(&resp)));
    }
    Ok(t)
}

fn ready(set: &Value, n: i64) -> bool {
    set["status"]["readyReplicas"].as_i64() == Some(n)
}

async fn start_cluster(berth: &Path, tag: &str) -> Result<(Berth, TempDir, Conn)> {
    let dir = TempDir::new(tag)?;
    let (b, _) = Berth::start_with(berth, dir.path(), &["--simulated-nodes", &NODES.to_string()]).await?;
    let mut conn = b.endpoint()?.connect().await?;
    wait_nodes_ready(&mut conn).await?;
    Ok((b, dir, conn))
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

pub async fn ordered(berth: &Path, report: &mut Report) -> Result<()> {
    let (b, _dir, mut conn) = start_cluster(berth, "sts-ordered").await?;
    let outcome = async {
        let t = create(&mut conn, set_body("ord", 100, "OrderedReady")).await?;
        let done = wait_set(&mut conn, "ord", |s| ready(s, 100)).await?;
        report.row("100-replica OrderedReady set, 100 sim nodes: create → 100 Ready", fmt_dur(done - t), "≤ 3 s");

        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "luksa/kubia-pet-peers"}]}}}}).to_string();
        let t = Instant::now();
        let (status, resp) = conn.send_patch(&format!("{SETS}/ord"), patch).await?;
        if status != 200 {
            return Err(format!("patching ord: HTTP {status}: {}", String::from_utf8_lossy(&resp)));
        }
        let done = wait_set(&mut conn, "ord", |s| {
            let st = &s["status"];
            st["observedGeneration"] == s["metadata"]["generation"]
                && st["updatedReplicas"].as_i64() == Some(100)
                && ready(s, 100)
                && st["currentRevision"] == st["updateRevision"]
        })
        .await?;
        report.row("rolling update of that set: image change → all updated, Ready", fmt_dur(done - t), "≤ 5 s");
        Ok(())
    }
    .await;
    if outcome.is_err() {
        eprintln!("berth stderr (tail):\n{}", b.stderr_tail());
    }
    b.stop().await;
    outcome
}

pub async fn parallel(berth: &Path, report: &mut Report) -> Result<()> {
    let (b, _dir, mut conn) = start_cluster(berth, "sts-parallel").await?;
    let outcome = async {
        let before = b.memory()?;
        let t = create(&mut conn, set_body("par", 1000, "Parallel")).await?;
        let done = wait_set(&mut conn, "par", |s| ready(s, 1000)).await?;
        report.row("1,000-replica Parallel set, 100 sim nodes: create → 1,000 Ready", fmt_dur(done - t), "≤ 5 s");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = b.memory()?;
        report.row(
            "RSS of `berth up` (all components, 100 sim nodes): idle / with 1,000 pods (peak)",
            format!("{} / {} ({})", mb(before.rss_kb), mb(after.rss_kb), mb(after.hwm_kb)),
            "report",
        );
        Ok(())
    }
    .await;
    if outcome.is_err() {
        eprintln!("berth stderr (tail):\n{}", b.stderr_tail());
    }
    b.stop().await;
    outcome
}

pub fn elapsed_note(started: Instant) -> String {
    format!("statefulset cases took {}", fmt_dur(started.elapsed()))
}
