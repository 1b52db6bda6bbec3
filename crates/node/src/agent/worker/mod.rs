//! One pod's worker on a real node (like the kubelet's pod worker): creates the sandbox,
//! starts, watches, probes and restarts the containers, reports status, and on deletion stops
//! everything and issues the final DELETE. Its state is in `pods/<uid>/` so that a new agent
//! re-adopts running pods instead of restarting them.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Container, ContainerStateTerminated, Pod, PodStatus};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::launch::{self, Started};
use super::status::{self, CState};
use super::{probes, NodeCtx};

mod volumes;
mod restart;
mod start;
mod stop;

use restart::AfterExit;
use crate::process::procs;
use crate::process::sandbox;
use crate::simulated::conditions::is_terminal_phase;
use crate::simulated::time_public::from_time;

/// What a container's `state.json` keeps across agent restarts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Persisted {
    restart_count: i32,
    running: Option<(i32, i32, DateTime<Utc>)>,
    last: Option<ContainerStateTerminated>,
}

struct Ctr {
    spec: Container,
    restart_count: i32,
    state: CState,
    last: Option<ContainerStateTerminated>,
    ready: bool,
    started: bool,
    /// Distinguishes this instance's exit and probe messages from an earlier one's.
    instance: u64,
    running: Option<Started>,
    probes: Vec<tokio::task::JoinHandle<()>>,
    next_start: Option<Instant>,
    pull_failures: u32,
    /// A waiting state shown from a given time while the container waits (ErrImagePull
    /// turns into ImagePullBackOff until the next pull attempt).
    then_show: Option<(Instant, CState)>,
}

pub enum Msg {
    Exited { name: String, instance: u64 },
    Probe(probes::Result_),
}

pub struct PodWorker {
    ctx: Arc<NodeCtx>,
    uid: String,
    dir: PathBuf,
    pod: watch::Receiver<Option<Pod>>,
    tx: mpsc::UnboundedSender<Msg>,
    rx: mpsc::UnboundedReceiver<Msg>,
    sandbox: Option<(i32, Ipv4Addr)>,
    sandbox_retry: Option<Instant>,
    volumes: Option<BTreeMap<String, PathBuf>>,
    mount_failures: u32,
    refresh: volumes::Refresh,
    ctrs: Vec<Ctr>,
    last_written: Option<PodStatus>,
    next_instance: u64,
    start_time: DateTime<Utc>,
}

fn pod_uid(p: &Pod) -> String {
    p.metadata.uid.clone().unwrap_or_default()
}

impl PodWorker {
    pub fn new(ctx: Arc<NodeCtx>, pod: watch::Receiver<Option<Pod>>) -> PodWorker {
        let first = pod.borrow().clone().expect("a worker starts with a pod");
        let uid = pod_uid(&first);
        let dir = ctx.state_dir.join("pods").join(&uid);
        let (tx, rx) = mpsc::unbounded_channel();
        let ctrs = first.spec.as_ref().map(|s| s.containers.clone()).unwrap_or_default().into_iter().map(|spec| Ctr {
            spec,
            restart_count: 0,
            state: CState::Waiting { reason: "ContainerCreating".into(), message: None },
            last: None,
            ready: false,
            started: false,
            instance: 0,
            running: None,
            probes: Vec::new(),
            next_start: None,
            pull_failures: 0,
            then_show: None,
        });
        PodWorker {
            ctx,
            uid,
            dir,
            pod,
            tx,
            rx,
            sandbox: None,
            sandbox_retry: None,
            volumes: None,
            mount_failures: 0,
            refresh: volumes::Refresh::default(),
            ctrs: ctrs.collect(),
            last_written: first.status.clone(),
            next_instance: 1,
            start_time: Utc::now(),
        }
    }

    fn cdir(&self, name: &str) -> PathBuf {
        self.dir.join("containers").join(name)
    }

    fn name(&self) -> String {
        let p = self.pod.borrow();
        p.as_ref().map(|p| format!("{}/{}", p.metadata.namespace.clone().unwrap_or_default(), p.metadata.name.clone().unwrap_or_default())).unwrap_or_default()
    }

    pub async fn run(mut self) {
        self.adopt();
        loop {
            if self.sync().await {
                return;
            }
            let wake = self.next_wake();
            tokio::select! {
                r = self.pod.changed() => if r.is_err() {
                    // The manager is gone (agent stopping): leave the pod running.
                    return;
                },
                Some(m) = self.rx.recv() => self.on_msg(m).await,
                () = tokio::time::sleep_until(wake.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))) => {}
            }
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        let shows = self.ctrs.iter().filter_map(|c| c.then_show.as_ref().map(|(t, _)| *t));
        self.ctrs.iter().filter_map(|c| c.next_start).chain(shows).chain(self.sandbox_retry).chain(self.refresh.next()).min()
    }

    /// Take over what a previous agent left running for this pod.
    fn adopt(&mut self) {
        let Some(pid) = procs::read_pid(&sandbox::pid_file(&self.dir)) else { return };
        if !procs::alive(pid) {
            return;
        }
        let Some(ip) = self.ctx.ipam.held_by(&self.uid) else { return };
        self.sandbox = Some((pid, ip));
        let api_statuses = self.pod.borrow().as_ref().and_then(|p| p.status.as_ref()?.container_statuses.clone()).unwrap_or_default();
        if let Some(t) = self.pod.borrow().as_ref().and_then(|p| p.status.as_ref()?.start_time.clone()) {
            self.start_time = from_time(&t);
        }
        for i in 0..self.ctrs.len() {
            let name = self.ctrs[i].spec.name.clone();
            let Ok(b) = std::fs::read(self.cdir(&name).join("state.json")) else { continue };
            let Ok(p) = serde_json::from_slice::<Persisted>(&b) else { continue };
            let instance = self.next_instance;
            self.next_instance += 1;
            let c = &mut self.ctrs[i];
            c.restart_count = p.restart_count;
            c.last = p.last;
            c.instance = instance;
            if let Some((shim_pid, pid, at)) = p.running {
                let api = api_statuses.iter().find(|s| s.name == name);
                c.state = CState::Running { started_at: at };
                c.running = Some(Started { shim_pid, pid });
                c.ready = api.is_some_and(|s| s.ready);
                c.started = api.is_none_or(|s| s.started != Some(false)) || c.spec.startup_probe.is_none();
                self.watch_instance(i);
            }
        }
        tracing::info!(pod = %self.name(), "re-adopted running pod");
    }

    fn persist(&self, i: usize) {
        let c = &self.ctrs[i];
        let running = match (&c.state, c.running) {
            (CState::Running { started_at }, Some(s)) => Some((s.shim_pid, s.pid, *started_at)),
            _ => None,
        };
        let p = Persisted { restart_count: c.restart_count, running, last: c.last.clone() };
        let dir = self.cdir(&c.spec.name);
        let _ = std::fs::create_dir_all(&dir);
        let tmp = dir.join("state.json.tmp");
        if std::fs::write(&tmp, serde_json::to_vec(&p).unwrap_or_default()).is_ok() {
            let _ = std::fs::rename(tmp, dir.join("state.json"));
        }
    }

    /// Exit watcher and probes of container `i`'s running instance.
    fn watch_instance(&mut self, i: usize) {
        let c = &mut self.ctrs[i];
        let Some(s) = c.running else { return };
        let (tx, name, instance) = (self.tx.clone(), c.spec.name.clone(), c.instance);
        c.probes.push(tokio::spawn(async move {
            procs::wait_exit(s.shim_pid).await;
            let _ = tx.send(Msg::Exited { name, instance });
        }));
        let ip = self.sandbox.map(|(_, ip)| ip.to_string()).unwrap_or_default();
        let (ptx, pname, pinst) = (self.tx.clone(), c.spec.name.clone(), c.instance);
        let (fwd_tx, mut fwd_rx) = mpsc::unbounded_channel();
        c.probes.extend(probes::spawn(&c.spec, pinst, ip, s.pid, fwd_tx));
        c.probes.push(tokio::spawn(async move {
            while let Some(r) = fwd_rx.recv().await {
                let _ = ptx.send(Msg::Probe(r));
            }
            let _ = pname;
        }));
        if c.spec.readiness_probe.is_none() {
            c.ready = true;
        }
        if c.spec.startup_probe.is_none() {
            c.started = true;
        }
    }

    fn event(&self, type_: berth_runtime::EventType, reason: &str, message: &str) {
        if let Some(p) = self.pod.borrow().as_ref() {
            self.ctx.recorder.record(super::object_ref(p), type_, reason, message);
        }
    }

    async fn on_msg(&mut self, m: Msg) {
        match m {
            Msg::Exited { name, instance } => {
                let Some(i) = self.ctrs.iter().position(|c| c.spec.name == name && c.instance == instance) else { return };
                if self.ctrs[i].running.is_some() {
                    self.exited(i, true);
                }
            }
            Msg::Probe(r) => {
                let Some(i) = self.ctrs.iter().position(|c| c.spec.name == r.container && c.instance == r.instance) else { return };
                if r.errored {
                    self.event(berth_runtime::EventType::Warning, "Unhealthy", &format!("{:?} probe errored: {}", r.kind, r.message));
                    return;
                }
                let c = &mut self.ctrs[i];
                match r.kind {
                    probes::Kind::Readiness => c.ready = r.ok,
                    probes::Kind::Startup => c.started = r.ok,
                    probes::Kind::Liveness => {}
                }
                if !r.ok {
                    let kind = format!("{:?}", r.kind);
                    self.event(berth_runtime::EventType::Warning, "Unhealthy", &format!("{kind} probe failed: {}", r.message));
                    if matches!(r.kind, probes::Kind::Liveness | probes::Kind::Startup) {
                        let c = &self.ctrs[i];
                        let msg = format!("Container {} failed {} probe, will be restarted", c.spec.name, kind.to_lowercase());
                        self.event(berth_runtime::EventType::Normal, "Killing", &msg);
                        if let Some(s) = c.running {
                            let grace = self.grace(None);
                            tokio::spawn(launch::stop(s, grace));
                        }
                    }
                }
            }
        }
    }

    fn grace(&self, pod: Option<&Pod>) -> Duration {
        let p = self.pod.borrow();
        let pod = pod.or(p.as_ref());
        let secs = pod
            .and_then(|p| p.metadata.deletion_grace_period_seconds.or(p.spec.as_ref()?.termination_grace_period_seconds))
            .unwrap_or(30);
        Duration::from_secs(secs.max(0) as u64)
    }

    fn restart_policy(&self) -> String {
        self.pod.borrow().as_ref().and_then(|p| p.spec.as_ref()?.restart_policy.clone()).unwrap_or_else(|| "Always".into())
    }

    /// Container `i`'s running instance ended: record it, and schedule a restart per
    /// restartPolicy with the CrashLoopBackOff back-off.
    fn exited(&mut self, i: usize, may_restart: bool) {
        let restart_policy = if may_restart { self.restart_policy() } else { "Never".into() };
        let (name, restart) = (self.ctrs[i].spec.name.clone(), self.ctrs[i].restart_count);
        let rec = launch::exit_record(&self.cdir(&name), restart);
        let finished = DateTime::parse_from_rfc3339(&rec.finished_at).map(|t| t.with_timezone(&Utc)).unwrap_or_else(|_| Utc::now());
        let pod_name = self.pod.borrow().as_ref().map(|p| (p.metadata.name.clone().unwrap_or_default(), p.metadata.namespace.clone().unwrap_or_default()));
        let c = &mut self.ctrs[i];
        let started_at = match c.state {
            CState::Running { started_at } => Some(started_at),
            _ => None,
        };
        for h in c.probes.drain(..) {
            h.abort();
        }
        c.running = None;
        c.ready = false;
        c.started = false;
        let t = status::terminated(rec.exit_code, started_at, finished, status::container_id(&self.uid, &name, restart));
        let (pn, ns) = pod_name.unwrap_or_default();
        match restart::after_exit(&restart_policy, rec.exit_code, restart, (&name, &pn, &ns, &self.uid)) {
            AfterExit::Stay => c.state = CState::Terminated(t),
            AfterExit::RestartNow => {
                c.state = CState::Terminated(t);
                c.next_start = Some(Instant::now());
            }
            AfterExit::BackOff { wait, message } => {
                c.last = Some(t);
                c.next_start = Some(Instant::now() + wait);
                c.state = CState::Waiting { reason: "CrashLoopBackOff".into(), message: Some(message) };
                let ev = format!("Back-off restarting failed container {name} in pod {pn}_{ns}({})", self.uid);
                self.event(berth_runtime::EventType::Warning, "BackOff", &ev);
            }
        }
        self.persist(i);
    }

    /// Bring reality one step closer to the pod; returns true when the worker is done.
    async fn sync(&mut self) -> bool {
        let Some(pod) = self.pod.borrow().clone() else {
            // Removed from the API (force delete): kill at once, report nothing.
            self.kill_all(Duration::ZERO).await;
            self.teardown();
            return true;
        };
        let _ = std::fs::create_dir_all(&self.dir);
        let _ = std::fs::write(self.dir.join("pod.json"), serde_json::to_vec(&pod).unwrap_or_default());
        if pod.metadata.deletion_timestamp.is_some() {
            self.terminate(&pod).await;
            return true;
        }
        let api_phase = pod.status.as_ref().and_then(|s| s.phase.clone());
        if is_terminal_phase(api_phase.as_deref()) {
            self.kill_all(Duration::ZERO).await;
            self.teardown_sandbox();
            return false;
        }
        if self.sandbox.is_none() {
            if pod.status.as_ref().and_then(|s| s.start_time.as_ref()).is_none() {
                self.write_status(&pod, None).await;
            }
            if self.sandbox_retry.is_some_and(|t| t > Instant::now()) {
                return false;
            }
            if let Err(e) = self.create_sandbox(&pod).await {
                self.event(berth_runtime::EventType::Warning, "FailedCreatePodSandBox", &format!("Failed to create pod sandbox: {e}"));
                self.sandbox_retry = Some(Instant::now() + Duration::from_secs(5));
                return false;
            }
        }
        if !self.prepare_volumes(&pod).await {
            return false;
        }
        self.refresh_volumes(&pod).await;
        for c in &mut self.ctrs {
            if c.then_show.as_ref().is_some_and(|(t, _)| *t <= Instant::now()) {
                c.state = c.then_show.take().expect("checked").1;
            }
        }
        for i in 0..self.ctrs.len() {
            let due = self.ctrs[i].running.is_none()
                && match &self.ctrs[i].state {
                    CState::Terminated(_) => self.ctrs[i].next_start.is_some_and(|t| t <= Instant::now()),
                    CState::Waiting { .. } => self.ctrs[i].next_start.is_none_or(|t| t <= Instant::now()),
                    CState::Running { .. } => false,
                };
            if due {
                self.start_container(i, &pod).await;
            }
        }
        let containers = self.container_statuses();
        let phase = crate::simulated::conditions::phase(&pod, &[], &containers);
        if is_terminal_phase(Some(phase)) {
            self.teardown_sandbox();
        }
        self.write_status(&pod, None).await;
        false
    }

}
