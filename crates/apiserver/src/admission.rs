//! Admission steps berth runs on create: namespace lifecycle, the Service cluster-IP
//! allocation upstream's service REST storage does, and the storage plugins
//! ([`crate::storage_admission`]); on update, the claim resize check.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use berth_api::registry::lookup;
use berth_api::{FieldError, ResourceInfo, StatusError};
use rand::Rng;
use serde_json::{json, Value};

use crate::objects;
use crate::rest::list_all;
use crate::state::Shared;

/// The service CIDR (upstream's default 10.96.0.0/12); .1 is the `kubernetes` service.
const SERVICE_CIDR_BASE: u32 = u32::from_be_bytes([10, 96, 0, 0]);
const SERVICE_CIDR_SIZE: u32 = 1 << 20;

/// upstream NamespaceLifecycle: the namespace must exist and not be terminating.
pub async fn check_namespace_accepts(state: &Shared, info: &ResourceInfo, ns: &str, name: &str) -> Result<(), StatusError> {
    let ns_info = lookup("", "v1", "namespaces").expect("namespaces are registered");
    let key = objects::object_key(ns_info, None, ns);
    let kv = state
        .store
        .get(&key)
        .await
        .map_err(crate::state::storage_failure)?
        .ok_or_else(|| StatusError::not_found("", "namespaces", ns))?;
    let nsobj = objects::decode(&kv).map_err(StatusError::internal)?;
    if objects::is_deleting(&nsobj) {
        return Err(StatusError::forbidden(
            info.group,
            info.plural,
            name,
            &format!("unable to create new content in namespace {ns} because it is being terminated"),
        ));
    }
    Ok(())
}

/// Kind-specific admission on create.
pub async fn admit_create(state: &Shared, info: &ResourceInfo, obj: &mut Value) -> Result<(), StatusError> {
    if (info.group, info.kind) == ("", "Service") {
        allocate_cluster_ip(state, obj).await?;
    }
    if (info.group, info.kind) == ("", "Pod") {
        crate::sa_admission::admit_pod(state, obj).await?;
        crate::toleration_admission::admit_pod(obj, state.toleration_defaults);
    }
    crate::rbac::escalation::check(state, info, obj).await?;
    crate::storage_admission::admit_create(state, info.group, info.kind, obj).await
}

/// Kind-specific admission on update of the object itself (not its subresources).
pub async fn admit_update(state: &Shared, info: &ResourceInfo, new: &Value, old: &Value) -> Result<(), StatusError> {
    crate::rbac::escalation::check(state, info, new).await?;
    if (info.group, info.kind) == ("", "PersistentVolumeClaim") {
        crate::storage_admission::admit_pvc_update(state, new, old).await?;
    }
    Ok(())
}

async fn allocate_cluster_ip(state: &Shared, svc: &mut Value) -> Result<(), StatusError> {
    let name = objects::name_of(svc).to_string();
    let svc_type = svc.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP").to_string();
    if svc_type == "ExternalName" {
        return Ok(());
    }
    let requested = svc.pointer("/spec/clusterIP").and_then(Value::as_str).unwrap_or("").to_string();
    let spec = svc.as_object_mut().and_then(|o| o.get_mut("spec")).and_then(Value::as_object_mut);
    let Some(spec) = spec else { return Ok(()) };
    if spec.get("ipFamilies").is_none() {
        spec.insert("ipFamilies".into(), json!(["IPv4"]));
    }
    if spec.get("ipFamilyPolicy").is_none() {
        spec.insert("ipFamilyPolicy".into(), json!("SingleStack"));
    }
    if requested == "None" {
        spec.insert("clusterIPs".into(), json!(["None"]));
        return Ok(());
    }
    // Serialize allocations: read the used set and claim one address atomically.
    let _guard = state.ip_alloc.lock().await;
    let services = lookup("", "v1", "services").expect("services are registered");
    let (all, _) = list_all(state, services, None).await?;
    let used: HashSet<String> = all
        .iter()
        .filter_map(|s| s.pointer("/spec/clusterIP").and_then(Value::as_str).map(str::to_string))
        .collect();
    let ip = if !requested.is_empty() {
        let parsed: Ipv4Addr = requested.parse().map_err(|_| {
            StatusError::invalid("", "Service", &name, &[FieldError::invalid("spec.clusterIPs[0]", requested.as_str(), "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")])
        })?;
        let n = u32::from(parsed);
        if !(SERVICE_CIDR_BASE..SERVICE_CIDR_BASE + SERVICE_CIDR_SIZE).contains(&n) {
            return Err(StatusError::invalid("", "Service", &name, &[FieldError::invalid(
                "spec.clusterIPs",
                json!([requested]),
                "failed to allocate IP: the provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12",
            )]));
        }
        if used.contains(&requested) {
            return Err(StatusError::invalid("", "Service", &name, &[FieldError::invalid(
                "spec.clusterIPs",
                json!([requested]),
                format!("failed to allocate IP {requested}: provided IP is already allocated"),
            )]));
        }
        requested
    } else {
        let mut rng = rand::rng();
        let mut chosen = None;
        for _ in 0..64 {
            // Skip the network address and .1 (reserved for the `kubernetes` service).
            let n = SERVICE_CIDR_BASE + rng.random_range(2..SERVICE_CIDR_SIZE - 1);
            let candidate = Ipv4Addr::from(n).to_string();
            if !used.contains(&candidate) {
                chosen = Some(candidate);
                break;
            }
        }
        chosen.ok_or_else(|| StatusError::internal("failed to allocate a service IP: range is full"))?
    };
    spec.insert("clusterIP".into(), json!(ip));
    spec.insert("clusterIPs".into(), json!([ip]));
    Ok(())
}
