//! Field selectors (`k8s.io/apimachinery/pkg/fields`): `?fieldSelector=` parsing with upstream's
//! escaping, the canonical string form, per-kind validation and matching.

use super::selectable;
use serde_json::Value;
use std::fmt;

/// Field selectors only know equality and inequality; `=` and `==` are the same term upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOperator {
    Equals,
    NotEquals,
}

/// One `field=value` / `field!=value` term; `value` is unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub operator: FieldOperator,
    pub value: String,
}

/// A parsed field selector: the AND of its terms, in upstream's order (the raw terms sorted as
/// strings before parsing).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    terms: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parse `?fieldSelector=` (upstream `fields.ParseSelector`): comma-separated `a=b`, `a==b`,
    /// `a!=b`; in values, `\,`, `\=` and `\\` escape, while a bare `,`/`=` or any other escape is
    /// an error with upstream's text.
    pub fn parse(s: &str) -> Result<FieldSelector, String> {
        let mut parts = split_terms(s);
        parts.sort();
        let mut terms = Vec::with_capacity(parts.len());
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let Some((lhs, op, rhs)) = split_term(part) else {
                return Err(format!("invalid selector: '{s}'; can't understand '{part}'"));
            };
            let value = unescape_value(rhs)?;
            let operator = if op == "!=" { FieldOperator::NotEquals } else { FieldOperator::Equals };
            terms.push(FieldRequirement { field: lhs.to_string(), operator, value });
        }
        Ok(FieldSelector { terms })
    }

    /// Check every field can be selected on `(group, plural)`, as the API server's field-label
    /// conversion does before listing; the first failure (in term order) is the message for a
    /// 400 BadRequest, e.g. `field label not supported: spec.foo` or, for kinds with no
    /// conversion of their own, `"spec.foo" is not a known field selector: only "metadata.name",
    /// "metadata.namespace"`.
    pub fn validate_for(&self, group: &str, plural: &str) -> Result<(), String> {
        for t in &self.terms {
            selectable::convert_field_label(group, plural, &t.field)?;
        }
        Ok(())
    }

    /// Whether `obj` (JSON of kind `(group, plural)`) satisfies every term. A field the kind
    /// cannot select reads as "" (upstream's `fields.Set.Get` on a missing key); callers are
    /// expected to have rejected those with `validate_for` already.
    pub fn matches(&self, group: &str, plural: &str, obj: &Value) -> bool {
        self.terms.iter().all(|t| {
            let got = selectable::convert_field_label(group, plural, &t.field)
                .ok()
                .and_then(|internal| selectable::field_value(group, plural, &internal, obj))
                .unwrap_or_default();
            match t.operator {
                FieldOperator::Equals => got == t.value,
                FieldOperator::NotEquals => got != t.value,
            }
        })
    }

    /// The name the selector pins with `metadata.name=` (upstream `RequiresExactMatch`), so a
    /// list can be served by a get.
    pub fn exact_name(&self) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == "metadata.name" && t.operator == FieldOperator::Equals)
            .map(|t| t.value.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.terms
    }
}

impl fmt::Display for FieldSelector {
    /// Upstream `String()`: terms joined by `,`, values re-escaped; `==` prints as `=`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = match t.operator {
                FieldOperator::Equals => "=",
                FieldOperator::NotEquals => "!=",
            };
            write!(f, "{}{op}{}", t.field, escape_value(&t.value))?;
        }
        Ok(())
    }
}

/// Upstream `fields.EscapeValue`: `\` → `\\`, then `,` → `\,` and `=` → `\=`.
pub fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Split on commas that are not backslash-escaped; escapes stay in the terms.
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// Split at the first operator, trying `!=`, then `==`, then `=` at each position. The field
/// side has no escaping, so `a\=b=c` splits after `a\`.
fn split_term(term: &str) -> Option<(&str, &str, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for op in ["!=", "==", "="] {
            if let Some(rhs) = rest.strip_prefix(op) {
                return Some((&term[..i], op, rhs));
            }
        }
    }
    None
}

/// Upstream `fields.UnescapeValue`. The unescaped-rune message prints the rune as a number
/// (Go's `%v` of a rune), e.g. `unescaped character in value: 61` for `=`.
fn unescape_value(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(format!("invalid field selector: invalid escape sequence: \\{c}"));
            }
            out.push(c);
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => return Err(format!("invalid field selector: unescaped character in value: {}", c as u32)),
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err("invalid field selector: invalid escape sequence: \\".to_string());
    }
    Ok(out)
}
