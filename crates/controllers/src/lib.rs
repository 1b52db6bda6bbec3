pub mod gc;
pub mod protection;
pub mod statefulset;
pub mod volume;
