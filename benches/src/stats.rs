//! Exact percentiles over recorded samples. Sample counts here are at most a few hundred
//! thousand, so sorting a vector is cheaper to trust than a histogram's bucketing.

use std::time::Duration;

#[derive(Clone, Debug, Default)]
pub struct Samples {
    /// Microseconds.
    us: Vec<u64>,
    sorted: bool,
}

impl Samples {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, d: Duration) {
        self.us.push(d.as_micros() as u64);
        self.sorted = false;
    }

    /// Add every sample of `other`.
    pub fn merge(&mut self, other: &Samples) {
        self.us.extend_from_slice(&other.us);
        self.sorted = false;
    }

    pub fn len(&self) -> usize {
        self.us.len()
    }

    fn sort(&mut self) {
        if !self.sorted {
            self.us.sort_unstable();
            self.sorted = true;
        }
    }

    /// Nearest-rank percentile, `q` in [0, 100]. Zero when empty.
    pub fn pct(&mut self, q: f64) -> Duration {
        if self.us.is_empty() {
            return Duration::ZERO;
        }
        self.sort();
        let rank = ((q / 100.0) * self.us.len() as f64).ceil() as usize;
        let idx = rank.clamp(1, self.us.len()) - 1;
        Duration::from_micros(self.us[idx])
    }

    pub fn max(&mut self) -> Duration {
        self.pct(100.0)
    }

    pub fn median(&mut self) -> Duration {
        self.pct(50.0)
    }
}

/// `12.3 ms` / `850 µs` / `1.42 s`: short, readable, and precise enough for the table.
pub fn fmt_dur(d: Duration) -> String {
    let us = d.as_micros();
    if us >= 10_000_000 {
        format!("{:.1} s", d.as_secs_f64())
    } else if us >= 1_000_000 {
        format!("{:.2} s", d.as_secs_f64())
    } else if us >= 10_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else if us >= 1_000 {
        format!("{:.2} ms", us as f64 / 1000.0)
    } else {
        format!("{us} µs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut s = Samples::new();
        for i in 1..=100 {
            s.push(Duration::from_micros(i));
        }
        assert_eq!(s.pct(50.0), Duration::from_micros(50));
        assert_eq!(s.pct(99.0), Duration::from_micros(99));
        assert_eq!(s.max(), Duration::from_micros(100));
        assert_eq!(s.pct(0.0), Duration::from_micros(1));
        assert_eq!(Samples::new().pct(99.0), Duration::ZERO);
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_dur(Duration::from_micros(850)), "850 µs");
        assert_eq!(fmt_dur(Duration::from_micros(1_234)), "1.23 ms");
        assert_eq!(fmt_dur(Duration::from_micros(12_345)), "12.3 ms");
        assert_eq!(fmt_dur(Duration::from_millis(1_420)), "1.42 s");
    }
}
