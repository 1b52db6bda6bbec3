//! Per-request (start, latency) records, kept in time order so that stalls can be located:
//! a server problem (a lock held across an fsync, a compaction, a WAL checkpoint) shows up as
//! latency spikes clustered in time, often periodic, which percentiles alone hide.

use std::time::{Duration, Instant};

use crate::report::Report;
use crate::stats::{fmt_dur, Samples};

pub struct Timeline {
    origin: Instant,
    /// `origin` on the wall clock, so stall times can be lined up with other tools' logs
    /// (strace -tt, file mtimes).
    origin_unix: f64,
    /// (offset of the request's (scheduled) start from `origin`, latency)
    points: Vec<(Duration, Duration)>,
}

impl Timeline {
    pub fn new(origin: Instant) -> Self {
        // Instants cannot be converted to wall time directly; take the offset from now.
        let now_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let origin_unix = if origin <= Instant::now() {
            now_unix - origin.elapsed().as_secs_f64()
        } else {
            now_unix + (origin - Instant::now()).as_secs_f64()
        };
        Timeline { origin, origin_unix, points: Vec::new() }
    }

    pub fn record(&mut self, start: Instant, latency: Duration) {
        self.points.push((start.saturating_duration_since(self.origin), latency));
    }

    /// Merge another client's records, re-basing them onto this timeline's origin.
    pub fn merge(&mut self, other: Timeline) {
        for (off, lat) in other.points {
            self.record(other.origin + off, lat);
        }
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn latencies(&self) -> Samples {
        let mut s = Samples::new();
        for (_, l) in &self.points {
            s.push(*l);
        }
        s
    }

    /// Counts of requests slower than 2 ms in 1 ms buckets (`"4–5 ms: 31"`): a tail piled up at
    /// multiples of one value points at a timer or scheduler tick rather than at work.
    pub fn tail_buckets(&self) -> String {
        let mut buckets = std::collections::BTreeMap::<u64, usize>::new();
        for (_, l) in &self.points {
            let ms = l.as_millis() as u64;
            if ms >= 2 {
                *buckets.entry(ms.min(30)).or_default() += 1;
            }
        }
        buckets
            .iter()
            .map(|(ms, n)| if *ms == 30 { format!("≥30 ms: {n}") } else { format!("{ms}–{} ms: {n}", ms + 1) })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Describe where the slow requests are: the slowest few with their start offsets, how
    /// many requests exceeded 10× the median, and the spacing of those spike clusters.
    pub fn note_stalls(&self, label: &str, report: &mut Report) {
        if self.points.len() < 20 {
            return;
        }
        let tail = self.tail_buckets();
        if !tail.is_empty() {
            report.note(format!("{label}: latency tail above 2 ms by 1 ms bucket: {tail}"));
        }
        let mut lat = self.latencies();
        let p50 = lat.median();
        let threshold = (p50 * 10).max(Duration::from_millis(5));
        let mut slow: Vec<_> = self.points.iter().filter(|(_, l)| *l > threshold).copied().collect();
        if slow.is_empty() {
            return;
        }
        slow.sort_by_key(|(off, _)| *off);
        // Group slow requests whose starts are within 50 ms into one stall episode.
        let mut episodes: Vec<(Duration, Duration, usize)> = Vec::new(); // (start, worst, count)
        for (off, l) in &slow {
            match episodes.last_mut() {
                Some((s, worst, n)) if *off <= *s + Duration::from_millis(50) + *worst => {
                    *worst = (*worst).max(*l);
                    *n += 1;
                }
                _ => episodes.push((*off, *l, 1)),
            }
        }
        let shown: Vec<String> = episodes
            .iter()
            .take(12)
            .map(|(s, w, n)| format!("t={:.2}s worst {} ({n} req)", s.as_secs_f64(), fmt_dur(*w)))
            .collect();
        let gaps: Vec<String> = episodes
            .windows(2)
            .take(11)
            .map(|w| format!("{:.2}", (w[1].0 - w[0].0).as_secs_f64()))
            .collect();
        report.note(format!(
            "{label}: {} of {} requests slower than {} (10× median, min 5 ms), in {} episode(s): {}{}; gaps between episodes (s): [{}]; t=0 is unix time {:.3}",
            slow.len(),
            self.points.len(),
            fmt_dur(threshold),
            episodes.len(),
            shown.join(", "),
            if episodes.len() > 12 { ", …" } else { "" },
            gaps.join(", "),
            self.origin_unix
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_buckets_count_by_millisecond_and_cap_at_30() {
        let t0 = Instant::now();
        let mut tl = Timeline::new(t0);
        for ms in [1u64, 4, 4, 8, 45] {
            tl.record(t0, Duration::from_micros(ms * 1000 + 300));
        }
        assert_eq!(tl.tail_buckets(), "4–5 ms: 2, 8–9 ms: 1, ≥30 ms: 1");
    }

    #[test]
    fn merge_rebases_onto_the_receiving_origin() {
        let t0 = Instant::now();
        let mut a = Timeline::new(t0);
        let mut b = Timeline::new(t0 + Duration::from_millis(10));
        b.record(t0 + Duration::from_millis(15), Duration::from_millis(1));
        a.merge(b);
        assert_eq!(a.points, vec![(Duration::from_millis(15), Duration::from_millis(1))]);
    }

    #[test]
    fn stalls_are_grouped_into_episodes() {
        let t0 = Instant::now();
        // Fast requests every 10 ms; two slow ones together at 100 ms and one at 900 ms.
        let mut tl = Timeline::new(t0);
        for i in 0..100u64 {
            let lat = if i == 10 || i == 11 || i == 90 { Duration::from_millis(40) } else { Duration::from_micros(500) };
            tl.record(t0 + Duration::from_millis(i * 10), lat);
        }
        let mut r = Report::default();
        tl.note_stalls("y", &mut r);
        let text = r.notes().join("\n");
        assert!(text.contains("3 of 100 requests"), "{text}");
        assert!(text.contains("in 2 episode(s)"), "{text}");
        assert!(text.contains("[0.80]"), "{text}");
    }
}
