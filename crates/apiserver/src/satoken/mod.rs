//! Service-account tokens: the TokenRequest subresource (`POST
//! /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`, upstream's
//! pkg/registry/core/serviceaccount/storage/token.go) and the authenticator that accepts the
//! tokens it issues while their ServiceAccount (and bound object) still exist unchanged
//! (upstream's legacy-free `validator.go`).

pub mod claims;
pub mod jwt;

use axum::body::Body;
use axum::http::{HeaderMap, Response, StatusCode};
use berth_api::registry::lookup;
use berth_api::{FieldError, StatusError};
use serde_json::{json, Value};

use crate::authn::{User, AUTHENTICATED_GROUP};
use crate::objects;
use crate::rest::get_object;
use crate::state::{json_response, Shared};
use claims::{Ref, Subject, ISSUER};

pub const SA_GROUP: &str = "system:serviceaccounts";
const DEFAULT_EXPIRATION: i64 = 3600;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn uid_of(obj: &Value) -> String {
    objects::meta_str(obj, "uid").unwrap_or_default().to_string()
}

/// Fetch an object, `None` when it does not exist.
async fn fetch(state: &Shared, plural: &str, ns: Option<&str>, name: &str) -> Result<Option<Value>, StatusError> {
    let info = lookup("", "v1", plural).expect("core resources are registered");
    match get_object(state, info, ns, name).await {
        Ok((o, _)) => Ok(Some(o)),
        Err(e) if e.code == 404 => Ok(None),
        Err(e) => Err(e),
    }
}

/// Upstream's TokenRequest validation.
fn validate_request(expiration: i64) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if expiration < 600 {
        errs.push(FieldError::invalid("spec.expirationSeconds", expiration, "may not specify a duration less than 10 minutes"));
    }
    if expiration > 1 << 32 {
        errs.push(FieldError::invalid("spec.expirationSeconds", expiration, "may not specify a duration larger than 2^32 seconds"));
    }
    errs
}

/// upstream NodeRestriction for TokenRequests: a node may only ask for tokens bound (by uid)
/// to a pod scheduled on it. `pod` is the bound pod once fetched (`None`: check the request only).
fn node_may_request(node: &str, bound: Option<&Value>, pod: Option<&Value>) -> Result<(), String> {
    let field = |k: &str| bound.and_then(|b| b.get(k)).and_then(Value::as_str).unwrap_or("");
    if field("apiVersion") != "v1" || field("kind") != "Pod" || field("name").is_empty() {
        return Err("node requested token not bound to a pod".into());
    }
    if field("uid").is_empty() {
        return Err("node requested token with a pod binding without a uid".into());
    }
    if let Some(pod) = pod {
        if pod.pointer("/spec/nodeName").and_then(Value::as_str) != Some(node) {
            return Err("node requested token bound to a pod scheduled on a different node".into());
        }
    }
    Ok(())
}

/// `POST …/serviceaccounts/{name}/token`: sign a token for the ServiceAccount.
pub async fn create(state: &Shared, ns: &str, name: &str, headers: &HeaderMap, body: &[u8]) -> Result<Response<Body>, StatusError> {
    let sa_info = lookup("", "v1", "serviceaccounts").expect("serviceaccounts are registered");
    let mut req = crate::rest::parse_body(headers, body)?;
    crate::rest::check_type_meta(sa_info, &mut req, "TokenRequest", "authentication.k8s.io/v1")?;
    let sa = fetch(state, "serviceaccounts", Some(ns), name).await?.ok_or_else(|| StatusError::not_found("", "serviceaccounts", name))?;
    let spec = req.get("spec").cloned().unwrap_or_else(|| json!({}));
    let mut audiences: Vec<String> = spec.get("audiences").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect()).unwrap_or_default();
    if audiences.is_empty() {
        audiences = vec![ISSUER.to_string()];
    }
    let expiration = spec.get("expirationSeconds").and_then(Value::as_i64).unwrap_or(DEFAULT_EXPIRATION);
    let errs = validate_request(expiration);
    if !errs.is_empty() {
        return Err(StatusError::invalid("authentication.k8s.io", "TokenRequest", name, &errs));
    }
    let mut subject = Subject { namespace: ns.to_string(), service_account: Some(Ref { name: name.to_string(), uid: uid_of(&sa) }), ..Default::default() };
    let bound = spec.get("boundObjectRef").filter(|v| v.is_object());
    let node = crate::authn::request_user().and_then(|u| u.node_name().map(str::to_string));
    if let Some(node) = &node {
        node_may_request(node, bound, None).map_err(|why| StatusError::forbidden("", "serviceaccounts", name, &why))?;
    }
    if let Some(r) = bound {
        let (kind, api_version) = (r.get("kind").and_then(Value::as_str).unwrap_or(""), r.get("apiVersion").and_then(Value::as_str).unwrap_or(""));
        let obj_name = r.get("name").and_then(Value::as_str).unwrap_or("");
        let (plural, obj) = match (api_version, kind) {
            ("v1", "Pod") => ("pods", fetch(state, "pods", Some(ns), obj_name).await?),
            ("v1", "Secret") => ("secrets", fetch(state, "secrets", Some(ns), obj_name).await?),
            _ => {
                let gvk = if api_version.contains('/') { format!("{api_version}, Kind={kind}") } else { format!("/{api_version}, Kind={kind}") };
                return Err(StatusError::bad_request(format!("cannot bind token for object of type {gvk}")));
            }
        };
        let obj = obj.ok_or_else(|| StatusError::not_found("", plural, obj_name))?;
        let uid = uid_of(&obj);
        if let Some(want) = r.get("uid").and_then(Value::as_str).filter(|u| !u.is_empty()) {
            if want != uid {
                return Err(StatusError::conflict("", kind, obj_name, &format!("the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated")));
            }
        }
        if let Some(node) = &node {
            node_may_request(node, bound, Some(&obj)).map_err(|why| StatusError::forbidden("", "serviceaccounts", name, &why))?;
        }
        let rf = Ref { name: obj_name.to_string(), uid };
        if plural == "pods" {
            if obj.pointer("/spec/serviceAccountName").and_then(Value::as_str) != Some(name) {
                return Err(StatusError::bad_request(format!("cannot bind token for serviceaccount {name:?} to pod running with different serviceaccount name.")));
            }
            if let Some(node) = obj.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) {
                if let Some(n) = fetch(state, "nodes", None, node).await? {
                    subject.node = Some(Ref { name: node.to_string(), uid: uid_of(&n) });
                }
            }
            subject.pod = Some(rf);
        } else {
            subject.secret = Some(rf);
        }
    }
    let issued = now();
    let (claims, _) = claims::build(&subject, &audiences, issued, expiration, &objects::new_uid());
    let token = state.sa_key.sign(&claims);
    let mut out_spec = json!({"audiences": audiences, "expirationSeconds": expiration, "boundObjectRef": null});
    if let Some(r) = bound {
        out_spec["boundObjectRef"] = r.clone();
    }
    let expires = chrono::DateTime::from_timestamp(issued + expiration, 0).unwrap_or_default();
    let body = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": null},
        "spec": out_spec,
        "status": {"token": token, "expirationTimestamp": expires.format("%Y-%m-%dT%H:%M:%SZ").to_string()},
    });
    Ok(json_response(StatusCode::CREATED, &body, &[]))
}

/// The user a service-account JWT stands for, or `None` (401): signed by our key, in its time
/// window, for our audience, and its ServiceAccount (and bound pod or secret) still there with
/// the same uid.
pub async fn authenticate(state: &Shared, token: &str) -> Option<User> {
    let c = state.sa_key.verify(token).ok()?;
    let s = claims::validate(&c, now(), &[ISSUER]).map_err(|e| tracing::debug!(error = %e, "service account token rejected")).ok()?;
    let sa = s.service_account.as_ref()?;
    let live = |o: Option<Value>, want: &Ref| o.filter(|o| uid_of(o) == want.uid && !objects::is_deleting(o)).is_some();
    if !live(fetch(state, "serviceaccounts", Some(&s.namespace), &sa.name).await.ok()?, sa) {
        return None;
    }
    if let Some(p) = &s.pod {
        // A pod being deleted keeps its token until it is gone, as its containers still run.
        let pod = fetch(state, "pods", Some(&s.namespace), &p.name).await.ok()?;
        pod.filter(|o| uid_of(o) == p.uid)?;
    }
    if let Some(x) = &s.secret {
        if !live(fetch(state, "secrets", Some(&s.namespace), &x.name).await.ok()?, x) {
            return None;
        }
    }
    // upstream also puts these in the user's `extra`; berth's User has no extra map yet, so
    // they are only traced.
    tracing::debug!(namespace = %s.namespace, service_account = %sa.name, extra = ?claims::extra(&s), "service account token accepted");
    Some(User {
        name: format!("system:serviceaccount:{}:{}", s.namespace, sa.name),
        uid: sa.uid.clone(),
        groups: vec![SA_GROUP.into(), format!("{SA_GROUP}:{}", s.namespace), AUTHENTICATED_GROUP.into()],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_only_get_tokens_for_their_own_pods() {
        let r = json!({"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u"});
        assert_eq!(node_may_request("n1", None, None).unwrap_err(), "node requested token not bound to a pod");
        let no_uid = json!({"apiVersion": "v1", "kind": "Pod", "name": "p"});
        assert_eq!(node_may_request("n1", Some(&no_uid), None).unwrap_err(), "node requested token with a pod binding without a uid");
        assert!(node_may_request("n1", Some(&r), Some(&json!({"spec": {"nodeName": "n1"}}))).is_ok());
        assert_eq!(
            node_may_request("n1", Some(&r), Some(&json!({"spec": {"nodeName": "n2"}}))).unwrap_err(),
            "node requested token bound to a pod scheduled on a different node"
        );
    }

    #[test]
    fn request_validation_as_upstream() {
        assert!(validate_request(600).is_empty());
        assert_eq!(validate_request(599)[0].detail, "may not specify a duration less than 10 minutes");
        assert_eq!(validate_request((1 << 32) + 1)[0].detail, "may not specify a duration larger than 2^32 seconds");
    }
}
