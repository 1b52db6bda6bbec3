//! Measurement 4: latency at a fixed offered load (open loop). Creates are scheduled every
//! `1/rate` seconds regardless of how the server is doing; a pool of keep-alive connections
//! takes them in order. Latency runs from the *scheduled* send time to the response, so time
//! spent queued behind a slow server counts (no coordinated omission).

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;
use tokio::sync::{mpsc, Mutex};

use crate::child::CpuMeter;
use crate::client::{configmap_body, Endpoint, Result};
use crate::report::Report;
use crate::stats::fmt_dur;
use crate::timeline::Timeline;

pub async fn run(
    ep: &Endpoint,
    server_pid: u32,
    namespace: &str,
    rate: u32,
    duration: Duration,
    connections: usize,
    report: &mut Report,
) -> Result<()> {
    let total = (rate as f64 * duration.as_secs_f64()).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(ep.connect().await?);
    }
    let (tx, rx) = mpsc::unbounded_channel::<(u64, Instant)>();
    let rx = Arc::new(Mutex::new(rx));
    let path = format!("/api/v1/namespaces/{namespace}/configmaps");
    let origin = Instant::now() + Duration::from_millis(50);
    let cpu = CpuMeter::start(server_pid)?;
    let mut workers = Vec::new();
    for mut conn in conns {
        let rx = rx.clone();
        let path = path.clone();
        workers.push(tokio::spawn(async move {
            let mut tl = Timeline::new(origin);
            let mut errors = 0u64;
            let mut first_error = None;
            loop {
                // Holding the lock only to take the next job keeps jobs in schedule order.
                let job = rx.lock().await.recv().await;
                let Some((i, scheduled)) = job else { break };
                let name = format!("fixed-{rate}-{i}");
                match conn.send(Method::POST, &path, configmap_body(&name)).await {
                    Ok((201, _)) => tl.record(scheduled, scheduled.elapsed()),
                    Ok((s, body)) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("HTTP {s}: {}", String::from_utf8_lossy(&body)));
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                        break;
                    }
                }
            }
            (tl, errors, first_error)
        }));
    }
    // The scheduler: absolute deadlines so timer lateness does not accumulate into a lower rate.
    for i in 0..total {
        let scheduled = origin + interval * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        if tx.send((i, scheduled)).is_err() {
            break;
        }
    }
    drop(tx);
    let mut timeline = Timeline::new(origin);
    let mut errors = 0;
    for w in workers {
        let (tl, e, first) = w.await.map_err(|e| e.to_string())?;
        timeline.merge(tl);
        errors += e;
        if let Some(msg) = first {
            report.note(format!("fixed load: first error: {msg}"));
        }
    }
    let elapsed = origin.elapsed();
    let cpu = cpu.finish(timeline.len())?;
    let mut lat = timeline.latencies();
    report.row(
        format!("latency at {rate} creates/s offered (open loop, {} conns), p50 / p99", connections),
        format!("{} / {}", fmt_dur(lat.median()), fmt_dur(lat.pct(99.0))),
        "p99 ≤ 10 ms",
    );
    report.row(
        format!("  … p99.9 / max, completed {}/{} in {:.1} s", timeline.len(), total, elapsed.as_secs_f64()),
        format!("{} / {}", fmt_dur(lat.pct(99.9)), fmt_dur(lat.max())),
        "",
    );
    report.row(format!("  … CPU per create at {rate}/s: server / benchmark client"), cpu, "");
    if errors > 0 {
        report.note(format!("fixed load: {errors} failed requests"));
    }
    timeline.note_stalls(&format!("fixed load {rate}/s"), report);
    Ok(())
}
