//! Impersonation (`Impersonate-User`, `Impersonate-Group`, `Impersonate-Uid`), as upstream's
//! `WithImpersonation` filter: the requester needs the `impersonate` verb on each of
//! `users`/`serviceaccounts`, `groups` and `uids` (authentication.k8s.io) it asks for; the
//! request then runs as the impersonated user.

use std::sync::Arc;

use axum::http::HeaderMap;
use berth_api::StatusError;

use super::rules::SA_PREFIX;
use crate::authn::{User, AUTHENTICATED_GROUP};
use crate::authz::Attributes;
use crate::state::Shared;

fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect()
}

/// The attributes of "may `user` impersonate this": `resource` in `group`, named `name`.
fn impersonate_attrs(user: &Arc<User>, group: &str, resource: &str, namespace: &str, name: &str) -> Attributes {
    let mut a = crate::authz::from_request(user.clone(), "GET", "/", None);
    a.verb = "impersonate".into();
    a.resource_request = true;
    a.api_group = group.into();
    a.resource = resource.into();
    a.namespace = namespace.into();
    a.name = name.into();
    a
}

/// The user the request runs as: `user` itself without impersonation headers.
pub async fn apply(state: &Shared, user: Arc<User>, headers: &HeaderMap) -> Result<Arc<User>, StatusError> {
    let names = values(headers, "impersonate-user");
    let groups = values(headers, "impersonate-group");
    let uids = values(headers, "impersonate-uid");
    if names.is_empty() && groups.is_empty() && uids.is_empty() {
        return Ok(user);
    }
    let Some(&name) = names.first() else {
        return Err(StatusError::new(500, "InternalError", "Internal error occurred: requested impersonation of groups or uid without impersonating a user"));
    };
    let mut checks = Vec::new();
    let mut as_groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    match name.strip_prefix(SA_PREFIX).and_then(|r| r.split_once(':')) {
        Some((ns, sa)) => {
            checks.push(impersonate_attrs(&user, "", "serviceaccounts", ns, sa));
            // A service account's groups are a fixed mapping when none are asked for.
            if groups.is_empty() {
                as_groups = vec!["system:serviceaccounts".into(), format!("system:serviceaccounts:{ns}")];
            }
        }
        None => checks.push(impersonate_attrs(&user, "", "users", "", name)),
    }
    for g in &groups {
        checks.push(impersonate_attrs(&user, "", "groups", "", g));
    }
    for u in &uids {
        checks.push(impersonate_attrs(&user, "authentication.k8s.io", "uids", "", u));
    }
    for a in &checks {
        crate::authz::authorize(&state.authz, state, a).await?;
    }
    if name != "system:anonymous" && !as_groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
        as_groups.push(AUTHENTICATED_GROUP.into());
    }
    Ok(Arc::new(User { name: name.to_string(), uid: uids.first().map(|u| u.to_string()).unwrap_or_default(), groups: as_groups }))
}
