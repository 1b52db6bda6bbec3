//! Context for the durable-create numbers: how long a 4 KiB overwrite + fsync takes, back to
//! back, on the filesystem holding the data dirs. Every durable create waits for at least one
//! fsync, so this is the disk's share of the 1-client latency; group commit is what lifts
//! throughput above one fsync per create with more clients. (SQLite's own WAL syncs can be
//! cheaper than this probe when they land between journal commits, so treat it as an order of
//! magnitude, not a floor.)

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::client::Result;
use crate::report::Report;
use crate::stats::fmt_dur;
use crate::timeline::Timeline;

/// Overwrites 4 KiB blocks of a preallocated file and fsyncs after each write, like a WAL
/// being reused after a checkpoint.
pub fn run(dir: &Path, duration: Duration, report: &mut Report) -> Result<()> {
    let path = dir.join("fsync-probe.dat");
    let mut f = OpenOptions::new().create(true).write(true).truncate(true).open(&path).map_err(|e| e.to_string())?;
    const BLOCKS: u64 = 256;
    f.write_all(&vec![0u8; 4096 * BLOCKS as usize]).map_err(|e| e.to_string())?;
    f.sync_all().map_err(|e| e.to_string())?;
    let block = [b'x'; 4096];
    let start = Instant::now();
    let mut tl = Timeline::new(start);
    let mut i = 0u64;
    while start.elapsed() < duration {
        f.seek(SeekFrom::Start((i % BLOCKS) * 4096)).map_err(|e| e.to_string())?;
        f.write_all(&block).map_err(|e| e.to_string())?;
        let t = Instant::now();
        f.sync_all().map_err(|e| e.to_string())?;
        tl.record(t, t.elapsed());
        i += 1;
    }
    drop(f);
    let _ = std::fs::remove_file(&path);
    let mut lat = tl.latencies();
    report.row(
        "context: 4 KiB write + fsync on the data dir's disk, p50 / p99 (fsyncs/s, 1 thread)",
        format!(
            "{} / {} ({:.0}/s)",
            fmt_dur(lat.median()),
            fmt_dur(lat.pct(99.0)),
            tl.len() as f64 / start.elapsed().as_secs_f64()
        ),
        "",
    );
    let tail = tl.tail_buckets();
    if !tail.is_empty() {
        report.note(format!("fsync probe: latency tail above 2 ms by 1 ms bucket: {tail}"));
    }
    Ok(())
}
