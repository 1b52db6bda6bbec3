//! berth's Kubernetes API server: HTTPS with bearer-token authentication, discovery, OpenAPI,
//! and the REST verbs (get, list, watch, create, update, patch, delete, deletecollection)
//! over the resources in `berth_api::registry`, stored in a `berth_store::Store`.
//!
//! Public surface: [`start`] with a [`ServerConfig`], returning a [`RunningServer`]; and
//! [`Pki`] for the credentials and the admin kubeconfig.

mod admission;
pub mod authn;
mod authz;
mod decoded;
mod discovery;
mod event_ttl;
mod identity_lease;
mod kubelet_server_cert;
mod kubernetes_service;
mod namespaces;
mod node_restriction;
mod objects;
pub mod pki;
pub mod users;
mod probe;
mod rbac;
mod request;
mod rest;
mod sa_admission;
mod satoken;
mod server;
mod state;
mod storage_admission;
mod strategy;
mod table;
pub mod toleration_admission;
mod watch;

pub use authn::node_token;
pub use pki::Pki;
pub use probe::https_get_status;
pub use server::{start, RunningServer, ServerConfig};
