//! Errors in the shapes upstream returns: field errors (`k8s.io/apimachinery/pkg/util/validation/field`)
//! and `Status` objects (`k8s.io/apimachinery/pkg/api/errors`), so kubectl prints the same lines.

use serde_json::{json, Value};

/// Kind of a field error; `as_str` is upstream's `ErrorType.String()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorType {
    NotFound,
    Required,
    Duplicate,
    Invalid,
    NotSupported,
    Forbidden,
    TooLong,
    TooMany,
    Internal,
    TypeInvalid,
}

impl FieldErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "Not found",
            Self::Required => "Required value",
            Self::Duplicate => "Duplicate value",
            Self::Invalid => "Invalid value",
            Self::NotSupported => "Unsupported value",
            Self::Forbidden => "Forbidden",
            Self::TooLong => "Too long",
            Self::TooMany => "Too many",
            Self::Internal => "Internal error",
            Self::TypeInvalid => "Invalid value",
        }
    }
    /// `metav1.CauseType` used in `details.causes[].reason`.
    pub fn cause_type(self) -> &'static str {
        match self {
            Self::NotFound => "FieldValueNotFound",
            Self::Required => "FieldValueRequired",
            Self::Duplicate => "FieldValueDuplicate",
            Self::Invalid => "FieldValueInvalid",
            Self::NotSupported => "FieldValueNotSupported",
            Self::Forbidden => "FieldValueForbidden",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::Internal => "InternalError",
            Self::TypeInvalid => "FieldValueTypeInvalid",
        }
    }
}

/// One validation failure at a field path such as `spec.template.metadata.labels`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub kind: FieldErrorType,
    pub field: String,
    /// The offending value; `None` = omitted from the message (upstream's `omitValue`).
    pub bad_value: Option<Value>,
    pub detail: String,
}

impl FieldError {
    fn new(kind: FieldErrorType, field: impl Into<String>, bad_value: Option<Value>, detail: impl Into<String>) -> Self {
        FieldError { kind, field: field.into(), bad_value, detail: detail.into() }
    }
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorType::Required, field, None, detail)
    }
    pub fn invalid(field: impl Into<String>, value: impl Into<Value>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorType::Invalid, field, Some(value.into()), detail)
    }
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorType::Forbidden, field, None, detail)
    }
    pub fn duplicate(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(FieldErrorType::Duplicate, field, Some(value.into()), "")
    }
    pub fn not_found(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(FieldErrorType::NotFound, field, Some(value.into()), "")
    }
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        Self::new(FieldErrorType::TooLong, field, None, format!("must have at most {max} bytes"))
    }
    /// `field.NotSupported`: detail lists the supported values, quoted, as upstream does.
    pub fn not_supported(field: impl Into<String>, value: impl Into<Value>, supported: &[&str]) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(FieldErrorType::NotSupported, field, Some(value.into()), detail)
    }

    /// Upstream's `ErrorBody()`: the message without the field path.
    pub fn body(&self) -> String {
        let mut s = match (&self.kind, &self.bad_value) {
            (FieldErrorType::Required | FieldErrorType::Forbidden | FieldErrorType::TooLong | FieldErrorType::Internal, _)
            | (_, None) => self.kind.as_str().to_string(),
            (_, Some(v)) => format!("{}: {}", self.kind.as_str(), go_value(v)),
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// Render a bad value the way Go's `%q` / `%v` / `%#v` would in the common cases.
fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// An API error that becomes a `Status` response.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// `details` object, if any.
    pub details: Option<Value>,
}

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for StatusError {}

fn details(name: &str, group: &str, kind: &str) -> Value {
    let mut d = serde_json::Map::new();
    if !name.is_empty() {
        d.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        d.insert("group".into(), json!(group));
    }
    d.insert("kind".into(), json!(kind));
    Value::Object(d)
}

fn quoted_resource(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

impl StatusError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        StatusError { code, reason, message: message.into(), details: None }
    }
    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        StatusError {
            code: 404,
            reason: "NotFound",
            message: format!("{} {name:?} not found", quoted_resource(group, plural)),
            details: Some(details(name, group, plural)),
        }
    }
    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        StatusError {
            code: 409,
            reason: "AlreadyExists",
            message: format!("{} {name:?} already exists", quoted_resource(group, plural)),
            details: Some(details(name, group, plural)),
        }
    }
    /// Optimistic-concurrency failure, upstream's `NewConflict(…, OptimisticLockErrorMsg)`.
    pub fn conflict(group: &str, plural: &str, name: &str, why: &str) -> Self {
        StatusError {
            code: 409,
            reason: "Conflict",
            message: format!("Operation cannot be fulfilled on {} {name:?}: {why}", quoted_resource(group, plural)),
            details: Some(details(name, group, plural)),
        }
    }
    pub const OPTIMISTIC_LOCK: &'static str =
        "the object has been modified; please apply your changes to the latest version and try again";

    /// 422 Invalid with one cause per field error (`errors.NewInvalid`).
    pub fn invalid(group: &str, kind: &str, name: &str, errs: &[FieldError]) -> Self {
        let qualified = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
        let aggregate = if errs.len() == 1 {
            errs[0].to_string()
        } else {
            format!("[{}]", errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", "))
        };
        let causes: Vec<Value> = errs
            .iter()
            .map(|e| json!({"reason": e.kind.cause_type(), "message": e.body(), "field": e.field}))
            .collect();
        let mut d = details(name, group, kind);
        d["causes"] = Value::Array(causes);
        StatusError {
            code: 422,
            reason: "Invalid",
            message: format!("{qualified} {name:?} is invalid: {aggregate}"),
            details: Some(d),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }
    pub fn forbidden(group: &str, plural: &str, name: &str, why: &str) -> Self {
        let subject = if name.is_empty() {
            quoted_resource(group, plural)
        } else {
            format!("{} {name:?}", quoted_resource(group, plural))
        };
        StatusError {
            code: 403,
            reason: "Forbidden",
            message: format!("{subject} is forbidden: {why}"),
            details: Some(details(name, group, plural)),
        }
    }
    pub fn method_not_supported(group: &str, plural: &str, verb: &str) -> Self {
        StatusError {
            code: 405,
            reason: "MethodNotAllowed",
            message: format!("{verb} is not supported on resources of kind {:?}", quoted_resource(group, plural)),
            details: Some(details("", group, plural)),
        }
    }
    /// 410 Gone for a watch or list from a compacted revision.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", format!("Internal error occurred: {}", message.into()))
    }
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json; got {content_type:?}"))
    }
    pub fn not_acceptable() -> Self {
        Self::new(406, "NotAcceptable", "only the following media types are accepted: application/json, application/yaml")
    }
    pub fn path_not_found() -> Self {
        Self::new(404, "NotFound", "the server could not find the requested resource")
    }

    /// The `Status` object sent on the wire.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_message_matches_upstream() {
        let e = StatusError::invalid(
            "apps",
            "StatefulSet",
            "web",
            &[FieldError::forbidden("spec", "updates to statefulset spec for fields other than 'replicas' are forbidden")],
        );
        assert_eq!(
            e.message,
            "StatefulSet.apps \"web\" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas' are forbidden"
        );
        assert_eq!(e.to_status()["details"]["causes"][0]["reason"], "FieldValueForbidden");
    }

    #[test]
    fn invalid_value_is_quoted_like_go() {
        let e = FieldError::invalid("metadata.name", "Web_1", "a lowercase RFC 1123 subdomain must consist of …");
        assert_eq!(e.to_string(), "metadata.name: Invalid value: \"Web_1\": a lowercase RFC 1123 subdomain must consist of …");
        let two = StatusError::invalid("", "Pod", "p", &[FieldError::required("spec.containers", ""), e]);
        assert!(two.message.starts_with("Pod \"p\" is invalid: [spec.containers: Required value, metadata.name"));
    }

    #[test]
    fn not_found_and_conflict() {
        assert_eq!(StatusError::not_found("", "pods", "web-0").message, "pods \"web-0\" not found");
        assert_eq!(
            StatusError::conflict("apps", "statefulsets", "web", StatusError::OPTIMISTIC_LOCK).message,
            "Operation cannot be fulfilled on statefulsets.apps \"web\": the object has been modified; please apply your changes to the latest version and try again"
        );
    }
}
