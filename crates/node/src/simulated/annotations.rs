//! Per-pod behaviour of simulated containers, read from annotations.
//!
//! | annotation | value | effect |
//! |---|---|---|
//! | `sim.berth.dev/ready` | `"true"` (default) / `"false"` | containers report ready / unready while running; changing it flips the pod's Ready condition on the next step |
//! | `sim.berth.dev/startup-delay` | duration | containers stay `ContainerCreating` (or `PodInitializing`) this long after the kubelet first saw the pod (default: node's `default_startup_delay`) |
//! | `sim.berth.dev/fail-after` | duration | every container exits with `sim.berth.dev/exit-code` (default 1, reason `Error`) this long after each (re)start |
//! | `sim.berth.dev/complete-after` | duration | every container exits 0 (reason `Completed`) this long after each (re)start |
//! | `sim.berth.dev/exit-code` | integer | exit code used by `fail-after` (non-zero) |
//! | `sim.berth.dev/termination-delay` | duration | how long a container takes to exit after SIGTERM; default: it exits 0 exactly when the grace period ends. Longer than the grace period: it is SIGKILLed at the deadline (exit 137, `Error`) |
//!
//! Durations use Go's syntax (`500ms`, `5s`, `1m30s`, `2h`), like every duration in a
//! Kubernetes manifest. If both `fail-after` and `complete-after` are set, the earlier wins.
//! Whether the exited container restarts follows `spec.restartPolicy` as on a real kubelet.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;

pub const READY: &str = "sim.berth.dev/ready";
pub const STARTUP_DELAY: &str = "sim.berth.dev/startup-delay";
pub const FAIL_AFTER: &str = "sim.berth.dev/fail-after";
pub const COMPLETE_AFTER: &str = "sim.berth.dev/complete-after";
pub const EXIT_CODE: &str = "sim.berth.dev/exit-code";
pub const TERMINATION_DELAY: &str = "sim.berth.dev/termination-delay";

/// An annotation whose value could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?} for annotation {annotation}: {reason}")]
pub struct BehaviourError {
    pub annotation: &'static str,
    pub value: String,
    pub reason: String,
}

/// How the containers of one pod behave, parsed from its annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodBehaviour {
    pub ready: bool,
    pub startup_delay: Option<Duration>,
    /// When set: containers exit this long after each start with `exit_code`.
    pub exit_after: Option<Duration>,
    pub exit_code: i32,
    pub termination_delay: Option<Duration>,
}

impl Default for PodBehaviour {
    fn default() -> Self {
        PodBehaviour { ready: true, startup_delay: None, exit_after: None, exit_code: 0, termination_delay: None }
    }
}

impl PodBehaviour {
    /// Strict parse: the first invalid annotation is an error (for the caller to report,
    /// e.g. as a Warning event on the pod).
    pub fn from_pod(pod: &Pod) -> Result<Self, BehaviourError> {
        let (b, errors) = Self::parse(pod);
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(b),
        }
    }

    /// Lenient parse used by `next_step`: an invalid annotation is ignored, as if absent,
    /// so that a typo never wedges the pod.
    pub fn from_pod_lenient(pod: &Pod) -> Self {
        Self::parse(pod).0
    }

    fn parse(pod: &Pod) -> (Self, Vec<BehaviourError>) {
        let mut b = PodBehaviour::default();
        let mut errors = Vec::new();
        let Some(ann) = pod.metadata.annotations.as_ref() else { return (b, errors) };
        let err = |annotation: &'static str, value: &str, reason: String| BehaviourError {
            annotation,
            value: value.to_string(),
            reason,
        };
        let duration = |key: &'static str, errors: &mut Vec<BehaviourError>| -> Option<Duration> {
            let v = ann.get(key)?;
            match parse_go_duration(v) {
                Ok(d) => Some(d),
                Err(reason) => {
                    errors.push(err(key, v, reason));
                    None
                }
            }
        };
        if let Some(v) = ann.get(READY) {
            match v.trim().to_ascii_lowercase().as_str() {
                "true" => b.ready = true,
                "false" => b.ready = false,
                _ => errors.push(err(READY, v, "expected \"true\" or \"false\"".into())),
            }
        }
        b.startup_delay = duration(STARTUP_DELAY, &mut errors);
        b.termination_delay = duration(TERMINATION_DELAY, &mut errors);
        let mut fail_code = 1;
        if let Some(v) = ann.get(EXIT_CODE) {
            match v.trim().parse::<i32>() {
                Ok(c) if c != 0 => fail_code = c,
                Ok(_) => errors.push(err(EXIT_CODE, v, "must be non-zero; use complete-after for exit 0".into())),
                Err(e) => errors.push(err(EXIT_CODE, v, e.to_string())),
            }
        }
        let fail = duration(FAIL_AFTER, &mut errors);
        let complete = duration(COMPLETE_AFTER, &mut errors);
        (b.exit_after, b.exit_code) = match (fail, complete) {
            (Some(f), Some(c)) if c < f => (Some(c), 0),
            (Some(f), _) => (Some(f), fail_code),
            (None, Some(c)) => (Some(c), 0),
            (None, None) => (None, 0),
        };
        (b, errors)
    }
}

/// Parses a Go `time.ParseDuration` string (no sign: negative delays make no sense here).
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!("expected a number at {rest:?}"));
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| format!("bad number {:?}", &rest[..num_len]))?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err("missing unit (e.g. 5s, 100ms, 1m)".into()),
            u => return Err(format!("unknown unit {u:?}")),
        };
        rest = &rest[unit_len..];
        total += n * scale;
    }
    Duration::try_from_secs_f64(total).map_err(|e| e.to_string())
}

/// Formats whole-second durations the way Go's `time.Duration.String` does (`10s`,
/// `1m20s`, `5m0s`), as used in the kubelet's CrashLoopBackOff message.
pub fn format_go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}
