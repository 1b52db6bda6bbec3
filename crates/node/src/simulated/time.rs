//! Conversions between the chrono clock the caller drives and k8s-openapi's jiff-based
//! `Time`/`MicroTime`.
//!
//! Every timestamp we write is truncated to what the API stores (`Time`: whole seconds,
//! `MicroTime`: microseconds). Otherwise a status we produce would differ from the same
//! status read back from the API server, and the idempotence check ("never write a status
//! equal to the current one") would see phantom changes.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::Timestamp;

pub fn k8s_time(t: DateTime<Utc>) -> Time {
    Time(Timestamp::from_second(t.timestamp()).expect("chrono timestamps fit jiff's range"))
}

pub fn micro_time(t: DateTime<Utc>) -> MicroTime {
    MicroTime(Timestamp::from_microsecond(t.timestamp_micros()).expect("chrono timestamps fit jiff's range"))
}

pub fn from_time(t: &Time) -> DateTime<Utc> {
    DateTime::from_timestamp(t.0.as_second(), t.0.subsec_nanosecond().max(0) as u32)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `t` truncated to whole seconds, i.e. as it reads back after a round trip through the API.
pub fn trunc(t: DateTime<Utc>) -> DateTime<Utc> {
    from_time(&k8s_time(t))
}

pub fn add(t: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    t + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// `later - now` as a std Duration, zero if `later` is not after `now`.
pub fn until(now: DateTime<Utc>, later: DateTime<Utc>) -> std::time::Duration {
    (later - now).to_std().unwrap_or_default()
}
