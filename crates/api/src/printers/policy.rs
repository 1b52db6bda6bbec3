//! Printer for policy/v1 poddisruptionbudgets (upstream `printPodDisruptionBudget`).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::util::{self, get, i64_at};
use super::{Column, Row};

pub(super) fn pdb_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Min Available", "The minimum number of pods that must be available."),
        Column::string("Max Unavailable", "The maximum number of pods that may be unavailable."),
        Column::typed("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
        Column::age(),
    ]
}

/// An IntOrString as `IntOrString.String()` prints it, `N/A` when unset.
fn int_or_string(v: Option<&Value>) -> Value {
    let s = match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "N/A".to_string(),
    };
    Value::String(s)
}

pub(super) fn pdb_row(pdb: &Value, now: DateTime<Utc>) -> Row {
    Row::new(vec![
        util::name(pdb),
        int_or_string(get(pdb, &["spec", "minAvailable"])),
        int_or_string(get(pdb, &["spec", "maxUnavailable"])),
        Value::from(i64_at(pdb, &["status", "disruptionsAllowed"])),
        util::age(pdb, now),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unset_bound_prints_na() {
        let pdb = json!({"metadata": {"name": "web"}, "spec": {"maxUnavailable": 1}, "status": {"disruptionsAllowed": 1}});
        let r = pdb_row(&pdb, Utc::now());
        assert_eq!(r.cells[..4], [json!("web"), json!("N/A"), json!("1"), json!(1)]);
        let pdb = json!({"metadata": {"name": "q"}, "spec": {"minAvailable": "50%"}});
        assert_eq!(pdb_row(&pdb, Utc::now()).cells[1..4], [json!("50%"), json!("N/A"), json!(0)]);
        let names: Vec<_> = pdb_columns().iter().map(|c| c.name).collect();
        assert_eq!(names, ["Name", "Min Available", "Max Unavailable", "Allowed Disruptions", "Age"]);
    }
}
