//! RBAC evaluation, pure: upstream's rule matching (`pkg/apis/rbac/v1/evaluation_helpers.go`),
//! subject matching and the visit of bindings (`plugin/pkg/auth/authorizer/rbac`), over a
//! [`Policy`] snapshot. No IO here; the cache (`cache.rs`) keeps the policy current.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::authn::User;
use crate::authz::Attributes;

pub const SA_PREFIX: &str = "system:serviceaccount:";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v[key].as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

impl Rule {
    pub fn from_json(v: &Value) -> Rule {
        Rule {
            verbs: strings(v, "verbs"),
            api_groups: strings(v, "apiGroups"),
            resources: strings(v, "resources"),
            resource_names: strings(v, "resourceNames"),
            non_resource_urls: strings(v, "nonResourceURLs"),
        }
    }

    pub fn list(obj: &Value) -> Vec<Rule> {
        obj["rules"].as_array().map(|a| a.iter().map(Rule::from_json).collect()).unwrap_or_default()
    }
}

fn has(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == "*" || x == want)
}

/// upstream `ResourceMatches`: `*`, the exact `resource[/subresource]`, or `*/subresource`.
fn resource_matches(rule: &Rule, combined: &str, subresource: &str) -> bool {
    rule.resources.iter().any(|r| {
        r == "*" || r == combined || (!subresource.is_empty() && r.strip_prefix("*/") == Some(subresource))
    })
}

/// upstream `NonResourceURLMatches`: `*`, exact, or a prefix ending in `*`.
fn url_matches(rule: &Rule, path: &str) -> bool {
    rule.non_resource_urls.iter().any(|u| {
        u == "*" || u == path || u.strip_suffix('*').is_some_and(|prefix| path.starts_with(prefix))
    })
}

/// upstream `RuleAllows`.
pub fn rule_allows(a: &Attributes, rule: &Rule) -> bool {
    if !has(&rule.verbs, &a.verb) {
        return false;
    }
    if !a.resource_request {
        return url_matches(rule, &a.path);
    }
    let combined = if a.subresource.is_empty() { a.resource.clone() } else { format!("{}/{}", a.resource, a.subresource) };
    has(&rule.api_groups, &a.api_group)
        && resource_matches(rule, &combined, &a.subresource)
        && (rule.resource_names.is_empty() || rule.resource_names.contains(&a.name))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub name: String,
    /// Empty for a ClusterRoleBinding.
    pub namespace: String,
    pub role_kind: String,
    pub role_name: String,
    pub subjects: Vec<Subject>,
}

impl Binding {
    pub fn from_json(v: &Value) -> Binding {
        let meta = &v["metadata"];
        let s = |v: &Value, k: &str| v[k].as_str().unwrap_or("").to_string();
        Binding {
            name: s(meta, "name"),
            namespace: s(meta, "namespace"),
            role_kind: s(&v["roleRef"], "kind"),
            role_name: s(&v["roleRef"], "name"),
            subjects: v["subjects"]
                .as_array()
                .map(|a| a.iter().map(|x| Subject { kind: s(x, "kind"), name: s(x, "name"), namespace: s(x, "namespace") }).collect())
                .unwrap_or_default(),
        }
    }
}

/// upstream `appliesToUser`; a ServiceAccount subject without namespace means the binding's.
pub fn applies_to(user: &User, s: &Subject, binding_ns: &str) -> bool {
    match s.kind.as_str() {
        "User" => user.name == s.name,
        "Group" => user.in_group(&s.name),
        "ServiceAccount" => {
            let ns = if s.namespace.is_empty() { binding_ns } else { &s.namespace };
            !ns.is_empty() && user.name == format!("{SA_PREFIX}{ns}:{}", s.name)
        }
        _ => false,
    }
}

/// upstream `describeSubject`.
fn describe_subject(s: &Subject, binding_ns: &str) -> String {
    if s.kind == "ServiceAccount" {
        let ns = if s.namespace.is_empty() { binding_ns } else { &s.namespace };
        return format!("{} {:?}", s.kind, format!("{}/{ns}", s.name));
    }
    format!("{} {:?}", s.kind, s.name)
}

/// Every Role, ClusterRole and binding, as the authorizer reads them.
#[derive(Debug, Default)]
pub struct Policy {
    pub cluster_roles: HashMap<String, Vec<Rule>>,
    /// (namespace, name) → rules.
    pub roles: HashMap<(String, String), Vec<Rule>>,
    pub cluster_bindings: BTreeMap<String, Binding>,
    /// namespace → name → binding.
    pub bindings: HashMap<String, BTreeMap<String, Binding>>,
}

/// The outcome of one evaluation: the binding that allowed it (upstream's `allowed by …`
/// reason), or the errors met on the way (missing roles; upstream's `RBAC: …` reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed(String),
    NotAllowed(Vec<String>),
}

impl Policy {
    fn role_rules(&self, b: &Binding) -> Result<&[Rule], String> {
        let found = match b.role_kind.as_str() {
            "ClusterRole" => self.cluster_roles.get(&b.role_name),
            "Role" if !b.namespace.is_empty() => self.roles.get(&(b.namespace.clone(), b.role_name.clone())),
            _ => None,
        };
        found.map(Vec::as_slice).ok_or_else(|| {
            let what = if b.role_kind == "Role" { "role" } else { "clusterrole" };
            format!("{what}.rbac.authorization.k8s.io {:?} not found", b.role_name)
        })
    }

    /// The bindings that apply in `namespace` ("" = cluster scope only), each with the
    /// subject that matched `user`: cluster bindings first, as upstream's `VisitRulesFor`.
    fn applicable<'a>(&'a self, user: &'a User, namespace: &str) -> impl Iterator<Item = (&'a Binding, &'a Subject)> + 'a {
        let ns_bindings = (!namespace.is_empty()).then(|| self.bindings.get(namespace)).flatten();
        self.cluster_bindings
            .values()
            .chain(ns_bindings.into_iter().flat_map(|m| m.values()))
            .filter_map(move |b| b.subjects.iter().find(|s| applies_to(user, s, &b.namespace)).map(|s| (b, s)))
    }

    pub fn authorize(&self, a: &Attributes) -> Verdict {
        let mut errors = Vec::new();
        for (b, s) in self.applicable(&a.user, &a.namespace) {
            match self.role_rules(b) {
                Ok(rules) if rules.iter().any(|r| rule_allows(a, r)) => {
                    let who = if b.namespace.is_empty() {
                        format!("ClusterRoleBinding {:?}", b.name)
                    } else {
                        format!("RoleBinding {:?}", format!("{}/{}", b.name, b.namespace))
                    };
                    return Verdict::Allowed(format!(
                        "RBAC: allowed by {who} of {} {:?} to {}",
                        b.role_kind,
                        b.role_name,
                        describe_subject(s, &b.namespace)
                    ));
                }
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        }
        Verdict::NotAllowed(errors)
    }

    /// Every rule that applies to `user` in `namespace` (SelfSubjectRulesReview).
    pub fn rules_for(&self, user: &User, namespace: &str) -> (Vec<Rule>, Vec<String>) {
        let (mut rules, mut errors) = (Vec::new(), Vec::new());
        for (b, _) in self.applicable(user, namespace) {
            match self.role_rules(b) {
                Ok(r) => rules.extend(r.iter().cloned()),
                Err(e) => errors.push(e),
            }
        }
        (rules, errors)
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
