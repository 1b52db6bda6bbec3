//! Components that must run once per cluster — the controllers (upstream's
//! `kube-controller-manager`) and the scheduler — as groups that run only while this process
//! holds the group's Lease in `kube-system`, so several `berth server` processes on one etcd
//! run each of them exactly once.
//!
//! A group runs on a tokio runtime of its own: the controllers spawn informers and workers as
//! detached tasks, and shutting that runtime down is the one way to stop all of them when
//! leadership is lost. Upstream's controller-manager exits the process then; berth stops the
//! group and campaigns again, so the API server this process also runs keeps serving.
//! Without election (the default on the embedded store, which one process owns) the group
//! simply runs.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use berth_runtime::leader::{self, LeaderElector};

/// Starts a group's components on the current (the group's) runtime; they keep running after
/// the returned future completes.
pub type Start = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// client-go's durations (`--leader-elect-*` flags).
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

/// A running group; [`Group::stop`] stops its components and lets its Lease go.
pub struct Group {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Group {
    /// Run `start`'s components: at once when `election` is `None`, else whenever this process
    /// leads the Lease `kube-system/<lease>`.
    pub fn spawn(lease: &'static str, election: Option<(kube::Client, Timing, String)>, start: Start) -> Group {
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let Some((client, timing, identity)) = election else {
                let running = run_group(lease, &start);
                let _ = stopped.await;
                drop(running);
                return;
            };
            let mut config = leader::Config::new(lease, &identity);
            config.lease_duration = timing.lease_duration;
            config.renew_deadline = timing.renew_deadline;
            config.retry_period = timing.retry_period;
            let recorder = berth_runtime::EventRecorder::new(client.clone(), lease);
            let mut elector = LeaderElector::new(client, config, Some(recorder));
            loop {
                tokio::select! {
                    _ = elector.acquire() => {}
                    _ = &mut stopped => return,
                }
                eprintln!("berth: leading {lease} as {identity}");
                let running = run_group(lease, &start);
                tokio::select! {
                    _ = elector.hold() => {
                        drop(running);
                        eprintln!("berth: lost the {lease} lease: its components stopped; campaigning again");
                    }
                    _ = &mut stopped => {
                        drop(running);
                        elector.release().await;
                        return;
                    }
                }
            }
        });
        Group { stop, task }
    }

    /// Stop the group's components and release its Lease (bounded: the store may be gone).
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(3), self.task).await;
    }
}

/// A group's runtime; dropping it stops every task on it without waiting (a runtime may not be
/// dropped the blocking way inside another one, which is where groups live).
struct Running(Option<tokio::runtime::Runtime>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// A fresh runtime with `start` spawned on it.
fn run_group(lease: &str, start: &Start) -> Running {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(format!("berth-{lease}"))
        .enable_all()
        .build()
        .expect("a tokio runtime for the group");
    runtime.spawn(start());
    Running(Some(runtime))
}
