//! Printers for apps statefulsets and controllerrevisions.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::descriptions as d;
use super::util::{self, arr_at, bool_at, i64_at, opt_i64_at, str_at};
use super::{Column, Row};

pub(super) fn stateful_set_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Ready", "Number of the pod with ready state"),
        Column::age(),
        Column::string("Containers", "Names of each container in the template.").wide(),
        Column::string(
            "Images",
            "Images referenced by each container in the template.",
        )
        .wide(),
    ]
}

pub(super) fn stateful_set_row(sts: &Value, now: DateTime<Utc>) -> Row {
    // Defaulting sets spec.replicas to 1 when omitted; print what upstream would hold.
    let desired = opt_i64_at(sts, &["spec", "replicas"]).unwrap_or(1);
    let ready = i64_at(sts, &["status", "readyReplicas"]);
    let (names, images) =
        util::container_cells(arr_at(sts, &["spec", "template", "spec", "containers"]));
    Row::new(vec![
        util::name(sts),
        Value::String(format!("{ready}/{desired}")),
        util::age(sts, now),
        Value::String(names),
        Value::String(images),
    ])
}

pub(super) fn controller_revision_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Controller", "Controller of the object"),
        // Declared a string upstream, but the cell is the integer revision.
        Column::string("Revision", d::CONTROLLER_REVISION_REVISION),
        Column::age(),
    ]
}

/// `<lowercase kind>.<group>/<name>` of the controlling owner (`statefulset.apps/web`;
/// core owners have no group part), or `<none>`.
fn controller_name(obj: &Value) -> String {
    let Some(owner) = arr_at(obj, &["metadata", "ownerReferences"])
        .iter()
        .find(|r| bool_at(r, &["controller"]))
    else {
        return "<none>".to_string();
    };
    let api_version = str_at(owner, &["apiVersion"]);
    // schema.ParseGroupVersion: "v1" has no group, "apps/v1" has group "apps". Upstream fails
    // the whole request on a malformed apiVersion; printing without the group is kinder.
    let group = match api_version.split('/').collect::<Vec<_>>().as_slice() {
        [group, _version] => *group,
        _ => "",
    };
    let kind = str_at(owner, &["kind"]);
    let name = str_at(owner, &["name"]);
    let group_kind = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    if group_kind.is_empty() {
        name.to_string()
    } else {
        format!("{}/{name}", group_kind.to_lowercase())
    }
}

pub(super) fn controller_revision_row(cr: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![
        util::name(cr),
        Value::String(controller_name(cr)),
        Value::from(i64_at(cr, &["revision"])),
        util::age(cr, now),
    ])
}
