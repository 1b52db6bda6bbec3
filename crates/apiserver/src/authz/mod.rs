//! Authorization: each request's [`Attributes`] go through a chain of authorizers, each
//! answering allow, deny or no opinion (upstream's union authorizer: the first allow or deny
//! wins; if all abstain the request is forbidden with their reasons). The chain is
//! `system:masters` (unrestricted), the Node authorizer, and the default discovery access of
//! every authenticated user; RBAC would be one more link.

pub mod attributes;
pub mod graph;
pub mod node;

use async_trait::async_trait;
use berth_api::StatusError;

pub use attributes::{from_request, Attributes};

use crate::authn::MASTERS_GROUP;
use crate::state::Shared;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(String),
    NoOpinion(String),
}

#[async_trait]
pub trait Authorizer: Send + Sync {
    async fn authorize(&self, state: &Shared, a: &Attributes) -> Result<Decision, StatusError>;
}

/// upstream `authorizerfactory.NewPrivilegedGroups(system:masters)`.
pub struct PrivilegedGroups;

#[async_trait]
impl Authorizer for PrivilegedGroups {
    async fn authorize(&self, _: &Shared, a: &Attributes) -> Result<Decision, StatusError> {
        Ok(if a.user.in_group(MASTERS_GROUP) { Decision::Allow } else { Decision::NoOpinion(String::new()) })
    }
}

/// The Node authorizer: [`node::decide`] plus the store lookups of its relationship rules.
pub struct NodeAuthorizer;

#[async_trait]
impl Authorizer for NodeAuthorizer {
    async fn authorize(&self, state: &Shared, a: &Attributes) -> Result<Decision, StatusError> {
        let Some(node) = a.user.node_name() else { return Ok(Decision::NoOpinion(String::new())) };
        Ok(match node::decide(node, a) {
            node::NodeRule::Allow => Decision::Allow,
            node::NodeRule::NoOpinion(r) => Decision::NoOpinion(r),
            node::NodeRule::IfRelated(kind) => {
                if graph::related(state, node, kind, &a.namespace, &a.name).await? {
                    Decision::Allow
                } else {
                    Decision::NoOpinion(node::unrelated_reason(node))
                }
            }
        })
    }
}

/// The server's chain.
pub fn default_chain() -> Vec<Box<dyn Authorizer>> {
    vec![Box::new(PrivilegedGroups), Box::new(NodeAuthorizer), Box::new(crate::rbac::RbacAuthorizer)]
}

/// Run the chain to a decision (the access reviews report it as is).
pub async fn decide(chain: &[Box<dyn Authorizer>], state: &Shared, a: &Attributes) -> Result<Decision, StatusError> {
    let mut reasons = Vec::new();
    for link in chain {
        match link.authorize(state, a).await? {
            Decision::NoOpinion(r) if !r.is_empty() => reasons.push(r),
            Decision::NoOpinion(_) => {}
            d => return Ok(d),
        }
    }
    Ok(Decision::NoOpinion(reasons.join("\n")))
}

/// Run the chain; `Err` is the 403 to answer (or an internal error of a lookup).
pub async fn authorize(chain: &[Box<dyn Authorizer>], state: &Shared, a: &Attributes) -> Result<(), StatusError> {
    match decide(chain, state, a).await? {
        Decision::Allow => Ok(()),
        Decision::Deny(r) | Decision::NoOpinion(r) => Err(forbidden(a, &r)),
    }
}

/// upstream's `responsewriters.Forbidden` text: `User "u" cannot <verb> resource "r[/sub]" in
/// API group "g" in the namespace "ns"` (or `at the cluster scope`, or `path "/p"`), then
/// `: <reason>` when there is one.
pub fn forbidden_message(a: &Attributes, reason: &str) -> String {
    let user = &a.user.name;
    let mut msg = if !a.resource_request {
        format!("User {user:?} cannot {} path {:?}", a.verb, a.path)
    } else {
        let resource = if a.subresource.is_empty() { a.resource.clone() } else { format!("{}/{}", a.resource, a.subresource) };
        let scope = if a.namespace.is_empty() { "at the cluster scope".to_string() } else { format!("in the namespace {:?}", a.namespace) };
        format!("User {user:?} cannot {} resource {resource:?} in API group {:?} {scope}", a.verb, a.api_group)
    };
    if !reason.is_empty() {
        msg.push_str(": ");
        msg.push_str(reason);
    }
    msg
}

pub fn forbidden(a: &Attributes, reason: &str) -> StatusError {
    let msg = forbidden_message(a, reason);
    if a.resource.is_empty() {
        return StatusError::new(403, "Forbidden", format!("forbidden: {msg}"));
    }
    StatusError::forbidden(&a.api_group, &a.resource, &a.name, &msg)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::authn::{User, AUTHENTICATED_GROUP, NODES_GROUP};

    fn node_user() -> Arc<User> {
        Arc::new(User { name: "system:node:node-1".into(), uid: String::new(), groups: vec![NODES_GROUP.into(), AUTHENTICATED_GROUP.into()] })
    }

    #[test]
    fn forbidden_texts_match_upstream() {
        let a = from_request(node_user(), "PATCH", "/api/v1/nodes/node-2", None);
        assert_eq!(
            forbidden(&a, "").message,
            r#"nodes "node-2" is forbidden: User "system:node:node-1" cannot patch resource "nodes" in API group "" at the cluster scope"#
        );
        let a = from_request(node_user(), "GET", "/api/v1/namespaces/default/pods", None);
        assert_eq!(
            forbidden(&a, "can only list/watch pods with spec.nodeName field selector").message,
            r#"pods is forbidden: User "system:node:node-1" cannot list resource "pods" in API group "" in the namespace "default": can only list/watch pods with spec.nodeName field selector"#
        );
        let a = from_request(node_user(), "PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-2", None);
        assert_eq!(
            forbidden(&a, "x").message,
            r#"leases.coordination.k8s.io "node-2" is forbidden: User "system:node:node-1" cannot update resource "leases" in API group "coordination.k8s.io" in the namespace "kube-node-lease": x"#
        );
        let a = from_request(node_user(), "GET", "/metrics", None);
        assert_eq!(forbidden(&a, "").message, r#"forbidden: User "system:node:node-1" cannot get path "/metrics""#);
        assert_eq!(forbidden(&a, "").code, 403);
    }
}
