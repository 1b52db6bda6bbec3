//! Tokens for users beyond the admin (`berth kubeconfig --user NAME [--group G]`): a line in
//! `pki/tokens.csv`, which the running server picks up within a second (see `authn`). What
//! the user may do is then up to RBAC bindings.

use std::path::Path;

use crate::authn::{edit_token_file, User, NODES_GROUP, NODE_USER_PREFIX};

/// Names the token file cannot hold, or that belong to other identities.
fn check_identity(name: &str, groups: &[String]) -> Result<(), String> {
    let bad = |s: &str| s.is_empty() || s.contains([',', '"', '\n', '\r']);
    if bad(name) {
        return Err(format!("invalid user name {name:?}"));
    }
    if name.starts_with(NODE_USER_PREFIX) || name.starts_with("system:serviceaccount:") {
        return Err(format!("{name:?} is a node or service account identity; use `berth token node` or a ServiceAccount"));
    }
    for g in groups {
        if bad(g) {
            return Err(format!("invalid group name {g:?}"));
        }
        if g == NODES_GROUP {
            return Err(format!("group {g:?} is reserved for node agents"));
        }
    }
    Ok(())
}

/// The bearer token of user `name` with `groups`: the existing one (its groups updated) or a
/// new one. `system:masters` is allowed on purpose: it is how an operator mints another admin.
pub fn user_token(pki_dir: &Path, name: &str, groups: &[String]) -> Result<String, String> {
    check_identity(name, groups)?;
    edit_token_file(pki_dir, |entries| {
        let user = User { name: name.to_string(), uid: String::new(), groups: groups.to_vec() };
        let token = entries.iter().find(|(_, u)| u.name == name).map(|(t, _)| t.clone()).unwrap_or_else(crate::pki::random_token);
        let mut out: Vec<(String, User)> = entries.iter().filter(|(_, u)| u.name != name).cloned().collect();
        out.push((token.clone(), user));
        (token, Some(out))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::{node_token, TokenAuthenticator, AUTHENTICATED_GROUP};

    #[test]
    fn minted_users_authenticate_and_keep_their_token() {
        let dir = tempfile::tempdir().unwrap();
        let node = node_token(dir.path(), "n1").unwrap();
        let t = user_token(dir.path(), "alice", &["dev".into()]).unwrap();
        let t2 = user_token(dir.path(), "alice", &["dev".into(), "ops".into()]).unwrap();
        assert_eq!(t, t2, "re-minting keeps the token and updates the groups");
        let auth = TokenAuthenticator::new("admin".into(), dir.path());
        let u = auth.authenticate(&t).unwrap();
        assert_eq!((u.name.as_str(), u.groups.clone()), ("alice", vec!["dev".to_string(), "ops".into(), AUTHENTICATED_GROUP.into()]));
        assert_eq!(auth.authenticate(&node).unwrap().node_name(), Some("n1"), "other lines are kept");
        assert!(user_token(dir.path(), "system:node:n2", &[]).is_err());
        assert!(user_token(dir.path(), "bob", &[NODES_GROUP.into()]).is_err());
        assert!(user_token(dir.path(), "a,b", &[]).is_err());
    }
}
