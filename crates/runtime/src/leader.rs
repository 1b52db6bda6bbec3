//! Leader election over a `coordination.k8s.io/v1` Lease, as client-go's `leaderelection`
//! package does it for `kube-controller-manager` and `kube-scheduler`: the holder renews the
//! Lease every retry period; a candidate takes it only once the holder's record has not changed
//! for the record's `leaseDurationSeconds`, measured on the candidate's own clock from when it
//! *observed* the record (so no clocks are compared across machines); a leader that cannot renew
//! within the renew deadline stops leading, which is before any candidate may take over (renew
//! deadline < lease duration). Writes are optimistic (resourceVersion), so two candidates
//! never both win.
//!
//! Events as upstream: `LeaderElection` `<identity> became leader` / `<identity> stopped
//! leading` on the Lease.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};

use crate::{reference, EventRecorder, EventType};

/// One election: which Lease, who we are, and client-go's three durations.
#[derive(Clone, Debug)]
pub struct Config {
    pub namespace: String,
    pub name: String,
    /// Unique per candidate; upstream uses `<hostname>_<uuid>`.
    pub identity: String,
    /// How long a record stays valid after a candidate observed it (upstream default 15 s).
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it gives up (10 s).
    pub renew_deadline: Duration,
    /// Time between attempts (2 s).
    pub retry_period: Duration,
}

impl Config {
    /// `kube-system/<name>` with upstream's default durations.
    pub fn new(name: &str, identity: &str) -> Config {
        Config {
            namespace: "kube-system".into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// Upstream's identity for a candidate: `<hostname>_<uuid>`.
pub fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let host = if host.is_empty() { "localhost".to_string() } else { host };
    format!("{host}_{}", uuid::Uuid::new_v4())
}

/// Whether `me` may write the record now: it is unheld, ours, or its holder let it go stale
/// (unchanged for its own `leaseDurationSeconds` since we observed it).
pub(crate) fn may_take(record: &LeaseSpec, me: &str, observed_at: Instant, now: Instant) -> bool {
    let holder = record.holder_identity.as_deref().unwrap_or("");
    if holder.is_empty() || holder == me {
        return true;
    }
    let valid_for = Duration::from_secs(record.lease_duration_seconds.unwrap_or(0).max(0) as u64);
    observed_at + valid_for <= now
}

/// The record to write when acquiring or renewing: a renewal keeps the acquire time and the
/// transition count; a takeover counts one more transition.
pub(crate) fn next_record(old: Option<&LeaseSpec>, me: &str, lease_duration: Duration, now: MicroTime) -> LeaseSpec {
    let mut spec = LeaseSpec {
        holder_identity: Some(me.to_string()),
        lease_duration_seconds: Some(lease_duration.as_secs().max(1) as i32),
        acquire_time: Some(now.clone()),
        renew_time: Some(now),
        lease_transitions: Some(0),
        ..Default::default()
    };
    if let Some(old) = old {
        if old.holder_identity.as_deref() == Some(me) {
            spec.acquire_time = old.acquire_time.clone();
            spec.lease_transitions = old.lease_transitions;
        } else {
            spec.lease_transitions = Some(old.lease_transitions.unwrap_or(0) + 1);
        }
    }
    spec
}

/// The record a leader writes when it lets go on shutdown (client-go's `ReleaseOnCancel`):
/// no holder, valid for one second, so a candidate takes over at its next attempt.
pub(crate) fn released_record(old: &LeaseSpec, now: MicroTime) -> LeaseSpec {
    LeaseSpec {
        holder_identity: None,
        lease_duration_seconds: Some(1),
        acquire_time: Some(now.clone()),
        renew_time: Some(now),
        lease_transitions: old.lease_transitions,
        ..Default::default()
    }
}

fn micro_now() -> MicroTime {
    let micros = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0);
    MicroTime(k8s_openapi::jiff::Timestamp::from_microsecond(micros).expect("the current time is in range"))
}

/// A candidate for one Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    config: Config,
    recorder: Option<EventRecorder>,
    /// The record as last seen, and when (our clock) it last changed.
    observed: Option<(LeaseSpec, Instant)>,
    leading: bool,
}

impl LeaderElector {
    pub fn new(client: kube::Client, config: Config, recorder: Option<EventRecorder>) -> LeaderElector {
        let api = Api::namespaced(client, &config.namespace);
        LeaderElector { api, config, recorder, observed: None, leading: false }
    }

    pub fn identity(&self) -> &str {
        &self.config.identity
    }

    /// Wait until we lead (retrying every retry period, with client-go's 1.2 jitter factor).
    pub async fn acquire(&mut self) {
        loop {
            if self.try_acquire_or_renew().await {
                self.leading = true;
                self.record_event("became leader").await;
                return;
            }
            tokio::time::sleep(jittered(self.config.retry_period)).await;
        }
    }

    /// Renew while we lead; returns once a renewal has not succeeded within the renew
    /// deadline, which is when the caller must stop the work it leads.
    pub async fn hold(&mut self) {
        let mut renewed = Instant::now();
        loop {
            tokio::time::sleep(self.config.retry_period).await;
            let left = self.config.renew_deadline.saturating_sub(renewed.elapsed());
            if matches!(tokio::time::timeout(left, self.try_acquire_or_renew()).await, Ok(true)) {
                renewed = Instant::now();
            } else if renewed.elapsed() >= self.config.renew_deadline {
                self.leading = false;
                tracing::warn!(lease = %self.config.name, "failed to renew the lease within the renew deadline: stopped leading");
                self.record_event("stopped leading").await;
                return;
            }
        }
    }

    /// Give the Lease up if we hold it, so another candidate takes over at once.
    pub async fn release(&mut self) {
        if !self.leading {
            return;
        }
        self.leading = false;
        let Ok(mut lease) = self.api.get(&self.config.name).await else { return };
        let Some(spec) = lease.spec.as_ref().filter(|s| s.holder_identity.as_deref() == Some(self.config.identity.as_str())) else {
            return;
        };
        lease.spec = Some(released_record(spec, micro_now()));
        if let Err(e) = self.api.replace(&self.config.name, &PostParams::default(), &lease).await {
            tracing::warn!(lease = %self.config.name, error = %e, "releasing the lease");
        }
    }

    /// One attempt: create the Lease, or take or renew it when [`may_take`] allows.
    async fn try_acquire_or_renew(&mut self) -> bool {
        let now = Instant::now();
        let lease = match self.api.get_opt(&self.config.name).await {
            Ok(lease) => lease,
            Err(e) => {
                tracing::debug!(lease = %self.config.name, error = %e, "reading the lease");
                return false;
            }
        };
        let Some(mut lease) = lease else {
            let spec = next_record(None, &self.config.identity, self.config.lease_duration, micro_now());
            let new = Lease {
                metadata: ObjectMeta { name: Some(self.config.name.clone()), ..Default::default() },
                spec: Some(spec.clone()),
            };
            return match self.api.create(&PostParams::default(), &new).await {
                Ok(_) => {
                    self.observed = Some((spec, now));
                    true
                }
                Err(_) => false,
            };
        };
        let current = lease.spec.clone().unwrap_or_default();
        match &self.observed {
            Some((seen, _)) if *seen == current => {}
            _ => self.observed = Some((current.clone(), now)),
        }
        let observed_at = self.observed.as_ref().map_or(now, |(_, at)| *at);
        if !may_take(&current, &self.config.identity, observed_at, now) {
            return false;
        }
        let spec = next_record(Some(&current), &self.config.identity, self.config.lease_duration, micro_now());
        lease.spec = Some(spec.clone());
        // `replace` carries the resourceVersion we read: a concurrent writer makes it a 409.
        match self.api.replace(&self.config.name, &PostParams::default(), &lease).await {
            Ok(_) => {
                self.observed = Some((spec, Instant::now()));
                true
            }
            Err(_) => false,
        }
    }

    async fn record_event(&self, what: &str) {
        let Some(recorder) = &self.recorder else { return };
        if let Ok(lease) = self.api.get(&self.config.name).await {
            let message = format!("{} {what}", self.config.identity);
            recorder.record(reference(&lease), EventType::Normal, "LeaderElection", &message);
        }
    }
}

/// client-go's `wait.Jitter(d, 1.2)`: somewhere in [d, 2.2·d).
fn jittered(d: Duration) -> Duration {
    d + d.mul_f64(1.2 * rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> MicroTime {
        MicroTime(k8s_openapi::jiff::Timestamp::from_second(1_700_000_000 + secs).unwrap())
    }

    fn held_by(who: &str, duration: i32, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(who.into()),
            lease_duration_seconds: Some(duration),
            acquire_time: Some(at(0)),
            renew_time: Some(at(5)),
            lease_transitions: Some(transitions),
            ..Default::default()
        }
    }

    #[test]
    fn a_live_lease_of_another_holder_is_not_taken_until_it_goes_stale() {
        let t0 = Instant::now();
        let record = held_by("a", 15, 0);
        assert!(!may_take(&record, "b", t0, t0));
        assert!(!may_take(&record, "b", t0, t0 + Duration::from_secs(14)));
        assert!(may_take(&record, "b", t0, t0 + Duration::from_secs(15)));
        // Our own record and an unheld one are always ours to write.
        assert!(may_take(&record, "a", t0, t0));
        assert!(may_take(&LeaseSpec::default(), "b", t0, t0));
    }

    #[test]
    fn renewal_keeps_acquire_time_and_transitions_takeover_counts_one() {
        let old = held_by("a", 15, 3);
        let renewed = next_record(Some(&old), "a", Duration::from_secs(15), at(9));
        assert_eq!(renewed.acquire_time, Some(at(0)));
        assert_eq!(renewed.renew_time, Some(at(9)));
        assert_eq!(renewed.lease_transitions, Some(3));
        let taken = next_record(Some(&old), "b", Duration::from_secs(15), at(30));
        assert_eq!(taken.holder_identity.as_deref(), Some("b"));
        assert_eq!(taken.acquire_time, Some(at(30)));
        assert_eq!(taken.lease_transitions, Some(4));
        assert_eq!(next_record(None, "a", Duration::from_secs(15), at(1)).lease_transitions, Some(0));
    }

    #[test]
    fn a_released_lease_has_no_holder_and_is_free_at_once() {
        let released = released_record(&held_by("a", 15, 2), at(40));
        assert_eq!(released.holder_identity, None);
        assert_eq!(released.lease_duration_seconds, Some(1));
        assert_eq!(released.lease_transitions, Some(2));
        let t0 = Instant::now();
        assert!(may_take(&released, "b", t0, t0));
        assert_eq!(next_record(Some(&released), "b", Duration::from_secs(15), at(41)).lease_transitions, Some(3));
    }
}
