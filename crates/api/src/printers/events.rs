//! The event printer (upstream `printEvent`), shared by core v1 and events.k8s.io Events.
//!
//! Upstream stores both as the internal core Event, so an events.k8s.io/v1 Event is first
//! renamed to core field names ([`to_core`]) and then printed the same way.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::descriptions as d;
use super::util::{self, get, i64_at, str_at};
use super::{Column, Row};

pub(super) fn columns() -> Vec<Column> {
    vec![
        Column::string("Last Seen", d::EVENT_LAST_TIMESTAMP),
        Column::string("Type", d::EVENT_TYPE),
        Column::string("Reason", d::EVENT_REASON),
        Column::string("Object", d::EVENT_INVOLVED_OBJECT),
        Column::string("Subobject", d::OBJECT_REFERENCE_FIELD_PATH).wide(),
        Column::string("Source", d::EVENT_SOURCE).wide(),
        Column::string("Message", d::EVENT_MESSAGE),
        Column::string("First Seen", d::EVENT_FIRST_TIMESTAMP).wide(),
        // Declared a string upstream, but the cell is the integer count.
        Column::string("Count", d::EVENT_COUNT).wide(),
        Column {
            priority: 1,
            ..Column::name()
        },
    ]
}

/// Upstream `formatEventSource`: component (else reportingComponent), then `, host` (else
/// reportingInstance) when there is one.
fn source(ev: &Value) -> String {
    let first_non_empty = |a: &'static [&'static str], b: &'static str| {
        let s = str_at(ev, a);
        if s.is_empty() {
            str_at(ev, &[b])
        } else {
            s
        }
    };
    let component = first_non_empty(&["source", "component"], "reportingComponent");
    let instance = first_non_empty(&["source", "host"], "reportingInstance");
    if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    }
}

pub(super) fn row(ev: &Value, now: DateTime<Utc>) -> Row {
    let first_seen = match util::time_at(ev, &["firstTimestamp"]) {
        Some(t) => util::since(Some(t), now),
        None => util::since(util::time_at(ev, &["eventTime"]), now),
    };
    let mut last_seen = match util::time_at(ev, &["lastTimestamp"]) {
        Some(t) => util::since(Some(t), now),
        None => first_seen.clone(),
    };
    let mut count = i64_at(ev, &["count"]);
    match get(ev, &["series"]).filter(|s| s.is_object()) {
        Some(series) => {
            last_seen = util::since(util::time_at(series, &["lastObservedTime"]), now);
            count = i64_at(series, &["count"]);
        }
        // Singleton events don't have a count set in the new API.
        None if count == 0 => count = 1,
        None => {}
    }

    let kind = str_at(ev, &["involvedObject", "kind"]).to_lowercase();
    let name = str_at(ev, &["involvedObject", "name"]);
    let target = if name.is_empty() {
        kind
    } else {
        format!("{kind}/{name}")
    };

    Row::new(vec![
        Value::String(last_seen),
        Value::String(str_at(ev, &["type"]).to_string()),
        Value::String(str_at(ev, &["reason"]).to_string()),
        Value::String(target),
        Value::String(str_at(ev, &["involvedObject", "fieldPath"]).to_string()),
        Value::String(source(ev)),
        Value::String(str_at(ev, &["message"]).trim().to_string()),
        Value::String(first_seen),
        Value::from(count),
        util::name(ev),
    ])
}

/// events.k8s.io/v1 field → core v1 field, as upstream's conversion maps them.
const EVENTS_V1_TO_CORE: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
];

/// An events.k8s.io/v1 Event with its fields renamed to core v1 names; fields with the same
/// name in both (`reason`, `type`, `eventTime`, `series`, `reportingInstance`, `metadata`, …)
/// are kept as they are.
fn to_core(ev: &Value) -> Value {
    let Some(fields) = ev.as_object() else {
        return Value::Null;
    };
    let mut out = Map::new();
    for (k, v) in fields {
        let key = EVENTS_V1_TO_CORE
            .iter()
            .find(|(from, _)| from == k)
            .map(|(_, to)| (*to).to_string())
            .unwrap_or_else(|| k.clone());
        out.insert(key, v.clone());
    }
    Value::Object(out)
}

/// The row for an events.k8s.io/v1 Event.
pub(super) fn events_v1_row(ev: &Value, now: DateTime<Utc>) -> Row {
    row(&to_core(ev), now)
}
