//! A work queue with client-go's semantics: a key is queued at most once, never processed by
//! two workers at once (re-adding it while it is processed queues it again for afterwards),
//! delayed adds, and per-key exponential backoff for failures.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

const BACKOFF_BASE: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

struct State<K> {
    queue: VecDeque<K>,
    queued: HashSet<K>,
    processing: HashSet<K>,
    /// Added again while processing: queue once `done`.
    dirty: HashSet<K>,
    failures: HashMap<K, u32>,
}

pub struct WorkQueue<K> {
    state: Arc<Mutex<State<K>>>,
    ready: Arc<Notify>,
}

impl<K> Clone for WorkQueue<K> {
    fn clone(&self) -> Self {
        WorkQueue { state: self.state.clone(), ready: self.ready.clone() }
    }
}

impl<K: Hash + Eq + Clone + Send + 'static> Default for WorkQueue<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq + Clone + Send + 'static> WorkQueue<K> {
    /// Run `workers` tasks that take keys and pass them to `sync`, as client-go's
    /// `processNextWorkItem` does: success forgets the key's failures, an error requeues it with
    /// backoff. Runs as long as the workers do (for ever, unless one panics).
    pub async fn run_workers<F, Fut>(&self, workers: usize, what: &'static str, sync: F)
    where
        K: std::fmt::Debug + Sync,
        F: Fn(K) -> Fut + Clone + Send + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        let tasks: Vec<_> = (0..workers)
            .map(|_| {
                let (queue, sync) = (self.clone(), sync.clone());
                tokio::spawn(async move {
                    loop {
                        let key = queue.next().await;
                        match sync(key.clone()).await {
                            Ok(()) => queue.forget(&key),
                            Err(e) => {
                                tracing::debug!(?key, error = %e, "{what} sync failed; requeueing");
                                queue.add_rate_limited(key.clone());
                            }
                        }
                        queue.done(&key);
                    }
                })
            })
            .collect();
        futures::future::join_all(tasks).await;
    }

    pub fn new() -> WorkQueue<K> {
        WorkQueue {
            state: Arc::new(Mutex::new(State {
                queue: VecDeque::new(),
                queued: HashSet::new(),
                processing: HashSet::new(),
                dirty: HashSet::new(),
                failures: HashMap::new(),
            })),
            ready: Arc::new(Notify::new()),
        }
    }

    pub fn add(&self, key: K) {
        let mut s = self.state.lock().expect("queue lock");
        if s.processing.contains(&key) {
            s.dirty.insert(key);
            return;
        }
        if s.queued.insert(key.clone()) {
            s.queue.push_back(key);
            drop(s);
            self.ready.notify_one();
        }
    }

    pub fn add_after(&self, key: K, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let q = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            q.add(key);
        });
    }

    /// Re-add after this key's next backoff delay (5 ms doubling up to 30 s).
    pub fn add_rate_limited(&self, key: K) {
        let n = {
            let mut s = self.state.lock().expect("queue lock");
            let n = s.failures.entry(key.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let delay = BACKOFF_BASE.saturating_mul(1u32 << (n - 1).min(20)).min(BACKOFF_MAX);
        self.add_after(key, delay);
    }

    /// Forget a key's failures (after a successful sync).
    pub fn forget(&self, key: &K) {
        self.state.lock().expect("queue lock").failures.remove(key);
    }

    /// The next key to process; call [`WorkQueue::done`] when finished with it.
    pub async fn next(&self) -> K {
        loop {
            let notified = self.ready.notified();
            {
                let mut s = self.state.lock().expect("queue lock");
                if let Some(k) = s.queue.pop_front() {
                    s.queued.remove(&k);
                    s.processing.insert(k.clone());
                    if !s.queue.is_empty() {
                        drop(s);
                        self.ready.notify_one();
                    }
                    return k;
                }
            }
            notified.await;
        }
    }

    pub fn done(&self, key: &K) {
        let mut s = self.state.lock().expect("queue lock");
        s.processing.remove(key);
        if s.dirty.remove(key) && s.queued.insert(key.clone()) {
            s.queue.push_back(key.clone());
            drop(s);
            self.ready.notify_one();
        }
    }

    pub fn len(&self) -> usize {
        self.state.lock().expect("queue lock").queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_are_deduplicated_and_never_processed_twice_at_once() {
        let q: WorkQueue<&str> = WorkQueue::new();
        q.add("a");
        q.add("a");
        q.add("b");
        assert_eq!(q.len(), 2);
        let k = q.next().await;
        assert_eq!(k, "a");
        q.add("a"); // while processing: deferred
        assert_eq!(q.next().await, "b");
        assert!(q.is_empty());
        q.done(&"a");
        assert_eq!(q.next().await, "a");
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_adds_arrive_after_the_delay() {
        let q: WorkQueue<u32> = WorkQueue::new();
        q.add_after(7, Duration::from_secs(5));
        tokio::task::yield_now().await;
        assert!(q.is_empty());
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(q.next().await, 7);
    }
}
