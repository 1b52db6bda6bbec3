//! The disruption controller (upstream `pkg/controller/disruption/disruption.go`): keeps each
//! PodDisruptionBudget's status current, which is what the eviction subresource reads.
//!
//! Pure: [`reconcile`] takes a budget, the pods its selector matches, a way to find a pod
//! controller's scale, and the time; it returns the status write (if any), when to look
//! again (a `disruptedPods` entry expiring) and the events to record. [`stale`] resets
//! `DisruptionTarget` conditions of pods whose deletion never came. The executor is
//! [`runner`].

pub mod runner;
pub mod stale;
#[cfg(test)]
mod tests;

use std::time::Duration;

use berth_api::pdb;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// The event source upstream's disruption controller records with.
pub const COMPONENT: &str = "controllermanager";

/// A controller's scale as a finder reports it: its UID (so two pods of one controller count
/// once) and its desired replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scale {
    pub uid: String,
    pub replicas: i64,
}

/// One event for the budget: (`Normal`|`Warning`, reason, message).
pub type Event = (&'static str, &'static str, String);

#[derive(Debug, Default, PartialEq)]
pub struct Sync {
    /// The budget with its new status, to PUT to `/status`; `None` when up to date.
    pub write: Option<Value>,
    /// Sync again after this long (the earliest `disruptedPods` expiry).
    pub recheck: Option<Duration>,
    pub events: Vec<Event>,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn name(o: &Value) -> &str {
    o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
}

fn is_deleting(o: &Value) -> bool {
    o.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null())
}

/// The controlling ownerReference of a pod (`metav1.GetControllerOf`).
pub fn controller_of(pod: &Value) -> Option<&Value> {
    pod.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r["controller"] == true)
}

/// `getExpectedScale`: the sum of the scales of the pods' controllers, each counted once, and
/// the pods without a controller. A controller no finder knows is an error.
fn expected_scale(pods: &[Value], find: &dyn Fn(&Value) -> Option<Scale>) -> Result<(i64, Vec<String>), String> {
    let mut scales: Vec<Scale> = Vec::new();
    let mut unmanaged = Vec::new();
    for pod in pods {
        let Some(owner) = controller_of(pod) else {
            unmanaged.push(name(pod).to_string());
            continue;
        };
        if scales.iter().any(|s| owner["uid"] == s.uid.as_str()) {
            continue;
        }
        match find(owner) {
            Some(s) => scales.push(s),
            None => return Err(format!("found no controllers for pod {:?}", name(pod))),
        }
    }
    Ok((scales.iter().map(|s| s.replicas).sum(), unmanaged))
}

/// `getExpectedPodCount`: (expectedPods, desiredHealthy, unmanaged pods).
pub fn expected_pod_count(budget: &Value, pods: &[Value], find: &dyn Fn(&Value) -> Option<Scale>) -> Result<(i64, i64, Vec<String>), String> {
    let spec = |f: &str| budget.pointer(&format!("/spec/{f}")).filter(|v| !v.is_null());
    if let Some(max) = spec("maxUnavailable") {
        let (expected, unmanaged) = expected_scale(pods, find)?;
        let max = pdb::scaled_value(max, expected, true)?;
        return Ok((expected, (expected - max).max(0), unmanaged));
    }
    match spec("minAvailable") {
        Some(Value::Number(n)) => Ok((pods.len() as i64, n.as_i64().unwrap_or(0), Vec::new())),
        Some(min @ Value::String(_)) => {
            let (expected, unmanaged) = expected_scale(pods, find)?;
            Ok((expected, pdb::scaled_value(min, expected, true)?, unmanaged))
        }
        _ => Ok((0, 0, Vec::new())),
    }
}

fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v.as_str()?).ok().map(|t| t.with_timezone(&Utc))
}

/// `buildDisruptedPodMap`: the entries of pods that still exist, are not yet deleting and
/// whose eviction is less than [`pdb::DELETION_TIMEOUT_SECS`] old; plus the earliest expiry
/// and a `NotDeleted` event for each pod whose approved eviction never happened.
fn disrupted_pod_map(pods: &[Value], budget: &Value, now: DateTime<Utc>) -> (Map<String, Value>, Option<DateTime<Utc>>, Vec<Event>) {
    let mut out = Map::new();
    let mut recheck: Option<DateTime<Utc>> = None;
    let mut events = Vec::new();
    let Some(recorded) = budget.pointer("/status/disruptedPods").and_then(Value::as_object) else {
        return (out, recheck, events);
    };
    let timeout = chrono::Duration::seconds(pdb::DELETION_TIMEOUT_SECS);
    for pod in pods.iter().filter(|p| !is_deleting(p)) {
        let Some((at, raw)) = recorded.get(name(pod)).and_then(|v| Some((parse_time(v)?, v))) else { continue };
        let expected_deletion = at + timeout;
        if expected_deletion < now {
            let ns = budget.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
            // Upstream prints the namespace twice (`pdb.Namespace, pdb.Namespace`); kept.
            events.push(("Warning", "NotDeleted", format!("Pod was expected by PDB {ns}/{ns} to be deleted but it wasn't")));
        } else {
            recheck = Some(recheck.map_or(expected_deletion, |r| r.min(expected_deletion)));
            out.insert(name(pod).to_string(), raw.clone());
        }
    }
    (out, recheck, events)
}

/// `countHealthyPods`: ready, not deleting, not recently evicted.
fn count_healthy(pods: &[Value], disrupted: &Map<String, Value>, now: DateTime<Utc>) -> i64 {
    let timeout = chrono::Duration::seconds(pdb::DELETION_TIMEOUT_SECS);
    pods.iter()
        .filter(|p| !is_deleting(p))
        .filter(|p| disrupted.get(name(p)).and_then(parse_time).is_none_or(|t| t + timeout <= now))
        .filter(|p| pdb::is_pod_ready(p))
        .count() as i64
}

/// `updatePdbStatus`: the new status, or `None` when the stored one already says it.
fn status_update(budget: &Value, current: i64, desired: i64, expected: i64, disrupted: Map<String, Value>, now: &str) -> Option<Value> {
    let allowed = if expected <= 0 { 0 } else { (current - desired).max(0) };
    let generation = budget.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
    let st = |f: &str| budget.pointer(&format!("/status/{f}")).and_then(Value::as_i64).unwrap_or(0);
    let stored_disrupted = budget.pointer("/status/disruptedPods").and_then(Value::as_object).cloned().unwrap_or_default();
    if st("currentHealthy") == current
        && st("desiredHealthy") == desired
        && st("expectedPods") == expected
        && st("disruptionsAllowed") == allowed
        && stored_disrupted == disrupted
        && st("observedGeneration") == generation
        && pdb::conditions_up_to_date(budget)
    {
        return None;
    }
    let mut out = budget.clone();
    let conditions = budget.pointer("/status/conditions").cloned().unwrap_or(json!([]));
    let mut status = json!({"observedGeneration": generation, "disruptionsAllowed": allowed, "currentHealthy": current,
        "desiredHealthy": desired, "expectedPods": expected, "conditions": conditions});
    if !disrupted.is_empty() {
        status["disruptedPods"] = Value::Object(disrupted);
    }
    out["status"] = status;
    pdb::update_disruption_allowed_condition(&mut out, now);
    Some(out)
}

/// `failSafe`: when the budget cannot be computed, allow no disruptions and say why.
pub fn fail_safe(budget: &Value, err: &str, now: DateTime<Utc>) -> Value {
    let mut out = budget.clone();
    if !out["status"].is_object() {
        out["status"] = json!({});
    }
    out["status"]["disruptionsAllowed"] = json!(0);
    pdb::set_condition(&mut out, "False", pdb::SYNC_FAILED, err, &rfc3339(now));
    out
}

/// `trySync` for one budget; `pods` are the pods of its namespace its selector matches.
pub fn reconcile(budget: &Value, pods: &[Value], find: &dyn Fn(&Value) -> Option<Scale>, now: DateTime<Utc>) -> Result<Sync, String> {
    let mut events = Vec::new();
    if pods.is_empty() {
        events.push(("Normal", "NoPods", "No matching pods found".to_string()));
    }
    // An error here is upstream's `CalculateExpectedPodCountFailed`: the caller records it
    // and falls back to [`fail_safe`].
    let (expected, desired, unmanaged) = expected_pod_count(budget, pods, find)?;
    if !unmanaged.is_empty() {
        let sel = budget.pointer("/spec/selector").map(Value::to_string).unwrap_or_default();
        events.push(("Warning", "UnmanagedPods", format!("Pods selected by this PodDisruptionBudget (selector: {sel}) were found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. To account for these pods please set \".spec.minAvailable\" field of the PDB to an integer value.")));
    }
    let (disrupted, recheck_at, not_deleted) = disrupted_pod_map(pods, budget, now);
    events.extend(not_deleted);
    let current = count_healthy(pods, &disrupted, now);
    let write = status_update(budget, current, desired, expected, disrupted, &rfc3339(now));
    let recheck = recheck_at.map(|t| (t - now).to_std().unwrap_or(Duration::ZERO) + Duration::from_millis(100));
    Ok(Sync { write, recheck, events })
}
