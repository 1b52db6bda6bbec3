//! `GET /containerLogs/{namespace}/{pod}/{container}`: read a container's CRI log file and,
//! with `follow`, stream appended lines until that container instance ends.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use futures::SinkExt;
use hyper::body::Frame;

use super::logfmt::{self, Formatter};
use super::state::{self, ContainerDir, LookupError};
use super::{full, stream_body, text, Resp};

/// How often a followed log is polled for new data and for the end of its container.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

pub async fn serve(state_dir: &Path, namespace: &str, pod: &str, container: &str, query: Option<&str>) -> Resp {
    let opts = match logfmt::parse_options(query, chrono::Utc::now()) {
        Ok(o) => o,
        Err(e) => return text(400, &e),
    };
    let cdir = match state::container(state_dir, namespace, pod, container) {
        Ok(c) => c,
        Err(e) => return text(e.code, &e.message),
    };
    let n = match pick_log(&cdir, pod, container, opts.previous) {
        Ok(n) => n,
        Err(e) => return text(e.code, &e.message),
    };
    let path = cdir.log_path(n);
    let (base, data) = match read_log(&path, opts.tail_lines) {
        Ok(d) => d,
        Err(e) => return text(500, &format!("failed to read log file {}: {e}", path.display())),
    };
    // Only complete lines are printed; a line still being written is picked up by follow.
    let complete = data.iter().rposition(|b| *b == b'\n').map(|i| i + 1).unwrap_or(0);
    let start = opts.tail_lines.map(|t| logfmt::tail_start(&data[..complete], t)).unwrap_or(0);
    let mut fmt = Formatter::new(&opts);
    let mut out = Vec::new();
    for line in data[start..complete].split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        fmt.push(line, &mut out);
    }
    // A previous instance never grows again; a stopped container has nothing to follow.
    if !opts.follow || opts.previous || fmt.exhausted() {
        return full(200, "text/plain", out);
    }
    let (mut tx, body) = stream_body();
    let follow = Follow { cdir, n, offset: base + complete as u64, fmt };
    tokio::spawn(async move {
        if !out.is_empty() && tx.send(Ok(Frame::data(Bytes::from(out)))).await.is_err() {
            return;
        }
        follow.run(tx).await;
    });
    body
}

/// Read a log file, or with `tail` only enough of its end to hold that many lines (a long
/// running container's log can be large). Returns the file offset of the data and the data.
fn read_log(path: &Path, tail: Option<u64>) -> std::io::Result<(u64, Vec<u8>)> {
    let mut f = std::fs::File::open(path)?;
    let Some(tail) = tail else {
        let mut data = Vec::new();
        f.read_to_end(&mut data)?;
        return Ok((0, data));
    };
    const CHUNK: u64 = 64 * 1024;
    let len = f.metadata()?.len();
    let mut start = len;
    let mut data: Vec<u8> = Vec::new();
    // One more newline than lines wanted: the one ending the line before them.
    while start > 0 && (data.iter().filter(|b| **b == b'\n').count() as u64) <= tail {
        let from = start.saturating_sub(CHUNK);
        let mut chunk = vec![0u8; (start - from) as usize];
        f.seek(SeekFrom::Start(from))?;
        f.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&data);
        data = chunk;
        start = from;
    }
    Ok((start, data))
}

/// The log file to read: the current instance's, or with `previous` the one before it.
fn pick_log(cdir: &ContainerDir, pod: &str, container: &str, previous: bool) -> Result<u64, LookupError> {
    let nums = cdir.log_numbers();
    let Some(&current) = nums.last() else {
        return Err(LookupError::bad_request(format!(
            "container \"{container}\" in pod \"{pod}\" is waiting to start - no logs yet"
        )));
    };
    if !previous {
        return Ok(current);
    }
    match current.checked_sub(1).filter(|p| nums.contains(p)) {
        Some(p) => Ok(p),
        None => Err(LookupError::bad_request(format!(
            "previous terminated container \"{container}\" in pod \"{pod}\" not found"
        ))),
    }
}

struct Follow {
    cdir: ContainerDir,
    n: u64,
    offset: u64,
    fmt: Formatter,
}

type Sender = futures::channel::mpsc::Sender<Result<Frame<Bytes>, std::convert::Infallible>>;

impl Follow {
    async fn run(mut self, mut tx: Sender) {
        let mut pending: Vec<u8> = Vec::new();
        loop {
            // Decide about the end before reading, so lines written just before the container
            // exited are still delivered by this last read.
            let ended = self.cdir.pid().is_none() || self.cdir.log_numbers().last().is_some_and(|&m| m > self.n);
            let chunk = self.read_new(&mut pending);
            if !chunk.is_empty() && tx.send(Ok(Frame::data(Bytes::from(chunk)))).await.is_err() {
                return;
            }
            if ended || self.fmt.exhausted() || tx.is_closed() {
                return;
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    }

    /// Read what was appended since the last call and format its complete lines.
    fn read_new(&mut self, pending: &mut Vec<u8>) -> Vec<u8> {
        let mut out = Vec::new();
        let Ok(mut f) = std::fs::File::open(self.cdir.log_path(self.n)) else { return out };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return out;
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            return out;
        }
        self.offset += buf.len() as u64;
        pending.extend_from_slice(&buf);
        if let Some(end) = pending.iter().rposition(|b| *b == b'\n') {
            let rest = pending.split_off(end + 1);
            for line in pending.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                self.fmt.push(line, &mut out);
            }
            *pending = rest;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_reads_only_the_end_of_large_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("0.log");
        let line = "2024-05-01T10:00:00Z stdout F ".to_string() + &"x".repeat(100) + "\n";
        std::fs::write(&p, line.repeat(5000)).unwrap();
        let (base, data) = read_log(&p, Some(3)).unwrap();
        assert!(base > 0 && data.len() < 70 * 1024, "{base} {}", data.len());
        assert_eq!(base as usize + data.len(), line.len() * 5000);
        let start = logfmt::tail_start(&data, 3);
        assert_eq!(data.len() - start, 3 * line.len());
        let (base, data) = read_log(&p, None).unwrap();
        assert_eq!((base, data.len()), (0, line.len() * 5000));
    }

    #[test]
    fn previous_needs_the_file_before_the_current_one() {
        let d = tempfile::tempdir().unwrap();
        let c = ContainerDir { dir: d.path().to_path_buf() };
        let e = pick_log(&c, "p", "c", false).unwrap_err();
        assert_eq!(e.message, "container \"c\" in pod \"p\" is waiting to start - no logs yet");
        std::fs::write(d.path().join("0.log"), "").unwrap();
        assert_eq!(pick_log(&c, "p", "c", false).unwrap(), 0);
        let e = pick_log(&c, "p", "c", true).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (400, "previous terminated container \"c\" in pod \"p\" not found"));
        std::fs::write(d.path().join("1.log"), "").unwrap();
        assert_eq!(pick_log(&c, "p", "c", true).unwrap(), 0);
        assert_eq!(pick_log(&c, "p", "c", false).unwrap(), 1);
    }
}
