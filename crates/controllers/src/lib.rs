pub mod statefulset;
pub mod volume;
