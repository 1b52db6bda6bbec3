//! Turns one protobuf message into the JSON Go's encoding/json would write for it, driven by
//! the [`schema`](super::schema) tables.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::base64;
use super::schema::{Field, Kind, Message, Shape};
use super::wire::{Reader, WireValue};
use super::ProtoError;

/// Nesting deeper than this is rejected; the deepest real path (Pod → … → NodeSelectorRequirement)
/// is about a dozen levels, so this only stops hostile input.
const MAX_DEPTH: usize = 64;

/// Seconds from 1970 to Go's zero `time.Time` (0001-01-01T00:00:00Z), which Go writes as `null`.
const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

/// Decodes `bytes` as `message` into a JSON object.
pub fn decode_message(
    message: &'static Message,
    bytes: &[u8],
    depth: usize,
) -> Result<Map<String, Value>, ProtoError> {
    if depth > MAX_DEPTH {
        return Err(ProtoError::TooDeep(MAX_DEPTH));
    }
    // First gather every occurrence per known field (protobuf allows repeats and any order),
    // then emit in Go struct order.
    let mut occurrences: Vec<Vec<WireValue>> = vec![Vec::new(); message.fields.len()];
    let mut reader = Reader::new(bytes);
    while let Some((number, value)) = reader
        .next_field()
        .map_err(|error| ProtoError::Malformed { message: message.name, error })?
    {
        // Unknown fields are skipped, as Go's generated decoders do.
        if let Some((index, field)) = message.field(number) {
            check_wire_type(message, field, &value)?;
            occurrences[index].push(value);
        }
    }

    let mut out = Map::new();
    for (field, values) in message.fields.iter().zip(&occurrences) {
        if let (Shape::Value, Kind::Inline(inner)) = (field.shape, &field.kind) {
            out.extend(decode_message(inner, &merged(values), depth + 1)?);
        } else if let Some(v) = field_json(message, field, values, depth)? {
            out.insert(field.json.to_string(), v);
        }
    }
    Ok(out)
}

fn check_wire_type(message: &'static Message, field: &'static Field, value: &WireValue) -> Result<(), ProtoError> {
    let found = value.wire_type();
    let expected = match (&field.kind, field.shape) {
        (_, Shape::Map) => 2,
        (Kind::Bool | Kind::Int32 | Kind::Int64, Shape::Repeated) if found == 2 => 2, // packed
        (Kind::Double, Shape::Repeated) if found == 2 => 2,
        (Kind::Bool | Kind::Int32 | Kind::Int64, _) => 0,
        (Kind::Double, _) => 1,
        _ => 2,
    };
    if found == expected {
        Ok(())
    } else {
        Err(invalid(message, field, format!("wire type {found}, expected {expected}")))
    }
}

fn invalid(message: &'static Message, field: &'static Field, detail: impl Into<String>) -> ProtoError {
    ProtoError::InvalidField { message: message.name, field: field.json, number: field.number, detail: detail.into() }
}

/// Several occurrences of one embedded message merge, which on the wire is concatenation.
fn merged<'a>(values: &[WireValue<'a>]) -> Cow<'a, [u8]> {
    match values {
        [] => Cow::Borrowed(&[]),
        [WireValue::Len(b)] => Cow::Borrowed(b),
        many => Cow::Owned(
            many.iter()
                .flat_map(|v| match v {
                    WireValue::Len(b) => b.to_vec(),
                    _ => Vec::new(),
                })
                .collect(),
        ),
    }
}

/// The JSON for one field, or `None` when Go would omit it.
fn field_json(
    message: &'static Message,
    field: &'static Field,
    values: &[WireValue],
    depth: usize,
) -> Result<Option<Value>, ProtoError> {
    let absent = |omitempty: bool| if omitempty { None } else { Some(Value::Null) };
    match field.shape {
        Shape::Repeated => {
            let mut items = Vec::new();
            for value in values {
                match (value, &field.kind) {
                    // Packed numbers: a run of varints (or fixed64s for doubles) in one payload.
                    (WireValue::Len(bytes), Kind::Bool | Kind::Int32 | Kind::Int64 | Kind::Double) => {
                        let mut r = Reader::new(bytes);
                        while !r.is_empty() {
                            let v = if matches!(field.kind, Kind::Double) {
                                WireValue::Fixed64(r.read_fixed64().map_err(|e| invalid(message, field, e.to_string()))?)
                            } else {
                                WireValue::Varint(r.read_varint().map_err(|e| invalid(message, field, e.to_string()))?)
                            };
                            items.push(scalar(message, field, &field.kind, &v, depth)?);
                        }
                    }
                    _ => items.push(scalar(message, field, &field.kind, value, depth)?),
                }
            }
            Ok(if items.is_empty() { absent(field.omitempty) } else { Some(Value::Array(items)) })
        }
        Shape::Map => {
            // Go writes map keys sorted.
            let mut entries = BTreeMap::new();
            for value in values {
                // check_wire_type admitted only length-delimited payloads for a map field.
                let WireValue::Len(entry) = value else {
                    return Err(invalid(message, field, "map entry is not length-delimited"));
                };
                let (key, val) = map_entry(message, field, entry, depth)?;
                entries.insert(key, val); // a repeated key: the last one wins, as in Go
            }
            Ok(if entries.is_empty() {
                absent(field.omitempty)
            } else {
                Some(Value::Object(entries.into_iter().collect()))
            })
        }
        Shape::Pointer => match (&field.kind, values.last()) {
            (_, None) => Ok(absent(field.omitempty)),
            (Kind::Message(_) | Kind::IntOrString | Kind::RawExtension | Kind::FieldsV1, Some(_)) => {
                Ok(Some(scalar(message, field, &field.kind, &WireValue::Len(&merged(values)), depth)?))
            }
            (kind, Some(last)) => Ok(Some(scalar(message, field, kind, last, depth)?)),
        },
        Shape::Value => {
            let value = match (&field.kind, values.last()) {
                // Go's zero values for fields missing from the wire.
                (Kind::String, None) => Value::String(String::new()),
                (Kind::Bool, None) => Value::Bool(false),
                (Kind::Int32 | Kind::Int64 | Kind::IntOrString, None) => Value::from(0),
                (Kind::Double, None) => Value::from(0.0),
                (Kind::Quantity, None) => Value::String("0".into()),
                (Kind::Bytes | Kind::Time | Kind::MicroTime | Kind::RawExtension | Kind::FieldsV1, None) => {
                    return Ok(absent(field.omitempty && matches!(field.kind, Kind::Bytes)))
                }
                // Structs (and the struct-typed specials) merge all occurrences.
                (Kind::Message(_) | Kind::Inline(_) | Kind::IntOrString | Kind::RawExtension | Kind::FieldsV1, _) => {
                    scalar(message, field, &field.kind, &WireValue::Len(&merged(values)), depth)?
                }
                (kind, Some(last)) => scalar(message, field, kind, last, depth)?,
            };
            // omitempty drops zero scalars and empty byte slices; Go never omits a struct.
            let is_struct = matches!(
                field.kind,
                Kind::Message(_) | Kind::Inline(_) | Kind::Quantity | Kind::Time | Kind::MicroTime
                    | Kind::IntOrString | Kind::RawExtension | Kind::FieldsV1
            );
            let zero = match &value {
                Value::String(s) => s.is_empty(),
                Value::Bool(b) => !b,
                Value::Number(n) => n.as_f64() == Some(0.0),
                _ => false,
            };
            Ok(if field.omitempty && !is_struct && zero { None } else { Some(value) })
        }
    }
}

/// One map entry message {key=1, value=2}. A missing value is the value type's zero.
fn map_entry(
    message: &'static Message,
    field: &'static Field,
    entry: &[u8],
    depth: usize,
) -> Result<(String, Value), ProtoError> {
    let (mut key, mut value): (Option<WireValue>, Vec<WireValue>) = (None, Vec::new());
    let mut r = Reader::new(entry);
    while let Some((number, v)) = r.next_field().map_err(|e| invalid(message, field, e.to_string()))? {
        match number {
            1 => key = Some(v),
            2 => value.push(v),
            _ => {}
        }
    }
    let key = match key {
        None => String::new(),
        Some(WireValue::Len(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(v) => return Err(invalid(message, field, format!("map key has wire type {}", v.wire_type()))),
    };
    let expect_varint = matches!(field.kind, Kind::Bool | Kind::Int32 | Kind::Int64);
    let value = match value.last() {
        None => match &field.kind {
            Kind::String => Value::String(String::new()),
            Kind::Bytes => Value::String(String::new()),
            Kind::Quantity => Value::String("0".into()),
            Kind::Message(_) => scalar(message, field, &field.kind, &WireValue::Len(&[]), depth)?,
            _ => Value::from(0),
        },
        Some(v) if (v.wire_type() == 0) != expect_varint => {
            return Err(invalid(message, field, format!("map value has wire type {}", v.wire_type())))
        }
        Some(_) if matches!(field.kind, Kind::Message(_)) => {
            scalar(message, field, &field.kind, &WireValue::Len(&merged(&value)), depth)?
        }
        Some(v) => scalar(message, field, &field.kind, v, depth)?,
    };
    Ok((key, value))
}

/// The JSON of one value of `kind` (an element, a map value, or a single field's payload).
fn scalar(
    message: &'static Message,
    field: &'static Field,
    kind: &Kind,
    value: &WireValue,
    depth: usize,
) -> Result<Value, ProtoError> {
    let bad = |what: &str| invalid(message, field, what.to_string());
    Ok(match (kind, *value) {
        (Kind::String, WireValue::Len(b)) => Value::String(String::from_utf8_lossy(b).into_owned()),
        (Kind::Bytes, WireValue::Len(b)) => Value::String(base64::encode(b)),
        (Kind::Bool, WireValue::Varint(v)) => Value::Bool(v != 0),
        // Go's decoders truncate to 32 bits for int32.
        (Kind::Int32, WireValue::Varint(v)) => Value::from(v as i32),
        (Kind::Int64, WireValue::Varint(v)) => Value::from(v as i64),
        (Kind::Double, WireValue::Fixed64(v)) => {
            let f = f64::from_bits(v);
            // Go's encoding/json refuses NaN and infinities.
            serde_json::Number::from_f64(f).map(Value::Number).ok_or_else(|| bad("not a finite number"))?
        }
        (Kind::Message(inner) | Kind::Inline(inner), WireValue::Len(b)) => {
            Value::Object(decode_message(inner, b, depth + 1)?)
        }
        (Kind::Quantity, WireValue::Len(b)) => quantity(b).map_err(|e| bad(&e))?,
        (Kind::Time, WireValue::Len(b)) => time(b, false).map_err(|e| bad(&e))?,
        (Kind::MicroTime, WireValue::Len(b)) => time(b, true).map_err(|e| bad(&e))?,
        (Kind::IntOrString, WireValue::Len(b)) => int_or_string(b).map_err(|e| bad(&e))?,
        (Kind::RawExtension | Kind::FieldsV1, WireValue::Len(b)) => raw_json(b).map_err(|e| bad(&e))?,
        (_, v) => return Err(bad(&format!("unexpected wire type {}", v.wire_type()))),
    })
}

/// Reads the fields of a small special message (Time, Quantity, …) into number → last value.
fn small_fields<'a>(bytes: &'a [u8]) -> Result<BTreeMap<u32, WireValue<'a>>, String> {
    let mut fields = BTreeMap::new();
    let mut r = Reader::new(bytes);
    while let Some((number, v)) = r.next_field().map_err(|e| e.to_string())? {
        fields.insert(number, v);
    }
    Ok(fields)
}

fn varint_field(fields: &BTreeMap<u32, WireValue>, number: u32) -> Result<u64, String> {
    match fields.get(&number) {
        None => Ok(0),
        Some(WireValue::Varint(v)) => Ok(*v),
        Some(v) => Err(format!("field {number} has wire type {}, expected 0", v.wire_type())),
    }
}

fn string_field(fields: &BTreeMap<u32, WireValue>, number: u32) -> Result<Option<String>, String> {
    match fields.get(&number) {
        None => Ok(None),
        Some(WireValue::Len(b)) => Ok(Some(String::from_utf8_lossy(b).into_owned())),
        Some(v) => Err(format!("field {number} has wire type {}, expected 2", v.wire_type())),
    }
}

/// `resource.Quantity` carries its canonical string, which is also its JSON form. Go parses it on
/// decode; we only reject the empty string (which Go's parser rejects too) and leave full quantity
/// validation to the API server's validation of the JSON object.
fn quantity(bytes: &[u8]) -> Result<Value, String> {
    match string_field(&small_fields(bytes)?, 1)? {
        None => Ok(Value::String("0".into())), // an empty message is the zero quantity
        Some(s) if s.is_empty() => Err("quantity is empty".into()),
        Some(s) => Ok(Value::String(s)),
    }
}

/// `metav1.Time` (whole seconds: Go drops the nanos on decode) or `metav1.MicroTime`
/// (nanos truncated to microseconds). An empty message is the zero time, written as `null`.
fn time(bytes: &[u8], micro: bool) -> Result<Value, String> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    let fields = small_fields(bytes)?;
    let seconds = varint_field(&fields, 1)? as i64;
    let nanos = varint_field(&fields, 2)? as i32;
    let micros = if micro { i64::from(nanos) / 1000 } else { 0 };
    if seconds == GO_ZERO_TIME_UNIX && micros == 0 {
        return Ok(Value::Null);
    }
    // Normalise negative or oversized nanos the way Go's time.Unix does.
    let total_micros = i128::from(seconds) * 1_000_000 + i128::from(micros);
    let (secs, sub_micros) = (total_micros.div_euclid(1_000_000), total_micros.rem_euclid(1_000_000));
    let t = i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, (sub_micros * 1000) as u32))
        .ok_or_else(|| format!("time {seconds}s is out of range"))?;
    use chrono::{Datelike, Timelike};
    // Go's RFC 3339 layout pads the year to four digits and has no sign; beyond that it is not RFC 3339.
    if !(0..=9999).contains(&t.year()) {
        return Err(format!("time {seconds}s is outside years 0000-9999"));
    }
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(), t.month(), t.day(), t.hour(), t.minute(), t.second()
    );
    if micro {
        s.push_str(&format!(".{:06}", sub_micros));
    }
    s.push('Z');
    Ok(Value::String(s))
}

fn int_or_string(bytes: &[u8]) -> Result<Value, String> {
    let fields = small_fields(bytes)?;
    match varint_field(&fields, 1)? as i64 {
        0 => Ok(Value::from(varint_field(&fields, 2)? as i32)),
        1 => Ok(Value::String(string_field(&fields, 3)?.unwrap_or_default())),
        other => Err(format!("IntOrString type {other} is neither 0 (int) nor 1 (string)")),
    }
}

/// `runtime.RawExtension` / `metav1.FieldsV1`: the raw bytes are JSON and are written verbatim.
fn raw_json(bytes: &[u8]) -> Result<Value, String> {
    match string_field_bytes(&small_fields(bytes)?)? {
        None => Ok(Value::Null),
        Some([]) => Ok(Value::Null),
        Some(b) => serde_json::from_slice(b).map_err(|e| format!("embedded object is not JSON: {e}")),
    }
}

fn string_field_bytes<'a>(fields: &BTreeMap<u32, WireValue<'a>>) -> Result<Option<&'a [u8]>, String> {
    match fields.get(&1) {
        None => Ok(None),
        Some(WireValue::Len(b)) => Ok(Some(b)),
        Some(v) => Err(format!("field 1 has wire type {}, expected 2", v.wire_type())),
    }
}
