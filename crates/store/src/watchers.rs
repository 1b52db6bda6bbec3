//! Fan-out of committed events to watch streams, shared by the backends.
//!
//! Each watcher owns a bounded channel. Publishing never waits: an event that does not fit
//! closes the watcher, which then reports [`StoreError::WatcherTooSlow`] after draining what
//! was buffered (upstream's cacher likewise terminates a watcher whose buffer stays full, so the
//! client re-lists instead of every writer waiting for the slowest reader).
//!
//! A backend registers a watcher and snapshots its replay under the same lock it publishes
//! under, so the replay ends exactly where live events begin: no gaps, no duplicates.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use crate::{Revision, StoreError, WatchEvent, WatchStream};

struct Entry {
    prefix: String,
    tx: mpsc::Sender<WatchEvent>,
    too_slow: Arc<AtomicBool>,
}

pub(crate) struct WatcherSet {
    entries: Vec<Entry>,
    buffer: usize,
    count: Arc<AtomicUsize>,
}

/// The live half of a watch, created by [`WatcherSet::subscribe`].
pub(crate) struct Subscription {
    rx: mpsc::Receiver<WatchEvent>,
    too_slow: Arc<AtomicBool>,
    _count: CountGuard,
}

struct CountGuard(Arc<AtomicUsize>);

impl Drop for CountGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl WatcherSet {
    /// `buffer`: events a watcher may have queued before it counts as too slow.
    pub fn new(buffer: usize, count: Arc<AtomicUsize>) -> Self {
        WatcherSet { entries: Vec::new(), buffer: buffer.max(1), count }
    }

    pub fn subscribe(&mut self, prefix: &str) -> Subscription {
        let (tx, rx) = mpsc::channel(self.buffer);
        let too_slow = Arc::new(AtomicBool::new(false));
        self.entries.push(Entry { prefix: prefix.to_owned(), tx, too_slow: too_slow.clone() });
        self.count.fetch_add(1, Ordering::Relaxed);
        Subscription { rx, too_slow, _count: CountGuard(self.count.clone()) }
    }

    /// Offers `events` (in revision order) to every watcher whose prefix matches. Drops watchers
    /// that went away or whose buffer is full.
    pub fn publish(&mut self, events: &[WatchEvent]) {
        self.entries.retain(|entry| {
            if entry.tx.is_closed() {
                return false;
            }
            for event in events.iter().filter(|e| e.kv.key.starts_with(&entry.prefix)) {
                match entry.tx.try_send(event.clone()) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        entry.too_slow.store(true, Ordering::Release);
                        return false;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return false,
                }
            }
            true
        });
    }
}

/// Joins a replay (which may end early with an error) and the live subscription into one stream
/// that ends after its first error. Live events at or below `after` are skipped: they can only
/// occur when a watch starts from a revision the store has not reached yet.
pub(crate) fn watch_stream(replay: WatchStream, sub: Subscription, after: Revision) -> WatchStream {
    let live = futures::stream::unfold(Some(sub), move |state| async move {
        let mut sub = state?;
        loop {
            match sub.rx.recv().await {
                Some(event) if event.revision() <= after => continue,
                Some(event) => return Some((Ok(event), Some(sub))),
                None if sub.too_slow.load(Ordering::Acquire) => {
                    return Some((Err(StoreError::WatcherTooSlow), None))
                }
                // The store was dropped.
                None => return None,
            }
        }
    });
    Box::pin(EndAfterError { inner: replay.chain(live).boxed(), ended: false })
}

/// Ends a stream right after its first error, without polling it again (the live half would
/// otherwise keep the stream open until the next event arrives).
struct EndAfterError {
    inner: WatchStream,
    ended: bool,
}

impl Stream for EndAfterError {
    type Item = crate::Result<WatchEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let item = std::task::ready!(self.inner.as_mut().poll_next(cx));
        self.ended = !matches!(item, Some(Ok(_)));
        Poll::Ready(item)
    }
}
