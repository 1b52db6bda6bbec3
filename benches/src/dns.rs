//! Cluster DNS: queries per second and latency with the server pinned to one core (the load
//! generator on the other), and how long an EndpointSlice write takes to show in answers.
//!
//! Setup over the API: a selector-less headless service `bench-dns` (so no controller touches
//! its slice) and one EndpointSlice with 20 ready endpoints carrying hostnames and a named
//! port. The query mix: the service's A (20 records), one per-pod A, and the SRV set (20 SRV
//! + 20 A additionals, ≈ 1.1 kB), each with EDNS (1232-byte payload).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use hyper::Method;
use tokio::net::UdpSocket;

use crate::child::Berth;
use crate::client::{Endpoint, Result};
use crate::report::Report;
use crate::stats::{fmt_dur, Samples};

const ENDPOINTS: usize = 20;
const SVC: &str = "bench-dns.default.svc.cluster.local.";

fn slice_body(first_ip: Ipv4Addr, rv: Option<&str>) -> String {
    let endpoints: Vec<serde_json::Value> = (0..ENDPOINTS)
        .map(|i| {
            let ip = if i == 0 { first_ip } else { Ipv4Addr::new(10, 244, 1, 10 + i as u8) };
            serde_json::json!({"addresses": [ip.to_string()], "hostname": format!("pod-{i}"), "conditions": {"ready": true}})
        })
        .collect();
    let mut meta = serde_json::json!({"name": "bench-dns-1", "labels": {"kubernetes.io/service-name": "bench-dns"}});
    if let Some(rv) = rv {
        meta["resourceVersion"] = rv.into();
    }
    serde_json::json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": meta, "addressType": "IPv4",
        "endpoints": endpoints, "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})
    .to_string()
}

fn query(id: u16, name: &str, t: RecordType) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(id).set_message_type(MessageType::Query).set_op_code(OpCode::Query).set_recursion_desired(true);
    m.add_query(Query::query(Name::from_str(name).expect("valid name"), t));
    // EDNS with a 1232-byte payload, as current stub resolvers send: the SRV answer fits.
    let mut e = Edns::new();
    e.set_max_payload(1232);
    m.set_edns(e);
    m.to_vec().expect("encodes")
}

fn pin(pid: u32, cpu: usize) {
    let _ = std::process::Command::new("taskset").args(["-a", "-p", "-c", &cpu.to_string(), &pid.to_string()]).output();
}

pub async fn run(b: &Berth, ep: &Endpoint, secs: Duration, concurrency: usize, changes: usize, report: &mut Report) -> Result<()> {
    let dns: SocketAddr = std::fs::read_to_string(b.data_dir.join("dns-addr"))
        .map_err(|e| format!("reading dns-addr: {e}"))?
        .trim()
        .parse()
        .map_err(|e| format!("dns-addr: {e}"))?;
    let mut conn = ep.connect().await?;
    let svc = serde_json::json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bench-dns"},
        "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}});
    let (s, body) = conn.send(Method::POST, "/api/v1/namespaces/default/services", svc.to_string()).await?;
    if s != 201 {
        return Err(format!("creating the service: HTTP {s}: {}", String::from_utf8_lossy(&body)));
    }
    let slices = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices";
    let (s, body) = conn.send(Method::POST, slices, slice_body(Ipv4Addr::new(10, 244, 1, 10), None)).await?;
    if s != 201 {
        return Err(format!("creating the slice: HTTP {s}: {}", String::from_utf8_lossy(&body)));
    }
    let mut rv = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v["metadata"]["resourceVersion"].as_str().map(str::to_string)).unwrap_or_default();
    let sock = UdpSocket::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let pod0 = format!("pod-0.{SVC}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while resolve_a(&sock, dns, &pod0).await.is_none_or(|v| v.is_empty()) {
        if Instant::now() > deadline {
            return Err("the DNS server never answered for the benchmark service".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Throughput: berth on CPU 0, this process on CPU 1.
    pin(b.pid, 0);
    pin(std::process::id(), 1);
    let mix: Arc<Vec<Vec<u8>>> = Arc::new(vec![
        query(1, SVC, RecordType::A),
        query(2, &pod0, RecordType::A),
        query(3, &format!("_http._tcp.{SVC}"), RecordType::SRV),
    ]);
    let cpu = crate::child::CpuMeter::start(b.pid)?;
    let start = Instant::now();
    let stop = start + secs;
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let mix = mix.clone();
        tasks.push(tokio::spawn(async move {
            let sock = UdpSocket::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
            sock.connect(dns).await.map_err(|e| e.to_string())?;
            let mut samples = Samples::new();
            let (mut errors, mut lost) = (0usize, 0usize);
            let mut buf = vec![0u8; 4096];
            let mut i = w;
            while Instant::now() < stop {
                let q = &mix[i % mix.len()];
                i += 1;
                let t = Instant::now();
                sock.send(q).await.map_err(|e| e.to_string())?;
                match tokio::time::timeout(Duration::from_millis(500), sock.recv(&mut buf)).await {
                    Ok(Ok(n)) => {
                        samples.push(t.elapsed());
                        // RCODE in the low 4 bits of byte 3.
                        if n < 12 || buf[3] & 0x0f != 0 {
                            errors += 1;
                        }
                    }
                    _ => lost += 1,
                }
            }
            Ok::<_, String>((samples, errors, lost))
        }));
    }
    let mut all = Samples::new();
    let (mut errors, mut lost) = (0, 0);
    for t in tasks {
        let (s, e, l) = t.await.map_err(|e| e.to_string())??;
        all.merge(&s);
        errors += e;
        lost += l;
    }
    let elapsed = start.elapsed();
    let n = all.len();
    let cpu_note = cpu.finish(n)?;
    report.row(
        format!("DNS queries/s, server pinned to 1 core, {concurrency} in flight"),
        format!("{:.0} q/s", n as f64 / elapsed.as_secs_f64()),
        "≥ 50,000 q/s",
    );
    report.row("DNS query latency p50 / p99 / max (same run)", format!("{} / {} / {}", fmt_dur(all.median()), fmt_dur(all.pct(99.0)), fmt_dur(all.max())), "");
    report.note(format!("DNS run: {n} answers in {elapsed:.1?}, {errors} non-NOERROR, {lost} lost (500 ms timeout); server CPU {cpu_note}"));
    pin(b.pid, 0);
    let _ = std::process::Command::new("taskset").args(["-a", "-p", "-c", "0,1", &b.pid.to_string()]).output();
    let _ = std::process::Command::new("taskset").args(["-a", "-p", "-c", "0,1", &std::process::id().to_string()]).output();

    // EndpointSlice write → answer: change pod-0's IP, poll its name until the new IP answers.
    let mut lag = Samples::new();
    let path = format!("{slices}/bench-dns-1");
    for k in 0..changes {
        let ip = Ipv4Addr::new(10, 250, (k / 250) as u8, (k % 250) as u8 + 1);
        let t = Instant::now();
        let (s, body) = conn.send(Method::PUT, &path, slice_body(ip, Some(&rv))).await?;
        if s != 200 {
            return Err(format!("updating the slice: HTTP {s}: {}", String::from_utf8_lossy(&body)));
        }
        rv = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v["metadata"]["resourceVersion"].as_str().map(str::to_string)).unwrap_or_default();
        loop {
            if resolve_a(&sock, dns, &pod0).await == Some(vec![ip]) {
                lag.push(t.elapsed());
                break;
            }
            if t.elapsed() > Duration::from_secs(5) {
                return Err(format!("change {k} not visible in DNS after 5 s"));
            }
        }
    }
    report.row(
        format!("EndpointSlice PUT sent → DNS answers the new IP, p50 / p99 ({changes} changes)"),
        format!("{} / {}", fmt_dur(lag.median()), fmt_dur(lag.pct(99.0))),
        "≤ 100 ms",
    );
    through_controllers(&mut conn, &sock, dns, changes, report).await
}

/// Pod readiness → EndpointSlice controller → DNS: this benchmark plays kubelet for one pod of a
/// selector service (bound to a node that does not exist, so nothing else touches it) and
/// flips its Ready condition with status PUTs; each time it polls the pod's DNS name until the
/// answer follows (an A record when Ready, NXDOMAIN when not).
async fn through_controllers(conn: &mut crate::client::Conn, sock: &UdpSocket, dns: SocketAddr, changes: usize, report: &mut Report) -> Result<()> {
    let svc = serde_json::json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bench-sel"},
        "spec": {"clusterIP": "None", "selector": {"app": "bench-sel"}, "ports": [{"name": "http", "port": 80}]}});
    let (s, body) = conn.send(Method::POST, "/api/v1/namespaces/default/services", svc.to_string()).await?;
    if s != 201 {
        return Err(format!("creating bench-sel: HTTP {s}: {}", String::from_utf8_lossy(&body)));
    }
    let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bench-sel-0", "labels": {"app": "bench-sel"}},
        "spec": {"nodeName": "bench-nowhere", "hostname": "bench-sel-0", "subdomain": "bench-sel", "containers": [{"name": "c", "image": "x"}]}});
    let (s, body) = conn.send(Method::POST, "/api/v1/namespaces/default/pods", pod.to_string()).await?;
    if s != 201 {
        return Err(format!("creating the pod: HTTP {s}: {}", String::from_utf8_lossy(&body)));
    }
    let mut current: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    let name = "bench-sel-0.bench-sel.default.svc.cluster.local.";
    let ip = Ipv4Addr::new(10, 251, 0, 7);
    let mut lag = Samples::new();
    for k in 0..changes {
        let ready = k % 2 == 0;
        current["status"] = serde_json::json!({"phase": "Running", "podIP": ip.to_string(), "podIPs": [{"ip": ip.to_string()}],
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]});
        let t = Instant::now();
        let (s, body) = conn.send(Method::PUT, "/api/v1/namespaces/default/pods/bench-sel-0/status", current.to_string()).await?;
        if s != 200 {
            return Err(format!("pod status: HTTP {s}: {}", String::from_utf8_lossy(&body)));
        }
        current = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        loop {
            let answer = resolve_a(sock, dns, name).await;
            if (ready && answer == Some(vec![ip])) || (!ready && answer == Some(Vec::new())) {
                lag.push(t.elapsed());
                break;
            }
            if t.elapsed() > Duration::from_secs(5) {
                return Err(format!("readiness change {k} not visible in DNS after 5 s"));
            }
        }
    }
    report.row(
        format!("pod Ready flip (status PUT sent) → EndpointSlice → DNS, p50 / p99 ({changes} flips)"),
        format!("{} / {}", fmt_dur(lag.median()), fmt_dur(lag.pct(99.0))),
        "≤ 100 ms",
    );
    Ok(())
}

async fn resolve_a(sock: &UdpSocket, dns: SocketAddr, name: &str) -> Option<Vec<Ipv4Addr>> {
    sock.send_to(&query(9, name, RecordType::A), dns).await.ok()?;
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_millis(500), sock.recv_from(&mut buf)).await.ok()?.ok()?;
    let m = Message::from_vec(&buf[..n]).ok()?;
    if m.response_code() != ResponseCode::NoError {
        return Some(Vec::new());
    }
    let ips: HashMap<Ipv4Addr, ()> = m.answers().iter().filter_map(|r| if let RData::A(a) = r.data() { Some((a.0, ())) } else { None }).collect();
    Some(ips.into_keys().collect())
}
