//! The merge itself: upstream `mergeMap` / `mergeSlice` over `serde_json` values, guided by the
//! schema graph.
//!
//! Where upstream stores a patch value verbatim (a key absent from the stored object, a
//! `$patch: replace` map, an element appended to a merging list) it relies on decoding into a
//! typed struct afterwards to drop `$`-directives and `null`s. berth keeps the result as JSON,
//! so such values are instead merged into an empty value of their kind, which processes their
//! directives and drops their nulls the same way.

use serde_json::{Map, Value};

use super::error::{compact, json_type, PatchError};
use super::meta::PatchMeta;
use super::order::{
    elements_are_maps, merge_key_value, normalize_element_order, partition,
    validate_patch_with_set_order, value_eq,
};
use super::schema::{element, Graph, Ty};

pub(crate) const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";

type Obj = Map<String, Value>;

/// The field path of the value being merged, rendered only for error messages.
pub(crate) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    segment: &'a str,
}

impl<'a> Path<'a> {
    pub fn root() -> Path<'static> {
        Path { parent: None, segment: "" }
    }

    fn child(&'a self, segment: &'a str) -> Path<'a> {
        Path { parent: Some(self), segment }
    }

    fn render(&self) -> String {
        let mut segments = Vec::new();
        let mut at = Some(self);
        while let Some(p) = at {
            if !p.segment.is_empty() {
                segments.push(p.segment);
            }
            at = p.parent;
        }
        if segments.is_empty() {
            return "(root)".to_string();
        }
        segments.reverse();
        segments.join(".")
    }
}

pub(crate) struct Merger<'g> {
    pub graph: &'g Graph,
}

impl Merger<'_> {
    /// Merges `patch` into `original`, both objects of shape `ty`.
    pub fn merge_map(
        &self,
        mut original: Obj,
        mut patch: Obj,
        ty: &Ty,
        path: &Path,
    ) -> Result<Obj, PatchError> {
        if let Some(directive) = patch.get(DIRECTIVE).cloned() {
            return match directive.as_str() {
                Some("replace") => {
                    patch.shift_remove(DIRECTIVE);
                    self.merge_map(Obj::new(), patch, ty, path)
                }
                // Upstream leaves an empty map in place rather than removing the key.
                Some("delete") => Ok(Obj::new()),
                _ => Err(PatchError::BadPatchType {
                    directive: directive.as_str().map_or_else(|| compact(&directive), str::to_owned),
                    map: compact(&Value::Object(patch)),
                }),
            };
        }

        apply_retain_keys(&mut original, &mut patch)?;
        self.apply_set_element_order(&mut original, &mut patch, ty, path)?;

        for (key, value) in patch {
            if let Some(rest) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
                let name = rest.strip_prefix('/').ok_or(PatchError::BadPatchFormatForPrimitiveList)?;
                delete_from_primitive_list(&mut original, name, value, &path.child(name))?;
                continue;
            }
            if key.starts_with('$') {
                return Err(PatchError::UnknownDirective { key, path: path.render() });
            }
            if value.is_null() {
                original.shift_remove(&key);
                continue;
            }
            let merged = {
                let child_path = path.child(&key);
                let (field_ty, meta) = self.graph.field(ty, &key);
                check_shape(field_ty, &value, &child_path)?;
                // Take the stored value out (leaving the key in place so its position holds).
                let current = original.get_mut(&key).map(std::mem::take);
                match (current, value) {
                    (Some(Value::Object(o)), Value::Object(p)) => {
                        let base = if meta.is_some_and(|m| m.replaces()) { Obj::new() } else { o };
                        Value::Object(self.merge_map(base, p, field_ty, &child_path)?)
                    }
                    (Some(Value::Array(o)), Value::Array(p)) => {
                        Value::Array(self.merge_list(o, p, field_ty, meta, &child_path)?)
                    }
                    // Absent, or of another JSON type: the patch value wins, cleaned.
                    (_, Value::Object(p)) => {
                        Value::Object(self.merge_map(Obj::new(), p, field_ty, &child_path)?)
                    }
                    (_, Value::Array(p)) => {
                        Value::Array(self.merge_list(Vec::new(), p, field_ty, meta, &child_path)?)
                    }
                    (_, scalar) => scalar,
                }
            };
            original.insert(key, merged);
        }
        Ok(original)
    }

    /// Merges a patch list into a stored list of field shape `ty`: element-wise for fields
    /// with strategy `merge`, replaced whole otherwise.
    fn merge_list(
        &self,
        original: Vec<Value>,
        patch: Vec<Value>,
        ty: &Ty,
        meta: Option<PatchMeta>,
        path: &Path,
    ) -> Result<Vec<Value>, PatchError> {
        let elem_ty = element(ty);
        if matches!(elem_ty, Ty::Struct(_)) {
            for item in &patch {
                check_shape(elem_ty, item, path)?;
            }
        }
        match meta {
            Some(m) if m.merges() => self.merge_slice(original, patch, elem_ty, m.merge_key, path),
            _ => Ok(patch),
        }
    }

    /// Upstream `mergeSlice` (without the parallel deletion list, handled separately).
    fn merge_slice(
        &self,
        mut original: Vec<Value>,
        patch: Vec<Value>,
        elem_ty: &Ty,
        merge_key: Option<&str>,
        path: &Path,
    ) -> Result<Vec<Value>, PatchError> {
        if original.is_empty() && patch.is_empty() {
            return Ok(original);
        }
        let rendered = path.render();
        if !elements_are_maps(&[original.as_slice(), patch.as_slice()])? {
            // A set of scalars: union, then ordered like any merging list.
            let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
            for item in original.iter().chain(&patch) {
                if !merged.iter().any(|m| value_eq(m, item)) {
                    merged.push(item.clone());
                }
            }
            let (named, server_only) = partition(merged, &patch, None, &rendered)?;
            return normalize_element_order(named, server_only, &patch, &original, None, &rendered);
        }
        let Some(key) = merge_key else {
            return Err(PatchError::MissingMergeKeyInSchema);
        };

        // Special elements: `$patch: delete` removes stored elements with that key,
        // `$patch: replace` makes the remaining patch elements the whole list.
        let mut replace = false;
        let mut plain = Vec::with_capacity(patch.len());
        for item in patch {
            let Some(directive) = item.get(DIRECTIVE) else {
                plain.push(item);
                continue;
            };
            match directive.as_str() {
                Some("delete") => {
                    let value = merge_key_value(&item, key, &rendered)?;
                    original.retain(|o| {
                        !o.get(key).is_some_and(|have| value_eq(have, value))
                    });
                }
                Some("replace") => replace = true,
                Some("merge") => return Err(PatchError::MergeDirectiveInList),
                _ => {
                    return Err(PatchError::BadPatchType {
                        directive: directive.as_str().map_or_else(|| compact(directive), str::to_owned),
                        map: compact(&item),
                    })
                }
            }
        }
        if replace {
            original = plain
                .into_iter()
                .map(|item| self.merge_into_empty(item, elem_ty, path))
                .collect::<Result<_, _>>()?;
            plain = Vec::new();
        }

        // The patch's own order, by merge key only, for the ordering step below.
        let mut patch_order = Vec::with_capacity(plain.len());
        for item in &plain {
            let value = merge_key_value(item, key, &rendered)?;
            patch_order.push(Value::Object(Obj::from_iter([(key.to_string(), value.clone())])));
        }
        let server_order = original.clone();
        let mut merged = original;
        for item in plain {
            let value = merge_key_value(&item, key, &rendered)?;
            let found = merged
                .iter()
                .position(|m| m.get(key).is_some_and(|have| value_eq(have, value)));
            match found {
                Some(i) => {
                    let stored = into_object(std::mem::take(&mut merged[i]), path)?;
                    let p = into_object(item, path)?;
                    merged[i] = Value::Object(self.merge_map(stored, p, elem_ty, path)?);
                }
                None => merged.push(self.merge_into_empty(item, elem_ty, path)?),
            }
        }
        let (named, server_only) = partition(merged, &patch_order, Some(key), &rendered)?;
        normalize_element_order(named, server_only, &patch_order, &server_order, Some(key), &rendered)
    }

    /// A list element taken from the patch, with its directives processed.
    fn merge_into_empty(&self, item: Value, ty: &Ty, path: &Path) -> Result<Value, PatchError> {
        match item {
            Value::Object(p) => Ok(Value::Object(self.merge_map(Obj::new(), p, ty, path)?)),
            other => Ok(other),
        }
    }

    /// Upstream `mergePatchIntoOriginal`: merges each list that has a `$setElementOrder/<list>`
    /// (removing it and the directive from `patch`) and orders the result by it.
    fn apply_set_element_order(
        &self,
        original: &mut Obj,
        patch: &mut Obj,
        ty: &Ty,
        path: &Path,
    ) -> Result<(), PatchError> {
        let keys: Vec<String> =
            patch.keys().filter(|k| k.starts_with(SET_ELEMENT_ORDER)).cloned().collect();
        for directive_key in keys {
            let Some(Value::Array(order)) = patch.shift_remove(&directive_key) else {
                return Err(PatchError::BadPatchFormatForSetElementOrderList);
            };
            let name = directive_key
                .strip_prefix(SET_ELEMENT_ORDER)
                .and_then(|rest| rest.strip_prefix('/'))
                .ok_or(PatchError::BadPatchFormatForSetElementOrderList)?;
            let child_path = path.child(name);
            let (field_ty, meta) = self.graph.field(ty, name);
            let merge_key = meta.and_then(|m| m.merge_key);

            let stored = take_list(original, name, &child_path)?;
            let patch_list = match patch.shift_remove(name) {
                None => None,
                Some(Value::Array(list)) => Some(list),
                Some(other) => return Err(mismatch(&child_path, "list", &other)),
            };
            validate_patch_with_set_order(
                patch_list.as_deref().unwrap_or_default(),
                &order,
                merge_key,
                &child_path.render(),
            )?;
            let server_order = stored.clone().unwrap_or_default();
            let merged = match (stored, patch_list) {
                (None, None) => continue,
                (Some(stored), None) => stored,
                (stored, Some(list)) => {
                    self.merge_list(stored.unwrap_or_default(), list, field_ty, meta, &child_path)?
                }
            };
            elements_are_maps(&[merged.as_slice()])?;
            let rendered = child_path.render();
            let (named, server_only) = partition(merged, &order, merge_key, &rendered)?;
            let ordered = normalize_element_order(
                named,
                server_only,
                &order,
                &server_order,
                merge_key,
                &rendered,
            )?;
            original.insert(name.to_string(), Value::Array(ordered));
        }
        Ok(())
    }
}

/// Takes the stored list `name` out of `original` (the key stays, its value is reinserted by
/// the caller); `None` when absent or null.
fn take_list(original: &mut Obj, name: &str, path: &Path) -> Result<Option<Vec<Value>>, PatchError> {
    match original.get_mut(name).map(std::mem::take) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(list)) => Ok(Some(list)),
        Some(other) => Err(mismatch(path, "list", &other)),
    }
}

/// Upstream `applyRetainKeysDirective`: every non-null key of the patch must be listed, and
/// stored keys not listed are cleared before merging.
fn apply_retain_keys(original: &mut Obj, patch: &mut Obj) -> Result<(), PatchError> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(PatchError::BadPatchFormatForRetainKeys);
    };
    let listed = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !listed(k) {
            return Err(PatchError::BadPatchFormatForRetainKeys);
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

/// `$deleteFromPrimitiveList/<name>: [values]` removes every stored element equal to one of
/// the values. Upstream would *add* the values when the stored list is absent, and replace a
/// non-merging list with them; both are treated here as deleting from what is there. A `null`
/// value (which upstream takes as deleting the whole list) is rejected as malformed.
fn delete_from_primitive_list(
    original: &mut Obj,
    name: &str,
    values: Value,
    path: &Path,
) -> Result<(), PatchError> {
    let Value::Array(values) = values else {
        return Err(PatchError::BadPatchFormatForPrimitiveList);
    };
    match original.get_mut(name) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(list)) => {
            list.retain(|item| !values.iter().any(|v| value_eq(v, item)));
            Ok(())
        }
        Some(other) => Err(mismatch(path, "list", other)),
    }
}

/// Rejects a patch value whose JSON type contradicts the schema (a map for a list field, a
/// list for an object field, a structure for a scalar field).
fn check_shape(ty: &Ty, value: &Value, path: &Path) -> Result<(), PatchError> {
    let ok = match (ty, value) {
        (_, Value::Null) | (Ty::Unknown, _) => true,
        (Ty::List(_), v) => v.is_array(),
        (Ty::Struct(_) | Ty::Map(_), v) => v.is_object(),
        (Ty::Scalar, v) => !v.is_array() && !v.is_object(),
    };
    if ok {
        return Ok(());
    }
    let expected = match ty {
        Ty::List(_) => "list",
        Ty::Struct(_) | Ty::Map(_) => "object",
        _ => "scalar",
    };
    Err(mismatch(path, expected, value))
}

/// A list element known to be a map (checked by `elements_are_maps`), as a map.
fn into_object(value: Value, path: &Path) -> Result<Obj, PatchError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(mismatch(path, "object", &other)),
    }
}

fn mismatch(path: &Path, expected: &'static str, actual: &Value) -> PatchError {
    PatchError::TypeMismatch { path: path.render(), expected, actual: json_type(actual) }
}
