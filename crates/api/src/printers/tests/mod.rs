//! Printer tests with realistic objects, checked cell by cell against upstream's output.

mod pod;
mod resources;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::{columns, row};

/// The fixed "now" every test prints at.
fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-26T21:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// An RFC 3339 timestamp `ago` before [`now`].
fn ago(ago: Duration) -> String {
    (now() - ago).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn mins(m: i64) -> Duration {
    Duration::minutes(m)
}

/// The cells of `obj`'s row, as strings where they are strings (numbers and booleans keep
/// their JSON form, so a test can tell `3` from `"3"`).
fn cells(group: &str, plural: &str, obj: &Value) -> Vec<Value> {
    let r = row(group, plural, obj, now());
    assert_eq!(
        r.cells.len(),
        columns(group, plural).len(),
        "one cell per column for {group}/{plural}"
    );
    r.cells
}

/// Column names in order, `*` marking the wide (priority 1) ones.
fn column_names(group: &str, plural: &str) -> Vec<String> {
    columns(group, plural)
        .iter()
        .map(|c| {
            if c.priority == 1 {
                format!("{}*", c.name)
            } else {
                c.name.to_string()
            }
        })
        .collect()
}
