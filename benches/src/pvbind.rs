//! Storage binding: 1,000 PersistentVolumeClaims against 1,000 static PersistentVolumes, all
//! bound by `berth up`'s own PV controller. The volumes come in ten sizes (1–10 Gi, 100 of
//! each) and so do the claims, so every claim has exactly one size class of volumes that fits
//! it best and a wrong smallest-fit choice would leave a claim unbound. The time counted is
//! from the first claim create to the moment a LIST shows every claim `Bound` (polled every
//! 100 ms); the volumes are created and `Available` beforehand.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{json, Value};

use crate::child::CpuMeter;
use crate::client::{Endpoint, Result};
use crate::report::Report;
use crate::stats::fmt_dur;

const CONNECTIONS: usize = 16;
const DEADLINE: Duration = Duration::from_secs(300);

fn size(i: usize) -> String {
    format!("{}Gi", 1 + i % 10)
}

fn volume(i: usize) -> String {
    json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": format!("pv-{i:04}")},
        "spec": {"capacity": {"storage": size(i)}, "accessModes": ["ReadWriteOnce"], "storageClassName": "bench",
                 "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": format!("/tmp/berth-bench-pv-{i:04}")}}})
    .to_string()
}

fn claim(i: usize, n: usize) -> String {
    // Claims in the opposite order to the volumes, so binding order and name order differ.
    let j = n - 1 - i;
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": format!("data-{j:04}")},
        "spec": {"storageClassName": "bench", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size(j)}}}})
    .to_string()
}

/// POST `bodies` over `CONNECTIONS` connections, all must answer 201.
async fn create_all(ep: &Endpoint, path: &str, bodies: Vec<String>) -> Result<()> {
    let mut chunks: Vec<Vec<String>> = vec![Vec::new(); CONNECTIONS];
    for (i, b) in bodies.into_iter().enumerate() {
        chunks[i % CONNECTIONS].push(b);
    }
    let mut tasks = Vec::new();
    for chunk in chunks {
        let mut conn = ep.connect().await?;
        let path = path.to_string();
        tasks.push(tokio::spawn(async move {
            for body in chunk {
                let (status, resp) = conn.send(Method::POST, &path, body).await?;
                if status != 201 {
                    return Err(format!("POST {path}: HTTP {status}: {}", String::from_utf8_lossy(&resp)));
                }
            }
            Ok(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

async fn list(ep: &Endpoint, path: &str) -> Result<Vec<Value>> {
    let mut conn = ep.connect().await?;
    let (status, body) = conn.send(Method::GET, path, String::new()).await?;
    if status != 200 {
        return Err(format!("GET {path}: HTTP {status}"));
    }
    let v: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    Ok(v["items"].as_array().cloned().unwrap_or_default())
}

fn count_phase(items: &[Value], phase: &str) -> usize {
    items.iter().filter(|o| o["status"]["phase"] == phase).count()
}

async fn wait_phase(ep: &Endpoint, path: &str, phase: &str, n: usize) -> Result<Vec<Value>> {
    let start = Instant::now();
    loop {
        let items = list(ep, path).await?;
        if count_phase(&items, phase) >= n {
            return Ok(items);
        }
        if start.elapsed() > DEADLINE {
            return Err(format!("{path}: only {} of {n} {phase} after {DEADLINE:?}", count_phase(&items, phase)));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn run(ep: &Endpoint, server_pid: u32, n: usize, report: &mut Report) -> Result<()> {
    let mut conn = ep.connect().await?;
    crate::client::ensure_namespace(&mut conn, "pvbind").await?;
    create_all(ep, "/api/v1/persistentvolumes", (0..n).map(volume).collect()).await?;
    wait_phase(ep, "/api/v1/persistentvolumes", "Available", n).await?;

    let cpu = CpuMeter::start(server_pid)?;
    let start = Instant::now();
    create_all(ep, "/api/v1/namespaces/pvbind/persistentvolumeclaims", (0..n).map(|i| claim(i, n)).collect()).await?;
    let created = start.elapsed();
    let claims = wait_phase(ep, "/api/v1/namespaces/pvbind/persistentvolumeclaims", "Bound", n).await?;
    let bound = start.elapsed();
    let cpu = cpu.finish(n)?;

    // Every claim has its own volume, of the best-fitting size.
    let volumes: HashSet<&str> = claims.iter().filter_map(|c| c["spec"]["volumeName"].as_str()).collect();
    if volumes.len() != n {
        return Err(format!("{} distinct volumes for {n} claims", volumes.len()));
    }
    for c in &claims {
        let want = &c["spec"]["resources"]["requests"]["storage"];
        if &c["status"]["capacity"]["storage"] != want {
            return Err(format!("claim {} asked {want} and got {}", c["metadata"]["name"], c["status"]["capacity"]["storage"]));
        }
    }
    let pvs = wait_phase(ep, "/api/v1/persistentvolumes", "Bound", n).await?;
    report.row(
        format!("{n} claims against {n} static PVs: first create → all Bound (creates alone)"),
        format!("{} ({})", fmt_dur(bound), fmt_dur(created)),
        "≤ 3 s",
    );
    report.row("CPU per claim bound: berth (API server, store, all controllers) / benchmark client", cpu, "");
    report.note(format!("pvbind: {} PVs Bound, {} distinct volumes, every claim got its requested size", count_phase(&pvs, "Bound"), volumes.len()));
    Ok(())
}
