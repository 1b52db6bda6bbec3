pub mod endpoints;
pub mod endpointslice;
pub mod gc;
pub mod statefulset;
pub mod volume;
