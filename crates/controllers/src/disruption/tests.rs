use chrono::TimeZone;
use serde_json::json;

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

fn pod(name: &str, ready: bool, owner_uid: Option<&str>) -> Value {
    let mut p = json!({"metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
    if let Some(uid) = owner_uid {
        p["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": uid, "controller": true}]);
    }
    p
}

fn budget(spec: Value) -> Value {
    let mut spec = spec;
    spec["selector"] = json!({"matchLabels": {"app": "web"}});
    json!({"metadata": {"name": "web", "namespace": "default", "generation": 1}, "spec": spec,
        "status": {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}})
}

fn sts(owner: &Value) -> Option<Scale> {
    (owner["uid"] == "sts-uid").then(|| Scale { uid: "sts-uid".into(), replicas: 3 })
}

fn status(s: &Sync) -> &Value {
    &s.write.as_ref().expect("a status write")["status"]
}

#[test]
fn max_unavailable_uses_the_statefulset_scale() {
    let pods: Vec<Value> = (0..3).map(|i| pod(&format!("web-{i}"), true, Some("sts-uid"))).collect();
    let s = reconcile(&budget(json!({"maxUnavailable": 1})), &pods, &sts, now()).unwrap();
    let st = status(&s);
    assert_eq!((st["expectedPods"].as_i64(), st["desiredHealthy"].as_i64(), st["currentHealthy"].as_i64()), (Some(3), Some(2), Some(3)));
    assert_eq!(st["disruptionsAllowed"], 1);
    assert_eq!(st["observedGeneration"], 1);
    assert_eq!(st["conditions"][0]["type"], "DisruptionAllowed");
    assert_eq!(st["conditions"][0]["status"], "True");
    assert_eq!(st["conditions"][0]["reason"], "SufficientPods");
    // Written again, nothing changes.
    let again = reconcile(s.write.as_ref().unwrap(), &pods, &sts, now()).unwrap();
    assert_eq!(again.write, None);
}

#[test]
fn one_pod_down_exhausts_the_budget() {
    let mut pods: Vec<Value> = (0..2).map(|i| pod(&format!("web-{i}"), true, Some("sts-uid"))).collect();
    pods.push(pod("web-2", false, Some("sts-uid")));
    let s = reconcile(&budget(json!({"maxUnavailable": 1})), &pods, &sts, now()).unwrap();
    let st = status(&s);
    assert_eq!((st["currentHealthy"].as_i64(), st["disruptionsAllowed"].as_i64()), (Some(2), Some(0)));
    assert_eq!(st["conditions"][0]["reason"], "InsufficientPods");
}

#[test]
fn bare_pods_with_integer_min_available_count_the_pods() {
    let pods = vec![pod("a", true, None), pod("b", true, None)];
    let s = reconcile(&budget(json!({"minAvailable": 1})), &pods, &sts, now()).unwrap();
    let st = status(&s);
    assert_eq!((st["expectedPods"].as_i64(), st["desiredHealthy"].as_i64(), st["disruptionsAllowed"].as_i64()), (Some(2), Some(1), Some(1)));
}

#[test]
fn percentages_need_a_controller() {
    let pods = vec![pod("a", true, None)];
    let s = reconcile(&budget(json!({"minAvailable": "50%"})), &pods, &sts, now()).unwrap();
    assert!(s.events.iter().any(|e| e.1 == "UnmanagedPods"));
    assert_eq!(status(&s)["expectedPods"], 0);
    assert_eq!(status(&s)["disruptionsAllowed"], 0);
    let unknown = vec![pod("a", true, Some("other"))];
    let err = reconcile(&budget(json!({"maxUnavailable": "10%"})), &unknown, &sts, now()).unwrap_err();
    assert_eq!(err, "found no controllers for pod \"a\"");
    let safe = fail_safe(&budget(json!({})), &err, now());
    assert_eq!(safe["status"]["conditions"][0]["reason"], "SyncFailed");
}

#[test]
fn disrupted_pods_do_not_count_until_they_expire() {
    let pods: Vec<Value> = (0..3).map(|i| pod(&format!("web-{i}"), true, Some("sts-uid"))).collect();
    let mut b = budget(json!({"maxUnavailable": 1}));
    b["status"]["disruptedPods"] = json!({"web-0": "2026-01-01T11:59:30Z", "gone": "2026-01-01T11:59:30Z"});
    let s = reconcile(&b, &pods, &sts, now()).unwrap();
    let st = status(&s);
    assert_eq!(st["currentHealthy"], 2);
    assert_eq!(st["disruptionsAllowed"], 0);
    assert_eq!(st["disruptedPods"], json!({"web-0": "2026-01-01T11:59:30Z"}));
    assert_eq!(s.recheck.map(|d| d.as_secs()), Some(90));
    // Two minutes on, the entry is dropped and the pod counts again.
    b["status"]["disruptedPods"] = json!({"web-0": "2026-01-01T11:57:00Z"});
    let s = reconcile(&b, &pods, &sts, now()).unwrap();
    assert_eq!(status(&s)["currentHealthy"], 3);
    assert!(status(&s).get("disruptedPods").is_none());
    assert!(s.events.iter().any(|e| e.1 == "NotDeleted"));
}

#[test]
fn terminating_pods_are_not_healthy() {
    let mut pods: Vec<Value> = (0..3).map(|i| pod(&format!("web-{i}"), true, Some("sts-uid"))).collect();
    pods[0]["metadata"]["deletionTimestamp"] = json!("2026-01-01T11:59:59Z");
    let s = reconcile(&budget(json!({"maxUnavailable": 1})), &pods, &sts, now()).unwrap();
    assert_eq!(status(&s)["currentHealthy"], 2);
    assert_eq!(status(&s)["disruptionsAllowed"], 0);
}
