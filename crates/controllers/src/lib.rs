pub mod statefulset;
