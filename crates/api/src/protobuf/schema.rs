//! The declarative schema: one static [`Message`] table per Kubernetes message type.
//!
//! The tables under `schema/` are generated from the struct tags of upstream's `types.go`
//! (see `tools/gen_schema.py`): the protobuf field number, the Go JSON name and the Go shape
//! of each field. The shape matters as much as the number, because the JSON we produce must be
//! what Go's encoding/json would write for the decoded struct: pointers are emitted when
//! present (even when zero), non-pointer scalars with `omitempty` are dropped when zero, and
//! non-pointer structs are always written.

pub mod apps_v1;
pub mod authentication_v1;
pub mod authorization_v1;
pub mod autoscaling_v1;
pub mod coordination_v1;
pub mod core_v1;
// ListMeta has a table for completeness, though no request body carries one (lists are never sent).
#[allow(dead_code)]
pub mod meta_v1;
pub mod policy_v1;
pub mod rbac_v1;

/// One message type: a Go struct with protobuf tags.
#[derive(Debug)]
pub struct Message {
    /// `group/version.Kind` of the Go type, for error messages.
    pub name: &'static str,
    /// In Go struct order, which is the order Go writes JSON keys in.
    pub fields: &'static [Field],
}

#[derive(Debug)]
pub struct Field {
    pub number: u32,
    /// The Go JSON name; empty for `json:",inline"` fields.
    pub json: &'static str,
    pub kind: Kind,
    pub shape: Shape,
    /// The Go JSON tag has `omitempty`.
    pub omitempty: bool,
}

/// What one value of a field is (the element type for repeated fields, the value type for maps).
#[derive(Debug)]
pub enum Kind {
    String,
    Bool,
    Int32,
    Int64,
    /// `float64`. No field of the covered types has one; the tests exercise it.
    #[cfg_attr(not(test), allow(dead_code))]
    Double,
    /// `[]byte`: base64 in JSON.
    Bytes,
    Message(&'static Message),
    /// A nested message whose fields Go's JSON writes into the parent (`json:",inline"`).
    Inline(&'static Message),
    /// `resource.Quantity` {string=1}: the quantity's string.
    Quantity,
    /// `metav1.Time` {seconds=1, nanos=2}: RFC 3339 to the second, `null` when zero.
    Time,
    /// `metav1.MicroTime`: RFC 3339 with microseconds, `null` when zero.
    MicroTime,
    /// `intstr.IntOrString` {type=1, intVal=2, strVal=3}: a JSON number or string.
    IntOrString,
    /// `runtime.RawExtension` {raw=1}: the embedded JSON document. None of the covered types
    /// embeds one yet (Event, Scale … do not); the tests exercise it.
    #[cfg_attr(not(test), allow(dead_code))]
    RawExtension,
    /// `metav1.FieldsV1` {Raw=1}: the embedded JSON document.
    FieldsV1,
}

/// The Go shape of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A plain Go value (`string`, `int32`, a struct …).
    Value,
    /// `*T`: emitted whenever present on the wire, whatever its value.
    Pointer,
    /// `[]T`.
    Repeated,
    /// `map[string]T` (Kubernetes map keys are always strings).
    Map,
}

impl Message {
    pub fn field(&self, number: u32) -> Option<(usize, &'static Field)> {
        self.fields.iter().enumerate().find(|(_, f)| f.number == number)
    }
}
