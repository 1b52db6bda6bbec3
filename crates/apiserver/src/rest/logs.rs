//! `GET …/pods/{name}/log`: validate the PodLogOptions, pick the container, and stream the
//! kubelet's `/containerLogs/…` answer through (with `follow` it never ends on its own).

use axum::body::Body;
use axum::http::{header, Method, Request, Response, StatusCode};
use berth_api::{FieldError, StatusError};

use super::{containers, kubelet, read};
use crate::request::{Query, ResourcePath};
use crate::state::Shared;

/// PodLogOptions validation (upstream's `ValidatePodLogOptions`).
fn validate(q: &Query, pod: &str) -> Result<(), StatusError> {
    let mut errs = Vec::new();
    if let Some(n) = q.int("tailLines")?.filter(|n| *n < 0) {
        errs.push(FieldError::invalid("tailLines", n, "must be greater than or equal to 0"));
    }
    if let Some(n) = q.int("limitBytes")?.filter(|n| *n < 1) {
        errs.push(FieldError::invalid("limitBytes", n, "must be greater than 0"));
    }
    if q.get("sinceSeconds").is_some() && q.get("sinceTime").is_some() {
        errs.push(FieldError::forbidden("", "at most one of `sinceTime` or `sinceSeconds` may be specified"));
    }
    if let Some(n) = q.int("sinceSeconds")?.filter(|n| *n < 1) {
        errs.push(FieldError::invalid("sinceSeconds", n, "must be greater than 0"));
    }
    if let Some(t) = q.get("sinceTime") {
        if chrono::DateTime::parse_from_rfc3339(t).is_err() {
            return Err(StatusError::bad_request(format!("parsing time {t:?} as RFC3339: cannot parse")));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(StatusError::invalid("", "PodLogOptions", pod, &errs))
    }
}

/// The kubelet query for these options, in upstream's parameter names.
fn kubelet_query(q: &Query) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for flag in ["follow", "previous", "timestamps"] {
        if q.flag(flag) {
            s.append_pair(flag, "true");
        }
    }
    for key in ["sinceSeconds", "sinceTime", "tailLines", "limitBytes"] {
        if let Some(v) = q.get(key) {
            s.append_pair(key, v);
        }
    }
    s.finish()
}

pub async fn serve(state: &Shared, rp: &ResourcePath, q: &Query, req: Request<hyper::body::Incoming>) -> Result<Response<Body>, StatusError> {
    if req.method() != Method::GET {
        return Err(StatusError::method_not_supported("", "pods/log", &req.method().to_string().to_lowercase()));
    }
    let name = rp.name.as_deref().unwrap_or("");
    let ns = rp.namespace.as_deref().unwrap_or("default");
    validate(q, name)?;
    let (pod, _) = read::get_object(state, rp.info, Some(ns), name).await?;
    let container = containers::resolve(&pod, q.get("container"))?;
    let node = pod["spec"]["nodeName"].as_str().unwrap_or("");
    if node.is_empty() {
        // Upstream answers an unscheduled pod's log request with an empty stream.
        return Ok(text_stream(Body::empty()));
    }
    containers::check_logs_available(&pod, &container, q.flag("previous"))?;
    let (host, port) = kubelet::locate(state, node).await?;
    let uri = format!("/containerLogs/{ns}/{name}/{container}?{}", kubelet_query(q));
    let kreq = Request::get(uri).body(Body::empty()).map_err(|e| StatusError::internal(e.to_string()))?;
    let resp = kubelet::send(state, &host, port, kreq).await?;
    if !resp.status().is_success() {
        return Err(kubelet::error_from(resp, name).await);
    }
    Ok(text_stream(Body::new(resp.into_body())))
}

fn text_stream(body: Body) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(body)
        .expect("static response parts are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_validated_and_forwarded() {
        let q = Query::parse(Some("container=c&follow=true&tailLines=2&timestamps=true&limitBytes=9"));
        assert!(validate(&q, "p").is_ok());
        assert_eq!(kubelet_query(&q), "follow=true&timestamps=true&tailLines=2&limitBytes=9");
        let e = validate(&Query::parse(Some("tailLines=-1")), "p").unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(e.message, "PodLogOptions \"p\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0");
        assert!(validate(&Query::parse(Some("sinceSeconds=1&sinceTime=2024-01-01T00:00:00Z")), "p").is_err());
        assert!(validate(&Query::parse(Some("limitBytes=0")), "p").is_err());
    }
}
