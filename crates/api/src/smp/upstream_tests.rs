//! Cases from upstream `strategicpatch/patch_test.go`, restated as JSON over the same test type
//! upstream uses (`mergeItem`). Each applies a two-way patch to `original` or a three-way patch
//! to `current`, as upstream's `testPatchApplication` does.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::meta::PatchMeta;
use super::schema::{Field, Graph, Ty};

fn field(ty: Ty, meta: Option<(&'static str, Option<&'static str>)>) -> Field {
    Field { ty, meta: meta.map(|(strategy, merge_key)| PatchMeta { strategy, merge_key }) }
}

fn item() -> Ty {
    Ty::Struct("mergeItem".into())
}

fn list(elem: Ty) -> Ty {
    Ty::List(Box::new(elem))
}

/// Upstream's `MergeItem` and `RetainKeysMergeItem` test structs.
fn merge_item_graph() -> Graph {
    let scalar = || field(Ty::Scalar, None);
    let mut merge_item: HashMap<String, Field> = HashMap::new();
    merge_item.insert("name".into(), scalar());
    merge_item.insert("value".into(), scalar());
    merge_item.insert("other".into(), scalar());
    merge_item.insert("mergingList".into(), field(list(item()), Some(("merge", Some("name")))));
    merge_item.insert("nonMergingList".into(), field(list(item()), None));
    merge_item.insert("mergingIntList".into(), field(list(Ty::Scalar), Some(("merge", None))));
    merge_item.insert("nonMergingIntList".into(), field(list(Ty::Scalar), None));
    merge_item.insert("simpleMap".into(), field(Ty::Map(Box::new(Ty::Scalar)), None));
    merge_item.insert("replacingItem".into(), field(Ty::Unknown, Some(("replace", None))));
    merge_item.insert(
        "retainKeysMap".into(),
        field(Ty::Struct("retainKeysMergeItem".into()), Some(("retainKeys", None))),
    );
    merge_item.insert(
        "retainKeysMergingList".into(),
        field(list(item()), Some(("merge,retainKeys", Some("name")))),
    );
    let mut retain: HashMap<String, Field> = HashMap::new();
    retain.insert("name".into(), scalar());
    retain.insert("value".into(), scalar());
    retain.insert("other".into(), scalar());
    retain.insert("simpleMap".into(), field(Ty::Map(Box::new(Ty::Scalar)), None));
    retain.insert("mergingIntList".into(), field(list(Ty::Scalar), Some(("merge", None))));
    retain.insert("mergingList".into(), field(list(item()), Some(("merge", Some("name")))));
    retain.insert("nonMergingList".into(), field(list(item()), None));
    let mut graph = Graph::default();
    graph.defs.insert("mergeItem".into(), merge_item);
    graph.defs.insert("retainKeysMergeItem".into(), retain);
    graph
}

/// (description, original, patch, expected result or `Err(message fragment)`)
type UpstreamCase = (&'static str, Value, Value, Result<Value, &'static str>);

fn run(cases: Vec<UpstreamCase>) {
    let graph = merge_item_graph();
    let mut failures = Vec::new();
    for (name, original, patch, want) in &cases {
        let got = super::apply(&graph, original, patch, &item());
        match (want, got) {
            (Ok(want), Ok(got)) if *want == got => {}
            (Err(msg), Err(e)) if e.to_string().contains(msg) => {}
            (want, got) => failures.push(format!(
                "{name}:\n  want {:?}\n  got  {:?}",
                want.as_ref().map(Value::to_string),
                got.map(|v| v.to_string()).map_err(|e| e.to_string())
            )),
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn smp_upstream_custom_cases() {
    run(vec![
        ("unique scalars when merging lists",
            json!({"mergingIntList": [1, 2]}), json!({"mergingIntList": [2, 3]}),
            Ok(json!({"mergingIntList": [1, 2, 3]}))),
        ("delete map from nested map",
            json!({"simpleMap": {"key1": 1, "key2": 1}}), json!({"simpleMap": {"$patch": "delete"}}),
            Ok(json!({"simpleMap": {}}))),
        ("delete all items from merging list",
            json!({"mergingList": [{"name": 1}, {"name": 2}]}), json!({"mergingList": [{"$patch": "replace"}]}),
            Ok(json!({"mergingList": []}))),
        ("merge empty merging lists",
            json!({"mergingList": []}), json!({"mergingList": []}),
            Ok(json!({"mergingList": []}))),
        ("delete all keys from map",
            json!({"name": 1, "value": 1}), json!({"$patch": "replace"}),
            Ok(json!({}))),
        ("add key and delete all keys from map",
            json!({"name": 1, "value": 1}), json!({"other": "a", "$patch": "replace"}),
            Ok(json!({"other": "a"}))),
        ("delete all duplicate entries in a merging list",
            json!({"mergingList": [{"name": 1}, {"name": 1}, {"name": 2, "value": "a"}, {"name": 3}, {"name": 3}]}),
            json!({"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 1, "$patch": "delete"},
                {"name": 3, "$patch": "delete"}, {"name": 3, "$patch": "delete"}]}),
            Ok(json!({"mergingList": [{"name": 2, "value": "a"}]}))),
        ("retainKeys map can add a field when no retainKeys directive present",
            json!({"retainKeysMap": {"name": "foo"}}), json!({"retainKeysMap": {"value": "bar"}}),
            Ok(json!({"retainKeysMap": {"name": "foo", "value": "bar"}}))),
        ("retainKeys map can change a field when no retainKeys directive present",
            json!({"retainKeysMap": {"name": "foo", "value": "a"}}), json!({"retainKeysMap": {"value": "b"}}),
            Ok(json!({"retainKeysMap": {"name": "foo", "value": "b"}}))),
        ("retainKeys map can delete a field when no retainKeys directive present",
            json!({"retainKeysMap": {"name": "foo", "value": "a"}}), json!({"retainKeysMap": {"value": null}}),
            Ok(json!({"retainKeysMap": {"name": "foo"}}))),
        ("retainKeys map merge an empty map",
            json!({"retainKeysMap": {"name": "foo", "value": "a"}}), json!({"retainKeysMap": {}}),
            Ok(json!({"retainKeysMap": {"name": "foo", "value": "a"}}))),
        ("retainKeys list can add a field when no retainKeys directive present",
            json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}]}),
            json!({"retainKeysMergingList": [{"name": "foo", "value": "a"}]}),
            Ok(json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a"}]}))),
        ("retainKeys list can delete a field when no retainKeys directive present",
            json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a"}]}),
            json!({"retainKeysMergingList": [{"name": "foo", "value": null}]}),
            Ok(json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}]}))),
        ("preserve the order from the patch in a merging list",
            json!({"mergingList": [{"name": 1}, {"name": 2, "value": "b"}, {"name": 3}]}),
            json!({"mergingList": [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}, {"name": 2, "other": "x"}]}),
            Ok(json!({"mergingList": [{"name": 3, "value": "c"}, {"name": 1, "value": "a"},
                {"name": 2, "value": "b", "other": "x"}]}))),
        ("preserve the order from the patch in a merging list 2",
            json!({"mergingList": [{"name": 1}, {"name": 2, "value": "b"}, {"name": 3}]}),
            json!({"mergingList": [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}]}),
            Ok(json!({"mergingList": [{"name": 2, "value": "b"}, {"name": 3, "value": "c"}, {"name": 1, "value": "a"}]}))),
        ("preserve the order from the patch in a merging int list",
            json!({"mergingIntList": [1, 2, 3]}), json!({"mergingIntList": [3, 1, 2]}),
            Ok(json!({"mergingIntList": [3, 1, 2]}))),
        ("preserve the order from the patch in a merging int list 2",
            json!({"mergingIntList": [1, 2, 3]}), json!({"mergingIntList": [3, 1]}),
            Ok(json!({"mergingIntList": [2, 3, 1]}))),
        ("$setElementOrder contains item that is not present in the list to be merged",
            json!({"mergingList": [{"name": 1}, {"name": 3}]}),
            json!({"$setElementOrder/mergingList": [{"name": 3}, {"name": 2}, {"name": 1}],
                "mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]}),
            Ok(json!({"mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]}))),
        ("$setElementOrder contains item that is not present in the int list to be merged",
            json!({"mergingIntList": [1, 3]}),
            json!({"$setElementOrder/mergingIntList": [3, 2, 1]}),
            Ok(json!({"mergingIntList": [3, 1]}))),
        ("should check if order in $setElementOrder and patch list match",
            json!({"mergingList": [{"name": 1}, {"name": 3}, {"name": 2}]}),
            json!({"$setElementOrder/mergingList": [{"name": 1}, {"name": 2}, {"name": 3}],
                "mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]}),
            Err("doesn't match")),
        ("should check if order in $setElementOrder and patch int list match",
            json!({"mergingIntList": [1, 3, 2]}),
            json!({"$setElementOrder/mergingIntList": [1, 2, 3], "mergingIntList": [3, 1]}),
            Err("doesn't match")),
        ("missing merge key should error out",
            json!({"mergingList": [{"name": 1, "value": "a"}]}),
            json!({"mergingList": [{"value": "b"}]}),
            Err("does not contain declared merge key")),
    ]);
}

/// Upstream's create-patch cases: the three-way patch applied to `current` gives `result`.
#[test]
fn smp_upstream_three_way_results() {
    run(vec![
        ("add field to map with conflict",
            json!({"name": "a", "other": "a"}), json!({"name": 1, "value": 1}),
            Ok(json!({"name": 1, "value": 1, "other": "a"}))),
        ("add field and delete field from map",
            json!({"name": 1, "other": "a"}), json!({"name": null, "value": 1}),
            Ok(json!({"value": 1, "other": "a"}))),
        ("delete field from nested map with conflict",
            json!({"simpleMap": {"key1": "a", "key2": 1, "other": "a"}}),
            json!({"simpleMap": {"key1": 1, "key2": null}}),
            Ok(json!({"simpleMap": {"key1": 1, "other": "a"}}))),
        ("delete all fields from map",
            json!({"name": 1, "value": 1, "other": "a"}), json!({"name": null, "value": null}),
            Ok(json!({"other": "a"}))),
        ("replace list of scalars with conflict",
            json!({"nonMergingIntList": [1, 4]}), json!({"nonMergingIntList": [2, 3]}),
            Ok(json!({"nonMergingIntList": [2, 3]}))),
        ("delete all maps from merging list with conflict",
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "other": "b"}]}),
            json!({"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 2, "$patch": "delete"}]}),
            Ok(json!({"mergingList": []}))),
        ("delete all maps from empty merging list",
            json!({"mergingList": []}),
            json!({"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 2, "$patch": "delete"}]}),
            Ok(json!({"mergingList": []}))),
        ("defined null values should propagate overwrite current fields (with conflict)",
            json!({"name": "a", "other": "a"}), json!({"name": 1, "value": 1, "other": null}),
            Ok(json!({"name": 1, "value": 1}))),
        ("nil patch with retainKeys map",
            json!({"name": "a", "value": "b", "retainKeysMap": {"name": "foo"}}), json!({}),
            Ok(json!({"name": "a", "value": "b", "retainKeysMap": {"name": "foo"}}))),
        ("delete items in lists of scalars",
            json!({"mergingIntList": [1, 2, 3, 4]}),
            json!({"$setElementOrder/mergingIntList": [1, 2], "$deleteFromPrimitiveList/mergingIntList": [3]}),
            Ok(json!({"mergingIntList": [1, 2, 4]}))),
        ("delete all duplicate items in lists of scalars",
            json!({"mergingIntList": [1, 2, 3, 3, 4]}),
            json!({"$setElementOrder/mergingIntList": [1, 2], "$deleteFromPrimitiveList/mergingIntList": [3]}),
            Ok(json!({"mergingIntList": [1, 2, 4]}))),
        ("add and delete items in lists of scalars (two-way)",
            json!({"mergingIntList": [1, 2, 3]}),
            json!({"$setElementOrder/mergingIntList": [1, 2, 4], "$deleteFromPrimitiveList/mergingIntList": [3],
                "mergingIntList": [4]}),
            Ok(json!({"mergingIntList": [1, 2, 4]}))),
        ("merge lists of maps",
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
            json!({"$setElementOrder/mergingList": [{"name": 4}, {"name": 1}, {"name": 2}, {"name": 3}],
                "mergingList": [{"name": 4, "value": 4}, {"name": 3, "value": 3}]}),
            Ok(json!({"mergingList": [{"name": 4, "value": 4}, {"name": 1, "other": "a"},
                {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3}]}))),
        ("merge lists of maps with conflict",
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 3, "other": "b"}]}),
            json!({"$setElementOrder/mergingList": [{"name": 1}, {"name": 2}, {"name": 3}],
                "mergingList": [{"name": 2, "value": 2}, {"name": 3, "value": 3}]}),
            Ok(json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"},
                {"name": 3, "value": 3}]}))),
        ("add field to map in merging list",
            json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
            json!({"$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
                "mergingList": [{"name": 1, "value": 1}]}),
            Ok(json!({"mergingList": [{"name": 1, "value": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}))),
        ("replace strategy replaces a map whole",
            json!({"replacingItem": {"a": 1, "b": 2}}), json!({"replacingItem": {"c": 3}}),
            Ok(json!({"replacingItem": {"c": 3}}))),
        ("retainKeys directive clears unlisted keys of a map",
            json!({"retainKeysMap": {"name": "foo", "value": "a", "other": "x"}}),
            json!({"retainKeysMap": {"$retainKeys": ["name", "value"], "value": "b"}}),
            Ok(json!({"retainKeysMap": {"name": "foo", "value": "b"}}))),
        ("retainKeys directive with nested merging list",
            json!({"retainKeysMap": {"name": "foo", "mergingList": [{"name": "a"}], "other": "x"}}),
            json!({"retainKeysMap": {"$retainKeys": ["mergingList", "name"], "mergingList": [{"name": "b"}]}}),
            Ok(json!({"retainKeysMap": {"name": "foo", "mergingList": [{"name": "b"}, {"name": "a"}]}}))),
        ("retainKeys: null values need not be listed",
            json!({"retainKeysMap": {"name": "foo", "value": "a"}}),
            json!({"retainKeysMap": {"$retainKeys": ["name"], "value": null}}),
            Ok(json!({"retainKeysMap": {"name": "foo"}}))),
        ("nested merging list inside a merging list element",
            json!({"mergingList": [{"name": 1, "mergingList": [{"name": "x", "value": 1}]}]}),
            json!({"mergingList": [{"name": 1, "mergingList": [{"name": "y", "value": 2}]}]}),
            // A new element goes before server-only ones (no $setElementOrder).
            Ok(json!({"mergingList": [{"name": 1, "mergingList": [{"name": "y", "value": 2}, {"name": "x", "value": 1}]}]}))),
        ("non-merging list inside a merging list element is replaced",
            json!({"mergingList": [{"name": 1, "nonMergingList": [{"name": "x"}]}]}),
            json!({"mergingList": [{"name": 1, "nonMergingList": [{"name": "y"}]}]}),
            Ok(json!({"mergingList": [{"name": 1, "nonMergingList": [{"name": "y"}]}]}))),
        ("$setElementOrder on a non-merging list (patch list taken whole)",
            json!({"nonMergingList": [{"name": 1}, {"name": 2}]}),
            json!({"$setElementOrder/nonMergingList": [{"name": 2}], "nonMergingList": [{"name": 2}]}),
            Ok(json!({"nonMergingList": [{"name": 2}]}))),
    ]);
}
