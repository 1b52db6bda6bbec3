//! Service proxy: how long an EndpointSlice write takes to reach the kernel as nftables rules.
//!
//! `berth up --nodes 1` (root: the proxy runs with real nodes only), a selector-less ClusterIP
//! service `bench-proxy` (no controller touches its slice) and one EndpointSlice of 10 ready
//! endpoints. Each change replaces one endpoint's IP with a new one; the clock stops when
//! `nft monitor` reports a rule DNATing to the new IP (the proxy's transaction committed).

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use hyper::Method;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::child::{Berth, TempDir};
use crate::client::Result;
use crate::report::Report;
use crate::stats::{fmt_dur, Samples};

const ENDPOINTS: usize = 10;

fn slice_body(first_ip: Ipv4Addr, rv: Option<&str>) -> String {
    let endpoints: Vec<serde_json::Value> = (0..ENDPOINTS)
        .map(|i| {
            let ip = if i == 0 { first_ip } else { Ipv4Addr::new(10, 251, 200, 10 + i as u8) };
            serde_json::json!({"addresses": [ip.to_string()], "conditions": {"ready": true}})
        })
        .collect();
    let mut meta = serde_json::json!({"name": "bench-proxy-1", "labels": {"kubernetes.io/service-name": "bench-proxy"}});
    if let Some(rv) = rv {
        meta["resourceVersion"] = rv.into();
    }
    serde_json::json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": meta, "addressType": "IPv4",
        "endpoints": endpoints, "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})
    .to_string()
}

fn rv_of(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body).ok().and_then(|v| v["metadata"]["resourceVersion"].as_str().map(str::to_string)).unwrap_or_default()
}

pub async fn run(berth: &Path, changes: usize, report: &mut Report) -> Result<()> {
    let root = std::process::Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false);
    if !root {
        report.note("proxy: skipped (the service proxy runs with real nodes, which need root)");
        return Ok(());
    }
    let dir = TempDir::new("proxy")?;
    let flags = ["--nodes", "1", "--cluster-cidr", "10.251.0.0/16", "--cluster-dns-ip", "10.96.251.10"];
    let (b, _) = Berth::start_with(berth, dir.path(), &flags).await?;
    let outcome = measure(&b, changes, report).await;
    if outcome.is_err() {
        eprintln!("berth stderr (tail):\n{}", b.stderr_tail());
    }
    b.stop().await;
    outcome
}

async fn measure(b: &Berth, changes: usize, report: &mut Report) -> Result<()> {
    let mut conn = b.endpoint()?.connect().await?;
    let svc = serde_json::json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bench-proxy"},
        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}});
    let (s, body) = conn.send(Method::POST, "/api/v1/namespaces/default/services", svc.to_string()).await?;
    if s != 201 {
        return Err(format!("creating the service: HTTP {s}: {}", String::from_utf8_lossy(&body)));
    }
    let mut monitor = tokio::process::Command::new("nft")
        .args(["monitor", "rules"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("nft monitor: {e}"))?;
    let mut lines = BufReader::new(monitor.stdout.take().expect("piped")).lines();
    let slices = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices";
    let first = Ipv4Addr::new(10, 251, 100, 1);
    let t = Instant::now();
    let (s, body) = conn.send(Method::POST, slices, slice_body(first, None)).await?;
    if s != 201 {
        return Err(format!("creating the slice: HTTP {s}: {}", String::from_utf8_lossy(&body)));
    }
    let mut rv = rv_of(&body);
    wait_for_rule(&mut lines, first, t).await?;
    let mut lag = Samples::new();
    let path = format!("{slices}/bench-proxy-1");
    for k in 0..changes {
        let ip = Ipv4Addr::new(10, 251, 101 + (k / 250) as u8, (k % 250) as u8 + 1);
        let t = Instant::now();
        let (s, body) = conn.send(Method::PUT, &path, slice_body(ip, Some(&rv))).await?;
        if s != 200 {
            return Err(format!("updating the slice: HTTP {s}: {}", String::from_utf8_lossy(&body)));
        }
        rv = rv_of(&body);
        lag.push(wait_for_rule(&mut lines, ip, t).await?);
    }
    report.row(
        format!("EndpointSlice PUT sent → nft DNAT rule for the new endpoint committed, p50 / p99 ({changes} changes, {ENDPOINTS} endpoints)"),
        format!("{} / {}", fmt_dur(lag.median()), fmt_dur(lag.pct(99.0))),
        "≤ 100 ms",
    );
    Ok(())
}

async fn wait_for_rule(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>, ip: Ipv4Addr, since: Instant) -> Result<Duration> {
    let needle = format!("dnat to {ip}:8080");
    let deadline = since + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, lines.next_line()).await {
            Ok(Ok(Some(l))) if l.contains(&needle) => return Ok(since.elapsed()),
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) | Ok(Err(_)) => return Err("nft monitor ended".into()),
            Err(_) => return Err(format!("no rule for {ip} within 10 s")),
        }
    }
}
