//! The bytes Go's `encoding/json` writes for a generic `map[string]interface{}` value.
//!
//! Upstream hashes a ControllerRevision's `data` as raw bytes and compares revisions with
//! `bytes.Equal`, so berth must reproduce those bytes exactly to get the same revision names
//! (`web-7b8f6c9d4`) and to recognise a rollback as "equal to an older revision". The patch is
//! built by `json.Unmarshal` into `interface{}` and re-marshalled, which fixes the shape:
//! - object keys sorted bytewise (Go sorts map keys),
//! - strings HTML-safe escaped: `<`, `>`, `&` as `\u003c`, `\u003e`, `\u0026`, U+2028/U+2029 as
//!   `\u2028`/`\u2029`, control characters as `\n`, `\r`, `\t`, `\b`, `\f` or `\u00XX`
//!   (lower-case hex), everything else raw UTF-8,
//! - numbers went through `float64`: integers print plainly, fractions in shortest form,
//!   exponent form only below 1e-6 or from 1e21 (as `strconv.FormatFloat(f, 'e', -1, 64)` with
//!   Go's exponent clean-up),
//! - no whitespace.

use serde_json::Value;

/// Encode `v` as Go's `json.Marshal` would encode the same value held in an `interface{}`.
pub fn marshal(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, k);
                out.push(b':');
                write_value(out, &map[k.as_str()]);
            }
            out.push(b'}');
        }
    }
}

fn write_number(out: &mut Vec<u8>, n: &serde_json::Number) {
    // Integers that a float64 holds exactly print the same either way; beyond 2^53 Go would
    // already have lost precision when decoding, which no real pod template reaches.
    if let Some(i) = n.as_i64() {
        out.extend_from_slice(i.to_string().as_bytes());
        return;
    }
    if let Some(u) = n.as_u64() {
        out.extend_from_slice(u.to_string().as_bytes());
        return;
    }
    let f = n.as_f64().unwrap_or(0.0);
    out.extend_from_slice(format_float(f).as_bytes());
}

/// Go's `floatEncoder` for float64: `'f'` format with the shortest representation, switching
/// to `'e'` for magnitudes below 1e-6 or at least 1e21, where `e-07` is cleaned to `e-7`.
fn format_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust's `{:e}` is shortest-roundtrip like Go's -1 precision, but writes `1e-7` where Go
        // writes `1e-07`, which Go's encoder then cleans back to `1e-7`; and Rust omits `+`.
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((mant, exp)) if !exp.starts_with('-') => format!("{mant}e+{exp}"),
            _ => s,
        }
    } else {
        // Display for f64 is the shortest representation that round-trips, without exponent.
        let s = format!("{f}");
        if s == "-0" {
            "-0".to_string()
        } else {
            s
        }
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for ch in s.chars() {
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '<' | '>' | '&' | '\u{0}'..='\u{1f}' => {
                let b = ch as u32 as u8;
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
            '\u{2028}' => out.extend_from_slice(b"\\u2028"),
            '\u{2029}' => out.extend_from_slice(b"\\u2029"),
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(v: Value) -> String {
        String::from_utf8(marshal(&v)).unwrap()
    }

    #[test]
    fn sorts_keys_bytewise_and_writes_no_whitespace() {
        let v = json!({"spec": {"b": 1, "$patch": "replace", "B": [true, null], "a": {}}});
        assert_eq!(enc(v), r#"{"spec":{"$patch":"replace","B":[true,null],"a":{},"b":1}}"#);
    }

    #[test]
    fn escapes_like_go_with_html_escaping() {
        let v = json!("a<b>&\"\\\n\r\t\u{8}\u{c}\u{1}\u{2028}é");
        assert_eq!(enc(v), r#""a\u003cb\u003e\u0026\"\\\n\r\t\b\f\u0001\u2028é""#);
    }

    #[test]
    fn numbers_print_as_go_float64() {
        assert_eq!(enc(json!(30)), "30");
        assert_eq!(enc(json!(-5)), "-5");
        assert_eq!(enc(json!(0.5)), "0.5");
        assert_eq!(enc(json!(1e21)), "1e+21");
        assert_eq!(enc(json!(1e-7)), "1e-7");
        assert_eq!(enc(json!(123456.25)), "123456.25");
    }
}
