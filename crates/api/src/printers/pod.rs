//! The pod printer (upstream `printPod`): READY, the aggregate STATUS, RESTARTS and the wide
//! columns. STATUS is the one cell users read most, so its derivation follows upstream step
//! by step.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::descriptions as d;
use super::util::{self, arr_at, bool_at, get, i64_at, str_at};
use super::{Column, Row};

pub(super) fn columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Ready", "The aggregate readiness state of this pod for accepting traffic."),
        Column::string("Status", "The aggregate status of the containers in this pod."),
        // A string since restarts gained the "(5m ago)" suffix (upstream, 1.22+).
        Column::string(
            "Restarts",
            "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        ),
        Column::age(),
        Column::string("IP", d::POD_STATUS_POD_IP).wide(),
        Column::string("Node", d::POD_SPEC_NODE_NAME).wide(),
        Column::string("Nominated Node", d::POD_STATUS_NOMINATED_NODE_NAME).wide(),
        Column::string("Readiness Gates", d::POD_SPEC_READINESS_GATES).wide(),
    ]
}

/// Latest `lastState.terminated.finishedAt` seen so far (Go's `lastRestartDate`).
fn later(current: Option<DateTime<Utc>>, status: &Value) -> Option<DateTime<Utc>> {
    let finished = get(status, &["lastState", "terminated"])
        .filter(|t| t.is_object())
        .and_then(|t| util::time_at(t, &["finishedAt"]));
    match (current, finished) {
        (Some(c), Some(f)) if f > c => Some(f),
        (None, Some(f)) => Some(f),
        (c, _) => c,
    }
}

/// The container state of the given kind (`waiting`, `running`, `terminated`), if set.
fn state<'a>(status: &'a Value, kind: &str) -> Option<&'a Value> {
    get(status, &["state", kind]).filter(|s| s.is_object())
}

/// `Signal:N` / `ExitCode:N` for a terminated state without a reason.
fn exit_reason(terminated: &Value) -> String {
    let signal = i64_at(terminated, &["signal"]);
    if signal != 0 {
        format!("Signal:{signal}")
    } else {
        format!("ExitCode:{}", i64_at(terminated, &["exitCode"]))
    }
}

fn has_condition(pod: &Value, type_: &str) -> bool {
    // Upstream's isPodInitializedConditionTrue looks at the first condition of the type only.
    arr_at(pod, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == type_)
        .is_some_and(|c| str_at(c, &["status"]) == "True")
}

fn has_ready_condition(pod: &Value) -> bool {
    // Upstream's hasPodReadyCondition accepts any Ready=True condition.
    arr_at(pod, &["status", "conditions"])
        .iter()
        .any(|c| str_at(c, &["type"]) == "Ready" && str_at(c, &["status"]) == "True")
}

pub(super) fn row(pod: &Value, now: DateTime<Utc>) -> Row {
    let phase = str_at(pod, &["status", "phase"]);
    let status_reason = str_at(pod, &["status", "reason"]);
    let mut reason = if status_reason.is_empty() {
        phase
    } else {
        status_reason
    }
    .to_string();

    for c in arr_at(pod, &["status", "conditions"]) {
        if str_at(c, &["type"]) == "PodScheduled" && str_at(c, &["reason"]) == "SchedulingGated" {
            reason = "SchedulingGated".to_string();
        }
    }

    let conditions = match phase {
        "Succeeded" => Some(json!([{
            "type": "Completed", "status": "True", "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }])),
        "Failed" => Some(json!([{
            "type": "Completed", "status": "True", "reason": "Failed",
            "message": "The pod failed.",
        }])),
        _ => None,
    };

    let init_specs = arr_at(pod, &["spec", "initContainers"]);
    // A restartable init container ("sidecar", restartPolicy Always) counts as a container.
    let is_sidecar = |name: &str| {
        init_specs
            .iter()
            .any(|c| str_at(c, &["name"]) == name && str_at(c, &["restartPolicy"]) == "Always")
    };
    let sidecars = init_specs
        .iter()
        .filter(|c| str_at(c, &["restartPolicy"]) == "Always")
        .count();
    let total = arr_at(pod, &["spec", "containers"]).len() + sidecars;

    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut sidecar_restarts = 0i64;
    let mut last_sidecar_restart: Option<DateTime<Utc>> = None;

    let mut initializing = false;
    for (i, st) in arr_at(pod, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        let sidecar = is_sidecar(str_at(st, &["name"]));
        restarts += i64_at(st, &["restartCount"]);
        last_restart = later(last_restart, st);
        if sidecar {
            sidecar_restarts += i64_at(st, &["restartCount"]);
            last_sidecar_restart = later(last_sidecar_restart, st);
        }
        let terminated = state(st, "terminated");
        let waiting = state(st, "waiting");
        if terminated.is_some_and(|t| i64_at(t, &["exitCode"]) == 0) {
            continue;
        }
        if sidecar && bool_at(st, &["started"]) {
            if bool_at(st, &["ready"]) {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = terminated {
            // Initialization failed.
            let r = str_at(t, &["reason"]);
            reason = if r.is_empty() {
                format!("Init:{}", exit_reason(t))
            } else {
                format!("Init:{r}")
            };
        } else if let Some(w) = waiting.filter(|w| {
            let r = str_at(w, &["reason"]);
            !r.is_empty() && r != "PodInitializing"
        }) {
            reason = format!("Init:{}", str_at(w, &["reason"]));
        } else {
            reason = format!("Init:{}/{}", i, init_specs.len());
        }
        initializing = true;
        break;
    }

    if !initializing || has_condition(pod, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        // Last to first, so the earliest container with a reason wins.
        for st in arr_at(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts += i64_at(st, &["restartCount"]);
            last_restart = later(last_restart, st);
            let waiting_reason = state(st, "waiting")
                .map(|w| str_at(w, &["reason"]))
                .unwrap_or("");
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(t) = state(st, "terminated") {
                let r = str_at(t, &["reason"]);
                reason = if r.is_empty() {
                    exit_reason(t)
                } else {
                    r.to_string()
                };
            } else if bool_at(st, &["ready"]) && state(st, "running").is_some() {
                has_running = true;
                ready += 1;
            }
        }
        // A completed container next to a running one: the pod is still running.
        if reason == "Completed" && has_running {
            reason = if has_ready_condition(pod) {
                "Running"
            } else {
                "NotReady"
            }
            .to_string();
        }
    }

    if util::is_deleting(pod) && status_reason == "NodeLost" {
        reason = "Unknown".to_string();
    } else if util::is_deleting(pod) && phase != "Failed" && phase != "Succeeded" {
        reason = "Terminating".to_string();
    }

    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", util::since(Some(t), now)),
        _ => restarts.to_string(),
    };

    // Upstream prints the internal object, whose podIPs conversion fills from podIP.
    let pod_ip = arr_at(pod, &["status", "podIPs"])
        .first()
        .map(|ip| str_at(ip, &["ip"]))
        .unwrap_or_else(|| str_at(pod, &["status", "podIP"]));

    let gates = arr_at(pod, &["spec", "readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conds = arr_at(pod, &["status", "conditions"]);
        let true_count = gates
            .iter()
            .filter(|g| {
                let t = str_at(g, &["conditionType"]);
                conds
                    .iter()
                    .find(|c| str_at(c, &["type"]) == t)
                    .is_some_and(|c| str_at(c, &["status"]) == "True")
            })
            .count();
        format!("{}/{}", true_count, gates.len())
    };

    Row {
        cells: vec![
            util::name(pod),
            Value::String(format!("{ready}/{total}")),
            Value::String(reason),
            Value::String(restarts_cell),
            util::age(pod, now),
            Value::String(util::or(pod_ip, "<none>")),
            Value::String(util::or(str_at(pod, &["spec", "nodeName"]), "<none>")),
            Value::String(util::or(
                str_at(pod, &["status", "nominatedNodeName"]),
                "<none>",
            )),
            Value::String(readiness_gates),
        ],
        conditions,
    }
}
