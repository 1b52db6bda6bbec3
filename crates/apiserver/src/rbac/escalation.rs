//! Privilege-escalation prevention, as upstream's RBAC REST storage: a Role or ClusterRole may
//! only be written by someone who holds every permission in it (or may `escalate` it), and a
//! binding only by someone who holds every permission of the role it references (or may
//! `bind` it). `system:masters` is exempt. [`covers`] is upstream's `validation.Covers`.

use std::sync::Arc;

use berth_api::{ResourceInfo, StatusError};
use serde_json::Value;

use super::cache::GROUP;
use super::rules::Rule;
use crate::authn::{User, MASTERS_GROUP};
use crate::authz::{self, Decision};
use crate::state::Shared;

fn has(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == "*" || x == want)
}

/// upstream `BreakdownRule`: one rule per (group, resource, verb[, name]) or (url, verb).
fn breakdown(r: &Rule) -> Vec<Rule> {
    let mut out = Vec::new();
    let one = |v: &str| vec![v.to_string()];
    for g in &r.api_groups {
        for res in &r.resources {
            for v in &r.verbs {
                if r.resource_names.is_empty() {
                    out.push(Rule { api_groups: one(g), resources: one(res), verbs: one(v), ..Default::default() });
                }
                for n in &r.resource_names {
                    out.push(Rule { api_groups: one(g), resources: one(res), verbs: one(v), resource_names: one(n), ..Default::default() });
                }
            }
        }
    }
    for u in &r.non_resource_urls {
        for v in &r.verbs {
            out.push(Rule { non_resource_urls: one(u), verbs: one(v), ..Default::default() });
        }
    }
    out
}

/// upstream `resourceCoversAll`: `*`, exact, `res/*` for any subresource of res, `*/sub`.
fn resource_covers(owner: &[String], want: &str) -> bool {
    owner.iter().any(|o| {
        o == "*"
            || o == want
            || match want.split_once('/') {
                Some((res, sub)) => o.strip_suffix("/*") == Some(res) || o.strip_prefix("*/") == Some(sub),
                None => false,
            }
    })
}

fn url_covers(owner: &[String], want: &str) -> bool {
    owner.iter().any(|o| o == "*" || o == want || o.strip_suffix('*').is_some_and(|p| want.starts_with(p)))
}

/// Whether one owner rule covers one broken-down rule.
fn rule_covers(owner: &Rule, sub: &Rule) -> bool {
    let verb = &sub.verbs[0];
    if !has(&owner.verbs, verb) {
        return false;
    }
    if let Some(url) = sub.non_resource_urls.first() {
        return url_covers(&owner.non_resource_urls, url);
    }
    has(&owner.api_groups, &sub.api_groups[0])
        && resource_covers(&owner.resources, &sub.resources[0])
        && (owner.resource_names.is_empty() || sub.resource_names.first().is_some_and(|n| owner.resource_names.contains(n)))
}

/// The parts of `wanted` that `owned` does not cover (empty: covered).
pub fn covers(owned: &[Rule], wanted: &[Rule]) -> Vec<Rule> {
    wanted.iter().flat_map(breakdown).filter(|sub| !owned.iter().any(|o| rule_covers(o, sub))).collect()
}

/// upstream `CompactString`: `{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}`.
pub fn compact(r: &Rule) -> String {
    let q = |v: &[String]| format!("[{}]", v.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(" "));
    let mut parts = Vec::new();
    for (label, list) in [
        ("APIGroups", &r.api_groups),
        ("Resources", &r.resources),
        ("NonResourceURLs", &r.non_resource_urls),
        ("ResourceNames", &r.resource_names),
        ("Verbs", &r.verbs),
    ] {
        if !list.is_empty() {
            parts.push(format!("{label}:{}", q(list)));
        }
    }
    format!("{{{}}}", parts.join(", "))
}

/// upstream `ConfirmNoEscalation`'s error text.
fn not_held(user: &User, missing: &[Rule], errors: &[String]) -> String {
    let groups = format!("[{}]", user.groups.iter().map(|g| format!("{g:?}")).collect::<Vec<_>>().join(" "));
    let mut msg = format!(
        "user {:?} (groups={groups}) is attempting to grant RBAC permissions not currently held:\n{}",
        user.name,
        missing.iter().map(compact).collect::<Vec<_>>().join("\n")
    );
    if !errors.is_empty() {
        msg.push_str(&format!("; resolution errors: [{}]", errors.join(" ")));
    }
    msg
}

/// Whether the chain lets `user` `verb` the RBAC object `resource/name` in `namespace`.
async fn may(state: &Shared, user: &Arc<User>, verb: &str, resource: &str, namespace: &str, name: &str) -> Result<bool, StatusError> {
    let mut a = authz::from_request(user.clone(), "GET", "/", None);
    a.verb = verb.into();
    a.resource_request = true;
    a.api_group = GROUP.into();
    a.resource = resource.into();
    a.namespace = namespace.into();
    a.name = name.into();
    Ok(matches!(authz::decide(&state.authz, state, &a).await?, Decision::Allow))
}

/// Check a create or update of an RBAC object by the request's user (none: the server itself).
pub async fn check(state: &Shared, info: &ResourceInfo, obj: &Value) -> Result<(), StatusError> {
    if info.group != GROUP {
        return Ok(());
    }
    let Some(user) = crate::authn::request_user() else { return Ok(()) };
    if user.in_group(MASTERS_GROUP) {
        return Ok(());
    }
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    let namespace = if info.namespaced() { obj["metadata"]["namespace"].as_str().unwrap_or("") } else { "" };
    let wanted = match info.kind {
        "Role" | "ClusterRole" => {
            if may(state, &user, "escalate", info.plural, namespace, name).await? {
                return Ok(());
            }
            Rule::list(obj)
        }
        _ => {
            let (kind, role) = (obj["roleRef"]["kind"].as_str().unwrap_or(""), obj["roleRef"]["name"].as_str().unwrap_or(""));
            let plural = if kind == "Role" { "roles" } else { "clusterroles" };
            if may(state, &user, "bind", plural, namespace, role).await? {
                return Ok(());
            }
            let rules = state.rbac.read(|p| match kind {
                "Role" => p.roles.get(&(namespace.to_string(), role.to_string())).cloned(),
                _ => p.cluster_roles.get(role).cloned(),
            });
            let what = if kind == "Role" { "role" } else { "clusterrole" };
            rules.ok_or_else(|| StatusError::bad_request(format!("{what}.rbac.authorization.k8s.io {role:?} not found")))?
        }
    };
    let (owned, errors) = state.rbac.read(|p| p.rules_for(&user, namespace));
    let missing = covers(&owned, &wanted);
    if missing.is_empty() {
        return Ok(());
    }
    Err(StatusError::forbidden(info.group, info.plural, name, &not_held(&user, &missing, &errors)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn r(v: Value) -> Rule {
        Rule::from_json(&v)
    }

    #[test]
    fn covers_table() {
        let owned = [
            r(json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "configmaps/*"]})),
            r(json!({"verbs": ["*"], "apiGroups": ["apps"], "resources": ["statefulsets"], "resourceNames": ["web"]})),
            r(json!({"verbs": ["get"], "nonResourceURLs": ["/apis/*"]})),
        ];
        // (wanted, uncovered count)
        let cases = [
            (json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}), 0),
            (json!({"verbs": ["get", "delete"], "apiGroups": [""], "resources": ["pods"]}), 1),
            (json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods", "secrets"]}), 1),
            (json!({"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps/status"]}), 0),
            (json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}), 1),
            (json!({"verbs": ["update"], "apiGroups": ["apps"], "resources": ["statefulsets"], "resourceNames": ["web"]}), 0),
            (json!({"verbs": ["update"], "apiGroups": ["apps"], "resources": ["statefulsets"]}), 1),
            (json!({"verbs": ["get"], "nonResourceURLs": ["/apis/apps"]}), 0),
            (json!({"verbs": ["get"], "nonResourceURLs": ["/metrics"]}), 1),
            (json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}), 1),
        ];
        for (want, n) in cases {
            assert_eq!(covers(&owned, &[r(want.clone())]).len(), n, "{want}");
        }
    }

    #[test]
    fn message_as_upstream() {
        let user = User { name: "alice".into(), uid: String::new(), groups: vec!["devs".into(), "system:authenticated".into()] };
        let missing = covers(&[], &[r(json!({"verbs": ["delete"], "apiGroups": [""], "resources": ["pods"]}))]);
        assert_eq!(
            not_held(&user, &missing, &[]),
            "user \"alice\" (groups=[\"devs\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"delete\"]}"
        );
    }
}
