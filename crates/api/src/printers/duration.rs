//! Upstream `duration.HumanDuration` (k8s.io/apimachinery/pkg/util/duration): the AGE format.

use chrono::Duration;

/// A succinct, ~2–3 significant figure rendering of `d`, exactly as upstream's
/// `duration.HumanDuration`: `<invalid>` below -1s (clock skew of up to 2s counts as now),
/// then `0s`, `95s`, `3m7s`, `45m`, `5h12m`, `30h`, `3d4h`, `200d`, `3y12d`, `9y`.
pub fn human_duration(d: Duration) -> String {
    // Go truncates toward zero (`int(d.Seconds())`, `d / time.Minute`); chrono's num_* do too.
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = d.num_minutes();
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d.num_hours();
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        format!("{hours}h{m}m")
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        format!("{}d{}h", hours / 24, h)
    } else if hours < 24 * 365 * 2 {
        format!("{}d", hours / 24)
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        format!("{}y{}d", hours / 24 / 365, dy)
    } else {
        format!("{}y", hours / 24 / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::human_duration;
    use chrono::Duration;

    fn secs(s: i64) -> Duration {
        Duration::seconds(s)
    }
    fn ms(m: i64) -> Duration {
        Duration::milliseconds(m)
    }
    const MIN: i64 = 60;
    const HOUR: i64 = 3600;
    const DAY: i64 = 24 * HOUR;
    const YEAR: i64 = 365 * DAY;

    /// upstream duration_test.go TestHumanDuration
    #[test]
    fn human_duration_upstream_cases() {
        let cases = [
            (secs(1), "1s"),
            (secs(70), "70s"),
            (secs(190), "3m10s"),
            (secs(70 * MIN), "70m"),
            (secs(47 * HOUR), "47h"),
            (secs(49 * HOUR), "2d1h"),
            (secs((8 * 24 + 2) * HOUR), "8d"),
            (secs(367 * DAY), "367d"),
            (secs((365 * 2 * 24 + 25) * HOUR), "2y1d"),
            (secs((365 * 8 * 24 + 2) * HOUR), "8y"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(d), want, "{d:?}");
        }
    }

    /// upstream duration_test.go TestHumanDurationBoundaries
    #[test]
    fn human_duration_upstream_boundaries() {
        let cases = [
            (secs(-2), "<invalid>"),
            (secs(-2) + Duration::nanoseconds(1), "0s"),
            (secs(0), "0s"),
            (ms(1000 - 1), "0s"),
            (ms(2 * MIN * 1000 - 1), "119s"),
            (secs(2 * MIN), "2m"),
            (secs(2 * MIN + 1), "2m1s"),
            (ms(10 * MIN * 1000 - 1), "9m59s"),
            (secs(10 * MIN), "10m"),
            (secs(10 * MIN + 1), "10m"),
            (ms(3 * HOUR * 1000 - 1), "179m"),
            (secs(3 * HOUR), "3h"),
            (secs(3 * HOUR + MIN), "3h1m"),
            (ms(8 * HOUR * 1000 - 1), "7h59m"),
            (secs(8 * HOUR), "8h"),
            (secs(8 * HOUR + 59 * MIN), "8h"),
            (ms(2 * DAY * 1000 - 1), "47h"),
            (secs(2 * DAY), "2d"),
            (secs(2 * DAY + HOUR), "2d1h"),
            (ms(8 * DAY * 1000 - 1), "7d23h"),
            (secs(8 * DAY), "8d"),
            (secs(8 * DAY + 23 * HOUR), "8d"),
            (ms(2 * YEAR * 1000 - 1), "729d"),
            (secs(2 * YEAR), "2y"),
            (secs(2 * YEAR + 23 * HOUR), "2y"),
            (secs(2 * YEAR + 23 * HOUR + 59 * MIN), "2y"),
            (ms((2 * YEAR + DAY) * 1000 - 1), "2y"),
            (secs(2 * YEAR + DAY), "2y1d"),
            (secs(3 * YEAR), "3y"),
            (secs(4 * YEAR), "4y"),
            (secs(5 * YEAR), "5y"),
            (secs(6 * YEAR), "6y"),
            (secs(7 * YEAR), "7y"),
            (ms(8 * YEAR * 1000 - 1), "7y364d"),
            (secs(8 * YEAR), "8y"),
            (secs(8 * YEAR + 364 * DAY), "8y"),
            (secs(9 * YEAR), "9y"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(d), want, "{d:?}");
        }
    }
}
