//! Tolerant JSON accessors and the formatting helpers the printers share.
//!
//! Upstream prints typed Go structs, where a missing field is the zero value (`""`, `0`, nil).
//! These accessors give the same zero values for missing or mistyped JSON, so every printer
//! can be written as a straight transcription of upstream's logic without panicking.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::duration::human_duration;

static EMPTY: Vec<Value> = Vec::new();

/// The value at `path`, if every step is an object key that exists.
pub(super) fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, key| cur.get(*key))
}

/// The string at `path`, or `""` (Go's zero string).
pub(super) fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    get(v, path).and_then(Value::as_str).unwrap_or("")
}

/// The optional string at `path` (None when missing or null: Go's nil `*string`).
pub(super) fn opt_str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path).and_then(Value::as_str)
}

/// The integer at `path`, or 0. Floats are truncated as Go's int conversion would.
pub(super) fn i64_at(v: &Value, path: &[&str]) -> i64 {
    get(v, path).map(value_as_i64).unwrap_or(0)
}

/// The optional integer at `path` (None when missing or not a number).
pub(super) fn opt_i64_at(v: &Value, path: &[&str]) -> Option<i64> {
    get(v, path).filter(|x| x.is_number()).map(value_as_i64)
}

fn value_as_i64(x: &Value) -> i64 {
    x.as_i64()
        .or_else(|| x.as_u64().map(|u| i64::try_from(u).unwrap_or(i64::MAX)))
        .or_else(|| x.as_f64().map(|f| f as i64))
        .unwrap_or(0)
}

/// The boolean at `path`, or false.
pub(super) fn bool_at(v: &Value, path: &[&str]) -> bool {
    get(v, path).and_then(Value::as_bool).unwrap_or(false)
}

/// The array at `path`, or an empty slice.
pub(super) fn arr_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    get(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&EMPTY)
}

/// Number of entries of the map (or array) at `path`; 0 when missing.
pub(super) fn len_at(v: &Value, path: &[&str]) -> usize {
    match get(v, path) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

/// `metadata.name` as a JSON string cell.
pub(super) fn name(obj: &Value) -> Value {
    Value::String(str_at(obj, &["metadata", "name"]).to_string())
}

/// Whether `metadata.deletionTimestamp` is set.
pub(super) fn is_deleting(obj: &Value) -> bool {
    get(obj, &["metadata", "deletionTimestamp"]).is_some_and(|t| !t.is_null())
}

/// Parses an RFC 3339 timestamp (`metav1.Time` or `metav1.MicroTime`). Returns None for a
/// missing, unparseable or Go-zero (`0001-01-01T00:00:00Z`) time, all of which upstream
/// treats as `IsZero()`.
pub(super) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc);
    let go_zero = DateTime::parse_from_rfc3339("0001-01-01T00:00:00Z").ok()?;
    (t != go_zero).then_some(t)
}

/// Parses the timestamp at `path` (see [`parse_time`]).
pub(super) fn time_at(v: &Value, path: &[&str]) -> Option<DateTime<Utc>> {
    parse_time(str_at(v, path))
}

/// Upstream `translateTimestampSince`: `<unknown>` for a zero time, else the human duration
/// from the timestamp to `now`.
pub(super) fn since(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        None => "<unknown>".to_string(),
        Some(t) => human_duration(now.signed_duration_since(t)),
    }
}

/// The `Age` cell: `translateTimestampSince(metadata.creationTimestamp)`.
pub(super) fn age(obj: &Value, now: DateTime<Utc>) -> Value {
    Value::String(since(time_at(obj, &["metadata", "creationTimestamp"]), now))
}

/// `s`, or `placeholder` when `s` is empty.
pub(super) fn or(s: &str, placeholder: &str) -> String {
    if s.is_empty() {
        placeholder.to_string()
    } else {
        s.to_string()
    }
}

/// Upstream `GetAccessModesAsString`: de-duplicated, always in the order RWO, ROX, RWX, RWOP.
pub(super) fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|x| x.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| has(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// Upstream `layoutContainerCells`: comma-joined container names and images.
pub(super) fn container_cells(containers: &[Value]) -> (String, String) {
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, &["image"])).collect();
    (names.join(","), images.join(","))
}

/// Upstream `labels.FormatLabels`: `k=v` pairs sorted by key, comma-joined; `<none>` if empty.
pub(super) fn format_labels(map: Option<&Value>) -> String {
    let mut pairs: Vec<(String, String)> = match map {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
            .collect(),
        _ => Vec::new(),
    };
    if pairs.is_empty() {
        return "<none>".to_string();
    }
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Upstream `listWithMoreString`: the first `max` items, then ` + N more...`; `<unset>` when
/// there is nothing at all.
pub(super) fn list_with_more(items: &[String], total: usize, max: usize) -> String {
    let shown = &items[..items.len().min(max)];
    let joined = shown.join(",");
    if total > max {
        format!("{joined} + {} more...", total - max)
    } else if joined.is_empty() {
        "<unset>".to_string()
    } else {
        joined
    }
}
