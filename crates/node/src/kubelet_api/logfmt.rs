//! CRI log records and the kubelet's log options, as pure functions: parsing one record,
//! selecting records (`tailLines`, `sinceSeconds`) and formatting them for the client
//! (`timestamps`, `limitBytes`). The IO side lives in `logs.rs`.

use chrono::{DateTime, Utc};

/// One line of a CRI log file: `<RFC3339Nano> <stdout|stderr> <F|P> <content>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// The timestamp as written; parsed only when an option needs it (most reads don't).
    pub ts: &'a str,
    pub stream: &'a str,
    /// `P` records are fragments of a longer line; the line ends with the next `F`.
    pub partial: bool,
    pub content: &'a [u8],
}

/// Parse one record (without its trailing newline). `None` for a malformed line, which the
/// kubelet skips as well.
pub fn parse(line: &[u8]) -> Option<Record<'_>> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let ts = std::str::from_utf8(parts.next()?).ok()?;
    let stream = std::str::from_utf8(parts.next()?).ok()?;
    let tag = parts.next()?;
    let content = parts.next().unwrap_or(b"");
    if stream != "stdout" && stream != "stderr" {
        return None;
    }
    let partial = match tag {
        b"F" => false,
        b"P" => true,
        // Tags may carry more flags separated by ':'; the first is the partial/full one.
        t if t.starts_with(b"F:") => false,
        t if t.starts_with(b"P:") => true,
        _ => return None,
    };
    Some(Record { ts, stream, partial, content })
}

impl Record<'_> {
    pub fn time(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(self.ts).ok().map(|t| t.with_timezone(&Utc))
    }
}

/// Go's RFC3339Nano as the kubelet prints it: fractional seconds without trailing zeros.
pub fn rfc3339_nano(t: &DateTime<Utc>) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

/// The options of `GET /containerLogs/...` that shape the output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail_lines: Option<u64>,
    pub since: Option<DateTime<Utc>>,
    pub limit_bytes: Option<u64>,
}

/// Parse the query string; errors are the kubelet's 400 texts.
pub fn parse_options(query: Option<&str>, now: DateTime<Utc>) -> Result<LogOptions, String> {
    let mut o = LogOptions::default();
    let flag = |v: &str| matches!(v, "true" | "1" | "True" | "TRUE");
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let int = |v: &str| v.parse::<i64>().map_err(|_| format!("unable to decode query: {k}={v}"));
        match k.as_ref() {
            "follow" => o.follow = flag(&v),
            "previous" => o.previous = flag(&v),
            "timestamps" => o.timestamps = flag(&v),
            "tailLines" => {
                let n = int(&v)?;
                if n < 0 {
                    return Err("tailLines: Invalid value: must be greater than or equal to 0".into());
                }
                o.tail_lines = Some(n as u64);
            }
            "limitBytes" => {
                let n = int(&v)?;
                if n < 1 {
                    return Err("limitBytes: Invalid value: must be greater than 0".into());
                }
                o.limit_bytes = Some(n as u64);
            }
            "sinceSeconds" => {
                let n = int(&v)?;
                if n < 1 {
                    return Err("sinceSeconds: Invalid value: must be greater than 0".into());
                }
                o.since = Some(now - chrono::Duration::seconds(n));
            }
            "sinceTime" => {
                let t = DateTime::parse_from_rfc3339(&v).map_err(|_| format!("unable to decode query: sinceTime={v}"))?;
                o.since = Some(t.with_timezone(&Utc));
            }
            _ => {}
        }
    }
    Ok(o)
}

/// Byte offset where the last `n` lines of `data` start (the kubelet seeks there before
/// reading forward). A trailing newline does not start an empty line.
pub fn tail_start(data: &[u8], n: u64) -> usize {
    if n == 0 {
        return data.len();
    }
    let mut end = data.len();
    if end > 0 && data[end - 1] == b'\n' {
        end -= 1;
    }
    let mut seen = 0u64;
    for i in (0..end).rev() {
        if data[i] == b'\n' {
            seen += 1;
            if seen == n {
                return i + 1;
            }
        }
    }
    0
}

/// Turns records into client output, carrying partial lines and the byte budget across
/// calls so that `follow` can feed it chunk by chunk.
#[derive(Debug)]
pub struct Formatter {
    timestamps: bool,
    since: Option<DateTime<Utc>>,
    remaining: Option<u64>,
    /// True while in the middle of a `P`… line, so its timestamp is printed once.
    in_partial: bool,
}

impl Formatter {
    pub fn new(o: &LogOptions) -> Formatter {
        Formatter { timestamps: o.timestamps, since: o.since, remaining: o.limit_bytes, in_partial: false }
    }

    /// `limitBytes` is used up; nothing more will be written.
    pub fn exhausted(&self) -> bool {
        self.remaining == Some(0)
    }

    /// Append the output for one raw record line to `out`.
    pub fn push(&mut self, line: &[u8], out: &mut Vec<u8>) {
        if self.exhausted() {
            return;
        }
        let Some(r) = parse(line) else { return };
        let time = if self.since.is_some() || self.timestamps {
            match r.time() {
                Some(t) => Some(t),
                None => return,
            }
        } else {
            None
        };
        if let (Some(s), Some(t)) = (self.since, time) {
            if t < s {
                return;
            }
        }
        let mut buf = Vec::with_capacity(r.content.len() + 40);
        if let (true, false, Some(t)) = (self.timestamps, self.in_partial, time) {
            buf.extend_from_slice(rfc3339_nano(&t).as_bytes());
            buf.push(b' ');
        }
        buf.extend_from_slice(r.content);
        if !r.partial {
            buf.push(b'\n');
        }
        self.in_partial = r.partial;
        if let Some(rem) = self.remaining.as_mut() {
            let take = (*rem).min(buf.len() as u64) as usize;
            buf.truncate(take);
            *rem -= take as u64;
        }
        out.extend_from_slice(&buf);
    }
}

/// Format the complete lines in `data` (a whole log file) per `o`, without follow.
pub fn render(data: &[u8], o: &LogOptions) -> Vec<u8> {
    let start = o.tail_lines.map(|n| tail_start(data, n)).unwrap_or(0);
    let mut f = Formatter::new(o);
    let mut out = Vec::new();
    for line in data[start..].split(|b| *b == b'\n') {
        if !line.is_empty() {
            f.push(line, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "2024-05-01T10:00:00.100000000Z stdout F one\n\
2024-05-01T10:00:01.000000000Z stderr F two words\n\
2024-05-01T10:00:02.123456789Z stdout P thr\n\
2024-05-01T10:00:02.200000000Z stdout F ee\n\
garbage line\n\
2024-05-01T10:00:03Z stdout F four\n";

    fn opts() -> LogOptions {
        LogOptions::default()
    }

    #[test]
    fn plain_output_strips_the_cri_prefix_and_joins_partials() {
        let out = render(LOG.as_bytes(), &opts());
        assert_eq!(String::from_utf8(out).unwrap(), "one\ntwo words\nthree\nfour\n");
    }

    #[test]
    fn timestamps_use_go_rfc3339nano() {
        let o = LogOptions { timestamps: true, ..opts() };
        let out = String::from_utf8(render(LOG.as_bytes(), &o)).unwrap();
        assert_eq!(
            out,
            "2024-05-01T10:00:00.1Z one\n2024-05-01T10:00:01Z two words\n2024-05-01T10:00:02.123456789Z three\n2024-05-01T10:00:03Z four\n"
        );
    }

    #[test]
    fn tail_counts_raw_lines_from_the_end() {
        assert_eq!(tail_start(b"a\nb\nc\n", 1), 4);
        assert_eq!(tail_start(b"a\nb\nc\n", 2), 2);
        assert_eq!(tail_start(b"a\nb\nc\n", 9), 0);
        assert_eq!(tail_start(b"a\nb\nc", 1), 4);
        assert_eq!(tail_start(b"a\nb\n", 0), 4);
        let o = LogOptions { tail_lines: Some(1), ..opts() };
        assert_eq!(render(LOG.as_bytes(), &o), b"four\n");
        let o = LogOptions { tail_lines: Some(0), ..opts() };
        assert!(render(LOG.as_bytes(), &o).is_empty());
    }

    #[test]
    fn since_drops_older_records() {
        let now: DateTime<Utc> = "2024-05-01T10:00:04Z".parse().unwrap();
        let o = parse_options(Some("sinceSeconds=2"), now).unwrap();
        assert_eq!(render(LOG.as_bytes(), &o), b"three\nfour\n");
        let o = parse_options(Some("sinceTime=2024-05-01T10:00:01Z"), now).unwrap();
        assert_eq!(render(LOG.as_bytes(), &o), b"two words\nthree\nfour\n");
    }

    #[test]
    fn limit_bytes_cuts_mid_line() {
        let o = LogOptions { limit_bytes: Some(6), ..opts() };
        assert_eq!(render(LOG.as_bytes(), &o), b"one\ntw");
    }

    #[test]
    fn options_are_validated() {
        let now = Utc::now();
        let o = parse_options(Some("follow=true&previous=1&timestamps=true&tailLines=3&limitBytes=10"), now).unwrap();
        assert!(o.follow && o.previous && o.timestamps);
        assert_eq!((o.tail_lines, o.limit_bytes), (Some(3), Some(10)));
        assert!(parse_options(Some("tailLines=-1"), now).is_err());
        assert!(parse_options(Some("limitBytes=0"), now).is_err());
        assert!(parse_options(Some("sinceSeconds=x"), now).is_err());
    }

    #[test]
    fn parse_rejects_malformed_records() {
        assert!(parse(b"2024-05-01T10:00:00Z stdin F x").is_none());
        assert!(parse(b"yesterday stdout F x").unwrap().time().is_none());
        let r = parse(b"2024-05-01T10:00:00Z stdout F").unwrap();
        assert_eq!(r.content, b"");
    }
}
