use serde_json::{json, Value};

use super::{ago, cells, column_names, mins, now};
use crate::printers::{columns, row};

fn pod(status: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-0", "namespace": "default", "creationTimestamp": ago(mins(5))},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]},
        "status": status,
    })
}

/// STATUS cell.
fn status(p: &Value) -> String {
    cells("", "pods", p)[2].as_str().unwrap().to_string()
}

fn running(name: &str, ready: bool, restarts: i64) -> Value {
    json!({"name": name, "ready": ready, "restartCount": restarts, "started": true,
           "state": {"running": {"startedAt": ago(mins(4))}}})
}

#[test]
fn pod_columns_match_upstream() {
    assert_eq!(
        column_names("", "pods"),
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP*",
            "Node*",
            "Nominated Node*",
            "Readiness Gates*"
        ]
    );
    let cols = columns("", "pods");
    assert_eq!(cols[0].format, "name");
    assert_eq!(
        cols[3].type_, "string",
        "Restarts is a string since it carries '(5m ago)'"
    );
    assert!(cols[0]
        .description
        .starts_with("Name must be unique within a namespace."));
}

#[test]
fn unscheduled_pod_is_pending() {
    let p = pod(json!({"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}));
    assert_eq!(
        cells("", "pods", &p),
        vec![
            json!("web-0"),
            json!("0/1"),
            json!("Pending"),
            json!("0"),
            json!("5m"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>")
        ]
    );
    assert_eq!(row("", "pods", &p, now()).conditions, None);
}

#[test]
fn scheduled_pod_shows_container_creating() {
    let mut p = pod(json!({"phase": "Pending", "containerStatuses": [
        {"name": "nginx", "ready": false, "restartCount": 0,
         "state": {"waiting": {"reason": "ContainerCreating"}}}]}));
    p["spec"]["nodeName"] = json!("node-1");
    let c = cells("", "pods", &p);
    assert_eq!(c[1], json!("0/1"));
    assert_eq!(c[2], json!("ContainerCreating"));
    assert_eq!(c[6], json!("node-1"));
}

#[test]
fn running_ready_pod_with_wide_columns() {
    let mut p = pod(json!({
        "phase": "Running", "podIP": "10.244.1.5", "podIPs": [{"ip": "10.244.1.5"}],
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [running("nginx", true, 0)]}));
    p["spec"]["nodeName"] = json!("node-1");
    assert_eq!(
        cells("", "pods", &p),
        vec![
            json!("web-0"),
            json!("1/1"),
            json!("Running"),
            json!("0"),
            json!("5m"),
            json!("10.244.1.5"),
            json!("node-1"),
            json!("<none>"),
            json!("<none>")
        ]
    );
}

#[test]
fn pod_ip_falls_back_to_singular_field() {
    let p = pod(json!({"phase": "Running", "podIP": "10.0.0.9"}));
    assert_eq!(cells("", "pods", &p)[5], json!("10.0.0.9"));
}

#[test]
fn deleting_pod_is_terminating_and_node_lost_is_unknown() {
    let mut p = pod(json!({"phase": "Running", "containerStatuses": [running("nginx", true, 0)]}));
    p["metadata"]["deletionTimestamp"] = json!(ago(mins(0)));
    assert_eq!(status(&p), "Terminating");

    p["status"]["reason"] = json!("NodeLost");
    assert_eq!(status(&p), "Unknown");

    // A finished pod being deleted keeps its terminal status.
    let mut done = pod(json!({"phase": "Succeeded", "containerStatuses": [
        {"name": "nginx", "ready": false, "restartCount": 0,
         "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}));
    done["metadata"]["deletionTimestamp"] = json!(ago(mins(0)));
    assert_eq!(status(&done), "Completed");
}

#[test]
fn failed_and_succeeded_pods_carry_completed_row_condition() {
    let failed = pod(json!({"phase": "Failed", "containerStatuses": [
        {"name": "nginx", "ready": false, "restartCount": 0,
         "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}));
    let r = row("", "pods", &failed, now());
    assert_eq!(r.cells[2], json!("Error"));
    assert_eq!(
        r.conditions,
        Some(
            json!([{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}])
        )
    );

    let succeeded = pod(json!({"phase": "Succeeded"}));
    let r = row("", "pods", &succeeded, now());
    assert_eq!(r.cells[2], json!("Succeeded"));
    assert_eq!(
        r.conditions.unwrap()[0]["message"],
        json!("The pod has completed successfully.")
    );

    let evicted = pod(json!({"phase": "Failed", "reason": "Evicted"}));
    assert_eq!(status(&evicted), "Evicted");
}

#[test]
fn terminated_without_reason_prints_signal_or_exit_code() {
    let p = pod(json!({"phase": "Running", "containerStatuses": [
        {"name": "nginx", "ready": false, "restartCount": 0,
         "state": {"terminated": {"exitCode": 137, "signal": 9}}}]}));
    assert_eq!(status(&p), "Signal:9");
    let p = pod(json!({"phase": "Running", "containerStatuses": [
        {"name": "nginx", "ready": false, "restartCount": 0,
         "state": {"terminated": {"exitCode": 3}}}]}));
    assert_eq!(status(&p), "ExitCode:3");
}

fn with_init(status: Value) -> Value {
    let mut p = pod(status);
    p["spec"]["initContainers"] =
        json!([{"name": "init-a", "image": "busybox"}, {"name": "init-b", "image": "busybox"}]);
    p
}

#[test]
fn init_container_states() {
    let done = json!({"name": "init-a", "ready": false, "restartCount": 0,
                      "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}});
    let p = with_init(
        json!({"phase": "Pending", "initContainerStatuses": [done.clone(),
        {"name": "init-b", "ready": false, "restartCount": 0, "state": {"running": {}}}]}),
    );
    assert_eq!(status(&p), "Init:1/2");

    let p = with_init(json!({"phase": "Pending", "initContainerStatuses": [
        {"name": "init-a", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]}));
    assert_eq!(status(&p), "Init:0/2");

    let p = with_init(
        json!({"phase": "Pending", "initContainerStatuses": [done.clone(),
        {"name": "init-b", "ready": false, "restartCount": 3,
         "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(mins(2))}},
         "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}),
    );
    let c = cells("", "pods", &p);
    assert_eq!(c[2], json!("Init:CrashLoopBackOff"));
    assert_eq!(
        c[3],
        json!("3 (2m ago)"),
        "init restarts count while initializing"
    );

    let p = with_init(json!({"phase": "Pending", "initContainerStatuses": [
        {"name": "init-a", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 2}}}]}));
    assert_eq!(status(&p), "Init:ExitCode:2");

    let p = with_init(json!({"phase": "Pending", "initContainerStatuses": [
        {"name": "init-a", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 1, "signal": 15}}}]}));
    assert_eq!(status(&p), "Init:Signal:15");

    let p = with_init(json!({"phase": "Pending", "initContainerStatuses": [
        {"name": "init-a", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}));
    assert_eq!(status(&p), "Init:Error");
}

#[test]
fn sidecar_init_container_counts_as_a_container() {
    let mut p = pod(json!({
        "phase": "Running",
        "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
        "initContainerStatuses": [running("proxy", true, 1)],
        "containerStatuses": [running("nginx", true, 0)]}));
    p["spec"]["initContainers"] =
        json!([{"name": "proxy", "image": "envoy", "restartPolicy": "Always"}]);
    let c = cells("", "pods", &p);
    assert_eq!(c[1], json!("2/2"));
    assert_eq!(c[2], json!("Running"));
    assert_eq!(
        c[3],
        json!("1"),
        "sidecar restarts count, without a date there is no suffix"
    );
}

#[test]
fn completed_container_next_to_running_one() {
    let statuses = json!([
        {"name": "job", "ready": false, "restartCount": 0,
         "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
        running("nginx", true, 0)]);
    let mut p = pod(json!({"phase": "Running", "containerStatuses": statuses,
                           "conditions": [{"type": "Ready", "status": "True"}]}));
    p["spec"]["containers"] = json!([{"name": "job"}, {"name": "nginx"}]);
    assert_eq!(status(&p), "Running");
    assert_eq!(cells("", "pods", &p)[1], json!("1/2"));

    p["status"]["conditions"] = json!([{"type": "Ready", "status": "False"}]);
    assert_eq!(status(&p), "NotReady");
}

#[test]
fn earliest_container_reason_wins() {
    let mut p = pod(json!({"phase": "Running", "containerStatuses": [
        {"name": "a", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff"}}},
        {"name": "b", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}));
    p["spec"]["containers"] = json!([{"name": "a"}, {"name": "b"}]);
    assert_eq!(status(&p), "ImagePullBackOff");
}

#[test]
fn restarts_show_when_the_last_one_happened() {
    let p = pod(json!({"phase": "Running", "containerStatuses": [{
        "name": "nginx", "ready": false, "restartCount": 5,
        "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(mins(5))}},
        "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}));
    let c = cells("", "pods", &p);
    assert_eq!(c[2], json!("CrashLoopBackOff"));
    assert_eq!(c[3], json!("5 (5m ago)"));
}

#[test]
fn readiness_gates_and_scheduling_gates() {
    let mut p = pod(json!({"phase": "Running", "conditions": [
        {"type": "example.com/lb", "status": "True"}, {"type": "example.com/dns", "status": "False"}]}));
    p["spec"]["readinessGates"] = json!([
        {"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}, {"conditionType": "x/missing"}]);
    assert_eq!(cells("", "pods", &p)[8], json!("1/3"));

    let gated = pod(json!({"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}));
    assert_eq!(status(&gated), "SchedulingGated");
}

#[test]
fn odd_pods_do_not_panic() {
    for odd in [
        json!({}),
        json!(null),
        json!({"status": "x", "spec": 3}),
        json!({"metadata": {"creationTimestamp": "nope"}}),
    ] {
        let c = cells("", "pods", &odd);
        assert_eq!(c[1], json!("0/0"));
        assert_eq!(c[4], json!("<unknown>"));
    }
}
