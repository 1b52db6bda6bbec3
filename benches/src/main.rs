//! `berth-bench`: end-to-end benchmarks of `berth up`, driven over its real HTTPS API with
//! bearer-token auth, against a child process this binary starts and stops itself.
//!
//! Every loop is bounded by a count or a duration, and all traffic goes to 127.0.0.1.

mod child;
mod client;
mod coldstart;
mod creates;
mod disk;
mod dns;
mod fixedload;
mod leader;
mod nodeloss;
mod proxy;
mod pvbind;
mod rbac;
mod report;
mod stats;
mod migrate;
mod store_compare;
mod statefulsets;
mod timeline;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use child::{Berth, TempDir};
use client::Result;
use report::Report;

const ALL: [&str; 16] = [
    "coldstart", "rss", "disk", "creates", "creates-etcd", "migrate-etcd", "fixedload", "watch", "pvbind", "dns", "proxy", "sts-ordered",
    "sts-parallel", "rbac", "nodeloss", "leader",
];

#[derive(Parser)]
#[command(name = "berth-bench", about = "Benchmark `berth up`: cold start, RSS, durable creates, fixed-load latency, watch fan-out")]
struct Cli {
    /// The berth binary to benchmark.
    #[arg(long, default_value = "target/release/berth")]
    berth: PathBuf,
    /// Run only these measurements (comma-separated or repeated): coldstart, rss, disk,
    /// creates, creates-etcd (etcd vs SQLite), migrate-etcd (`berth store migrate` of 1,000 and
    /// 10,000 objects), fixedload, watch, pvbind, dns, proxy (root),
    /// sts-ordered, sts-parallel, rbac, nodeloss, leader (two servers on etcd: takeover time).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// A short smoke run: few cold starts, 1 s load phases, 20 watchers.
    #[arg(long)]
    quick: bool,
    /// Cold starts on fresh data dirs.
    #[arg(long)]
    cold_runs: Option<usize>,
    /// Restarts on the last cold start's data dir.
    #[arg(long)]
    restarts: Option<usize>,
    /// Seconds per closed-loop create phase and for the fixed-load phase.
    #[arg(long)]
    seconds: Option<f64>,
    /// Offered load for the open-loop latency measurement.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Connections the open-loop generator spreads its requests over.
    #[arg(long, default_value_t = 64)]
    fixed_connections: usize,
    /// Concurrent watch streams.
    #[arg(long)]
    watchers: Option<usize>,
    /// Objects created one at a time during the watch measurement.
    #[arg(long)]
    watch_objects: Option<usize>,
    /// Milliseconds between the watch measurement's creates.
    #[arg(long, default_value_t = 20)]
    watch_pace_ms: u64,
    /// Claims (and static volumes) in the pvbind measurement.
    #[arg(long, default_value_t = 1000)]
    pvbind_claims: usize,
    /// Outstanding DNS queries during the DNS throughput run (one UDP socket each).
    #[arg(long, default_value_t = 32)]
    dns_in_flight: usize,
    /// Worker threads of the benchmark's own runtime. The machine's cores are shared with the
    /// server; one thread leaves the server the most CPU.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
}

impl Cli {
    fn wants(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == name)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(bad) = cli.only.iter().find(|o| !ALL.contains(&o.as_str())) {
        eprintln!("berth-bench: unknown measurement {bad:?}; choose from {}", ALL.join(", "));
        return ExitCode::from(2);
    }
    if !cli.berth.exists() {
        eprintln!("berth-bench: {} not found (build it with `cargo build --release -p berth`)", cli.berth.display());
        return ExitCode::from(2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.client_threads.max(1))
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut report = Report::default();
    let result = runtime.block_on(run(&cli, &mut report));
    println!();
    report.print();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

async fn run(cli: &Cli, report: &mut Report) -> Result<()> {
    let q = cli.quick;
    let secs = Duration::from_secs_f64(cli.seconds.unwrap_or(if q { 1.0 } else { 5.0 }));
    let berth = std::fs::canonicalize(&cli.berth).map_err(|e| e.to_string())?;
    report.note(format!("berth binary: {}", berth.display()));
    report.note(format!("load average at start: {}", load_average()));

    if cli.wants("coldstart") {
        eprintln!("berth-bench: cold start");
        let runs = cli.cold_runs.unwrap_or(if q { 3 } else { 20 }).max(1);
        let restarts = cli.restarts.unwrap_or(if q { 2 } else { 10 });
        coldstart::run(&berth, runs, restarts, report).await?;
    }

    if cli.wants("disk") {
        eprintln!("berth-bench: fsync latency of the disk");
        let dir = TempDir::new("disk")?;
        disk::run(dir.path(), Duration::from_secs(if q { 1 } else { 3 }), report)?;
    }

    let needs_server = ["rss", "creates", "fixedload", "watch", "dns"].iter().any(|m| cli.wants(m));
    if needs_server {
        let dir = TempDir::new("main")?;
        let (b, _) = Berth::start(&berth, dir.path()).await?;
        let outcome = with_server(cli, &b, secs, report).await;
        if outcome.is_err() {
            eprintln!("berth stderr (tail):\n{}", b.stderr_tail());
        }
        b.stop().await;
        outcome?;
    }
    // Only on request: it needs an etcd binary, which a full run should not require.
    if cli.only.iter().any(|o| o == "creates-etcd") {
        store_compare::run(&berth, secs, report).await?;
    }
    // Only on request too (etcd).
    if cli.only.iter().any(|o| o == "leader") {
        let rounds = if q { 2 } else { 4 };
        let short = ["--leader-elect-lease-duration", "3s", "--leader-elect-renew-deadline", "2s", "--leader-elect-retry-period", "500ms"];
        leader::run(&berth, report, "lease 3 s, retry 0.5 s", &short, rounds, false).await?;
        leader::run(&berth, report, "upstream defaults: lease 15 s, retry 2 s", &[], rounds, false).await?;
        leader::run(&berth, report, "upstream defaults", &[], rounds, true).await?;
    }
    if cli.only.iter().any(|o| o == "migrate-etcd") {
        eprintln!("berth-bench: berth store migrate, SQLite → etcd");
        let sizes: &[usize] = if q { &[1_000] } else { &[1_000, 10_000] };
        migrate::run(&berth, sizes, report).await?;
    }
    if cli.wants("pvbind") {
        eprintln!("berth-bench: binding claims to static volumes");
        let dir = TempDir::new("pvbind")?;
        let (b, _) = Berth::start(&berth, dir.path()).await?;
        let outcome = pvbind::run(&b.endpoint()?, b.pid, cli.pvbind_claims.max(1), report).await;
        if outcome.is_err() {
            eprintln!("berth stderr (tail):\n{}", b.stderr_tail());
        }
        b.stop().await;
        outcome?;
    }
    if cli.wants("rbac") {
        eprintln!("berth-bench: RBAC evaluation per request");
        rbac::run(&berth, if q { 500 } else { 5000 }, report).await?;
    }
    if cli.wants("nodeloss") {
        let short = ["--node-monitor-grace-period", "4s", "--node-monitor-period", "500ms"];
        nodeloss::run(&berth, report, "grace 4 s, lease 2 s", &short, "2", true).await?;
        let failover = ["--node-monitor-grace-period", "4s", "--node-monitor-period", "500ms", "--auto-failover-after", "3s", "--auto-failover-margin", "2s"];
        nodeloss::run(&berth, report, "auto-failover 3 s + 2 s, no force delete", &failover, "2", false).await?;
        if !q {
            nodeloss::run(&berth, report, "upstream defaults: grace 50 s, lease 40 s", &[], "40", true).await?;
        }
    }
    if cli.wants("proxy") {
        eprintln!("berth-bench: service proxy, EndpointSlice change to nft rules");
        proxy::run(&berth, if q { 20 } else { 200 }, report).await?;
    }
    if cli.wants("sts-ordered") || cli.wants("sts-parallel") {
        let started = std::time::Instant::now();
        if cli.wants("sts-ordered") {
            eprintln!("berth-bench: 100-replica OrderedReady StatefulSet and its rolling update on 100 simulated nodes");
            statefulsets::ordered(&berth, report).await?;
        }
        if cli.wants("sts-parallel") {
            eprintln!("berth-bench: 1,000-replica Parallel StatefulSet on 100 simulated nodes");
            statefulsets::parallel(&berth, report).await?;
        }
        report.note(statefulsets::elapsed_note(started));
    }
    report.note(format!("load average at end: {}", load_average()));
    Ok(())
}

/// The measurements that share one long-running server, in an order that lets RSS be read
/// idle first and after load.
async fn with_server(cli: &Cli, b: &Berth, secs: Duration, report: &mut Report) -> Result<()> {
    let q = cli.quick;
    let ep = b.endpoint()?;
    if cli.wants("rss") {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let m = b.memory()?;
        report.row("RSS of `berth up`, idle 2 s after ready", mb(m.rss_kb), "≤ 20 MB");
    }
    if cli.wants("creates") || cli.wants("fixedload") {
        let mut conn = ep.connect().await?;
        client::ensure_namespace(&mut conn, "bench").await?;
    }
    if cli.wants("creates") {
        eprintln!("berth-bench: durable creates, closed loop");
        creates::control_reads(&ep, b.pid, secs / 2, report).await?;
        creates::run(&ep, b.pid, "bench", 1, secs, report).await?;
        creates::run(&ep, b.pid, "bench", 16, secs, report).await?;
        if cli.wants("rss") {
            let m = b.memory()?;
            report.row("RSS after the create benchmark (VmRSS / VmHWM peak)", format!("{} / {}", mb(m.rss_kb), mb(m.hwm_kb)), "≤ 20 MB");
        }
    }
    if cli.wants("fixedload") {
        eprintln!("berth-bench: fixed offered load, open loop");
        fixedload::run(&ep, b.pid, "bench", cli.rate.max(1), secs, cli.fixed_connections.max(1), report).await?;
    }
    if cli.wants("watch") {
        eprintln!("berth-bench: watch fan-out");
        let cfg = watch::Config {
            watchers: cli.watchers.unwrap_or(if q { 20 } else { 100 }).max(1),
            objects: cli.watch_objects.unwrap_or(if q { 30 } else { 200 }).max(1),
            pace: Duration::from_millis(cli.watch_pace_ms),
        };
        watch::run(&ep, "bench-watch", &cfg, report).await?;
    }
    if cli.wants("dns") {
        eprintln!("berth-bench: cluster DNS");
        dns::run(b, &ep, secs, cli.dns_in_flight.max(1), if q { 20 } else { 200 }, report).await?;
    }
    if cli.wants("rss") {
        let m = b.memory()?;
        report.row("RSS at the end (VmRSS / VmHWM peak)", format!("{} / {}", mb(m.rss_kb), mb(m.hwm_kb)), "");
    }
    Ok(())
}
