//! Measurement 5: watch fan-out. `watchers` concurrent watch streams on ConfigMaps in one
//! namespace; objects are then created one at a time at a fixed pace, and for every
//! (object, watcher) pair we take the time from the create's response — and separately from
//! its request send — to the event's arrival at that watcher.
//!
//! Watchers only timestamp and stash raw chunks while the run is on; parsing happens after,
//! so that client-side work does not inflate the later watchers' arrival times.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use tokio::sync::watch as signal;

use crate::client::{configmap_body, ensure_namespace, next_chunk, Endpoint, Result};
use crate::report::Report;
use crate::stats::{fmt_dur, Samples};

const WARMUP: &str = "warmup-object";

pub struct Config {
    pub watchers: usize,
    pub objects: usize,
    pub pace: Duration,
}

pub async fn run(ep: &Endpoint, namespace: &str, cfg: &Config, report: &mut Report) -> Result<()> {
    let mut creator = ep.connect().await?;
    ensure_namespace(&mut creator, namespace).await?;
    let collection = format!("/api/v1/namespaces/{namespace}/configmaps");
    let (status, list) = creator.send(Method::GET, &collection, String::new()).await?;
    if status != 200 {
        return Err(format!("list {collection}: HTTP {status}: {}", String::from_utf8_lossy(&list)));
    }
    let list: serde_json::Value = serde_json::from_slice(&list).map_err(|e| e.to_string())?;
    let rv = list["metadata"]["resourceVersion"].as_str().ok_or("list has no metadata.resourceVersion")?.to_string();

    // Every watcher must see the warm-up object plus all measured ones.
    let expected_lines = 1 + cfg.objects;
    let warm_seen = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = signal::channel(false);
    let watch_path = format!("{collection}?watch=true&resourceVersion={rv}&timeoutSeconds=600");
    let mut watchers = Vec::new();
    for _ in 0..cfg.watchers {
        let mut conn = ep.connect().await?;
        let resp = conn.send_streaming(Method::GET, &watch_path, String::new()).await?;
        if resp.status() != 200 {
            return Err(format!("watch: HTTP {}", resp.status()));
        }
        let mut body = resp.into_body();
        let warm_seen = warm_seen.clone();
        let mut stop = stop_rx.clone();
        watchers.push(tokio::spawn(async move {
            let _conn = conn; // keep the connection open for the stream's lifetime
            let mut chunks: Vec<(Instant, Bytes)> = Vec::new();
            let mut lines = 0usize;
            let mut warmed = false;
            loop {
                tokio::select! {
                    chunk = next_chunk(&mut body) => match chunk {
                        Ok(Some(data)) => {
                            let at = Instant::now();
                            lines += data.iter().filter(|b| **b == b'\n').count();
                            if !warmed && data.windows(WARMUP.len()).any(|w| w == WARMUP.as_bytes()) {
                                warmed = true;
                                warm_seen.fetch_add(1, Ordering::SeqCst);
                            }
                            chunks.push((at, data));
                            if lines >= expected_lines {
                                break;
                            }
                        }
                        _ => break,
                    },
                    _ = stop.changed() => break,
                }
            }
            chunks
        }));
    }

    // Warm-up: one object every watcher must receive before timing starts, proving all
    // streams are registered server-side (a 200 header alone may precede registration).
    let (s, b) = creator.send(Method::POST, &collection, configmap_body(WARMUP)).await?;
    if s != 201 {
        return Err(format!("warm-up create: HTTP {s}: {}", String::from_utf8_lossy(&b)));
    }
    let warm_deadline = Instant::now() + Duration::from_secs(10);
    while warm_seen.load(Ordering::SeqCst) < cfg.watchers {
        if Instant::now() > warm_deadline {
            let _ = stop_tx.send(true);
            return Err(format!(
                "only {}/{} watchers received the warm-up event within 10 s",
                warm_seen.load(Ordering::SeqCst),
                cfg.watchers
            ));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    // Paced creates: at most one in flight, started on a fixed schedule.
    let mut sent_at = Vec::with_capacity(cfg.objects);
    let mut answered_at = Vec::with_capacity(cfg.objects);
    let origin = Instant::now();
    for i in 0..cfg.objects {
        tokio::time::sleep_until((origin + cfg.pace * i as u32).into()).await;
        let sent = Instant::now();
        let (s, b) = creator.send(Method::POST, &collection, configmap_body(&format!("w-{i}"))).await?;
        let answered = Instant::now();
        if s != 201 {
            let _ = stop_tx.send(true);
            return Err(format!("create w-{i}: HTTP {s}: {}", String::from_utf8_lossy(&b)));
        }
        sent_at.push(sent);
        answered_at.push(answered);
    }

    // Let stragglers arrive, then stop whoever has not seen everything.
    let grace = tokio::time::sleep(Duration::from_secs(10));
    tokio::pin!(grace);
    let mut results = Vec::new();
    for w in watchers {
        tokio::select! {
            r = w => results.push(r.map_err(|e| e.to_string())?),
            _ = &mut grace => {
                let _ = stop_tx.send(true);
                // Re-awaiting after stop is quick: each watcher breaks on the signal.
                return Err("watchers did not finish within 10 s of the last create".into());
            }
        }
    }

    let mut from_resp = Samples::new();
    let mut from_send = Samples::new();
    let mut early = 0usize; // events that arrived before the creator read its response
    let mut missing = 0usize;
    let mut last_watcher = vec![Duration::ZERO; cfg.objects]; // per object: latest arrival − response
    for chunks in &results {
        let arrivals = parse_arrivals(chunks)?;
        for i in 0..cfg.objects {
            match arrivals.get(&format!("w-{i}")) {
                Some(at) => {
                    from_send.push(at.saturating_duration_since(sent_at[i]));
                    if *at < answered_at[i] {
                        early += 1;
                    }
                    let d = at.saturating_duration_since(answered_at[i]);
                    from_resp.push(d);
                    last_watcher[i] = last_watcher[i].max(d);
                }
                None => missing += 1,
            }
        }
    }
    let mut all = Samples::new();
    for d in last_watcher {
        all.push(d);
    }
    let n = cfg.watchers;
    report.row(
        format!("watch delivery to {n} watchers, from create response, p50 / p99 / max"),
        format!("{} / {} / {}", fmt_dur(from_resp.median()), fmt_dur(from_resp.pct(99.0)), fmt_dur(from_resp.max())),
        "",
    );
    report.row(
        format!("watch delivery to {n} watchers, from create request send, p50 / p99 / max"),
        format!("{} / {} / {}", fmt_dur(from_send.median()), fmt_dur(from_send.pct(99.0)), fmt_dur(from_send.max())),
        "",
    );
    report.row(
        format!("  … until the last of {n} watchers has it (per object), p50 / p99 / max"),
        format!("{} / {} / {}", fmt_dur(all.median()), fmt_dur(all.pct(99.0)), fmt_dur(all.max())),
        "",
    );
    report.note(format!(
        "watch: {} objects × {n} watchers, one create every {} ms; {} of {} events arrived before the creator had read its 201 (counted as 0 from response); {missing} missing",
        cfg.objects,
        cfg.pace.as_millis(),
        early,
        from_resp.len()
    ));
    if missing > 0 {
        return Err(format!("watch: {missing} events never arrived"));
    }
    Ok(())
}

/// name → arrival time of its ADDED event, from one watcher's raw chunks. A line's arrival is
/// the arrival of the chunk holding its final newline.
fn parse_arrivals(chunks: &[(Instant, Bytes)]) -> Result<HashMap<String, Instant>> {
    let mut out = HashMap::new();
    let mut buf: Vec<u8> = Vec::new();
    for (at, data) in chunks {
        buf.extend_from_slice(data);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let ev: serde_json::Value = serde_json::from_slice(&line).map_err(|e| format!("watch event: {e}"))?;
            if ev["type"] == "ADDED" {
                if let Some(name) = ev["object"]["metadata"]["name"].as_str() {
                    out.entry(name.to_string()).or_insert(*at);
                }
            } else if ev["type"] == "ERROR" {
                return Err(format!("watch ERROR event: {ev}"));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_chunks_take_the_later_arrival() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(3);
        let chunks = vec![
            (t0, Bytes::from_static(b"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n{\"type\":\"ADD")),
            (t1, Bytes::from_static(b"ED\",\"object\":{\"metadata\":{\"name\":\"b\"}}}\n")),
        ];
        let got = parse_arrivals(&chunks).unwrap();
        assert_eq!(got["a"], t0);
        assert_eq!(got["b"], t1);
    }

    #[test]
    fn error_events_fail_the_run() {
        let chunks = vec![(Instant::now(), Bytes::from_static(b"{\"type\":\"ERROR\",\"object\":{}}\n"))];
        assert!(parse_arrivals(&chunks).is_err());
    }
}
