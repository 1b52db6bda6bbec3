//! Small helpers shared by the per-kind validators: field paths in upstream's
//! `field.Path` format, Go-zero-value accessors over `serde_json::Value`, and the
//! JSON rendering upstream uses for non-scalar bad values.

use serde_json::{Map, Value};

use crate::errors::{FieldError, FieldErrorType};

/// A field path printed like upstream's `field.Path`: `spec.containers[0].name`,
/// map keys as `data[key]` (no quotes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path(String);

impl Path {
    pub fn new(root: &str) -> Self {
        Path(root.to_string())
    }
    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Path(name.to_string())
        } else {
            Path(format!("{}.{}", self.0, name))
        }
    }
    pub fn index(&self, i: usize) -> Self {
        Path(format!("{}[{}]", self.0, i))
    }
    pub fn key(&self, k: &str) -> Self {
        Path(format!("{}[{}]", self.0, k))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub type Errs = Vec<FieldError>;

// ---- accessors with Go zero-value semantics (missing/null == zero) ----

pub fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

pub fn opt_s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

pub fn i64_or(v: &Value, key: &str, dflt: i64) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or(dflt)
}

pub fn opt_i64(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

pub fn bool_of(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

pub fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

pub fn obj<'a>(v: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
    v.get(key).and_then(Value::as_object)
}

/// A `map[string]string` field as key-sorted pairs. Go iterates maps in random
/// order; sorting keeps our error lists deterministic.
pub fn str_map(v: &Value, key: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = obj(v, key)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// `json.Marshal(map[string]string)`: keys sorted; a nil map is `null`.
pub fn sorted_map_value(v: &Value, key: &str) -> Value {
    match obj(v, key) {
        None => Value::Null,
        Some(m) => sorted_object(m),
    }
}

/// Copy of an object with keys sorted recursively, as Go's `json.Marshal` prints maps.
pub fn sorted_object(m: &Map<String, Value>) -> Value {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    let mut out = Map::new();
    for k in keys {
        out.insert(k.clone(), m[k].clone());
    }
    Value::Object(out)
}

/// Drop JSON nulls, empty arrays and empty objects recursively: upstream's semantic
/// equality treats nil and empty slices/maps alike, and unset pointers are omitted.
pub fn normalized(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                let n = normalized(x);
                if !is_empty_like(&n) {
                    out.insert(k.clone(), n);
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(normalized).collect()),
        other => other.clone(),
    }
}

fn is_empty_like(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// Semantic equality of two JSON fragments (see [`normalized`]); object key order is irrelevant.
pub fn sem_eq(a: Option<&Value>, b: Option<&Value>) -> bool {
    let na = a.map(normalized).filter(|v| !is_empty_like(v));
    let nb = b.map(normalized).filter(|v| !is_empty_like(v));
    na == nb
}

// ---- error constructors not covered by errors.rs ----

pub fn invalid(p: &Path, value: impl Into<Value>, detail: impl Into<String>) -> FieldError {
    FieldError::invalid(p.as_str(), value, detail)
}

pub fn required(p: &Path, detail: &str) -> FieldError {
    FieldError::required(p.as_str(), detail)
}

pub fn forbidden(p: &Path, detail: impl Into<String>) -> FieldError {
    FieldError::forbidden(p.as_str(), detail)
}

pub fn duplicate(p: &Path, value: impl Into<Value>) -> FieldError {
    FieldError::duplicate(p.as_str(), value)
}

pub fn not_found(p: &Path, value: impl Into<Value>) -> FieldError {
    FieldError::not_found(p.as_str(), value)
}

pub fn not_supported(p: &Path, value: impl Into<Value>, supported: &[&str]) -> FieldError {
    FieldError::not_supported(p.as_str(), value, supported)
}

/// `field.Invalid` whose bad value is an int64 (rendered bare).
pub fn invalid_num(p: &Path, n: i64, detail: impl Into<String>) -> FieldError {
    FieldError::invalid(p.as_str(), Value::from(n), detail)
}

/// Upstream's `ValidateNonnegativeField`.
pub fn nonnegative(n: i64, p: &Path) -> Option<FieldError> {
    (n < 0).then(|| invalid_num(p, n, "must be greater than or equal to 0"))
}

/// `field.TooMany` (actual count shown as the bad value).
pub fn too_many(p: &Path, actual: usize, max: usize) -> FieldError {
    FieldError {
        kind: FieldErrorType::TooMany,
        field: p.as_str().to_string(),
        bad_value: Some(Value::from(actual as u64)),
        detail: format!("must have at most {max} items"),
    }
}

/// Upstream's `ValidateImmutableField`: `Invalid value: <new>: field is immutable`.
pub fn immutable(new: Option<&Value>, old: Option<&Value>, p: &Path) -> Option<FieldError> {
    if sem_eq(new, old) {
        return None;
    }
    Some(invalid(p, new.cloned().unwrap_or(Value::Null), "field is immutable"))
}
