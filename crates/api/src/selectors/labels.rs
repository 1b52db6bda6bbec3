//! Label selectors (`k8s.io/apimachinery/pkg/labels`): requirements, matching, the canonical
//! string form, and conversion from a `metav1.LabelSelector` object
//! (`LabelSelectorAsSelector` in `pkg/apis/meta/v1/helpers.go`).

use super::parser;
use super::validation::{aggregate, go_quote, invalid_values, validate_label_key, validate_label_value};
use serde_json::{Map, Value};
use std::fmt;

/// `selection.Operator`; `as_str` is upstream's spelling (used in "expected:" messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    DoesNotExist,
    Equals,
    DoubleEquals,
    In,
    NotEquals,
    NotIn,
    Exists,
    GreaterThan,
    LessThan,
}

impl Operator {
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::DoesNotExist => "!",
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::In => "in",
            Operator::NotEquals => "!=",
            Operator::NotIn => "notin",
            Operator::Exists => "exists",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }
}

/// One `key op values` term; a selector is the AND of its requirements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    operator: Operator,
    /// As given: the string parser passes them sorted and de-duplicated, `matchExpressions`
    /// passes them in the object's order. Output sorts without changing this.
    values: Vec<String>,
}

impl Requirement {
    /// Upstream `NewRequirement` with no field path: validates the key, the value count for the
    /// operator, integer values for `gt`/`lt`, and every value as a label value. All failures are
    /// reported together, as upstream's aggregate does.
    pub fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Requirement, String> {
        let mut errs = Vec::new();
        errs.extend(validate_label_key(key, "key"));
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                errs.push(invalid_values("values", &values, "for 'in', 'notin' operators, values set can't be empty"))
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if values.len() != 1 => {
                errs.push(invalid_values("values", &values, "exact-match compatibility requires one single value"))
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => errs.push(invalid_values(
                "values",
                &values,
                "values set must be empty for exists and does not exist",
            )),
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    errs.push(invalid_values(
                        "values",
                        &values,
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(
                            crate::errors::FieldError::invalid(
                                format!("values[{i}]"),
                                v.as_str(),
                                "for 'Gt', 'Lt' operators, the value must be an integer",
                            )
                            .to_string(),
                        );
                    }
                }
            }
            _ => {}
        }
        for (i, v) in values.iter().enumerate() {
            errs.extend(validate_label_value(key, v, &format!("values[{i}]")));
        }
        match aggregate(errs) {
            Some(e) => Err(e),
            None => Ok(Requirement { key: key.to_string(), operator, values }),
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }
    pub fn operator(&self) -> Operator {
        self.operator
    }
    pub fn values(&self) -> &[String] {
        &self.values
    }

    fn has_value(&self, v: &str) -> bool {
        self.values.iter().any(|x| x == v)
    }

    /// Upstream `Requirement.Matches`. A missing key satisfies `!=`, `notin` and `!key` only;
    /// `gt`/`lt` need both sides to parse as integers.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        let got = labels.get(&self.key).map(label_value);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => got.is_some_and(|v| self.has_value(&v)),
            Operator::NotIn | Operator::NotEquals => got.is_none_or(|v| !self.has_value(&v)),
            Operator::Exists => got.is_some(),
            Operator::DoesNotExist => got.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(got), [want]) = (got, self.values.as_slice()) else { return false };
                let (Ok(got), Ok(want)) = (got.parse::<i64>(), want.parse::<i64>()) else { return false };
                if self.operator == Operator::GreaterThan {
                    got > want
                } else {
                    got < want
                }
            }
        }
    }
}

/// Labels are `map[string]string`; a non-string value (only possible in unvalidated JSON)
/// compares by its JSON text rather than being treated as absent.
fn label_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl fmt::Display for Requirement {
    /// Upstream `Requirement.String()`: `!key`, `key`, `key=v`, `key in (a,b)`, `key>1` …;
    /// several values print sorted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.operator {
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
        };
        f.write_str(op)?;
        let set = matches!(self.operator, Operator::In | Operator::NotIn);
        let mut values = self.values.clone();
        values.sort();
        if set {
            write!(f, "({})", values.join(","))
        } else {
            f.write_str(&values.join(","))
        }
    }
}

/// A parsed label selector: the AND of its requirements, sorted by key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    /// `labels.Nothing()`: what a null `metav1.LabelSelector` converts to. Matches no object.
    nothing: bool,
}

impl LabelSelector {
    /// Parse the `?labelSelector=` syntax (upstream `labels.Parse`). The error is upstream's text,
    /// e.g. `unable to parse requirement: found '', expected: ',', ')' or identifier`.
    pub fn parse(s: &str) -> Result<LabelSelector, String> {
        let mut requirements = parser::parse(s)?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements, nothing: false })
    }

    /// Convert a `metav1.LabelSelector` JSON object (`LabelSelectorAsSelector`): null selects
    /// nothing, `{}` selects everything, otherwise `matchLabels` become `key=value` and
    /// `matchExpressions` map `In`/`NotIn`/`Exists`/`DoesNotExist` to requirements.
    ///
    /// Upstream ranges over `matchLabels` in Go map order, so which of several bad entries is
    /// reported is unspecified there; here it is the first in key order. Errors about the JSON's
    /// shape (a non-object, non-string values) are berth's own wording: upstream rejects those
    /// while decoding, before this function runs.
    pub fn from_label_selector(v: &Value) -> Result<LabelSelector, String> {
        let obj = match v {
            Value::Null => return Ok(LabelSelector::nothing()),
            Value::Object(o) => o,
            other => return Err(format!("label selector must be an object, got {other}")),
        };
        let match_labels = match obj.get("matchLabels") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(m)) => {
                let mut pairs = Vec::with_capacity(m.len());
                for (k, v) in m {
                    let v = v.as_str().ok_or_else(|| format!("matchLabels[{k}] must be a string, got {v}"))?;
                    pairs.push((k.clone(), v.to_string()));
                }
                pairs.sort();
                pairs
            }
            Some(other) => return Err(format!("matchLabels must be an object, got {other}")),
        };
        let exprs: &[Value] = match obj.get("matchExpressions") {
            None | Some(Value::Null) => &[],
            Some(Value::Array(a)) => a,
            Some(other) => return Err(format!("matchExpressions must be an array, got {other}")),
        };
        if match_labels.is_empty() && exprs.is_empty() {
            return Ok(LabelSelector::default());
        }

        let mut requirements = Vec::with_capacity(match_labels.len() + exprs.len());
        for (k, v) in match_labels {
            requirements.push(Requirement::new(&k, Operator::Equals, vec![v])?);
        }
        for (i, e) in exprs.iter().enumerate() {
            let (key, op, values) = expression_parts(i, e)?;
            let operator = match op {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => return Err(format!("{} is not a valid label selector operator", go_quote(other))),
            };
            requirements.push(Requirement::new(key, operator, values)?);
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements, nothing: false })
    }

    /// `labels.SelectorFromSet`: `key=value` for every pair, unvalidated (for maps such as a
    /// Service's `spec.selector` that were validated when stored). Empty selects everything.
    pub fn from_set(set: &Map<String, Value>) -> LabelSelector {
        let mut requirements: Vec<Requirement> = set
            .iter()
            .map(|(k, v)| Requirement { key: k.clone(), operator: Operator::Equals, values: vec![label_value(v)] })
            .collect();
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        LabelSelector { requirements, nothing: false }
    }

    /// `labels.Nothing()`.
    pub fn nothing() -> LabelSelector {
        LabelSelector { requirements: Vec::new(), nothing: true }
    }

    /// Whether the object's `metadata.labels` (absent → empty) satisfies every requirement.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// True when the selector does not restrict anything (`labels.Everything()`); a
    /// nothing-selector is not empty.
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// True for the selector from a null `metav1.LabelSelector`.
    pub fn matches_nothing(&self) -> bool {
        self.nothing
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Upstream `RequiresExactMatch`: the value the first requirement on `key` pins with
    /// `=`, `==` or a one-value `in`.
    pub fn requires_exact_match(&self, key: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == key)?;
        match (r.operator, r.values.as_slice()) {
            (Operator::Equals | Operator::DoubleEquals | Operator::In, [v]) => Some(v),
            _ => None,
        }
    }
}

/// Pull `key`, `operator` and `values` out of one `matchExpressions` entry. Missing or null
/// `values` is Go's nil slice.
fn expression_parts(i: usize, e: &Value) -> Result<(&str, &str, Vec<String>), String> {
    let obj = e.as_object().ok_or_else(|| format!("matchExpressions[{i}] must be an object, got {e}"))?;
    let string_at = |name: &str| -> Result<&str, String> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(""),
            Some(Value::String(s)) => Ok(s),
            Some(other) => Err(format!("matchExpressions[{i}].{name} must be a string, got {other}")),
        }
    };
    let key = string_at("key")?;
    let op = string_at("operator")?;
    let values = match obj.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("matchExpressions[{i}].values must hold strings, got {v}"))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("matchExpressions[{i}].values must be an array, got {other}")),
    };
    Ok((key, op, values))
}

impl fmt::Display for LabelSelector {
    /// Upstream `Selector.String()`: requirements joined by `,` in key order; empty for both
    /// everything and nothing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}
