//! The OpenAPI documents the API server publishes at `/openapi/v2` and `/openapi/v3…`.
//!
//! Real kubectl depends on them in three ways:
//! - `kubectl apply`/`create` with default (strict) validation fetch `/openapi/v3`, then the
//!   group-version document of the object's kind, and send `?fieldValidation=Strict` only if a
//!   PATCH operation for that kind lists a `fieldValidation` parameter (upstream
//!   `cli-runtime/pkg/resource/query_param_verifier_v3.go`). Without the documents they refuse
//!   to run ("failed to download openapi").
//! - `kubectl apply` on an existing object computes its strategic merge patch from the kind's
//!   v3 schema (`x-kubernetes-patch-strategy` / `x-kubernetes-patch-merge-key` on fields).
//! - `kubectl explain` renders the v3 schema of the kind it finds through the
//!   `x-kubernetes-group-version-kind` of the operations on the resource's paths.
//!
//! Everything is derived from `registry::REGISTRY` and `k8s-openapi`'s schemas and built
//! once, on first request (never at server start-up): see `tests::generation_is_fast`.

mod kinds;
mod params;
mod paths;
mod schemas;
mod subresources;
mod v2;
mod v2_proto;
mod v3;

// Merge metadata for x-kubernetes-patch-* comes from the strategic merge patch tables.
use crate::smp::{patch_meta, PatchMeta};

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::registry::group_versions;

/// The Kubernetes release whose API the documents describe (`info.version`).
const KUBERNETES_VERSION: &str = "v1.33.0";

/// The v3 documents: the root index and each group-version document, serialized.
struct V3Documents {
    root: Vec<u8>,
    by_path: BTreeMap<String, Vec<u8>>,
}

/// Definitions shared by the v2 and v3 renderings; generated once for whichever is asked first.
fn definitions() -> &'static schemas::Definitions {
    static DEFINITIONS: OnceLock<schemas::Definitions> = OnceLock::new();
    DEFINITIONS.get_or_init(schemas::generate)
}

/// "api/v1" or "apis/apps/v1": the key of a group-version in the v3 root.
fn gv_key(group: &str, version: &str) -> String {
    paths::gv_prefix(group, version)
        .trim_start_matches('/')
        .to_string()
}

fn v3_documents() -> &'static V3Documents {
    static V3: OnceLock<V3Documents> = OnceLock::new();
    V3.get_or_init(|| {
        let defs = definitions();
        let mut by_path = BTreeMap::new();
        let mut hashes = Vec::new();
        for (group, version) in group_versions() {
            let doc = v3::document(defs, &paths::group_version_paths(group, version));
            let bytes = serde_json::to_vec(&doc).expect("serializing a JSON value cannot fail");
            let key = gv_key(group, version);
            hashes.push((key.clone(), content_hash(&bytes)));
            by_path.insert(key, bytes);
        }
        let root = v3::root(hashes.iter().map(|(k, h)| (k.as_str(), h.as_str())));
        let root = serde_json::to_vec(&root).expect("serializing a JSON value cannot fail");
        V3Documents { root, by_path }
    })
}

/// Upper-case hex digest of the document, used as the `hash` query parameter in the root.
/// Clients cache group-version documents by that URL, so it must change whenever the
/// content does; it need not be cryptographic (upstream uses SHA-512, which would be the
/// only reason to add a hashing dependency). Two independent FNV-1a 64-bit lanes make an
/// accidental collision between two builds' documents negligible.
fn content_hash(bytes: &[u8]) -> String {
    let lane = |basis: u64| {
        bytes.iter().fold(basis, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    format!(
        "{:016X}{:016X}",
        lane(0xcbf2_9ce4_8422_2325),
        lane(0x6c62_272e_07bb_0142)
    )
}

/// `/openapi/v3` root document (JSON bytes), hashes stable per build.
pub fn v3_root() -> &'static [u8] {
    &v3_documents().root
}

/// `/openapi/v3/<path>` e.g. path "api/v1" or "apis/apps/v1"; None if unknown.
pub fn v3_document(path: &str) -> Option<&'static [u8]> {
    let path = path.trim_start_matches('/');
    v3_documents().by_path.get(path).map(Vec::as_slice)
}

/// `/openapi/v2` (swagger 2.0) JSON bytes.
pub fn v2_document() -> &'static [u8] {
    static V2: OnceLock<Vec<u8>> = OnceLock::new();
    V2.get_or_init(|| {
        let all_paths: Vec<paths::PathItem> = group_versions()
            .into_iter()
            .flat_map(|(group, version)| paths::group_version_paths(group, version))
            .collect();
        let doc = v2::document(definitions(), &all_paths);
        serde_json::to_vec(&doc).expect("serializing a JSON value cannot fail")
    })
}

/// Media type of [`v2_protobuf`], the only form of `/openapi/v2` kubectl accepts.
pub const V2_PROTOBUF_MEDIA_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// `/openapi/v2` as gnostic's `openapi.v2.Document` protobuf.
pub fn v2_protobuf() -> &'static [u8] {
    static V2P: OnceLock<Vec<u8>> = OnceLock::new();
    V2P.get_or_init(|| {
        let doc: serde_json::Value = serde_json::from_slice(v2_document()).expect("v2 document is JSON");
        v2_proto::encode(&doc)
    })
}
