//! Pod and PodSpec validation (`pkg/apis/core/validation/validation.go`: ValidatePodSpec,
//! validateContainers, ValidateVolumes, ValidatePodUpdate). Covers what berth's workloads
//! exercise; exotic volume plugins are counted as volume types but not inspected.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::meta::{validate_label_name, validate_labels, validate_object_meta, validate_object_meta_update};
use super::names::*;
use super::util::*;

/// Volume source keys in upstream's check order; the order decides which duplicate
/// source gets the "may not specify more than 1 volume type" error.
const VOLUME_SOURCES: &[&str] = &[
    "emptyDir", "hostPath", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret", "nfs", "iscsi",
    "glusterfs", "flocker", "persistentVolumeClaim", "rbd", "cinder", "cephfs", "quobyte", "downwardAPI", "fc",
    "flexVolume", "configMap", "azureFile", "vsphereVolume", "photonPersistentDisk", "portworxVolume", "azureDisk",
    "storageos", "projected", "scaleIO", "csi", "ephemeral", "image",
];

const FILE_MODE_MSG: &str = "must be a number between 0 and 0777 (octal), both inclusive";

fn check_mode(v: &Value, key: &str, p: &Path, errs: &mut Errs) {
    if let Some(m) = opt_i64(v, key) {
        if !(0..=0o777).contains(&m) {
            errs.push(invalid_num(&p.child(key), m, FILE_MODE_MSG));
        }
    }
}

fn key_to_paths(v: &Value, p: &Path, errs: &mut Errs) {
    for (i, kp) in arr(v, "items").iter().enumerate() {
        let ip = p.child("items").index(i);
        if s(kp, "key").is_empty() {
            errs.push(required(&ip.child("key"), ""));
        }
        if s(kp, "path").is_empty() {
            errs.push(required(&ip.child("path"), ""));
        }
        check_mode(kp, "mode", &ip, errs);
    }
}

fn validate_volume_source(vol: &Value, p: &Path) -> Errs {
    let mut errs = Errs::new();
    let mut n = 0;
    for &src in VOLUME_SOURCES {
        let Some(sv) = get(vol, src) else { continue };
        // upstream's typos in these two Forbidden paths are part of the message
        let forbidden_key = match src {
            "cephfs" => "cephFS",
            "downwardAPI" => "downwarAPI",
            other => other,
        };
        if n > 0 {
            errs.push(forbidden(&p.child(forbidden_key), "may not specify more than 1 volume type"));
            continue;
        }
        n += 1;
        let sp = p.child(src);
        match src {
            "hostPath" if s(sv, "path").is_empty() => {
                errs.push(required(&sp.child("path"), ""));
            }
            "secret" => {
                if s(sv, "secretName").is_empty() {
                    errs.push(required(&sp.child("secretName"), ""));
                }
                check_mode(sv, "defaultMode", &sp, &mut errs);
                key_to_paths(sv, &sp, &mut errs);
            }
            "configMap" => {
                if s(sv, "name").is_empty() {
                    errs.push(required(&sp.child("name"), ""));
                }
                check_mode(sv, "defaultMode", &sp, &mut errs);
                key_to_paths(sv, &sp, &mut errs);
            }
            "persistentVolumeClaim" if s(sv, "claimName").is_empty() => {
                errs.push(required(&sp.child("claimName"), ""));
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
            "downwardAPI" | "projected" => check_mode(sv, "defaultMode", &sp, &mut errs),
            "csi" if s(sv, "driver").is_empty() => {
                errs.push(required(&sp.child("driver"), ""));
            }
            "ephemeral"
                if get(sv, "volumeClaimTemplate").is_none() => {
                    errs.push(required(&sp.child("volumeClaimTemplate"), ""));
                }
            _ => {}
        }
    }
    if n == 0 {
        errs.push(required(p, "must specify a volume type"));
    }
    errs
}

/// `ValidateVolumes`: returns the names usable by volume mounts.
fn validate_volumes(spec: &Value, p: &Path, errs: &mut Errs) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, vol) in arr(spec, "volumes").iter().enumerate() {
        let ip = p.index(i);
        let np = ip.child("name");
        let name = s(vol, "name");
        let mut el = validate_volume_source(vol, &ip);
        if name.is_empty() {
            el.push(required(&np, ""));
        } else {
            el.extend(is_dns1123_label(name).into_iter().map(|m| invalid(&np, name, m)));
        }
        if names.contains(name) {
            el.push(duplicate(&np, name));
        }
        if el.is_empty() {
            names.insert(name.to_string());
        } else {
            errs.extend(el);
        }
    }
    names
}

fn validate_port_num_or_name(v: Option<&Value>, p: &Path, errs: &mut Errs) {
    match v {
        Some(Value::String(name)) => errs.extend(is_valid_port_name(name).into_iter().map(|m| invalid(p, name.as_str(), m))),
        Some(n) => {
            let n = n.as_i64().unwrap_or(0);
            errs.extend(is_valid_port_num(n).into_iter().map(|m| invalid_num(p, n, m)));
        }
        None => errs.extend(is_valid_port_num(0).into_iter().map(|m| invalid_num(p, 0, m))),
    }
}

fn validate_handler(h: &Value, p: &Path, with_grpc: bool, errs: &mut Errs) {
    let mut n = 0;
    let kinds: &[&str] = if with_grpc { &["exec", "httpGet", "tcpSocket", "grpc"] } else { &["exec", "httpGet", "tcpSocket"] };
    for &k in kinds {
        let Some(hv) = get(h, k) else { continue };
        if n > 0 {
            errs.push(forbidden(&p.child(k), "may not specify more than 1 handler type"));
            continue;
        }
        n += 1;
        let hp = p.child(k);
        match k {
            "exec" => {
                if arr(hv, "command").is_empty() {
                    errs.push(required(&hp.child("command"), ""));
                }
            }
            "httpGet" => {
                if s(hv, "path").is_empty() {
                    errs.push(required(&hp.child("path"), ""));
                }
                validate_port_num_or_name(get(hv, "port"), &hp.child("port"), errs);
                let scheme = s(hv, "scheme");
                if scheme != "HTTP" && scheme != "HTTPS" {
                    errs.push(not_supported(&hp.child("scheme"), scheme, &["HTTP", "HTTPS"]));
                }
            }
            "tcpSocket" => validate_port_num_or_name(get(hv, "port"), &hp.child("port"), errs),
            _ => validate_port_num_or_name(get(hv, "port"), &hp.child("port"), errs),
        }
    }
    if n == 0 {
        errs.push(required(p, "must specify a handler type"));
    }
}

fn validate_probe(c: &Value, key: &str, p: &Path, errs: &mut Errs) {
    let Some(probe) = get(c, key) else { return };
    let pp = p.child(key);
    validate_handler(probe, &pp, true, errs);
    for f in ["initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"] {
        errs.extend(nonnegative(i64_or(probe, f, 0), &pp.child(f)));
    }
    if let Some(t) = opt_i64(probe, "terminationGracePeriodSeconds") {
        if t <= 0 {
            errs.push(invalid_num(&pp.child("terminationGracePeriodSeconds"), t, "must be greater than 0"));
        }
    }
}

fn validate_container_ports(c: &Value, p: &Path, errs: &mut Errs) {
    let mut names = BTreeSet::new();
    for (i, port) in arr(c, "ports").iter().enumerate() {
        let ip = p.index(i);
        let name = s(port, "name");
        if !name.is_empty() {
            let msgs = is_valid_port_name(name);
            if !msgs.is_empty() {
                errs.extend(msgs.into_iter().map(|m| invalid(&ip.child("name"), name, m)));
            } else if !names.insert(name.to_string()) {
                errs.push(duplicate(&ip.child("name"), name));
            }
        }
        let cp = i64_or(port, "containerPort", 0);
        if cp == 0 {
            errs.push(required(&ip.child("containerPort"), ""));
        } else {
            errs.extend(is_valid_port_num(cp).into_iter().map(|m| invalid_num(&ip.child("containerPort"), cp, m)));
        }
        let hp = i64_or(port, "hostPort", 0);
        if hp != 0 {
            errs.extend(is_valid_port_num(hp).into_iter().map(|m| invalid_num(&ip.child("hostPort"), hp, m)));
        }
        let proto = s(port, "protocol");
        if proto.is_empty() {
            errs.push(required(&ip.child("protocol"), ""));
        } else if !["SCTP", "TCP", "UDP"].contains(&proto) {
            errs.push(not_supported(&ip.child("protocol"), proto, &["SCTP", "TCP", "UDP"]));
        }
    }
}

fn validate_env(c: &Value, p: &Path, errs: &mut Errs) {
    for (i, ev) in arr(c, "env").iter().enumerate() {
        let ip = p.index(i);
        let name = s(ev, "name");
        if name.is_empty() {
            errs.push(required(&ip.child("name"), ""));
        } else {
            errs.extend(is_env_var_name(name).into_iter().map(|m| invalid(&ip.child("name"), name, m)));
        }
        let Some(from) = get(ev, "valueFrom") else { continue };
        let fp = ip.child("valueFrom");
        let sources = ["fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef"];
        let n = sources.iter().filter(|k| get(from, k).is_some()).count();
        if let Some(fr) = get(from, "fieldRef") {
            if s(fr, "apiVersion").is_empty() {
                errs.push(required(&fp.child("fieldRef").child("apiVersion"), ""));
            } else if s(fr, "fieldPath").is_empty() {
                errs.push(required(&fp.child("fieldRef").child("fieldPath"), ""));
            }
        }
        for k in ["configMapKeyRef", "secretKeyRef"] {
            if let Some(r) = get(from, k) {
                let key = s(r, "key");
                if key.is_empty() {
                    errs.push(required(&fp.child(k).child("key"), ""));
                } else {
                    errs.extend(is_config_map_key(key).into_iter().map(|m| invalid(&fp.child(k).child("key"), key, m)));
                }
            }
        }
        if n == 0 {
            errs.push(invalid(&fp, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"));
        } else if !s(ev, "value").is_empty() {
            errs.push(invalid(&fp, "", "may not be specified when `value` is not empty"));
        } else if n > 1 {
            errs.push(invalid(&fp, "", "may not have more than one field specified at a time"));
        }
    }
}

fn validate_volume_mounts(c: &Value, volumes: &BTreeSet<String>, p: &Path, errs: &mut Errs) {
    let mut mount_points = BTreeSet::new();
    for (i, m) in arr(c, "volumeMounts").iter().enumerate() {
        let ip = p.index(i);
        let name = s(m, "name");
        if name.is_empty() {
            errs.push(required(&ip.child("name"), ""));
        }
        if !volumes.contains(name) {
            errs.push(not_found(&ip.child("name"), name));
        }
        let mp = s(m, "mountPath");
        if mp.is_empty() {
            errs.push(required(&ip.child("mountPath"), ""));
        }
        if !mount_points.insert(mp.to_string()) {
            errs.push(invalid(&ip.child("mountPath"), mp, "must be unique"));
        }
        if !s(m, "subPathExpr").is_empty() && !s(m, "subPath").is_empty() {
            errs.push(invalid(&ip.child("subPathExpr"), s(m, "subPathExpr"), "subPathExpr and subPath are mutually exclusive"));
        }
    }
}

/// `validateContainers` for regular or init containers.
fn validate_containers(spec: &Value, key: &str, volumes: &BTreeSet<String>, p: &Path, errs: &mut Errs) {
    let containers = arr(spec, key);
    if containers.is_empty() {
        if key == "containers" {
            errs.push(required(p, ""));
        }
        return;
    }
    let mut names = BTreeSet::new();
    for (i, c) in containers.iter().enumerate() {
        let ip = p.index(i);
        let np = ip.child("name");
        let name = s(c, "name");
        if name.is_empty() {
            errs.push(required(&np, ""));
        } else {
            errs.extend(is_dns1123_label(name).into_iter().map(|m| invalid(&np, name, m)));
        }
        if !names.insert(name.to_string()) {
            errs.push(duplicate(&np, name));
        }
        if s(c, "image").is_empty() {
            errs.push(required(&ip.child("image"), ""));
        }
        if let Some(lc) = get(c, "lifecycle") {
            for hook in ["postStart", "preStop"] {
                if let Some(h) = get(lc, hook) {
                    validate_handler(h, &ip.child("lifecycle").child(hook), false, errs);
                }
            }
        }
        validate_probe(c, "livenessProbe", &ip, errs);
        if let Some(rp) = get(c, "readinessProbe") {
            if let Some(t) = opt_i64(rp, "terminationGracePeriodSeconds") {
                errs.push(invalid_num(&ip.child("readinessProbe").child("terminationGracePeriodSeconds"), t, "must not be set for readinessProbes"));
            }
        }
        validate_probe(c, "startupProbe", &ip, errs);
        for probe in ["livenessProbe", "startupProbe"] {
            if let Some(pr) = get(c, probe) {
                let st = i64_or(pr, "successThreshold", 0);
                if st != 1 {
                    errs.push(invalid_num(&ip.child(probe).child("successThreshold"), st, "must be 1"));
                }
            }
        }
        match s(c, "terminationMessagePolicy") {
            "File" | "FallbackToLogsOnError" => {}
            "" => errs.push(required(&ip.child("terminationMessagePolicy"), "must be 'File' or 'FallbackToLogsOnError'")),
            other => errs.push(invalid(&ip.child("terminationMessagePolicy"), other, "must be 'File' or 'FallbackToLogsOnError'")),
        }
        validate_probe(c, "readinessProbe", &ip, errs);
        validate_container_ports(c, &ip.child("ports"), errs);
        validate_env(c, &ip.child("env"), errs);
        validate_volume_mounts(c, volumes, &ip.child("volumeMounts"), errs);
        match s(c, "imagePullPolicy") {
            "Always" | "IfNotPresent" | "Never" => {}
            "" => errs.push(required(&ip.child("imagePullPolicy"), "")),
            other => errs.push(not_supported(&ip.child("imagePullPolicy"), other, &["Always", "IfNotPresent", "Never"])),
        }
    }
    // host ports may not collide (protocol/hostIP/port), across all regular containers
    let mut seen = BTreeSet::new();
    for (ci, c) in containers.iter().enumerate() {
        if key == "initContainers" {
            seen.clear();
        }
        for (pi, port) in arr(c, "ports").iter().enumerate() {
            let hp = i64_or(port, "hostPort", 0);
            if hp == 0 {
                continue;
            }
            let k = format!("{}/{}/{}", s(port, "protocol"), s(port, "hostIP"), hp);
            if !seen.insert(k.clone()) {
                errs.push(duplicate(&p.index(ci).child("ports").index(pi).child("hostPort"), k));
            }
        }
    }
}

/// `ValidatePodSpec` (the parts berth's workloads use).
pub fn validate_pod_spec(spec: &Value, p: &Path) -> Errs {
    let mut errs = Errs::new();
    let volumes = validate_volumes(spec, &p.child("volumes"), &mut errs);
    validate_containers(spec, "containers", &volumes, &p.child("containers"), &mut errs);
    validate_containers(spec, "initContainers", &volumes, &p.child("initContainers"), &mut errs);
    let regular: BTreeSet<&str> = arr(spec, "containers").iter().map(|c| s(c, "name")).collect();
    for (i, c) in arr(spec, "initContainers").iter().enumerate() {
        let name = s(c, "name");
        if regular.contains(name) {
            errs.push(duplicate(&p.child("initContainers").index(i).child("name"), name));
        }
    }
    match s(spec, "restartPolicy") {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(required(&p.child("restartPolicy"), "")),
        other => errs.push(not_supported(&p.child("restartPolicy"), other, &["Always", "OnFailure", "Never"])),
    }
    let dns = s(spec, "dnsPolicy");
    match dns {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(required(&p.child("dnsPolicy"), "")),
        other => errs.push(not_supported(&p.child("dnsPolicy"), other, &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"])),
    }
    if dns == "None" {
        match get(spec, "dnsConfig") {
            None => errs.push(required(&p.child("dnsConfig"), "must provide `dnsConfig` when `dnsPolicy` is None")),
            Some(c) if arr(c, "nameservers").is_empty() => errs.push(required(
                &p.child("dnsConfig").child("nameservers"),
                "must provide at least one DNS nameserver when `dnsPolicy` is None",
            )),
            _ => {}
        }
    }
    errs.extend(validate_labels(spec, "nodeSelector", &p.child("nodeSelector")));
    for (key, rule) in [("serviceAccountName", NameRule::Subdomain), ("nodeName", NameRule::Subdomain), ("priorityClassName", NameRule::Subdomain)] {
        let v = s(spec, key);
        if !v.is_empty() {
            errs.extend(check_name(rule, v, false).into_iter().map(|m| invalid(&p.child(key), v, m)));
        }
    }
    if let Some(a) = opt_i64(spec, "activeDeadlineSeconds") {
        if !(1..=i32::MAX as i64).contains(&a) {
            errs.push(invalid_num(&p.child("activeDeadlineSeconds"), a, inclusive_range_error(1, i32::MAX as i64)));
        }
    }
    for key in ["hostname", "subdomain"] {
        let v = s(spec, key);
        if !v.is_empty() {
            errs.extend(is_dns1123_label(v).into_iter().map(|m| invalid(&p.child(key), v, m)));
        }
    }
    for (i, t) in arr(spec, "tolerations").iter().enumerate() {
        let tp = p.child("tolerations").index(i);
        let key = s(t, "key");
        if !key.is_empty() {
            errs.extend(validate_label_name(key, &tp.child("key")));
        }
        let op = s(t, "operator");
        if key.is_empty() && op != "Exists" {
            errs.push(invalid(&tp.child("operator"), op, "operator must be Exists when `key` is empty, which means \"match all values and all keys\""));
        }
        if get(t, "tolerationSeconds").is_some() && s(t, "effect") != "NoExecute" {
            errs.push(invalid(&tp.child("effect"), s(t, "effect"), "effect must be 'NoExecute' when `tolerationSeconds` is set"));
        }
        match op {
            "Equal" | "" => {
                let m = is_label_value(s(t, "value"));
                if !m.is_empty() {
                    errs.push(invalid(&tp.child("operator"), s(t, "value"), m.join(";")));
                }
            }
            "Exists" => {
                if !s(t, "value").is_empty() {
                    errs.push(invalid(&tp.child("operator"), t.clone(), "value must be empty when `operator` is 'Exists'"));
                }
            }
            other => errs.push(not_supported(&tp.child("operator"), other, &["Equal", "Exists"])),
        }
        let effect = s(t, "effect");
        if !effect.is_empty() && !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
            errs.push(not_supported(&tp.child("effect"), effect, &["NoSchedule", "PreferNoSchedule", "NoExecute"]));
        }
    }
    if bool_of(spec, "hostNetwork") {
        for (ci, c) in arr(spec, "containers").iter().enumerate() {
            for (pi, port) in arr(c, "ports").iter().enumerate() {
                let (hp, cp) = (i64_or(port, "hostPort", 0), i64_or(port, "containerPort", 0));
                if hp != cp {
                    errs.push(invalid_num(
                        &p.child("containers").index(ci).child("ports").index(pi).child("containerPort"),
                        cp,
                        "must match `hostPort` when `hostNetwork` is true",
                    ));
                }
            }
        }
    }
    errs
}

/// Checks only pods (not templates) get: image whitespace.
fn containers_only_for_pod(spec: &Value, errs: &mut Errs) {
    for key in ["containers", "initContainers"] {
        for (i, c) in arr(spec, key).iter().enumerate() {
            let image = s(c, "image");
            if image.len() != image.trim().len() {
                errs.push(invalid(&Path::new("spec").child(key).index(i).child("image"), image, "must not have leading or trailing whitespace"));
            }
        }
    }
}

fn pod_metadata_and_spec(obj: &Value) -> Errs {
    let mut errs = validate_object_meta(obj, true, NameRule::Subdomain);
    let spec = get(obj, "spec").cloned().unwrap_or(Value::Null);
    errs.extend(validate_pod_spec(&spec, &Path::new("spec")));
    containers_only_for_pod(&spec, &mut errs);
    errs
}

pub fn validate_pod_create(obj: &Value) -> Errs {
    let mut errs = pod_metadata_and_spec(obj);
    let spec = get(obj, "spec").cloned().unwrap_or(Value::Null);
    if !arr(&spec, "ephemeralContainers").is_empty() {
        errs.push(forbidden(&Path::new("spec").child("ephemeralContainers"), "cannot be set on create"));
    }
    errs
}

const POD_UPDATABLE_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

pub fn validate_pod_update(new: &Value, old: &Value) -> Errs {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(pod_metadata_and_spec(new));
    let sp = Path::new("spec");
    let ns = get(new, "spec").cloned().unwrap_or(Value::Null);
    let os = get(old, "spec").cloned().unwrap_or(Value::Null);
    for key in ["containers", "initContainers"] {
        let (nc, oc) = (arr(&ns, key), arr(&os, key));
        if nc.len() != oc.len() {
            errs.push(forbidden(&sp.child(key), "pod updates may not add or remove containers"));
            return errs;
        }
    }
    match (opt_i64(&ns, "activeDeadlineSeconds"), opt_i64(&os, "activeDeadlineSeconds")) {
        (Some(n), _) if !(0..=i32::MAX as i64).contains(&n) => {
            errs.push(invalid_num(&sp.child("activeDeadlineSeconds"), n, inclusive_range_error(0, i32::MAX as i64)));
            return errs;
        }
        (Some(n), Some(o)) if o < n => {
            errs.push(invalid_num(&sp.child("activeDeadlineSeconds"), n, "must be less than or equal to previous value"));
            return errs;
        }
        (None, Some(_)) => errs.push(invalid(&sp.child("activeDeadlineSeconds"), Value::Null, "must not update from a positive integer to nil value")),
        _ => {}
    }
    // existing tolerations may only change tolerationSeconds
    let strip = |t: &Value| {
        let mut t = t.clone();
        if let Some(m) = t.as_object_mut() {
            m.remove("tolerationSeconds");
        }
        normalized(&t)
    };
    let new_tols: Vec<Value> = arr(&ns, "tolerations").iter().map(strip).collect();
    if arr(&os, "tolerations").iter().any(|t| !new_tols.contains(&strip(t))) {
        errs.push(forbidden(&sp.child("tolerations"), "existing toleration can not be modified except its tolerationSeconds"));
    }
    if sem_eq(Some(&ns), Some(&os)) {
        return errs;
    }
    let mut munged = ns.clone();
    for key in ["containers", "initContainers"] {
        if let Some(list) = munged.get_mut(key).and_then(Value::as_array_mut) {
            for (i, c) in list.iter_mut().enumerate() {
                c["image"] = arr(&os, key)[i].get("image").cloned().unwrap_or(Value::Null);
            }
        }
    }
    let m = munged.as_object_mut().expect("spec is an object when it differs");
    match os.get("activeDeadlineSeconds") {
        Some(v) => m.insert("activeDeadlineSeconds".into(), v.clone()),
        None => m.remove("activeDeadlineSeconds"),
    };
    match os.get("tolerations") {
        Some(v) => m.insert("tolerations".into(), v.clone()),
        None => m.remove("tolerations"),
    };
    if opt_i64(&os, "terminationGracePeriodSeconds").is_some_and(|o| o < 0) && opt_i64(&munged, "terminationGracePeriodSeconds") == Some(1) {
        munged["terminationGracePeriodSeconds"] = os["terminationGracePeriodSeconds"].clone();
    }
    if !sem_eq(Some(&munged), Some(&os)) {
        errs.push(forbidden(&sp, format!("pod updates may not change fields other than {POD_UPDATABLE_FIELDS}\n{}", spec_diff(&os, &munged))));
    }
    errs
}

/// A short line diff of the changed top-level spec fields, in the spirit of the
/// diff upstream appends (upstream diffs the internal Go struct; we diff JSON).
pub fn spec_diff(old: &Value, new: &Value) -> String {
    let (o, n) = (normalized(old), normalized(new));
    let empty = serde_json::Map::new();
    let (om, nm) = (o.as_object().unwrap_or(&empty), n.as_object().unwrap_or(&empty));
    let keys: BTreeMap<&String, ()> = om.keys().chain(nm.keys()).map(|k| (k, ())).collect();
    let mut out = String::new();
    for k in keys.keys() {
        let (a, b) = (om.get(*k), nm.get(*k));
        if a == b {
            continue;
        }
        if let Some(a) = a {
            out.push_str(&format!("-  \"{k}\": {a}\n"));
        }
        if let Some(b) = b {
            out.push_str(&format!("+  \"{k}\": {b}\n"));
        }
    }
    out
}
