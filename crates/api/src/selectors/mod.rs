//! Label and field selectors as the API server receives them in `?labelSelector=` and
//! `?fieldSelector=`, and `metav1.LabelSelector` objects (`matchLabels`/`matchExpressions`) as
//! controllers and validation use them.
//!
//! Behaviour and error text follow upstream `k8s.io/apimachinery` (`pkg/labels`, `pkg/fields`,
//! `pkg/apis/meta/v1/helpers.go`) and, for which fields each kind can be selected on, the
//! field-label conversions and registry strategies of `k8s.io/kubernetes`. Errors are the plain
//! upstream messages; the API server wraps them into a 400 BadRequest `Status`.
//!
//! Layout: `parser` (label selector lexer/parser), `labels` (requirements, matching, printing,
//! `matchExpressions`), `fields` (field selector syntax), `selectable` (per-kind field sets),
//! `validation` (label key/value checks and error shapes).

mod fields;
mod labels;
mod parser;
mod selectable;
mod validation;

#[cfg(test)]
mod tests;

pub use fields::{escape_value, FieldOperator, FieldRequirement, FieldSelector};
pub use labels::{LabelSelector, Operator, Requirement};
