//! Measurement 1: cold start. Spawn `berth up` on a fresh data dir and time, from the spawn,
//! the first `/readyz` 200 over TLS (new connection per 1 ms poll) and the `export KUBECONFIG=`
//! line; then restarts on an existing data dir.

use std::path::Path;

use crate::child::{Berth, TempDir};
use crate::client::Result;
use crate::report::Report;
use crate::stats::{fmt_dur, Samples};

pub async fn run(berth: &Path, runs: usize, restarts: usize, report: &mut Report) -> Result<()> {
    let mut ready = Samples::new();
    let mut export = Samples::new();
    let mut shutdown = Samples::new();
    let mut kept = None;
    for i in 0..runs {
        let dir = TempDir::new("cold")?;
        let (b, s) = Berth::start(berth, dir.path()).await?;
        ready.push(s.to_readyz);
        export.push(s.to_export);
        if let Some(d) = b.stop().await {
            shutdown.push(d);
        }
        // Keep the last data dir for the restart runs.
        if i + 1 == runs {
            kept = Some(dir);
        }
    }
    report.row(
        format!("cold start → /readyz 200 over TLS, median (n={runs})"),
        fmt_dur(ready.median()),
        "≤ 100 ms",
    );
    report.row(format!("cold start → /readyz 200 over TLS, max (n={runs})"), fmt_dur(ready.max()), "≤ 100 ms");
    report.row(
        "cold start → `export KUBECONFIG=` line, median / max",
        format!("{} / {}", fmt_dur(export.median()), fmt_dur(export.max())),
        "",
    );

    if let Some(dir) = kept.filter(|_| restarts > 0) {
        let mut restart = Samples::new();
        for _ in 0..restarts {
            let (b, s) = Berth::start(berth, dir.path()).await?;
            restart.push(s.to_readyz);
            if let Some(d) = b.stop().await {
                shutdown.push(d);
            }
        }
        report.row(
            format!("restart on existing data dir → /readyz 200, median / max (n={restarts})"),
            format!("{} / {}", fmt_dur(restart.median()), fmt_dur(restart.max())),
            "",
        );
    }
    if shutdown.len() > 0 {
        report.row(
            "SIGTERM → exit, median / max",
            format!("{} / {}", fmt_dur(shutdown.median()), fmt_dur(shutdown.max())),
            "",
        );
    }
    Ok(())
}
