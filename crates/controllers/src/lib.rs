pub mod gc;
pub mod statefulset;
pub mod volume;
