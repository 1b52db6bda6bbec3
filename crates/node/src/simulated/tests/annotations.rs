use std::time::Duration;

use super::harness::*;
use crate::simulated::annotations::*;

#[test]
fn go_durations_parse_and_format() {
    assert_eq!(parse_go_duration("5s"), Ok(Duration::from_secs(5)));
    assert_eq!(parse_go_duration("1m30s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_go_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
    assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
    assert!(parse_go_duration("5").is_err());
    assert!(parse_go_duration("-5s").is_err());
    assert!(parse_go_duration("5 parsecs").is_err());
    assert_eq!(format_go_duration(Duration::from_secs(10)), "10s");
    assert_eq!(format_go_duration(Duration::from_secs(80)), "1m20s");
    assert_eq!(format_go_duration(Duration::from_secs(300)), "5m0s");
}

#[test]
fn behaviour_from_annotations() {
    let mut pod = bound_pod("p", &["c"]);
    assert_eq!(PodBehaviour::from_pod(&pod), Ok(PodBehaviour::default()));
    annotate(&mut pod, READY, "false");
    annotate(&mut pod, FAIL_AFTER, "10s");
    annotate(&mut pod, COMPLETE_AFTER, "3s");
    annotate(&mut pod, STARTUP_DELAY, "1s");
    let b = PodBehaviour::from_pod(&pod).unwrap();
    assert!(!b.ready);
    assert_eq!((b.exit_after, b.exit_code), (Some(Duration::from_secs(3)), 0), "the earlier exit wins");
    assert_eq!(b.startup_delay, Some(Duration::from_secs(1)));

    annotate(&mut pod, COMPLETE_AFTER, "1h");
    annotate(&mut pod, EXIT_CODE, "42");
    let b = PodBehaviour::from_pod(&pod).unwrap();
    assert_eq!((b.exit_after, b.exit_code), (Some(Duration::from_secs(10)), 42));
}

#[test]
fn invalid_annotations_are_errors_strictly_and_ignored_leniently() {
    let mut pod = bound_pod("p", &["c"]);
    annotate(&mut pod, READY, "maybe");
    annotate(&mut pod, FAIL_AFTER, "soon");
    let err = PodBehaviour::from_pod(&pod).unwrap_err();
    assert_eq!(err.annotation, READY);
    assert_eq!(PodBehaviour::from_pod_lenient(&pod), PodBehaviour::default());
}

#[test]
fn crash_loop_backoff_doubles_to_five_minutes() {
    use crate::simulated::containers::restart_backoff;
    let secs: Vec<u64> = (0..8).map(|n| restart_backoff(n).as_secs()).collect();
    assert_eq!(secs, [0, 10, 20, 40, 80, 160, 300, 300]);
}
