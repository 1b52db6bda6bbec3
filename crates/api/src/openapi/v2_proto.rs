//! `/openapi/v2` in the protobuf form kubectl asks for
//! (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`): the swagger document
//! encoded as gnostic's `openapi.v2.Document` message. kubectl validates `kind: List` files
//! client-side against this document, so it must parse; only `swagger`, `info` and
//! `definitions` are encoded, which is all kubectl's model reader looks at.

use serde_json::Value;

/// Field numbers from gnostic's `OpenAPIv2.proto`.
mod field {
    pub const DOC_SWAGGER: u32 = 1;
    pub const DOC_INFO: u32 = 2;
    pub const DOC_DEFINITIONS: u32 = 9;
    pub const INFO_TITLE: u32 = 1;
    pub const INFO_VERSION: u32 = 2;
    pub const NAMED_NAME: u32 = 1;
    pub const NAMED_VALUE: u32 = 2;
    pub const ANY_YAML: u32 = 2;
    pub const SCHEMA_REF: u32 = 1;
    pub const SCHEMA_FORMAT: u32 = 2;
    pub const SCHEMA_TITLE: u32 = 3;
    pub const SCHEMA_DESCRIPTION: u32 = 4;
    pub const SCHEMA_MAXIMUM: u32 = 7;
    pub const SCHEMA_EXCLUSIVE_MAXIMUM: u32 = 8;
    pub const SCHEMA_MINIMUM: u32 = 9;
    pub const SCHEMA_EXCLUSIVE_MINIMUM: u32 = 10;
    pub const SCHEMA_MAX_LENGTH: u32 = 11;
    pub const SCHEMA_MIN_LENGTH: u32 = 12;
    pub const SCHEMA_PATTERN: u32 = 13;
    pub const SCHEMA_MAX_ITEMS: u32 = 14;
    pub const SCHEMA_MIN_ITEMS: u32 = 15;
    pub const SCHEMA_UNIQUE_ITEMS: u32 = 16;
    pub const SCHEMA_MAX_PROPERTIES: u32 = 17;
    pub const SCHEMA_MIN_PROPERTIES: u32 = 18;
    pub const SCHEMA_REQUIRED: u32 = 19;
    pub const SCHEMA_ENUM: u32 = 20;
    pub const SCHEMA_ADDITIONAL_PROPERTIES: u32 = 21;
    pub const SCHEMA_TYPE: u32 = 22;
    pub const SCHEMA_ITEMS: u32 = 23;
    pub const SCHEMA_ALL_OF: u32 = 24;
    pub const SCHEMA_PROPERTIES: u32 = 25;
    pub const SCHEMA_READ_ONLY: u32 = 27;
    pub const SCHEMA_VENDOR_EXTENSION: u32 = 31;
    pub const ADDITIONAL_SCHEMA: u32 = 1;
    pub const ADDITIONAL_BOOLEAN: u32 = 2;
    pub const REPEATED_VALUE: u32 = 1;
}

#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn key(&mut self, field: u32, wire: u8) {
        self.varint(((field as u64) << 3) | wire as u64);
    }
    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }
    fn message(&mut self, field: u32, m: Writer) {
        self.bytes(field, &m.0);
    }
    fn boolean(&mut self, field: u32, b: bool) {
        if b {
            self.key(field, 0);
            self.varint(1);
        }
    }
    fn int64(&mut self, field: u32, v: i64) {
        if v != 0 {
            self.key(field, 0);
            self.varint(v as u64);
        }
    }
    fn double(&mut self, field: u32, v: f64) {
        if v != 0.0 {
            self.key(field, 1);
            self.0.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// gnostic's `Any`: arbitrary JSON carried as YAML text (JSON is YAML).
fn any(v: &Value) -> Writer {
    let mut w = Writer::default();
    w.string(field::ANY_YAML, &format!("{v}\n"));
    w
}

fn schema(s: &Value) -> Writer {
    use field::*;
    let mut w = Writer::default();
    let Some(o) = s.as_object() else { return w };
    let str_of = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("");
    w.string(SCHEMA_REF, str_of("$ref"));
    w.string(SCHEMA_FORMAT, str_of("format"));
    w.string(SCHEMA_TITLE, str_of("title"));
    w.string(SCHEMA_DESCRIPTION, str_of("description"));
    let f = |k: &str| o.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let i = |k: &str| o.get(k).and_then(Value::as_i64).unwrap_or(0);
    let b = |k: &str| o.get(k).and_then(Value::as_bool).unwrap_or(false);
    w.double(SCHEMA_MAXIMUM, f("maximum"));
    w.boolean(SCHEMA_EXCLUSIVE_MAXIMUM, b("exclusiveMaximum"));
    w.double(SCHEMA_MINIMUM, f("minimum"));
    w.boolean(SCHEMA_EXCLUSIVE_MINIMUM, b("exclusiveMinimum"));
    w.int64(SCHEMA_MAX_LENGTH, i("maxLength"));
    w.int64(SCHEMA_MIN_LENGTH, i("minLength"));
    w.string(SCHEMA_PATTERN, str_of("pattern"));
    w.int64(SCHEMA_MAX_ITEMS, i("maxItems"));
    w.int64(SCHEMA_MIN_ITEMS, i("minItems"));
    w.boolean(SCHEMA_UNIQUE_ITEMS, b("uniqueItems"));
    w.int64(SCHEMA_MAX_PROPERTIES, i("maxProperties"));
    w.int64(SCHEMA_MIN_PROPERTIES, i("minProperties"));
    for r in o.get("required").and_then(Value::as_array).into_iter().flatten() {
        w.string(SCHEMA_REQUIRED, r.as_str().unwrap_or(""));
    }
    for e in o.get("enum").and_then(Value::as_array).into_iter().flatten() {
        w.message(SCHEMA_ENUM, any(e));
    }
    match o.get("additionalProperties") {
        Some(Value::Bool(v)) => {
            let mut a = Writer::default();
            a.key(ADDITIONAL_BOOLEAN, 0);
            a.varint(*v as u64);
            w.message(SCHEMA_ADDITIONAL_PROPERTIES, a);
        }
        Some(v @ Value::Object(_)) => {
            let mut a = Writer::default();
            a.message(ADDITIONAL_SCHEMA, schema(v));
            w.message(SCHEMA_ADDITIONAL_PROPERTIES, a);
        }
        _ => {}
    }
    let types: Vec<&str> = match o.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !types.is_empty() {
        let mut t = Writer::default();
        for ty in types {
            t.string(REPEATED_VALUE, ty);
        }
        w.message(SCHEMA_TYPE, t);
    }
    match o.get("items") {
        Some(v @ Value::Object(_)) => {
            let mut it = Writer::default();
            it.message(REPEATED_VALUE, schema(v));
            w.message(SCHEMA_ITEMS, it);
        }
        Some(Value::Array(vs)) => {
            let mut it = Writer::default();
            for v in vs {
                it.message(REPEATED_VALUE, schema(v));
            }
            w.message(SCHEMA_ITEMS, it);
        }
        _ => {}
    }
    for a in o.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        w.message(SCHEMA_ALL_OF, schema(a));
    }
    if let Some(props) = o.get("properties").and_then(Value::as_object) {
        w.message(SCHEMA_PROPERTIES, named_schemas(props));
    }
    w.boolean(SCHEMA_READ_ONLY, b("readOnly"));
    for (k, v) in o.iter().filter(|(k, _)| k.starts_with("x-")) {
        let mut n = Writer::default();
        n.string(NAMED_NAME, k);
        n.message(NAMED_VALUE, any(v));
        w.message(SCHEMA_VENDOR_EXTENSION, n);
    }
    w
}

/// A map of schemas as gnostic's repeated `NamedSchema` (used by Properties and Definitions).
fn named_schemas(m: &serde_json::Map<String, Value>) -> Writer {
    let mut w = Writer::default();
    for (name, s) in m {
        let mut n = Writer::default();
        n.string(field::NAMED_NAME, name);
        n.message(field::NAMED_VALUE, schema(s));
        w.message(field::REPEATED_VALUE, n);
    }
    w
}

/// Encode a swagger 2.0 JSON document as `openapi.v2.Document`.
pub(crate) fn encode(doc: &Value) -> Vec<u8> {
    let mut w = Writer::default();
    w.string(field::DOC_SWAGGER, doc.get("swagger").and_then(Value::as_str).unwrap_or("2.0"));
    let mut info = Writer::default();
    info.string(field::INFO_TITLE, doc.pointer("/info/title").and_then(Value::as_str).unwrap_or("Kubernetes"));
    info.string(field::INFO_VERSION, doc.pointer("/info/version").and_then(Value::as_str).unwrap_or(""));
    w.message(field::DOC_INFO, info);
    if let Some(defs) = doc.get("definitions").and_then(Value::as_object) {
        w.message(field::DOC_DEFINITIONS, named_schemas(defs));
    }
    w.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn varints_and_nested_messages_encode_as_protobuf() {
        let doc = json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.33.0"},
            "definitions": {"a.B": {"type": "object", "required": ["x"], "properties": {"x": {"type": "string"}}}}});
        let bytes = encode(&doc);
        // field 1, wire type 2, length 3, "2.0"
        assert_eq!(&bytes[..5], &[0x0a, 3, b'2', b'.', b'0']);
        assert!(bytes.windows(3).any(|w| w == b"a.B"));
        let mut w = Writer::default();
        w.varint(300);
        assert_eq!(w.0, vec![0xac, 0x02]);
    }
}
