//! RBAC (`rbac.authorization.k8s.io/v1`): the authorizer link, its watch-fed cache, the
//! aggregation controller, the bootstrap policy, impersonation and the access reviews.

pub mod aggregate;
pub mod bootstrap;
pub mod cache;
pub mod escalation;
pub mod impersonate;
pub mod reviews;
pub mod rules;

use async_trait::async_trait;
use berth_api::StatusError;

use crate::authz::{Attributes, Authorizer, Decision};
use crate::state::Shared;
pub use cache::Cache;

/// upstream's RBAC authorizer: allow if a binding of the user grants it, else no opinion
/// (with `RBAC: <errors>` as the reason when roles were missing).
pub struct RbacAuthorizer;

#[async_trait]
impl Authorizer for RbacAuthorizer {
    async fn authorize(&self, state: &Shared, a: &Attributes) -> Result<Decision, StatusError> {
        Ok(match state.rbac.read(|p| p.authorize(a)) {
            rules::Verdict::Allowed(_) => Decision::Allow,
            rules::Verdict::NotAllowed(errors) if errors.is_empty() => Decision::NoOpinion(String::new()),
            // upstream's `utilerrors.NewAggregate` text: one error bare, several bracketed.
            rules::Verdict::NotAllowed(errors) if errors.len() == 1 => Decision::NoOpinion(format!("RBAC: {}", errors[0])),
            rules::Verdict::NotAllowed(errors) => Decision::NoOpinion(format!("RBAC: [{}]", errors.join(", "))),
        })
    }
}

/// Start-up: the bootstrap policy, the cache's first fill, one aggregation pass, then the
/// watch loop in the background.
pub async fn start(state: &Shared) -> Result<(), StatusError> {
    bootstrap::ensure(state).await?;
    let rev = cache::sync(state).await?;
    cache::aggregate_once(state).await;
    tokio::spawn(cache::run(state.clone(), rev));
    Ok(())
}
