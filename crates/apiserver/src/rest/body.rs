//! Decoding request bodies and the checks every write makes on them.

use axum::http::{header, HeaderMap};
use berth_api::{ResourceInfo, StatusError};
use serde_json::Value;

use crate::request::FieldValidation;

/// The request's media type without parameters; a missing header means JSON (the Python
/// client sends none).
pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "application/json".to_string())
}

/// Parse a JSON or YAML object body.
pub fn parse_object(headers: &HeaderMap, body: &[u8]) -> Result<Value, StatusError> {
    let ct = content_type(headers);
    let v: Value = match ct.as_str() {
        "application/json" | "*/*" | "text/plain" => serde_json::from_slice(body)
            .map_err(|e| StatusError::bad_request(format!("couldn't get version/kind; json parse error: {e}")))?,
        // kubectl's typed clients (`kubectl create namespace|configmap|secret|…`) send protobuf.
        berth_api::protobuf::MEDIA_TYPE => berth_api::protobuf::decode(body)
            .map_err(|e| StatusError::bad_request(format!("error decoding protobuf request body: {e}")))?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => serde_yaml_ng::from_slice(body)
            .map_err(|e| StatusError::bad_request(format!("error converting YAML to JSON: {e}")))?,
        other => return Err(StatusError::unsupported_media_type(other)),
    };
    if !v.is_object() {
        return Err(StatusError::bad_request("the body of the request must be a JSON object"));
    }
    Ok(v)
}

/// Fill `apiVersion`/`kind` from the URL when a client left them out, and refuse a body of
/// another type.
pub fn check_type_meta(info: &ResourceInfo, obj: &mut Value, expected_kind: &str, expected_api_version: &str) -> Result<(), StatusError> {
    let o = obj.as_object_mut().expect("parse_object returns objects");
    match o.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            o.insert("apiVersion".into(), Value::String(expected_api_version.to_string()));
        }
        Some(v) if v == expected_api_version => {}
        Some(v) => {
            return Err(StatusError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({expected_api_version})"
            )))
        }
    }
    match o.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            o.insert("kind".into(), Value::String(expected_kind.to_string()));
        }
        Some(k) if k == expected_kind => {}
        Some(k) => {
            return Err(StatusError::bad_request(format!(
                "{k} in version {expected_api_version:?} cannot be handled as a {expected_kind}: the kind in the data does not match the expected kind for {}",
                info.plural
            )))
        }
    }
    Ok(())
}

/// Unknown and duplicate fields: an error under `Strict`, warnings under `Warn`. Under `Warn`
/// and `Ignore` the unknown fields are dropped from `obj`, as upstream's decoder does.
pub fn field_validation(
    info: &ResourceInfo,
    mode: FieldValidation,
    obj: &mut Value,
    raw: Option<&[u8]>,
    whole_object: bool,
) -> Result<Vec<String>, StatusError> {
    // One schema round trip per request: the same paths are reported and stripped.
    let unknown = berth_api::validation::unknown_fields(info.group, info.kind, obj);
    if mode != FieldValidation::Strict {
        for path in &unknown {
            remove_path(obj, path);
        }
    }
    if mode == FieldValidation::Ignore {
        return Ok(Vec::new());
    }
    let mut problems: Vec<String> = Vec::new();
    if let Some(raw) = raw {
        problems.extend(berth_api::validation::duplicate_fields(raw).into_iter().map(|f| format!("duplicate field {f:?}")));
    }
    problems.extend(unknown.into_iter().map(|f| format!("unknown field {f:?}")));
    if problems.is_empty() {
        return Ok(Vec::new());
    }
    match mode {
        // upstream prefixes decoding errors of a whole object with the type it was decoded as.
        FieldValidation::Strict if whole_object => Err(StatusError::bad_request(format!(
            "{kind} in version {version:?} cannot be handled as a {kind}: strict decoding error: {}",
            problems.join(", "),
            kind = info.kind,
            version = info.version
        ))),
        FieldValidation::Strict => Err(StatusError::bad_request(format!("strict decoding error: {}", problems.join(", ")))),
        _ => Ok(problems),
    }
}

/// Remove a dotted path such as `spec.template.spec.containers[0].imagee`.
fn remove_path(obj: &mut Value, path: &str) {
    let mut parts: Vec<String> = Vec::new();
    for seg in path.split('.') {
        let mut rest = seg;
        while let Some(i) = rest.find('[') {
            if i > 0 {
                parts.push(rest[..i].to_string());
            }
            let end = rest[i..].find(']').map(|e| i + e).unwrap_or(rest.len() - 1);
            parts.push(rest[i..=end].to_string());
            rest = &rest[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(rest.to_string());
        }
    }
    let Some((last, parents)) = parts.split_last() else { return };
    let mut cur = obj;
    for p in parents {
        let next = if let Some(idx) = p.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            idx.parse::<usize>().ok().and_then(|i| cur.get_mut(i))
        } else {
            cur.get_mut(p.as_str())
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let Some(o) = cur.as_object_mut() {
        o.remove(last.as_str());
    }
}

/// The raw body when it is JSON, for duplicate-field detection (other encodings cannot carry
/// duplicate keys the way JSON can).
pub fn json_raw<'a>(headers: &HeaderMap, body: &'a [u8]) -> Option<&'a [u8]> {
    matches!(content_type(headers).as_str(), "application/json" | "*/*" | "text/plain").then_some(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn removes_nested_unknown_paths() {
        let mut o = json!({"spec": {"foo": 1, "template": {"spec": {"containers": [{"name": "c", "imagee": "x"}]}}}});
        remove_path(&mut o, "spec.foo");
        remove_path(&mut o, "spec.template.spec.containers[0].imagee");
        assert_eq!(o, json!({"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}));
    }
}
