//! Decoding of Kubernetes protobuf request bodies into the object's JSON form.
//!
//! kubectl's typed clients (`kubectl create namespace|configmap|secret|serviceaccount|service|token|
//! deployment …`) send `Content-Type: application/vnd.kubernetes.protobuf`. berth works on JSON, so
//! [`decode`] turns such a body into exactly the JSON kubectl would have sent for the same object:
//! the JSON that Go's encoding/json writes for the Go struct the protobuf decodes into.
//!
//! The body is the 4-byte magic `k8s\0` followed by a `runtime.Unknown` envelope
//! {typeMeta=1 {apiVersion=1, kind=2}, raw=2, contentEncoding=3, contentType=4}; `raw` is the
//! object's own message, chosen here by (apiVersion, kind). Message layouts live in [`schema`],
//! generated from upstream's Go types. Only decoding is provided: berth always answers in JSON,
//! which kubectl accepts (it sends `Accept: application/vnd.kubernetes.protobuf,application/json`).

mod base64;
mod schema;
mod value;
mod wire;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use schema::Message;
pub use wire::WireError;

/// The media type of Kubernetes protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The prefix of every Kubernetes protobuf body.
const MAGIC: &[u8; 4] = b"k8s\x00";

/// Why a protobuf body could not be decoded. The messages are meant for the client (the API server
/// returns them as 400 BadRequest).
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    #[error("the request body is not Kubernetes protobuf: it does not start with \"k8s\\x00\"")]
    MissingMagic,
    #[error("malformed protobuf in {message}: {error}")]
    Malformed { message: &'static str, error: WireError },
    #[error("invalid protobuf in {message} field {number} ({field}): {detail}")]
    InvalidField { message: &'static str, field: &'static str, number: u32, detail: String },
    #[error("the protobuf envelope has no apiVersion and kind")]
    MissingTypeMeta,
    #[error("berth cannot decode {kind} ({api_version}) from protobuf; send it as application/json")]
    UnsupportedType { api_version: String, kind: String },
    #[error("unsupported contentEncoding {0:?} in the protobuf envelope")]
    UnsupportedContentEncoding(String),
    #[error("unsupported contentType {0:?} in the protobuf envelope")]
    UnsupportedContentType(String),
    #[error("protobuf messages are nested more than {0} levels deep")]
    TooDeep(usize),
}

/// Decode a protobuf request body (magic + runtime.Unknown) into the object's JSON form, including
/// apiVersion and kind from the envelope's TypeMeta.
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let envelope = body.strip_prefix(MAGIC.as_slice()).ok_or(ProtoError::MissingMagic)?;
    let unknown = Unknown::parse(envelope)?;
    if !unknown.content_encoding.is_empty() {
        return Err(ProtoError::UnsupportedContentEncoding(unknown.content_encoding));
    }
    // Empty means "the same as the envelope", which is protobuf.
    if !unknown.content_type.is_empty() && unknown.content_type != MEDIA_TYPE {
        return Err(ProtoError::UnsupportedContentType(unknown.content_type));
    }
    if unknown.api_version.is_empty() || unknown.kind.is_empty() {
        return Err(ProtoError::MissingTypeMeta);
    }
    let message = root_message(&unknown.api_version, &unknown.kind).ok_or_else(|| ProtoError::UnsupportedType {
        api_version: unknown.api_version.clone(),
        kind: unknown.kind.clone(),
    })?;
    let fields = value::decode_message(message, unknown.raw, 0)?;
    // Go's TypeMeta comes first: kind, then apiVersion.
    let mut object = Map::new();
    object.insert("kind".into(), Value::String(unknown.kind));
    object.insert("apiVersion".into(), Value::String(unknown.api_version));
    object.extend(fields);
    Ok(Value::Object(object))
}

/// The message for a top-level object. DeleteOptions is accepted under any group version, because
/// clients tag it with the version of the resource they delete.
fn root_message(api_version: &str, kind: &str) -> Option<&'static Message> {
    use schema::*;
    Some(match (api_version, kind) {
        (_, "DeleteOptions") => &meta_v1::DELETE_OPTIONS,
        ("v1", "Namespace") => &core_v1::NAMESPACE,
        ("v1", "ConfigMap") => &core_v1::CONFIG_MAP,
        ("v1", "Secret") => &core_v1::SECRET,
        ("v1", "ServiceAccount") => &core_v1::SERVICE_ACCOUNT,
        ("v1", "Service") => &core_v1::SERVICE,
        ("v1", "Binding") => &core_v1::BINDING,
        ("v1", "Endpoints") => &core_v1::ENDPOINTS,
        ("v1", "PersistentVolumeClaim") => &core_v1::PERSISTENT_VOLUME_CLAIM,
        ("v1", "PersistentVolume") => &core_v1::PERSISTENT_VOLUME,
        ("v1", "Event") => &core_v1::EVENT,
        ("v1", "Pod") => &core_v1::POD,
        ("apps/v1", "Deployment") => &apps_v1::DEPLOYMENT,
        ("authentication.k8s.io/v1", "TokenRequest") => &authentication_v1::TOKEN_REQUEST,
        ("autoscaling/v1", "Scale") => &autoscaling_v1::SCALE,
        ("coordination.k8s.io/v1", "Lease") => &coordination_v1::LEASE,
        ("policy/v1", "Eviction") => &policy_v1::EVICTION,
        ("policy/v1", "PodDisruptionBudget") => &policy_v1::POD_DISRUPTION_BUDGET,
        ("authentication.k8s.io/v1", "SelfSubjectReview") => &authentication_v1::SELF_SUBJECT_REVIEW,
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => &authorization_v1::SELF_SUBJECT_ACCESS_REVIEW,
        ("authorization.k8s.io/v1", "SubjectAccessReview") => &authorization_v1::SUBJECT_ACCESS_REVIEW,
        ("authorization.k8s.io/v1", "LocalSubjectAccessReview") => &authorization_v1::LOCAL_SUBJECT_ACCESS_REVIEW,
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => &authorization_v1::SELF_SUBJECT_RULES_REVIEW,
        ("rbac.authorization.k8s.io/v1", "Role") => &rbac_v1::ROLE,
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => &rbac_v1::CLUSTER_ROLE,
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => &rbac_v1::ROLE_BINDING,
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => &rbac_v1::CLUSTER_ROLE_BINDING,
        _ => return None,
    })
}

/// `runtime.Unknown`, the envelope of every protobuf body.
struct Unknown<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
    content_type: String,
}

impl<'a> Unknown<'a> {
    const NAME: &'static str = "runtime.Unknown";

    fn parse(bytes: &'a [u8]) -> Result<Self, ProtoError> {
        let malformed = |error| ProtoError::Malformed { message: Self::NAME, error };
        let mut out = Unknown {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
            content_encoding: String::new(),
            content_type: String::new(),
        };
        let mut reader = wire::Reader::new(bytes);
        while let Some((number, value)) = reader.next_field().map_err(malformed)? {
            let wire::WireValue::Len(payload) = value else {
                if number <= 4 {
                    return Err(envelope_field(number, "is not length-delimited"));
                }
                continue;
            };
            match number {
                1 => {
                    let mut tm = wire::Reader::new(payload);
                    while let Some((n, v)) = tm
                        .next_field()
                        .map_err(|error| ProtoError::Malformed { message: "runtime.TypeMeta", error })?
                    {
                        match (n, v) {
                            (1, wire::WireValue::Len(b)) => out.api_version = lossy(b),
                            (2, wire::WireValue::Len(b)) => out.kind = lossy(b),
                            (1 | 2, _) => return Err(envelope_field(1, "has a non-string apiVersion or kind")),
                            _ => {}
                        }
                    }
                }
                2 => out.raw = payload,
                3 => out.content_encoding = lossy(payload),
                4 => out.content_type = lossy(payload),
                _ => {}
            }
        }
        Ok(out)
    }
}

fn envelope_field(number: u32, detail: &str) -> ProtoError {
    let field = ["typeMeta", "raw", "contentEncoding", "contentType"][(number as usize).clamp(1, 4) - 1];
    ProtoError::InvalidField { message: Unknown::NAME, field, number, detail: detail.into() }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
