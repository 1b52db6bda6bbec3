//! Element identity and ordering of merging lists (upstream `normalizeElementOrder`,
//! `mergeSortedSlice`, `partition*ByPresentInList`, `validatePatchWithSetOrderList`).
//!
//! A merging list's final order is decided by two orders: the patch's (its list, or
//! `$setElementOrder/<list>` when given) for the elements the patch names, and the stored list's
//! for the elements only the server has. Both groups keep their own relative order; they are
//! interleaved by walking them together and taking the server-only element first only when
//! both elements appear in the stored list and the server-only one came earlier there.

use serde_json::{Number, Value};

use super::error::{compact, json_type, PatchError};

/// Equality of JSON values as upstream sees them: numbers compare by value (Go decodes all of
/// them as float64, so `1` equals `1.0`), everything else structurally.
pub(crate) fn value_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_eq(x, y),
        _ => a == b,
    }
}

fn number_eq(x: &Number, y: &Number) -> bool {
    if let (Some(a), Some(b)) = (x.as_i64(), y.as_i64()) {
        return a == b;
    }
    if let (Some(a), Some(b)) = (x.as_u64(), y.as_u64()) {
        return a == b;
    }
    x.as_f64() == y.as_f64()
}

/// The identity of a list element: its merge-key value for lists of maps, itself otherwise.
fn identity<'v>(item: &'v Value, merge_key: Option<&str>) -> Option<&'v Value> {
    match merge_key {
        Some(key) => item.as_object().and_then(|m| m.get(key)),
        None => Some(item),
    }
}

/// Position of `item` in `list` by identity.
pub(crate) fn index(list: &[Value], item: &Value, merge_key: Option<&str>) -> Option<usize> {
    let wanted = identity(item, merge_key)?;
    list.iter()
        .position(|v| identity(v, merge_key).is_some_and(|have| value_eq(have, wanted)))
}

/// The merge-key value of a list element, which must be a map that has it.
pub(crate) fn merge_key_value<'v>(
    item: &'v Value,
    key: &str,
    path: &str,
) -> Result<&'v Value, PatchError> {
    let map = item.as_object().ok_or_else(|| PatchError::TypeMismatch {
        path: path.to_string(),
        expected: "object",
        actual: json_type(item),
    })?;
    map.get(key)
        .ok_or_else(|| PatchError::NoMergeKey { map: compact(item), key: key.to_string() })
}

/// Splits `merged` into the elements named in `by` and the others, keeping their order.
pub(crate) fn partition(
    merged: Vec<Value>,
    by: &[Value],
    merge_key: Option<&str>,
    path: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut named = Vec::with_capacity(merged.len());
    let mut server_only = Vec::new();
    for item in merged {
        if let Some(key) = merge_key {
            merge_key_value(&item, key, path)?;
        }
        if index(by, &item, merge_key).is_some() {
            named.push(item);
        } else {
            server_only.push(item);
        }
    }
    Ok((named, server_only))
}

/// Orders `patch_items` by `patch_order` and `server_only` by `server_order`, then interleaves
/// them (see the module comment).
pub(crate) fn normalize_element_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: Option<&str>,
    path: &str,
) -> Result<Vec<Value>, PatchError> {
    let patch_items = sort_by_order(patch_items, patch_order, merge_key, path)?;
    let server_only = sort_by_order(server_only, server_order, merge_key, path)?;
    Ok(merge_sorted(server_only, patch_items, server_order, merge_key))
}

/// Stable sort of `items` by their position in `order`; items `order` does not name go last.
fn sort_by_order(
    mut items: Vec<Value>,
    order: &[Value],
    merge_key: Option<&str>,
    path: &str,
) -> Result<Vec<Value>, PatchError> {
    if let Some(key) = merge_key {
        for item in items.iter().chain(order) {
            merge_key_value(item, key, path)?;
        }
    }
    items.sort_by_key(|item| index(order, item, merge_key).unwrap_or(usize::MAX));
    Ok(items)
}

/// Interleaves two individually ordered lists, preferring `right` (the patch's elements)
/// unless `left`'s next element precedes it in `server_order`.
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: Option<&str>,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                match (index(server_order, l, merge_key), index(server_order, r, merge_key)) {
                    (Some(li), Some(ri)) => li < ri,
                    _ => false,
                }
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

/// Checks that the patch list's elements (minus `$patch: delete` ones) appear in
/// `$setElementOrder` in the same relative order.
pub(crate) fn validate_patch_with_set_order(
    patch_list: &[Value],
    order: &[Value],
    merge_key: Option<&str>,
    path: &str,
) -> Result<(), PatchError> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let mut non_delete = Vec::with_capacity(patch_list.len());
    for item in patch_list {
        if merge_key.is_some() {
            let map = item.as_object().ok_or_else(|| PatchError::TypeMismatch {
                path: path.to_string(),
                expected: "object",
                actual: json_type(item),
            })?;
            if map.get(super::merge::DIRECTIVE).and_then(Value::as_str) == Some("delete") {
                continue;
            }
        }
        non_delete.push(item);
    }
    let (mut p, mut o) = (0, 0);
    while p < non_delete.len() && o < order.len() {
        let item = non_delete[p];
        if item.as_object().is_some_and(|m| m.contains_key(super::merge::DIRECTIVE)) {
            p += 1;
            continue;
        }
        let equal = match merge_key {
            Some(key) => value_eq(
                merge_key_value(item, key, path)?,
                merge_key_value(&order[o], key, path)?,
            ),
            None => value_eq(item, &order[o]),
        };
        if equal {
            p += 1;
        }
        o += 1;
    }
    if p < non_delete.len() && o >= order.len() {
        return Err(PatchError::SetElementOrderMismatch {
            patch: compact(&Value::Array(patch_list.to_vec())),
            order: compact(&Value::Array(order.to_vec())),
        });
    }
    Ok(())
}

/// Checks that all elements of the lists share one JSON type and none is a list; returns
/// whether they are maps. Upstream merges lists of maps by key and lists of anything else as
/// sets of scalars, so mixed lists cannot be merged.
pub(crate) fn elements_are_maps(lists: &[&[Value]]) -> Result<bool, PatchError> {
    let mut first: Option<&'static str> = None;
    for item in lists.iter().flat_map(|l| l.iter()) {
        let kind = json_type(item);
        if kind == "list" {
            return Err(PatchError::NoListOfLists);
        }
        match first {
            None => first = Some(kind),
            Some(k) if k != kind => {
                let all: Vec<Value> =
                    lists.iter().map(|l| Value::Array(l.to_vec())).collect();
                return Err(PatchError::ElementTypesDiffer(compact(&Value::Array(all))));
            }
            Some(_) => {}
        }
    }
    Ok(first == Some("object"))
}
