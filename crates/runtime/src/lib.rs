//! What berth's control-plane components share at run time: a `kube` client for the cluster
//! they run in ([`connect`]) and an [`EventRecorder`] that writes core/v1 Events the way
//! client-go's recorder does, so `kubectl describe` shows them with upstream's counts.

pub mod cache;
mod events;
mod failover;
pub mod leader;
pub mod queue;

pub use cache::{revision_of, Change, Informer};
pub use events::{reference, EventRecorder, EventType};
pub use failover::connect_any;
pub use queue::WorkQueue;

/// Where and how a component reaches the API server.
#[derive(Clone, Debug)]
pub struct ClusterAccess {
    /// e.g. `https://127.0.0.1:6443`
    pub url: String,
    /// PEM of the cluster CA.
    pub ca_pem: String,
    pub token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid API server URL {0:?}")]
    Url(String),
    #[error("reading the cluster CA: {0}")]
    Ca(String),
    #[error("building the client: {0}")]
    Client(#[from] kube::Error),
}

/// A kube client that trusts only the cluster CA and authenticates with the bearer token.
pub fn connect(access: &ClusterAccess) -> Result<kube::Client, ConnectError> {
    let uri = access.url.parse().map_err(|_| ConnectError::Url(access.url.clone()))?;
    let mut config = kube::Config::new(uri);
    let certs = rustls_pemfile::certs(&mut access.ca_pem.as_bytes())
        .map(|c| c.map(|c| c.as_ref().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConnectError::Ca(e.to_string()))?;
    if certs.is_empty() {
        return Err(ConnectError::Ca("no certificate in PEM".into()));
    }
    config.root_cert = Some(certs);
    config.auth_info.token = Some(access.token.clone().into());
    config.connect_timeout = Some(std::time::Duration::from_secs(10));
    Ok(kube::Client::try_from(config)?)
}
