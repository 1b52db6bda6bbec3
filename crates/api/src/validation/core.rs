//! Core v1 kinds other than Pod: Service, PersistentVolume(Claim), Namespace, Node,
//! ConfigMap, Secret, ServiceAccount, Endpoints and legacy Events
//! (`pkg/apis/core/validation/validation.go`, `events.go`).

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde_json::{json, Value};

use super::meta::*;
use super::names::*;
use super::pod::spec_diff;
use super::quantity;
use super::util::*;

const ACCESS_MODES: &[&str] = &["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"];
const MAX_SECRET_SIZE: usize = 1024 * 1024;

fn spec_of(obj: &Value) -> Value {
    get(obj, "spec").cloned().unwrap_or(Value::Null)
}

// ---------------------------------------------------------------- Service

fn cluster_ips(spec: &Value) -> Vec<String> {
    let ips: Vec<String> = arr(spec, "clusterIPs").iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
    if ips.is_empty() && !s(spec, "clusterIP").is_empty() {
        // the registry syncs clusterIPs from clusterIP before validating
        return vec![s(spec, "clusterIP").to_string()];
    }
    ips
}

fn is_headless(spec: &Value) -> bool {
    cluster_ips(spec) == ["None"]
}

pub fn validate_service(obj: &Value) -> Errs {
    let mut errs = validate_object_meta(obj, true, NameRule::Dns1035);
    let spec = spec_of(obj);
    let p = Path::new("spec");
    let ty = s(&spec, "type");
    let ports = arr(&spec, "ports");
    if ports.is_empty() && !is_headless(&spec) && ty != "ExternalName" {
        errs.push(required(&p.child("ports"), ""));
    }
    match ty {
        "LoadBalancer" | "NodePort" if is_headless(&spec) => {
            errs.push(invalid(&p.child("clusterIPs").index(0), "None", format!("may not be set to 'None' for {ty} services")));
        }
        "ExternalName" => {
            if !cluster_ips(&spec).is_empty() {
                errs.push(forbidden(&p.child("clusterIPs"), "may not be set for ExternalName services"));
            }
            if !arr(&spec, "ipFamilies").is_empty() {
                errs.push(forbidden(&p.child("ipFamilies"), "may not be set for ExternalName services"));
            }
            if get(&spec, "ipFamilyPolicy").is_some() {
                errs.push(forbidden(&p.child("ipFamilyPolicy"), "may not be set for ExternalName services"));
            }
            let cname = s(&spec, "externalName").trim_end_matches('.');
            if cname.is_empty() {
                errs.push(required(&p.child("externalName"), ""));
            } else {
                errs.extend(is_dns1123_subdomain(cname).into_iter().map(|m| invalid(&p.child("externalName"), cname, m)));
            }
        }
        _ => {}
    }
    let mut names = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let pp = p.child("ports").index(i);
        let name = s(port, "name");
        if ports.len() > 1 && name.is_empty() {
            errs.push(required(&pp.child("name"), ""));
        } else if !name.is_empty() {
            errs.extend(is_dns1123_label(name).into_iter().map(|m| invalid(&pp.child("name"), name, m)));
            if !names.insert(name.to_string()) {
                errs.push(duplicate(&pp.child("name"), name));
            }
        }
        let n = i64_or(port, "port", 0);
        errs.extend(is_valid_port_num(n).into_iter().map(|m| invalid_num(&pp.child("port"), n, m)));
        let proto = s(port, "protocol");
        if proto.is_empty() {
            errs.push(required(&pp.child("protocol"), ""));
        } else if !["SCTP", "TCP", "UDP"].contains(&proto) {
            errs.push(not_supported(&pp.child("protocol"), proto, &["SCTP", "TCP", "UDP"]));
        }
        match get(port, "targetPort") {
            Some(Value::String(t)) => errs.extend(is_valid_port_name(t).into_iter().map(|m| invalid(&pp.child("targetPort"), t.as_str(), m))),
            t => {
                let t = t.and_then(Value::as_i64).unwrap_or(0);
                errs.extend(is_valid_port_num(t).into_iter().map(|m| invalid_num(&pp.child("targetPort"), t, m)));
            }
        }
        if let Some(ap) = opt_s(port, "appProtocol") {
            errs.extend(is_qualified_name(ap).into_iter().map(|m| invalid(&pp.child("appProtocol"), ap, m)));
        }
    }
    errs.extend(validate_labels(&spec, "selector", &p.child("selector")));
    let affinity = s(&spec, "sessionAffinity");
    match affinity {
        "" => errs.push(required(&p.child("sessionAffinity"), "")),
        "ClientIP" | "None" => {}
        other => errs.push(not_supported(&p.child("sessionAffinity"), other, &["ClientIP", "None"])),
    }
    if affinity == "None" && get(&spec, "sessionAffinityConfig").is_some() {
        errs.push(forbidden(&p.child("sessionAffinityConfig"), "must not be set when session affinity is None"));
    }
    for (i, ip) in arr(&spec, "externalIPs").iter().enumerate() {
        let ip = ip.as_str().unwrap_or("");
        if ip.parse::<IpAddr>().is_err() {
            errs.push(invalid(&p.child("externalIPs").index(i), ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"));
        }
    }
    match ty {
        "" => errs.push(required(&p.child("type"), "")),
        "ClusterIP" | "ExternalName" | "LoadBalancer" | "NodePort" => {}
        other => errs.push(not_supported(&p.child("type"), other, &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"])),
    }
    if ty == "ClusterIP" {
        for (i, port) in ports.iter().enumerate() {
            if i64_or(port, "nodePort", 0) != 0 {
                errs.push(forbidden(&p.child("ports").index(i).child("nodePort"), "may not be used when `type` is 'ClusterIP'"));
            }
        }
    }
    let mut node_ports = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let np = i64_or(port, "nodePort", 0);
        if np != 0 && !node_ports.insert((s(port, "protocol").to_string(), np)) {
            errs.push(duplicate(&p.child("ports").index(i).child("nodePort"), np));
        }
    }
    let mut seen = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let key = (s(port, "protocol").to_string(), i64_or(port, "port", 0));
        if !seen.insert(key.clone()) {
            // json.Marshal of the internal core.ServicePort key (no json tags)
            let shown = json!({"Name": "", "Protocol": key.0, "AppProtocol": null, "Port": key.1, "TargetPort": 0, "NodePort": 0});
            errs.push(duplicate(&p.child("ports").index(i), shown));
        }
    }
    if get(&spec, "allocateLoadBalancerNodePorts").is_some() && ty != "LoadBalancer" {
        errs.push(forbidden(&p.child("allocateLoadBalancerNodePorts"), "may only be used when `type` is 'LoadBalancer'"));
    }
    let etp = s(&spec, "externalTrafficPolicy");
    if ty == "NodePort" || ty == "LoadBalancer" {
        if etp.is_empty() {
            errs.push(required(&p.child("externalTrafficPolicy"), ""));
        } else if etp != "Cluster" && etp != "Local" {
            errs.push(not_supported(&p.child("externalTrafficPolicy"), etp, &["Cluster", "Local"]));
        }
    } else if !etp.is_empty() {
        errs.push(invalid(&p.child("externalTrafficPolicy"), etp, "may only be set when `type` is 'NodePort' or 'LoadBalancer'"));
    }
    match opt_s(&spec, "internalTrafficPolicy") {
        None if matches!(ty, "NodePort" | "LoadBalancer" | "ClusterIP") => errs.push(required(&p.child("internalTrafficPolicy"), "")),
        Some(itp) if itp != "Cluster" && itp != "Local" => errs.push(not_supported(&p.child("internalTrafficPolicy"), itp, &["Cluster", "Local"])),
        _ => {}
    }
    errs
}

pub fn validate_service_update(new: &Value, old: &Value) -> Errs {
    let mut errs = validate_object_meta_update(new, old);
    let (ns, os) = (spec_of(new), spec_of(old));
    if s(&ns, "type") != "ExternalName" && s(&os, "type") != "ExternalName" {
        let (nips, oips) = (cluster_ips(&ns), cluster_ips(&os));
        if !nips.is_empty() && !oips.is_empty() && nips[0] != oips[0] {
            errs.push(invalid(&Path::new("spec").child("clusterIPs").index(0), json!(nips), "may not change once set"));
        }
    }
    errs.extend(validate_service(new));
    errs
}

// ---------------------------------------------------- PersistentVolume(Claim)

const PV_SOURCES: &[&str] = &[
    "hostPath", "gcePersistentDisk", "awsElasticBlockStore", "glusterfs", "flocker", "nfs", "rbd", "quobyte", "cephfs",
    "iscsi", "cinder", "fc", "flexVolume", "azureFile", "vsphereVolume", "photonPersistentDisk", "portworxVolume",
    "azureDisk", "scaleIO", "local", "storageos", "csi",
];

fn access_modes(spec: &Value, p: &Path, required_detail: &str, errs: &mut Errs) {
    let modes = arr(spec, "accessModes");
    if modes.is_empty() {
        errs.push(required(&p.child("accessModes"), required_detail));
    }
    let (mut rwop, mut other) = (false, false);
    for m in modes {
        let m = m.as_str().unwrap_or("");
        if !ACCESS_MODES.contains(&m) {
            errs.push(not_supported(&p.child("accessModes"), m, ACCESS_MODES));
        }
        if m == "ReadWriteOncePod" {
            rwop = true;
        } else if ACCESS_MODES.contains(&m) {
            other = true;
        }
    }
    if rwop && other {
        errs.push(forbidden(&p.child("accessModes"), "may not use ReadWriteOncePod with other access modes"));
    }
}

fn positive_quantity(q: &Value, p: &Path, errs: &mut Errs) {
    let shown = q.as_str().map(str::to_string).unwrap_or_else(|| q.to_string());
    match quantity::parse(q) {
        Some(n) if n <= 0.0 => errs.push(invalid(p, shown, "must be greater than zero")),
        None => errs.push(invalid(p, shown, "must be a valid resource quantity")),
        _ => {}
    }
}

fn storage_class_name(v: &Value, p: &Path, errs: &mut Errs) {
    if let Some(sc) = opt_s(v, "storageClassName").filter(|s| !s.is_empty()) {
        errs.extend(is_dns1123_subdomain(sc).into_iter().map(|m| invalid(&p.child("storageClassName"), sc, m)));
    }
}

fn volume_mode(v: &Value, p: &Path, errs: &mut Errs) {
    if let Some(m) = opt_s(v, "volumeMode") {
        if m != "Block" && m != "Filesystem" {
            errs.push(not_supported(&p.child("volumeMode"), m, &["Block", "Filesystem"]));
        }
    }
}

pub fn validate_pv(obj: &Value) -> Errs {
    let mut errs = validate_object_meta(obj, false, NameRule::Subdomain);
    let spec = spec_of(obj);
    let p = Path::new("spec");
    access_modes(&spec, &p, "", &mut errs);
    let capacity = obj_or_empty(&spec, "capacity");
    if capacity.is_empty() {
        errs.push(required(&p.child("capacity"), ""));
    }
    if !capacity.contains_key("storage") || capacity.len() > 1 {
        errs.push(not_supported(&p.child("capacity"), sorted_map_value(&spec, "capacity"), &["storage"]));
    }
    for (k, q) in &capacity {
        positive_quantity(q, &p.child("capacity").key(k), &mut errs);
    }
    let reclaim = s(&spec, "persistentVolumeReclaimPolicy");
    if !reclaim.is_empty() && !["Delete", "Recycle", "Retain"].contains(&reclaim) {
        errs.push(not_supported(&p.child("persistentVolumeReclaimPolicy"), reclaim, &["Delete", "Recycle", "Retain"]));
    }
    let mut n = 0;
    for &src in PV_SOURCES {
        let Some(sv) = get(&spec, src) else { continue };
        if n > 0 {
            let key = if src == "cephfs" { "cephFS" } else { src };
            errs.push(forbidden(&p.child(key), "may not specify more than 1 volume type"));
            continue;
        }
        n += 1;
        let sp = p.child(src);
        match src {
            "hostPath" | "local" => {
                if s(sv, "path").is_empty() {
                    errs.push(required(&sp.child("path"), ""));
                }
                if src == "local" && get(&spec, "nodeAffinity").is_none() {
                    errs.push(required(&p.child("nodeAffinity"), "Local volume requires node affinity"));
                }
            }
            "nfs" => {
                if s(sv, "server").is_empty() {
                    errs.push(required(&sp.child("server"), ""));
                }
                let path = s(sv, "path");
                if path.is_empty() {
                    errs.push(required(&sp.child("path"), ""));
                }
                if !path.starts_with('/') {
                    errs.push(invalid(&sp.child("path"), path, "must be an absolute path"));
                }
            }
            "csi" => {
                if s(sv, "driver").is_empty() {
                    errs.push(required(&sp.child("driver"), ""));
                }
                if s(sv, "volumeHandle").is_empty() {
                    errs.push(required(&sp.child("volumeHandle"), ""));
                }
            }
            _ => {}
        }
    }
    if n == 0 {
        errs.push(required(&p, "must specify a volume type"));
    }
    if let Some(hp) = get(&spec, "hostPath") {
        if s(hp, "path").trim_end_matches('/').is_empty() && !s(hp, "path").is_empty() && reclaim == "Recycle" {
            errs.push(forbidden(&p.child("persistentVolumeReclaimPolicy"), "may not be 'recycle' for a hostPath mount of '/'"));
        }
    }
    storage_class_name(&spec, &p, &mut errs);
    volume_mode(&spec, &p, &mut errs);
    errs
}

fn obj_or_empty(v: &Value, key: &str) -> serde_json::Map<String, Value> {
    obj(v, key).cloned().unwrap_or_default()
}

fn pv_source(spec: &Value) -> Value {
    let mut m = serde_json::Map::new();
    for &src in PV_SOURCES {
        if let Some(v) = get(spec, src) {
            m.insert(src.to_string(), v.clone());
        }
    }
    Value::Object(m)
}

pub fn validate_pv_update(new: &Value, old: &Value) -> Errs {
    let mut errs = validate_pv(new);
    errs.extend(validate_object_meta_update(new, old));
    let (ns, os) = (spec_of(new), spec_of(old));
    let (nsrc, osrc) = (pv_source(&ns), pv_source(&os));
    if !sem_eq(Some(&nsrc), Some(&osrc)) {
        errs.push(forbidden(
            &Path::new("spec").child("persistentvolumesource"),
            format!("spec.persistentvolumesource is immutable after creation\n{}", spec_diff(&osrc, &nsrc)),
        ));
    }
    errs.extend(immutable(get(&ns, "volumeMode"), get(&os, "volumeMode"), &Path::new("volumeMode")));
    if get(&os, "nodeAffinity").is_some() {
        errs.extend(immutable(get(&ns, "nodeAffinity"), get(&os, "nodeAffinity"), &Path::new("nodeAffinity")));
    }
    errs
}

/// `ValidatePersistentVolumeClaimSpec`, also used for StatefulSet claim templates' specs.
pub fn validate_pvc_spec(spec: &Value, p: &Path) -> Errs {
    let mut errs = Errs::new();
    access_modes(spec, p, "at least 1 access mode is required", &mut errs);
    if let Some(sel) = get(spec, "selector") {
        errs.extend(validate_label_selector(sel, &p.child("selector")));
    }
    let resources = get(spec, "resources").cloned().unwrap_or(Value::Null);
    let rp = p.child("resources").key("storage");
    match get(&resources, "requests").and_then(|r| get(r, "storage")) {
        None => errs.push(required(&rp, "")),
        Some(q) => positive_quantity(q, &rp, &mut errs),
    }
    storage_class_name(spec, p, &mut errs);
    volume_mode(spec, p, &mut errs);
    for key in ["dataSource", "dataSourceRef"] {
        if let Some(ds) = get(spec, key) {
            let dp = p.child(key);
            if s(ds, "name").is_empty() {
                errs.push(required(&dp.child("name"), ""));
            }
            if s(ds, "kind").is_empty() {
                errs.push(required(&dp.child("kind"), ""));
            }
            if s(ds, "apiGroup").is_empty() && s(ds, "kind") != "PersistentVolumeClaim" {
                errs.push(invalid(&dp, s(ds, "kind"), ""));
            }
        }
    }
    errs
}

pub fn validate_pvc(obj: &Value) -> Errs {
    let mut errs = validate_object_meta(obj, true, NameRule::Subdomain);
    errs.extend(validate_pvc_spec(&spec_of(obj), &Path::new("spec")));
    errs
}

fn storage_request(spec: &Value) -> Option<&Value> {
    get(spec, "resources").and_then(|r| get(r, "requests")).and_then(|r| get(r, "storage"))
}

pub fn validate_pvc_update(new: &Value, old: &Value) -> Errs {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_pvc(new));
    let (ns, os) = (spec_of(new), spec_of(old));
    let (mut nclone, mut oclone) = (ns.clone(), os.clone());
    if s(&os, "volumeName").is_empty() {
        // the binder may set volumeName once
        if let Some(m) = oclone.as_object_mut() {
            match ns.get("volumeName") {
                Some(v) => m.insert("volumeName".into(), v.clone()),
                None => m.remove("volumeName"),
            };
        }
    }
    let bound = get(new, "status").map(|st| s(st, "phase")) == Some("Bound");
    if bound {
        if let (Some(old_req), Some(req)) = (storage_request(&os).cloned(), nclone.pointer_mut("/resources/requests/storage")) {
            *req = old_req;
        }
    }
    // volumeAttributesClassName is mutable (the message names it)
    for c in [&mut nclone, &mut oclone] {
        if let Some(m) = c.as_object_mut() {
            m.remove("volumeAttributesClassName");
        }
    }
    if !sem_eq(Some(&nclone), Some(&oclone)) {
        errs.push(forbidden(
            &Path::new("spec"),
            format!(
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n{}",
                spec_diff(&oclone, &nclone)
            ),
        ));
    }
    let (new_size, old_size) = (storage_request(&ns).and_then(quantity::parse), storage_request(&os).and_then(quantity::parse));
    if let (Some(n), Some(o)) = (new_size, old_size) {
        if n < o {
            // RecoverVolumeExpansionFailure (on in v1.33) allows shrinking down to, but not
            // to or below, the capacity recorded in status.
            let status_cap = get(old, "status").and_then(|st| get(st, "capacity")).and_then(|c| get(c, "storage")).and_then(quantity::parse);
            if status_cap.is_none_or(|cap| n <= cap) {
                errs.push(forbidden(&Path::new("spec").child("resources").child("requests").child("storage"), "field can not be less than status.capacity"));
            }
        }
    }
    errs.extend(immutable(get(&ns, "volumeMode"), get(&os, "volumeMode"), &Path::new("volumeMode")));
    errs
}

// ------------------------------------------------------------- Namespace, Node

pub fn validate_namespace(obj: &Value) -> Errs {
    let mut errs = validate_object_meta(obj, false, NameRule::Label);
    let fp = Path::new("spec").child("finalizers");
    for f in arr(&spec_of(obj), "finalizers") {
        let f = f.as_str().unwrap_or("");
        errs.extend(is_qualified_name(f).into_iter().map(|m| invalid(&fp, f, m)));
        if !f.contains('/') && !["kubernetes", "orphan", "foregroundDeletion"].contains(&f) {
            errs.push(invalid(&fp, f, "name is neither a standard finalizer name nor is it fully qualified"));
        }
    }
    errs
}

fn node_taints(spec: &Value, errs: &mut Errs) {
    // upstream reports taints under `metadata.taints` (it passes the metadata path)
    let tp = Path::new("metadata").child("taints");
    let mut seen = BTreeSet::new();
    for (i, t) in arr(spec, "taints").iter().enumerate() {
        let ip = tp.index(i);
        errs.extend(validate_label_name(s(t, "key"), &ip.child("key")));
        let m = is_label_value(s(t, "value"));
        if !m.is_empty() {
            errs.push(invalid(&ip.child("value"), s(t, "value"), m.join(";")));
        }
        let effect = s(t, "effect");
        if effect.is_empty() {
            errs.push(required(&ip.child("effect"), ""));
        } else if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
            errs.push(not_supported(&ip.child("effect"), effect, &["NoSchedule", "PreferNoSchedule", "NoExecute"]));
        }
        if !seen.insert((effect.to_string(), s(t, "key").to_string())) {
            let mut e = duplicate(&ip, t.clone());
            e.detail = "taints must be unique by key and effect pair".to_string();
            errs.push(e);
        }
    }
}

pub fn validate_node(obj: &Value) -> Errs {
    let mut errs = validate_object_meta(obj, false, NameRule::Subdomain);
    let spec = spec_of(obj);
    node_taints(&spec, &mut errs);
    let cp = Path::new("spec").child("podCIDRs");
    let cidrs = arr(&spec, "podCIDRs");
    for (i, c) in cidrs.iter().enumerate() {
        if !is_cidr(c.as_str().unwrap_or("")) {
            errs.push(invalid(&cp.index(i), Value::Array(cidrs.to_vec()), "must be valid CIDR"));
        }
    }
    errs
}

fn is_cidr(c: &str) -> bool {
    let Some((ip, bits)) = c.split_once('/') else { return false };
    let Ok(ip) = ip.parse::<IpAddr>() else { return false };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    bits.parse::<u8>().is_ok_and(|b| b <= max)
}

pub fn validate_node_update(new: &Value, old: &Value) -> Errs {
    let mut errs = validate_object_meta_update(new, old);
    let (ns, os) = (spec_of(new), spec_of(old));
    let (ncidr, ocidr) = (arr(&ns, "podCIDRs"), arr(&os, "podCIDRs"));
    if !ocidr.is_empty() && ncidr != ocidr {
        errs.push(forbidden(&Path::new("spec").child("podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"));
    }
    let old_provider = s(&os, "providerID");
    if !old_provider.is_empty() && old_provider != s(&ns, "providerID") {
        errs.push(forbidden(&Path::new("spec").child("providerID"), "node updates may not change providerID except from \"\" to valid"));
    }
    node_taints(&ns, &mut errs);
    errs
}

// ------------------------------------------------ ConfigMap, Secret, ServiceAccount

pub fn validate_config_map(obj: &Value) -> Errs {
    let mut errs = validate_object_meta(obj, true, NameRule::Subdomain);
    let binary: Vec<(String, String)> = str_map(obj, "binaryData");
    let mut total = 0;
    for (k, v) in str_map(obj, "data") {
        let p = Path::new("data").key(&k);
        errs.extend(is_config_map_key(&k).into_iter().map(|m| invalid(&p, k.as_str(), m)));
        if binary.iter().any(|(bk, _)| *bk == k) {
            errs.push(invalid(&p, k.as_str(), "duplicate of key present in binaryData"));
        }
        total += v.len();
    }
    for (k, v) in &binary {
        let p = Path::new("binaryData").key(k);
        errs.extend(is_config_map_key(k).into_iter().map(|m| invalid(&p, k.as_str(), m)));
        total += v.len() * 3 / 4; // stored base64; the limit applies to the decoded bytes
    }
    if total > MAX_SECRET_SIZE {
        errs.push(crate::errors::FieldError::too_long("", MAX_SECRET_SIZE));
    }
    errs
}

fn immutable_data(new: &Value, old: &Value, keys: &[&str], errs: &mut Errs) {
    if !bool_of(old, "immutable") {
        return;
    }
    if !bool_of(new, "immutable") {
        errs.push(forbidden(&Path::new("immutable"), "field is immutable when `immutable` is set"));
    }
    for k in keys {
        if !sem_eq(get(new, k), get(old, k)) {
            errs.push(forbidden(&Path::new(k), "field is immutable when `immutable` is set"));
        }
    }
}

pub fn validate_config_map_update(new: &Value, old: &Value) -> Errs {
    let mut errs = validate_object_meta_update(new, old);
    immutable_data(new, old, &["data", "binaryData"], &mut errs);
    errs.extend(validate_config_map(new));
    errs
}

pub fn validate_secret(obj: &Value) -> Errs {
    let mut errs = validate_object_meta(obj, true, NameRule::Subdomain);
    let dp = Path::new("data");
    let data = str_map(obj, "data");
    let mut total = 0;
    for (k, v) in &data {
        errs.extend(is_config_map_key(k).into_iter().map(|m| invalid(&dp.key(k), k.as_str(), m)));
        total += v.len() * 3 / 4; // base64 on the wire
    }
    if total > MAX_SECRET_SIZE {
        errs.push(crate::errors::FieldError::too_long("data", MAX_SECRET_SIZE));
    }
    let has = |k: &str| data.iter().any(|(dk, _)| dk == k);
    let meta = get(obj, "metadata").cloned().unwrap_or(Value::Null);
    match s(obj, "type") {
        "kubernetes.io/service-account-token" if str_map(&meta, "annotations").iter().all(|(k, v)| k != "kubernetes.io/service-account.name" || v.is_empty()) => {
            errs.push(required(&Path::new("metadata").child("annotations").key("kubernetes.io/service-account.name"), ""));
        }
        "kubernetes.io/dockercfg" if !has(".dockercfg") => errs.push(required(&dp.key(".dockercfg"), "")),
        "kubernetes.io/dockerconfigjson" if !has(".dockerconfigjson") => errs.push(required(&dp.key(".dockerconfigjson"), "")),
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errs.push(required(&dp.key("username"), ""));
            errs.push(required(&dp.key("password"), ""));
        }
        "kubernetes.io/ssh-auth" if !has("ssh-privatekey") => errs.push(required(&dp.key("ssh-privatekey"), "")),
        "kubernetes.io/tls" => {
            for k in ["tls.crt", "tls.key"] {
                if !has(k) {
                    errs.push(required(&dp.key(k), ""));
                }
            }
        }
        _ => {}
    }
    errs
}

pub fn validate_secret_update(new: &Value, old: &Value) -> Errs {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(immutable(get(new, "type"), get(old, "type"), &Path::new("type")));
    immutable_data(new, old, &["data"], &mut errs);
    errs.extend(validate_secret(new));
    errs
}

// ------------------------------------------------------------ Endpoints, Event

fn valid_ip(ip: &str, p: &Path, errs: &mut Errs) {
    match ip.parse::<IpAddr>() {
        Err(_) => errs.push(invalid(p, ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")),
        Ok(addr) => {
            if addr.is_unspecified() {
                errs.push(invalid(p, ip, format!("may not be unspecified ({ip})")));
            }
            if addr.is_loopback() {
                errs.push(invalid(p, ip, "may not be in the loopback range (127.0.0.0/8, ::1/128)"));
            }
            let link_local = match addr {
                IpAddr::V4(a) => a.is_link_local(),
                IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
            };
            if link_local {
                errs.push(invalid(p, ip, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"));
            }
        }
    }
}

pub fn validate_endpoints(obj: &Value) -> Errs {
    let mut errs = validate_object_meta(obj, true, NameRule::Subdomain);
    for (i, ss) in arr(obj, "subsets").iter().enumerate() {
        let sp = Path::new("subsets").index(i);
        if arr(ss, "addresses").is_empty() && arr(ss, "notReadyAddresses").is_empty() {
            errs.push(required(&sp, "must specify `addresses` or `notReadyAddresses`"));
        }
        for key in ["addresses", "notReadyAddresses"] {
            for (j, a) in arr(ss, key).iter().enumerate() {
                let ap = sp.child(key).index(j);
                valid_ip(s(a, "ip"), &ap.child("ip"), &mut errs);
                let hostname = s(a, "hostname");
                if !hostname.is_empty() {
                    errs.extend(is_dns1123_label(hostname).into_iter().map(|m| invalid(&ap.child("hostname"), hostname, m)));
                }
                if let Some(node) = opt_s(a, "nodeName") {
                    errs.extend(is_dns1123_subdomain(node).into_iter().map(|m| invalid(&ap.child("nodeName"), node, m)));
                }
            }
        }
        let ports = arr(ss, "ports");
        for (j, port) in ports.iter().enumerate() {
            let pp = sp.child("ports").index(j);
            let name = s(port, "name");
            if ports.len() > 1 && name.is_empty() {
                errs.push(required(&pp.child("name"), ""));
            } else if !name.is_empty() {
                errs.extend(is_dns1123_label(name).into_iter().map(|m| invalid(&pp.child("name"), name, m)));
            }
            let n = i64_or(port, "port", 0);
            errs.extend(is_valid_port_num(n).into_iter().map(|m| invalid_num(&pp.child("port"), n, m)));
            let proto = s(port, "protocol");
            if proto.is_empty() {
                errs.push(required(&pp.child("protocol"), ""));
            } else if !["SCTP", "TCP", "UDP"].contains(&proto) {
                errs.push(not_supported(&pp.child("protocol"), proto, &["SCTP", "TCP", "UDP"]));
            }
        }
    }
    errs
}

/// Core v1 Events: legacy events (no `eventTime`) only get the namespace checks;
/// events with `eventTime` get the events.k8s.io rules.
pub fn validate_core_event(obj: &Value) -> Errs {
    if get(obj, "eventTime").is_some() {
        return super::other::validate_new_event(obj, "source");
    }
    let mut errs = Errs::new();
    let ns = get(obj, "metadata").map(|m| s(m, "namespace")).unwrap_or("");
    let involved_ns = get(obj, "involvedObject").map(|o| s(o, "namespace")).unwrap_or("");
    let p = Path::new("involvedObject").child("namespace");
    if involved_ns.is_empty() {
        if !ns.is_empty() && ns != "default" {
            errs.push(invalid(&p, involved_ns, "does not match event.namespace"));
        }
    } else if ns != involved_ns {
        errs.push(invalid(&p, involved_ns, "does not match event.namespace"));
    }
    errs.extend(is_dns1123_subdomain(ns).into_iter().map(|m| invalid(&Path::new("namespace"), ns, m)));
    errs
}
