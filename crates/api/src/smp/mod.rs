//! Strategic merge patch (`application/strategic-merge-patch+json`), as sent by `kubectl apply`
//! (client-side), `kubectl patch`, `kubectl edit`, `kubectl rollout undo|restart`.
//!
//! A JSON merge patch in which lists of the fields upstream marks with
//! `x-kubernetes-patch-strategy: merge` are merged element-wise (by
//! `x-kubernetes-patch-merge-key` for lists of maps, as sets for lists of scalars) instead of
//! replaced, plus the directives `$patch` (`replace` / `delete`), `$setElementOrder/<list>`,
//! `$retainKeys` and `$deleteFromPrimitiveList/<list>`. Behaviour follows upstream
//! `k8s.io/apimachinery/pkg/util/strategicpatch` (`StrategicMergeMapPatch`); the few deliberate
//! differences are documented where they are made (`merge.rs`).
//!
//! - [`schema`]: the type graph (which definition each field leads to), derived from
//!   `k8s-openapi`'s JSON schemas, and the kinds' root definitions.
//! - [`meta`]: the merge metadata table.
//! - `merge`, `order`: the algorithm.

mod error;
mod merge;
mod meta;
mod order;
mod schema;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod upstream_tests;

use serde_json::Value;

pub use error::PatchError;
pub use meta::{patch_meta, PatchMeta};
pub use schema::root_definition;

use merge::{Merger, Path};
use schema::{kubernetes_graph, Graph, Ty};

/// Applies a strategic merge patch to `original`, an object of the kind whose OpenAPI root
/// definition is given (see [`root_definition`]). Fields the schema does not know merge like
/// JSON merge patch (maps recursively, lists replaced). The result keeps the stored key order;
/// new keys are appended.
///
/// Fails when the patch is malformed (bad directive, missing merge key, a value of the wrong
/// JSON type for its field …) or changes the object's `apiVersion` or `kind`;
/// [`PatchError::status_code`] gives the HTTP status to answer with.
pub fn strategic_merge_patch(
    original: &Value,
    patch: &Value,
    root_definition: &str,
) -> Result<Value, PatchError> {
    let graph = kubernetes_graph();
    if !graph.has_definition(root_definition) {
        return Err(PatchError::UnknownDefinition(root_definition.to_string()));
    }
    let patched = apply(graph, original, patch, &Ty::Struct(root_definition.to_string()))?;
    check_type_unchanged(original, &patched)?;
    Ok(patched)
}

/// Fails when `patched` names another `apiVersion` or `kind` than `original`. A field absent
/// from either side is not a change (the server fills it in from the URL).
pub fn check_type_unchanged(original: &Value, patched: &Value) -> Result<(), PatchError> {
    for field in ["apiVersion", "kind"] {
        if let (Some(Value::String(from)), Some(Value::String(to))) =
            (original.get(field), patched.get(field))
        {
            if from != to {
                return Err(PatchError::TypeChanged { field, from: from.clone(), to: to.clone() });
            }
        }
    }
    Ok(())
}

/// Applies `patch` to `original` with the shapes of `graph`, starting at `ty`.
pub(crate) fn apply(
    graph: &Graph,
    original: &Value,
    patch: &Value,
    ty: &Ty,
) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::BadJsonDoc);
    };
    let original = match original {
        Value::Object(map) => map.clone(),
        Value::Null => serde_json::Map::new(),
        _ => return Err(PatchError::BadJsonDoc),
    };
    let merger = Merger { graph };
    Ok(Value::Object(merger.merge_map(original, patch.clone(), ty, &Path::root())?))
}
