//! Watches: one etcd watch per store watch, from `after + 1` with `prev_kv`. A task forwards
//! etcd's events into a bounded channel without ever waiting; when the consumer falls that far
//! behind, the etcd watch is cancelled and the stream ends with [`StoreError::WatcherTooSlow`]
//! after what was buffered (the same contract as the other backends).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Client, EventType, WatchOptions, WatchResponse};
use tokio::sync::mpsc;

use super::keys::Keys;
use super::EtcdStore;
use crate::{EventKind, KeyValue, Result, Revision, StoreError, WatchEvent, WatchStream};

pub(super) async fn start(store: &EtcdStore, prefix: &str, after: Revision) -> Result<WatchStream> {
    let (start, end) = store.keys.range(prefix, None);
    let options = WatchOptions::new()
        .with_range(end)
        .with_start_revision(after + 1)
        .with_prev_key();
    let timeout = store.options.timeout;
    let mut client = store.client.watch_client();
    let unavailable = |e: String| StoreError::Unavailable(format!("etcd watch: {e}"));
    let mut stream = tokio::time::timeout(timeout, client.watch(start, Some(options)))
        .await
        .map_err(|_| unavailable("no answer in time".into()))?
        .map_err(|e| unavailable(e.to_string()))?;
    // Wait for etcd to confirm the watch, so a dead etcd fails the call rather than the stream.
    let first = tokio::time::timeout(timeout, stream.message())
        .await
        .map_err(|_| unavailable("no answer in time".into()))?
        .map_err(|e| unavailable(e.to_string()))?
        .ok_or_else(|| unavailable("stream closed".into()))?;

    let (tx, rx) = mpsc::channel(store.options.watch_buffer.max(1));
    let too_slow = Arc::new(AtomicBool::new(false));
    let forwarder = Forwarder {
        tx,
        too_slow: too_slow.clone(),
        keys: store.keys.clone(),
        after,
    };
    tokio::spawn(async move {
        // `stream` (and with it the etcd watch) lives as long as this task.
        if !forwarder.forward(first) {
            return;
        }
        loop {
            let message = tokio::select! {
                message = stream.message() => message,
                _ = forwarder.tx.closed() => return,
            };
            let keep_going = match message {
                Ok(Some(response)) => forwarder.forward(response),
                Ok(None) => forwarder.fail(unavailable("etcd closed the watch".into())),
                Err(e) => forwarder.fail(unavailable(e.to_string())),
            };
            if !keep_going {
                return;
            }
        }
    });

    store.counters.watchers.fetch_add(1, Ordering::Relaxed);
    let state = State {
        rx,
        too_slow,
        done: false,
        _count: CountGuard(store.counters.watchers.clone()),
    };
    Ok(Box::pin(futures::stream::unfold(
        state,
        |mut state| async move {
            if state.done {
                return None;
            }
            let item = match state.rx.recv().await {
                Some(item) => item,
                None if state.too_slow.load(Ordering::Acquire) => Err(StoreError::WatcherTooSlow),
                None => return None,
            };
            state.done = item.is_err();
            Some((item, state))
        },
    )))
}

struct State {
    rx: mpsc::Receiver<Result<WatchEvent>>,
    too_slow: Arc<AtomicBool>,
    done: bool,
    _count: CountGuard,
}

struct CountGuard(Arc<AtomicUsize>);

impl Drop for CountGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Forwarder {
    tx: mpsc::Sender<Result<WatchEvent>>,
    too_slow: Arc<AtomicBool>,
    keys: Keys,
    after: Revision,
}

impl Forwarder {
    /// Passes on one response's events; false once the watch is over.
    fn forward(&self, response: WatchResponse) -> bool {
        if response.canceled() {
            let error = match response.compact_revision() {
                0 => StoreError::Unavailable(format!(
                    "etcd cancelled the watch: {}",
                    response.cancel_reason()
                )),
                compacted => StoreError::Compacted {
                    requested: self.after,
                    compacted,
                },
            };
            return self.fail(error);
        }
        for event in response.events() {
            if let Some(event) = self.event(event) {
                if !self.send(Ok(event)) {
                    return false;
                }
            }
        }
        true
    }

    fn fail(&self, error: StoreError) -> bool {
        self.send(Err(error));
        false
    }

    fn send(&self, item: Result<WatchEvent>) -> bool {
        match self.tx.try_send(item) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.too_slow.store(true, Ordering::Release);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    fn event(&self, event: &etcd_client::Event) -> Option<WatchEvent> {
        let kv = self.keys.store_kv(event.kv()?);
        let prev = event.prev_kv().map(|p| self.keys.store_kv(p));
        Some(match event.event_type() {
            EventType::Put if kv.create_revision == kv.mod_revision => WatchEvent {
                kind: EventKind::Created,
                kv,
                prev: None,
            },
            EventType::Put => WatchEvent {
                kind: EventKind::Updated,
                kv,
                prev,
            },
            EventType::Delete => {
                // etcd's delete event has only the key and the delete's revision: the store's
                // delete event carries the last value instead.
                let deleted = match &prev {
                    Some(p) => KeyValue {
                        mod_revision: kv.mod_revision,
                        ..p.clone()
                    },
                    None => kv,
                };
                WatchEvent {
                    kind: EventKind::Deleted,
                    kv: deleted,
                    prev,
                }
            }
        })
    }
}

/// The compacted revision, learnt from a watch that starts at `below` (a revision known to be
/// compacted away): etcd answers it with the compaction's revision.
pub(super) async fn probe_compacted(
    client: &Client,
    keys: &Keys,
    below: Revision,
    timeout: Duration,
) -> Option<Revision> {
    let probe = async {
        let options = WatchOptions::new().with_start_revision(below.max(1));
        let mut stream = client
            .watch_client()
            .watch(keys.probe_key(), Some(options))
            .await
            .ok()?;
        while let Ok(Some(response)) = stream.message().await {
            if response.compact_revision() > 0 {
                return Some(response.compact_revision());
            }
            if response.canceled() {
                return None;
            }
        }
        None
    };
    tokio::time::timeout(timeout, probe).await.ok().flatten()
}
