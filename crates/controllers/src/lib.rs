pub mod endpoints;
pub mod endpointslice;
pub mod gc;
pub mod protection;
pub mod serviceaccount;
pub mod statefulset;
pub mod volume;
