//! Measurement 3: durable creates per second, closed loop. `clients` connections each send
//! ConfigMap creates back to back (a request only after the previous response) for a fixed
//! time; every 201 is one durable create (the server fsyncs before answering).

use std::time::{Duration, Instant};

use hyper::Method;
use tokio::sync::Barrier;

use crate::child::CpuMeter;
use crate::client::{configmap_body, Endpoint, Result};
use crate::report::Report;
use crate::stats::fmt_dur;
use crate::timeline::Timeline;

pub async fn run(
    ep: &Endpoint,
    server_pid: u32,
    namespace: &str,
    clients: usize,
    duration: Duration,
    report: &mut Report,
) -> Result<()> {
    run_tagged(ep, server_pid, namespace, clients, duration, "", report).await
}

/// [`run`] with `tag` (e.g. " on etcd") in the report rows' names.
pub async fn run_tagged(
    ep: &Endpoint,
    server_pid: u32,
    namespace: &str,
    clients: usize,
    duration: Duration,
    tag: &str,
    report: &mut Report,
) -> Result<()> {
    let mut conns = Vec::with_capacity(clients);
    for _ in 0..clients {
        conns.push(ep.connect().await?);
    }
    let barrier = std::sync::Arc::new(Barrier::new(clients + 1));
    let path = format!("/api/v1/namespaces/{namespace}/configmaps");
    let mut tasks = Vec::new();
    for (c, mut conn) in conns.into_iter().enumerate() {
        let barrier = barrier.clone();
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let start = Instant::now();
            let deadline = start + duration;
            let mut tl = Timeline::new(start);
            let mut errors = 0u64;
            let mut first_error = None;
            let mut i = 0u64;
            while Instant::now() < deadline {
                let name = format!("c{clients}-{c}-{i}");
                i += 1;
                let sent = Instant::now();
                match conn.send(Method::POST, &path, configmap_body(&name)).await {
                    Ok((201, _)) => tl.record(sent, sent.elapsed()),
                    Ok((s, body)) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("HTTP {s}: {}", String::from_utf8_lossy(&body)));
                    }
                    Err(e) => {
                        // A broken connection would spin here; stop this client instead.
                        first_error.get_or_insert(e);
                        errors += 1;
                        break;
                    }
                }
            }
            (tl, errors, first_error, start.elapsed())
        }));
    }
    barrier.wait().await;
    let cpu = CpuMeter::start(server_pid)?;
    let mut timeline = Timeline::new(Instant::now());
    let mut errors = 0;
    let mut elapsed = Duration::ZERO;
    for t in tasks {
        let (tl, e, first, el) = t.await.map_err(|e| e.to_string())?;
        if let Some(msg) = first {
            report.note(format!("creates{tag} with {clients} client(s): first error: {msg}"));
        }
        timeline.merge(tl);
        errors += e;
        elapsed = elapsed.max(el);
    }
    let done = timeline.len();
    let cpu = cpu.finish(done)?;
    let per_sec = done as f64 / elapsed.as_secs_f64();
    let mut latency = timeline.latencies();
    report.row(
        format!("durable creates/s{tag}, {clients} client(s) ({:.0} s closed loop)", duration.as_secs_f64()),
        format!("{per_sec:.0}/s"),
        "≥ 6,500/s",
    );
    report.row(
        format!("create latency{tag}, {clients} client(s), p50 / p99 / max"),
        format!("{} / {} / {}", fmt_dur(latency.median()), fmt_dur(latency.pct(99.0)), fmt_dur(latency.max())),
        "",
    );
    report.row(format!("  … CPU per create{tag}, {clients} client(s): server / benchmark client"), cpu, "");
    if errors > 0 {
        report.note(format!("creates{tag} with {clients} client(s): {errors} non-201 responses (not counted)"));
    }
    timeline.note_stalls(&format!("creates{tag}, {clients} client(s)"), report);
    Ok(())
}

/// Control for the create numbers: the same connection handling, TLS and token check, but a
/// read (`GET` of one namespace) that never touches the disk. Whatever tail this shows is not
/// caused by fsync or the writer.
pub async fn control_reads(ep: &Endpoint, server_pid: u32, duration: Duration, report: &mut Report) -> Result<()> {
    let mut conn = ep.connect().await?;
    let cpu = CpuMeter::start(server_pid)?;
    let start = Instant::now();
    let mut tl = Timeline::new(start);
    while start.elapsed() < duration {
        let sent = Instant::now();
        let (status, body) = conn.send(Method::GET, "/api/v1/namespaces/default", String::new()).await?;
        if status != 200 {
            return Err(format!("GET namespace: HTTP {status}: {}", String::from_utf8_lossy(&body)));
        }
        tl.record(sent, sent.elapsed());
    }
    let per_sec = tl.len() as f64 / start.elapsed().as_secs_f64();
    let cpu = cpu.finish(tl.len())?;
    let mut lat = tl.latencies();
    report.row(
        "control: GET one namespace (no disk), 1 client, reads/s",
        format!("{per_sec:.0}/s"),
        "",
    );
    report.row(
        "control: GET latency p50 / p99 / max; CPU per read server / client",
        format!("{} / {} / {}; {}", fmt_dur(lat.median()), fmt_dur(lat.pct(99.0)), fmt_dur(lat.max()), cpu),
        "",
    );
    tl.note_stalls("control GET, 1 client", report);
    Ok(())
}
