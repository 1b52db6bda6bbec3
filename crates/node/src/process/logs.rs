//! Container log records in the CRI format the kubelet's log reader (and `kubectl logs`)
//! expects: `<RFC3339Nano UTC> <stdout|stderr> <F|P> <content>`, one record per line.

use chrono::{DateTime, SecondsFormat, Utc};

/// Records longer than this are split into partial (`P`) records, as container runtimes do.
pub const MAX_RECORD: usize = 16 * 1024;

/// Format one complete line (without its newline).
pub fn record(at: DateTime<Utc>, stream: &str, line: &[u8], partial: bool) -> Vec<u8> {
    let mut out = format!("{} {stream} {} ", at.to_rfc3339_opts(SecondsFormat::Nanos, true), if partial { "P" } else { "F" }).into_bytes();
    out.extend_from_slice(line);
    out.push(b'\n');
    out
}

/// Splits a byte stream into records: complete lines, and partial records for lines longer
/// than [`MAX_RECORD`]. Keeps an incomplete trailing line until more arrives or [`finish`].
#[derive(Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Feed bytes; returns (content, partial) records ready to write.
    pub fn push(&mut self, data: &[u8]) -> Vec<(Vec<u8>, bool)> {
        self.pending.extend_from_slice(data);
        let mut out = Vec::new();
        loop {
            if let Some(i) = self.pending.iter().position(|b| *b == b'\n') {
                if i <= MAX_RECORD {
                    let line: Vec<u8> = self.pending.drain(..=i).take(i).collect();
                    out.push((line, false));
                    continue;
                }
            }
            if self.pending.len() > MAX_RECORD {
                let part: Vec<u8> = self.pending.drain(..MAX_RECORD).collect();
                out.push((part, true));
                continue;
            }
            return out;
        }
    }

    /// The stream ended: an unterminated last line is a complete record.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        (!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_have_the_cri_shape() {
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456789Z").unwrap().with_timezone(&Utc);
        assert_eq!(record(at, "stdout", b"hello", false), b"2026-01-02T03:04:05.123456789Z stdout F hello\n");
        assert_eq!(record(at, "stderr", b"x", true), b"2026-01-02T03:04:05.123456789Z stderr P x\n");
    }

    #[test]
    fn splitter_keeps_incomplete_lines_and_splits_long_ones() {
        let mut s = LineSplitter::default();
        assert_eq!(s.push(b"a\nb"), vec![(b"a".to_vec(), false)]);
        assert_eq!(s.push(b"c\n\n"), vec![(b"bc".to_vec(), false), (b"".to_vec(), false)]);
        assert_eq!(s.push(b"tail"), vec![]);
        assert_eq!(s.finish(), Some(b"tail".to_vec()));
        let long = vec![b'x'; MAX_RECORD + 5];
        let out = s.push(&long);
        assert_eq!(out.len(), 1);
        assert!(out[0].1 && out[0].0.len() == MAX_RECORD);
        assert_eq!(s.push(b"\n"), vec![(b"xxxxx".to_vec(), false)]);
    }
}
