//! A work queue with client-go's guarantees (`util/workqueue`): an item queued several times
//! before it is taken is processed once; an item is never processed by two workers at once
//! (re-added while in flight, it runs again after [`WorkQueue::done`]); failures back off per
//! item, exponentially, like `ItemExponentialFailureRateLimiter`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

const BASE_DELAY: Duration = Duration::from_millis(5);
/// Upstream caps at 1000 s; a GC retrying a stuck item every five minutes is plenty.
const MAX_DELAY: Duration = Duration::from_secs(300);

struct State<T> {
    queue: VecDeque<T>,
    dirty: HashSet<T>,
    processing: HashSet<T>,
    failures: HashMap<T, u32>,
    shut_down: bool,
}

pub struct WorkQueue<T> {
    state: Mutex<State<T>>,
    notify: Notify,
}

impl<T: Clone + Eq + Hash + Send + 'static> WorkQueue<T> {
    pub fn new() -> Arc<WorkQueue<T>> {
        Arc::new(WorkQueue {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                dirty: HashSet::new(),
                processing: HashSet::new(),
                failures: HashMap::new(),
                shut_down: false,
            }),
            notify: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        // A panicking worker must not wedge the collector; the state stays consistent
        // because every critical section is a handful of set operations.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add(&self, item: T) {
        let mut s = self.lock();
        if s.shut_down || !s.dirty.insert(item.clone()) {
            return;
        }
        if !s.processing.contains(&item) {
            s.queue.push_back(item);
            drop(s);
            self.notify.notify_one();
        }
    }

    /// Take the next item; `None` once the queue is shut down.
    pub async fn get(&self) -> Option<T> {
        loop {
            let notified = self.notify.notified();
            {
                let mut s = self.lock();
                if s.shut_down {
                    return None;
                }
                if let Some(item) = s.queue.pop_front() {
                    s.dirty.remove(&item);
                    s.processing.insert(item.clone());
                    if !s.queue.is_empty() {
                        // Wake another worker for the rest.
                        self.notify.notify_one();
                    }
                    return Some(item);
                }
            }
            notified.await;
        }
    }

    /// The worker finished with `item`; if it was re-added meanwhile, queue it again.
    pub fn done(&self, item: &T) {
        let mut s = self.lock();
        s.processing.remove(item);
        if s.dirty.contains(item) && !s.shut_down {
            s.queue.push_back(item.clone());
            drop(s);
            self.notify.notify_one();
        }
    }

    /// Reset `item`'s backoff after a success.
    pub fn forget(&self, item: &T) {
        self.lock().failures.remove(item);
    }

    /// Queue `item` again after its next backoff delay; returns the delay.
    pub fn add_rate_limited(self: &Arc<Self>, item: T) -> Duration {
        let delay = {
            let mut s = self.lock();
            let n = s.failures.entry(item.clone()).or_insert(0);
            let d = backoff(*n);
            *n = n.saturating_add(1);
            d
        };
        let q = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            q.add(item);
        });
        delay
    }

    pub fn shut_down(&self) {
        self.lock().shut_down = true;
        self.notify.notify_waiters();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn backoff(failures: u32) -> Duration {
    BASE_DELAY.checked_mul(1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX)).unwrap_or(MAX_DELAY).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dedups_and_serialises_items() {
        let q = WorkQueue::new();
        q.add("a");
        q.add("a");
        q.add("b");
        assert_eq!(q.len(), 2);
        let a = q.get().await.unwrap();
        assert_eq!(a, "a");
        // Re-added while in flight: not handed out again until done.
        q.add("a");
        assert_eq!(q.get().await, Some("b"));
        assert!(q.is_empty());
        q.done(&"a");
        assert_eq!(q.get().await, Some("a"));
        q.done(&"a");
        q.done(&"b");
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn shut_down_wakes_waiters() {
        let q: Arc<WorkQueue<u32>> = WorkQueue::new();
        let q2 = Arc::clone(&q);
        let h = tokio::spawn(async move { q2.get().await });
        tokio::task::yield_now().await;
        q.shut_down();
        assert_eq!(h.await.unwrap(), None);
        q.add(1);
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn failures_back_off_exponentially() {
        let q = WorkQueue::new();
        assert_eq!(q.add_rate_limited("x"), Duration::from_millis(5));
        assert_eq!(q.add_rate_limited("x"), Duration::from_millis(10));
        assert_eq!(q.add_rate_limited("x"), Duration::from_millis(20));
        q.forget(&"x");
        assert_eq!(q.add_rate_limited("x"), Duration::from_millis(5));
        // The delayed adds arrive, deduplicated into one item.
        let got = tokio::time::timeout(Duration::from_secs(5), q.get()).await.unwrap();
        assert_eq!(got, Some("x"));
        assert_eq!(backoff(40), MAX_DELAY);
    }
}
