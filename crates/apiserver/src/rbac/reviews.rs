//! The access reviews: `SelfSubjectAccessReview`, `SubjectAccessReview`,
//! `LocalSubjectAccessReview` (namespaced: a namespace admin's SubjectAccessReview, confined to
//! its namespace), `SelfSubjectRulesReview` (authorization.k8s.io/v1) and `SelfSubjectReview`
//! (authentication.k8s.io/v1). Create-only, never stored: the answer is the created object's
//! `status` (`kubectl auth can-i`, `kubectl auth can-i --list`, `kubectl auth whoami`).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Response, StatusCode};
use berth_api::StatusError;
use serde_json::{json, Value};

use super::rules::{Rule, Verdict};
use crate::authn::{User, MASTERS_GROUP};
use crate::authz::{self, Attributes, Decision};
use crate::state::{json_response, Shared};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Review {
    SelfAccess,
    Access,
    LocalAccess,
    SelfRules,
    SelfSubject,
}

/// (group, plural, kind, review, namespaced) of each review resource; discovery lists them too.
pub const RESOURCES: &[(&str, &str, &str, Review, bool)] = &[
    ("authorization.k8s.io", "selfsubjectaccessreviews", "SelfSubjectAccessReview", Review::SelfAccess, false),
    ("authorization.k8s.io", "subjectaccessreviews", "SubjectAccessReview", Review::Access, false),
    ("authorization.k8s.io", "localsubjectaccessreviews", "LocalSubjectAccessReview", Review::LocalAccess, true),
    ("authorization.k8s.io", "selfsubjectrulesreviews", "SelfSubjectRulesReview", Review::SelfRules, false),
    ("authentication.k8s.io", "selfsubjectreviews", "SelfSubjectReview", Review::SelfSubject, false),
];

/// The review a request path names: its group, kind, review and (namespaced ones) namespace.
pub fn review_of(path: &str) -> Option<(&'static str, &'static str, Review, Option<&str>)> {
    let rest = path.strip_prefix("/apis/")?;
    let (group, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("v1/")?;
    let (namespace, plural) = match rest.strip_prefix("namespaces/").and_then(|r| r.split_once('/')) {
        Some((ns, plural)) => (Some(ns), plural),
        None => (None, rest),
    };
    RESOURCES
        .iter()
        .find(|(g, p, _, _, namespaced)| *g == group && *p == plural && *namespaced == namespace.is_some())
        .map(|(g, _, k, r, _)| (*g, *k, *r, namespace))
}

/// Upstream's LocalSubjectAccessReview checks: resource attributes only, in the path's namespace.
fn check_local(spec: &Value, namespace: &str) -> Result<(), StatusError> {
    if spec["nonResourceAttributes"].is_object() {
        return Err(StatusError::new(422, "Invalid", "spec.nonResourceAttributes: Invalid value: \"\": disallowed on this kind of request"));
    }
    if spec["resourceAttributes"].is_object() && spec["resourceAttributes"]["namespace"].as_str().unwrap_or("") != namespace {
        return Err(StatusError::bad_request(format!("spec.resourceAttributes.namespace must match namespace: {namespace}")));
    }
    Ok(())
}

fn subject(spec: &Value) -> Arc<User> {
    let groups: Vec<String> = spec["groups"].as_array().into_iter().flatten().filter_map(|g| g.as_str().map(str::to_string)).collect();
    Arc::new(User { name: str_of(spec, "user"), uid: str_of(spec, "uid"), groups })
}

fn str_of(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or("").to_string()
}

/// The attributes a SubjectAccessReview spec asks about.
fn spec_attributes(user: Arc<User>, spec: &Value) -> Result<Attributes, StatusError> {
    let mut a = authz::from_request(user, "GET", "/", None);
    let (res, non) = (&spec["resourceAttributes"], &spec["nonResourceAttributes"]);
    match (res.is_object(), non.is_object()) {
        (true, false) => {
            a.resource_request = true;
            a.verb = str_of(res, "verb");
            a.api_group = str_of(res, "group");
            a.api_version = str_of(res, "version");
            a.resource = str_of(res, "resource");
            a.subresource = str_of(res, "subresource");
            a.namespace = str_of(res, "namespace");
            a.name = str_of(res, "name");
        }
        (false, true) => {
            a.verb = str_of(non, "verb");
            a.path = str_of(non, "path");
        }
        _ => {
            return Err(StatusError::new(
                422,
                "Invalid",
                "spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
            ))
        }
    }
    Ok(a)
}

/// upstream's SubjectAccessReviewStatus for `a`.
async fn access_status(state: &Shared, a: &Attributes) -> Result<Value, StatusError> {
    let mut status = match authz::decide(&state.authz, state, a).await? {
        Decision::Allow => {
            // RBAC explains its allows; system:masters and the Node authorizer give no reason.
            let reason = match state.rbac.read(|p| p.authorize(a)) {
                Verdict::Allowed(r) if !a.user.in_group(MASTERS_GROUP) => r,
                _ => String::new(),
            };
            json!({"allowed": true, "reason": reason})
        }
        Decision::Deny(r) => json!({"allowed": false, "denied": true, "reason": r}),
        Decision::NoOpinion(r) => json!({"allowed": false, "reason": r}),
    };
    // `reason` is omitempty upstream.
    if status["reason"] == "" {
        status.as_object_mut().expect("built as an object").remove("reason");
    }
    Ok(status)
}

fn resource_rule(r: &Rule) -> Value {
    let mut v = json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources});
    if !r.resource_names.is_empty() {
        v["resourceNames"] = json!(r.resource_names);
    }
    v
}

/// upstream's SubjectRulesReviewStatus: the chain's rules for `user` in `namespace`.
fn rules_status(state: &Shared, user: &User, namespace: &str) -> Value {
    let (mut res, mut non, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    if user.in_group(MASTERS_GROUP) {
        res.push(json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}));
        non.push(json!({"verbs": ["*"], "nonResourceURLs": ["*"]}));
    }
    if user.node_name().is_some() {
        errors.push("node authorizer does not support user rule resolution".to_string());
    }
    let (rules, rbac_errors) = state.rbac.read(|p| p.rules_for(user, namespace));
    errors.extend(rbac_errors);
    for r in &rules {
        if r.non_resource_urls.is_empty() {
            res.push(resource_rule(r));
        } else {
            non.push(json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}));
        }
    }
    let mut status = json!({"resourceRules": res, "nonResourceRules": non, "incomplete": !errors.is_empty()});
    if !errors.is_empty() {
        status["evaluationError"] = json!(errors.join(", "));
    }
    status
}

/// Serve a POST of a review by `user`.
pub async fn handle(
    state: &Shared,
    user: Arc<User>,
    path: &str,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response<Body>, StatusError> {
    let (group, kind, review, namespace) = review_of(path).ok_or_else(StatusError::path_not_found)?;
    let plural = RESOURCES.iter().find(|r| r.2 == kind).map(|r| r.1).unwrap_or("");
    if method != Method::POST {
        return Err(StatusError::method_not_supported(group, plural, &method.to_string().to_ascii_lowercase()));
    }
    let mut obj = crate::rest::body::parse_object(headers, body)?;
    obj["apiVersion"] = json!(format!("{group}/v1"));
    obj["kind"] = json!(kind);
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    if let Some(ns) = namespace {
        obj["metadata"]["namespace"] = json!(ns);
    }
    let spec = obj["spec"].clone();
    obj["status"] = match review {
        Review::SelfAccess => access_status(state, &spec_attributes(user, &spec)?).await?,
        Review::Access => access_status(state, &spec_attributes(subject(&spec), &spec)?).await?,
        Review::LocalAccess => {
            check_local(&spec, namespace.unwrap_or(""))?;
            access_status(state, &spec_attributes(subject(&spec), &spec)?).await?
        }
        Review::SelfRules => rules_status(state, &user, spec["namespace"].as_str().unwrap_or("")),
        Review::SelfSubject => {
            let mut info = json!({"username": user.name, "groups": user.groups});
            if !user.uid.is_empty() {
                info["uid"] = json!(user.uid);
            }
            json!({"userInfo": info})
        }
    };
    Ok(json_response(StatusCode::CREATED, &obj, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn review_paths() {
        assert_eq!(review_of("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews").map(|r| r.2), Some(Review::SelfAccess));
        assert_eq!(review_of("/apis/authentication.k8s.io/v1/selfsubjectreviews").map(|r| r.1), Some("SelfSubjectReview"));
        assert_eq!(review_of("/apis/authorization.k8s.io/v1beta1/selfsubjectaccessreviews"), None);
        assert_eq!(review_of("/api/v1/pods"), None);
        let local = review_of("/apis/authorization.k8s.io/v1/namespaces/team/localsubjectaccessreviews").unwrap();
        assert_eq!((local.2, local.3), (Review::LocalAccess, Some("team")));
        // Namespaced only where the resource is.
        assert_eq!(review_of("/apis/authorization.k8s.io/v1/localsubjectaccessreviews"), None);
        assert_eq!(review_of("/apis/authorization.k8s.io/v1/namespaces/team/subjectaccessreviews"), None);
    }

    #[test]
    fn a_local_review_stays_in_its_namespace() {
        let spec = |ns: &str| json!({"user": "alice", "resourceAttributes": {"namespace": ns, "verb": "get", "resource": "pods"}});
        assert!(check_local(&spec("team"), "team").is_ok());
        let err = check_local(&spec("other"), "team").unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (400, "spec.resourceAttributes.namespace must match namespace: team"));
        assert_eq!(check_local(&json!({"nonResourceAttributes": {"path": "/x", "verb": "get"}}), "team").unwrap_err().code, 422);
    }

    #[test]
    fn spec_attributes_follow_the_spec() {
        let u = Arc::new(User::admin());
        let a = spec_attributes(u.clone(), &json!({"resourceAttributes": {"namespace": "d", "verb": "list", "resource": "pods"}})).unwrap();
        assert!(a.resource_request);
        assert_eq!((a.verb.as_str(), a.resource.as_str(), a.namespace.as_str()), ("list", "pods", "d"));
        let a = spec_attributes(u.clone(), &json!({"nonResourceAttributes": {"path": "/healthz", "verb": "get"}})).unwrap();
        assert!(!a.resource_request);
        assert_eq!(a.path, "/healthz");
        assert_eq!(spec_attributes(u, &json!({})).unwrap_err().code, 422);
    }
}
