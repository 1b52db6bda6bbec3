//! A per-node delay queue: "step this pod again at instant T", without a task or timer per
//! pod. One `sleep_until` on the earliest due instant serves every pod of the node.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

use tokio::time::Instant;

pub(super) struct RequeueQueue<K> {
    due: BTreeSet<(Instant, K)>,
    by_key: HashMap<K, Instant>,
}

impl<K: Ord + Hash + Clone> RequeueQueue<K> {
    pub fn new() -> Self {
        RequeueQueue { due: BTreeSet::new(), by_key: HashMap::new() }
    }

    /// Ask for `key` to come due at `at`. If it is already due earlier, the earlier time
    /// stands (like client-go's delaying queue): stepping a pod early is harmless — the step
    /// just asks to be requeued again — while stepping it late would delay a transition.
    pub fn schedule(&mut self, key: K, at: Instant) {
        if let Some(&old) = self.by_key.get(&key) {
            if old <= at {
                return;
            }
            self.due.remove(&(old, key.clone()));
        }
        self.by_key.insert(key.clone(), at);
        self.due.insert((at, key));
    }

    pub fn cancel(&mut self, key: &K) {
        if let Some(at) = self.by_key.remove(key) {
            self.due.remove(&(at, key.clone()));
        }
    }

    /// Remove and return every key due at or before `now`, earliest first.
    pub fn pop_due(&mut self, now: Instant) -> Vec<K> {
        let mut out = Vec::new();
        while let Some((at, _)) = self.due.first() {
            if *at > now {
                break;
            }
            let (_, key) = self.due.pop_first().expect("first() was Some");
            self.by_key.remove(&key);
            out.push(key);
        }
        out
    }

    /// Resolves when the earliest key is due; never, if the queue is empty. Meant for a
    /// `select!` branch that is re-created on every loop turn, so keys added meanwhile count.
    pub async fn next_due(&self) {
        match self.due.first() {
            Some((at, _)) => tokio::time::sleep_until(*at).await,
            None => std::future::pending().await,
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn earliest_schedule_wins_and_pop_is_ordered() {
        let t0 = Instant::now();
        let mut q = RequeueQueue::new();
        q.schedule("b", t0 + Duration::from_secs(2));
        q.schedule("a", t0 + Duration::from_secs(5));
        q.schedule("a", t0 + Duration::from_secs(1));
        q.schedule("a", t0 + Duration::from_secs(9));
        assert_eq!(q.len(), 2);
        assert!(q.pop_due(t0).is_empty());
        assert_eq!(q.pop_due(t0 + Duration::from_secs(3)), vec!["a", "b"]);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn cancel_removes_the_key() {
        let t0 = Instant::now();
        let mut q = RequeueQueue::new();
        q.schedule("a", t0);
        q.cancel(&"a");
        q.cancel(&"missing");
        assert!(q.pop_due(t0 + Duration::from_secs(1)).is_empty());
    }

    #[tokio::test]
    async fn next_due_sleeps_until_the_earliest_key() {
        let t0 = Instant::now();
        let mut q = RequeueQueue::new();
        q.schedule("a", t0 + Duration::from_millis(40));
        q.schedule("b", t0 + Duration::from_secs(60));
        q.next_due().await;
        let woke = Instant::now();
        assert!(woke >= t0 + Duration::from_millis(40));
        assert!(woke < t0 + Duration::from_secs(30));
        assert_eq!(q.pop_due(Instant::now()), vec!["a"]);
    }
}
