pub mod endpoints;
pub mod endpointslice;
pub mod gc;
pub mod protection;
pub mod statefulset;
pub mod volume;
