//! berth's API machinery that needs no IO: the table of resources berth serves, the
//! `Status` error shapes kubectl prints, and (in their own modules) defaulting, validation,
//! server-side table printing, strategic merge patch and the OpenAPI documents.
//!
//! Everything here works on `serde_json::Value` at the boundary so the API server can stay
//! generic over kinds; modules convert to `k8s-openapi` types inside where that helps.

pub mod defaults;
pub mod errors;
pub mod printers;
pub mod quantity;
pub mod protobuf;
pub mod openapi;
pub mod registry;
pub mod validation;
pub mod smp;
pub mod selectors;
pub mod pdb;

pub use errors::{FieldError, FieldErrorType, StatusError};
pub use registry::{ResourceInfo, Scope, REGISTRY};
