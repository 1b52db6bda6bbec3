//! storage.k8s.io StorageClass, coordination.k8s.io Lease, discovery.k8s.io
//! EndpointSlice and events.k8s.io Event (`pkg/apis/{storage,coordination,discovery}/validation`,
//! `pkg/apis/core/validation/events.go`).

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::Value;

use super::meta::*;
use super::names::*;
use super::util::*;

const MAX_PARAMETERS: usize = 512;
const MAX_PARAMETERS_SIZE: usize = 256 * (1 << 10);

pub fn validate_storage_class(obj: &Value) -> Errs {
    let mut errs = validate_object_meta(obj, false, NameRule::Subdomain);
    let prov = s(obj, "provisioner");
    let pp = Path::new("provisioner");
    if prov.is_empty() {
        errs.push(required(&pp, ""));
    } else {
        let lower = prov.to_lowercase();
        errs.extend(is_qualified_name(&lower).into_iter().map(|m| invalid(&pp, lower.as_str(), m)));
    }
    let params = str_map(obj, "parameters");
    let parp = Path::new("parameters");
    if params.len() > MAX_PARAMETERS {
        errs.push(crate::errors::FieldError::too_long(parp.as_str(), MAX_PARAMETERS));
    }
    let mut total = 0;
    for (k, v) in &params {
        if k.is_empty() {
            errs.push(invalid(&parp, k.as_str(), "field can not be empty."));
        }
        total += k.len() + v.len();
    }
    if total > MAX_PARAMETERS_SIZE {
        errs.push(crate::errors::FieldError::too_long(parp.as_str(), MAX_PARAMETERS_SIZE));
    }
    let reclaim = s(obj, "reclaimPolicy");
    if !reclaim.is_empty() && reclaim != "Delete" && reclaim != "Retain" {
        errs.push(not_supported(&Path::new("reclaimPolicy"), reclaim, &["Delete", "Retain"]));
    }
    match opt_s(obj, "volumeBindingMode") {
        None => errs.push(required(&Path::new("volumeBindingMode"), "")),
        Some("Immediate" | "WaitForFirstConsumer") => {}
        Some(m) => errs.push(not_supported(&Path::new("volumeBindingMode"), m, &["Immediate", "WaitForFirstConsumer"])),
    }
    errs
}

pub fn validate_storage_class_update(new: &Value, old: &Value) -> Errs {
    let mut errs = validate_object_meta_update(new, old);
    if !sem_eq(get(new, "parameters"), get(old, "parameters")) {
        errs.push(forbidden(&Path::new("parameters"), "updates to parameters are forbidden."));
    }
    if s(new, "provisioner") != s(old, "provisioner") {
        errs.push(forbidden(&Path::new("provisioner"), "updates to provisioner are forbidden."));
    }
    if s(new, "reclaimPolicy") != s(old, "reclaimPolicy") {
        errs.push(forbidden(&Path::new("reclaimPolicy"), "updates to reclaimPolicy are forbidden."));
    }
    errs.extend(immutable(get(new, "volumeBindingMode"), get(old, "volumeBindingMode"), &Path::new("volumeBindingMode")));
    errs
}

pub fn validate_lease(obj: &Value) -> Errs {
    let mut errs = validate_object_meta(obj, true, NameRule::Subdomain);
    let spec = get(obj, "spec").cloned().unwrap_or(Value::Null);
    let p = Path::new("spec");
    if let Some(d) = opt_i64(&spec, "leaseDurationSeconds") {
        if d <= 0 {
            errs.push(invalid_num(&p.child("leaseDurationSeconds"), d, "must be greater than 0"));
        }
    }
    if let Some(t) = opt_i64(&spec, "leaseTransitions") {
        if t < 0 {
            errs.push(invalid_num(&p.child("leaseTransitions"), t, "must be greater than or equal to 0"));
        }
    }
    errs
}

pub fn validate_endpoint_slice(obj: &Value) -> Errs {
    let mut errs = validate_object_meta(obj, true, NameRule::Subdomain);
    let at = s(obj, "addressType");
    let atp = Path::new("addressType");
    match at {
        "" => errs.push(required(&atp, "")),
        "IPv4" | "IPv6" | "FQDN" => {}
        other => errs.push(not_supported(&atp, other, &["FQDN", "IPv4", "IPv6"])),
    }
    let endpoints = arr(obj, "endpoints");
    let ep = Path::new("endpoints");
    if endpoints.len() > 1000 {
        errs.push(too_many(&ep, endpoints.len(), 1000));
    }
    for (i, e) in endpoints.iter().enumerate() {
        let ip = ep.index(i);
        let addrs = arr(e, "addresses");
        let ap = ip.child("addresses");
        if addrs.is_empty() {
            errs.push(required(&ap, "must contain at least 1 address"));
        } else if addrs.len() > 100 {
            errs.push(too_many(&ap, addrs.len(), 100));
        }
        for (j, a) in addrs.iter().enumerate() {
            let a = a.as_str().unwrap_or("");
            let p = ap.index(j);
            match at {
                "IPv4" if a.parse::<Ipv4Addr>().is_err() => errs.push(invalid(&p, a, "must be a valid IPv4 address")),
                "IPv6" if a.parse::<Ipv6Addr>().is_err() => errs.push(invalid(&p, a, "must be a valid IPv6 address")),
                "FQDN" => errs.extend(is_dns1123_subdomain(a.trim_end_matches('.')).into_iter().map(|m| invalid(&p, a, m))),
                _ => {}
            }
        }
        if let Some(h) = opt_s(e, "hostname") {
            errs.extend(is_dns1123_label(h).into_iter().map(|m| invalid(&ip.child("hostname"), h, m)));
        }
        if let Some(n) = opt_s(e, "nodeName") {
            errs.extend(is_dns1123_subdomain(n).into_iter().map(|m| invalid(&ip.child("nodeName"), n, m)));
        }
    }
    let mut names = BTreeSet::new();
    for (i, port) in arr(obj, "ports").iter().enumerate() {
        let pp = Path::new("ports").index(i);
        let name = s(port, "name");
        if !name.is_empty() {
            errs.extend(is_dns1123_label(name).into_iter().map(|m| invalid(&pp.child("name"), name, m)));
        }
        if !names.insert(name.to_string()) {
            errs.push(duplicate(&pp.child("name"), name));
        }
        if let Some(proto) = opt_s(port, "protocol") {
            if !["SCTP", "TCP", "UDP"].contains(&proto) {
                errs.push(not_supported(&pp.child("protocol"), proto, &["SCTP", "TCP", "UDP"]));
            }
        }
        if let Some(n) = opt_i64(port, "port") {
            errs.extend(is_valid_port_num(n).into_iter().map(|m| invalid_num(&pp.child("port"), n, m)));
        }
    }
    errs
}

pub fn validate_endpoint_slice_update(new: &Value, old: &Value) -> Errs {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_endpoint_slice(new));
    errs.extend(immutable(get(new, "addressType"), get(old, "addressType"), &Path::new("addressType")));
    errs
}

/// Rules for "new style" events (events.k8s.io, or core events carrying `eventTime`).
/// Paths are upstream's internal field names (`message` for events.k8s.io's `note`);
/// `controller_field` is what the reporting controller is called in that API version.
pub fn validate_new_event(obj: &Value, controller_field: &str) -> Errs {
    let mut errs = validate_object_meta(obj, true, NameRule::Subdomain);
    if get(obj, "eventTime").is_none() {
        errs.push(required(&Path::new("eventTime"), ""));
    }
    let ty = s(obj, "type");
    if ty != "Normal" && ty != "Warning" {
        errs.push(invalid(&Path::new("type"), "", format!("has invalid value: {ty}")));
    }
    let controller = s(obj, "reportingController");
    let cp = Path::new(controller_field);
    if controller.is_empty() {
        errs.push(required(&cp, ""));
    }
    errs.extend(is_qualified_name(controller).into_iter().map(|m| invalid(&cp, controller, m)));
    let limits: [(&str, &str, usize); 3] = [("reportingInstance", "reportingInstance", 128), ("action", "action", 128), ("reason", "reason", 128)];
    for (key, path, max) in limits {
        let v = s(obj, key);
        if v.is_empty() {
            errs.push(required(&Path::new(path), ""));
        }
        if v.len() > max {
            errs.push(invalid(&Path::new(path), "", format!("can have at most {max} characters")));
        }
    }
    let note = opt_s(obj, "note").unwrap_or_else(|| s(obj, "message"));
    if note.len() > 1024 {
        errs.push(invalid(&Path::new("message"), "", "can have at most 1024 characters"));
    }
    errs
}
