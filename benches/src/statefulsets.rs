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

use crate::child::{cpu_time, Berth, TempDir};
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

/// Poll until `done(set)` holds; returns when it first did, and when `status.replicas`
/// (pods created) first reached `spec.replicas`.
async fn wait_set(conn: &mut Conn, name: &str, done: impl Fn(&Value) -> bool) -> Result<Instant> {
    Ok(wait_set_phases(conn, name, done).await?.0)
}

async fn wait_set_phases(conn: &mut Conn, name: &str, done: impl Fn(&Value) -> bool) -> Result<(Instant, Option<Instant>)> {
    let start = Instant::now();
    let mut all_created = None;
    loop {
        let set = get_json(conn, &format!("{SETS}/{name}")).await?;
        if all_created.is_none() && set["status"]["replicas"] == set["spec"]["replicas"] {
            all_created = Some(Instant::now());
        }
        if done(&set) {
            return Ok((Instant::now(), all_created));
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
        let cpu = cpu_time(b.pid)?;
        let t = create(&mut conn, set_body("ord", 100, "OrderedReady")).await?;
        let done = wait_set(&mut conn, "ord", |s| ready(s, 100)).await?;
        report.row("100-replica OrderedReady set, 100 sim nodes: create → 100 Ready", fmt_dur(done - t), "≤ 3 s");
        report.row("  berth CPU time (all threads) over that", fmt_dur(cpu_time(b.pid)?.saturating_sub(cpu)), "");

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
        let cpu = cpu_time(b.pid)?;
        let t = create(&mut conn, set_body("par", 1000, "Parallel")).await?;
        let (done, created) = wait_set_phases(&mut conn, "par", |s| ready(s, 1000)).await?;
        report.row("1,000-replica Parallel set, 100 sim nodes: create → 1,000 Ready", fmt_dur(done - t), "≤ 5 s");
        let created = created.map(|c| fmt_dur(c - t)).unwrap_or_else(|| "?".into());
        report.row("  of which: create → status.replicas 1,000 (all pods created)", created, "");
        report.row("  berth CPU time (all threads) over that", fmt_dur(cpu_time(b.pid)?.saturating_sub(cpu)), "");
        report.note(timeline(&get_json(&mut conn, "/api/v1/namespaces/default/pods").await?));
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

/// Seconds since the first pod's creation at which half / all pods were created, scheduled
/// and Ready (timestamps have whole seconds), to show which stage is slow.
fn timeline(pods: &Value) -> String {
    let secs = |t: &Value| t.as_str().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok()).map(|d| d.timestamp());
    let condition = |p: &Value, ty: &str| {
        p["status"]["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"] == ty)).and_then(|c| secs(&c["lastTransitionTime"]))
    };
    let items = pods["items"].as_array().cloned().unwrap_or_default();
    let mut stages: Vec<(&str, Vec<i64>)> = vec![
        ("created", items.iter().filter_map(|p| secs(&p["metadata"]["creationTimestamp"])).collect()),
        ("scheduled", items.iter().filter_map(|p| condition(p, "PodScheduled")).collect()),
        ("ready", items.iter().filter_map(|p| condition(p, "Ready")).collect()),
    ];
    let t0 = stages[0].1.iter().min().copied().unwrap_or(0);
    let parts: Vec<String> = stages
        .iter_mut()
        .map(|(name, v)| {
            v.sort_unstable();
            let at = |q: usize| v.get((v.len() * q / 100).min(v.len().saturating_sub(1))).map(|t| t - t0).unwrap_or(-1);
            format!("{name} p50 {} s / max {} s", at(50), at(100))
        })
        .collect();
    format!("timeline (whole seconds after the first pod): {}", parts.join("; "))
}

pub fn elapsed_note(started: Instant) -> String {
    format!("statefulset cases took {}", fmt_dur(started.elapsed()))
}
