pub mod gc;
pub mod statefulset;
