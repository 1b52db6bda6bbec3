//! Step-through scenarios with a fake clock. Every status the model asks to write goes
//! through a JSON round trip (as through the API server) before the next step, and the
//! harness asserts that no write is ever a no-op.

mod admission;
mod annotations;
mod deletion;
mod harness;
mod lifecycle;
mod node;
