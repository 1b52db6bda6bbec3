//! Errors of strategic merge patch. Messages follow upstream's `mergepatch` / `strategicpatch`
//! wording where upstream has one, so kubectl users see familiar text.

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The patch (or the stored object) is not a JSON object.
    #[error("invalid JSON document")]
    BadJsonDoc,
    #[error("lists of lists are not supported")]
    NoListOfLists,
    #[error("invalid patch format of primitive list")]
    BadPatchFormatForPrimitiveList,
    #[error("invalid patch format of retainKeys")]
    BadPatchFormatForRetainKeys,
    #[error("invalid patch format of setElementOrder list")]
    BadPatchFormatForSetElementOrderList,
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey { map: String, key: String },
    /// `$patch` with a value other than `replace` / `delete` in a map, or other than
    /// `replace` / `delete` / `merge` in a list element.
    #[error("unknown patch type: {directive} in map: {map}")]
    BadPatchType { directive: String, map: String },
    /// `{"$patch": "merge"}` as a list element, which upstream rejects.
    #[error("merging lists cannot yet be specified in the patch")]
    MergeDirectiveInList,
    #[error("cannot merge lists without merge key for type map")]
    MissingMergeKeyInSchema,
    /// A `$`-prefixed key that is none of `$patch`, `$retainKeys`, `$setElementOrder/…`,
    /// `$deleteFromPrimitiveList/…`.
    #[error("unknown strategic merge patch directive {key:?} in {path}")]
    UnknownDirective { key: String, path: String },
    #[error("The order in patch list:\n{patch}\n doesn't match $setElementOrder list:\n{order}\n")]
    SetElementOrderMismatch { patch: String, order: String },
    #[error("list element types are not identical: {0}")]
    ElementTypesDiffer(String),
    /// A value whose JSON type contradicts the schema, e.g. an object for a list-typed field.
    #[error("{path}: expected {expected}, but received {actual}")]
    TypeMismatch { path: String, expected: &'static str, actual: &'static str },
    /// The patched object names another `apiVersion` or `kind` than the stored one.
    #[error("patch may not change {field} from {from:?} to {to:?}")]
    TypeChanged { field: &'static str, from: String, to: String },
    /// The caller asked for a root definition the schema graph does not contain (a bug in the
    /// caller, not in the request).
    #[error("no schema for OpenAPI definition {0:?}")]
    UnknownDefinition(String),
}

impl PatchError {
    /// The HTTP status upstream's API server answers with for this error: 422 for the
    /// errors upstream maps to Unprocessable Entity, 500 for a caller bug, 400 otherwise.
    pub fn status_code(&self) -> u16 {
        match self {
            PatchError::NoListOfLists => 422,
            PatchError::UnknownDefinition(_) => 500,
            _ => 400,
        }
    }
}

/// Compact JSON for error messages (upstream prints Go's `%v` of the map).
pub(crate) fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The JSON type name of `v`, for [`PatchError::TypeMismatch`].
pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}
