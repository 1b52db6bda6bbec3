//! The restart decision after a container instance ends (pure): restartPolicy, then the
//! kubelet's CrashLoopBackOff back-off (first restart immediate, then 10 s doubling to 5 min).

use std::time::Duration;

use crate::simulated::annotations::format_go_duration;
use crate::simulated::containers::restart_backoff;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterExit {
    /// The container stays terminated.
    Stay,
    /// Start it again now.
    RestartNow,
    /// Start it again after `wait`, showing `CrashLoopBackOff` with this message meanwhile.
    BackOff { wait: Duration, message: String },
}

/// `restart_count` is the count of the instance that ended; `who` is
/// `(container, pod, namespace, uid)` for the message.
pub fn after_exit(policy: &str, exit_code: i32, restart_count: i32, who: (&str, &str, &str, &str)) -> AfterExit {
    let restarts = match policy {
        "Never" => false,
        "OnFailure" => exit_code != 0,
        _ => true,
    };
    if !restarts {
        return AfterExit::Stay;
    }
    let wait = restart_backoff(restart_count);
    if wait.is_zero() {
        return AfterExit::RestartNow;
    }
    let (c, pod, ns, uid) = who;
    AfterExit::BackOff { wait, message: format!("back-off {} restarting failed container={c} pod={pod}_{ns}({uid})", format_go_duration(wait)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHO: (&str, &str, &str, &str) = ("c", "p", "default", "u1");

    #[test]
    fn policies_and_back_off() {
        assert_eq!(after_exit("Always", 1, 0, WHO), AfterExit::RestartNow);
        assert_eq!(
            after_exit("Always", 1, 1, WHO),
            AfterExit::BackOff { wait: Duration::from_secs(10), message: "back-off 10s restarting failed container=c pod=p_default(u1)".into() }
        );
        assert!(matches!(after_exit("Always", 0, 3, WHO), AfterExit::BackOff { wait, .. } if wait == Duration::from_secs(40)));
        assert!(matches!(after_exit("Always", 1, 9, WHO), AfterExit::BackOff { wait, ref message } if wait == Duration::from_secs(300) && message.starts_with("back-off 5m0s ")));
        assert_eq!(after_exit("OnFailure", 0, 0, WHO), AfterExit::Stay);
        assert_eq!(after_exit("OnFailure", 2, 0, WHO), AfterExit::RestartNow);
        assert_eq!(after_exit("Never", 1, 0, WHO), AfterExit::Stay);
    }
}
