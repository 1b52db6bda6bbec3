//! The backend-agnostic conformance suite: every backend must pass every check here.
//!
//! Each check is an async function over a fresh `Arc<dyn Store>`. [`conformance_tests!`]
//! expands to one multi-threaded `#[tokio::test]` per check, given the path of an async
//! factory returning a [`Fixture`]:
//!
//! ```ignore
//! async fn fixture() -> berth_store::conformance::Fixture {
//!     berth_store::conformance::Fixture::new(MyStore::connect().await)
//! }
//! berth_store::conformance_tests!(fixture);
//! ```
//!
//! Keys follow the API server's layout `/registry/<group>/<plural>/<namespace>/<name>`.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use crate::{EventKind, ListOptions, Revision, Store, StoreError, WatchEvent, WatchStream};

/// A store under test, plus whatever must outlive it (e.g. its temporary directory).
pub struct Fixture {
    // Fields drop in declaration order: the store before its guard.
    pub store: Arc<dyn Store>,
    _guard: Option<Box<dyn Any + Send>>,
}

impl Fixture {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Fixture { store, _guard: None }
    }

    pub fn with_guard(store: Arc<dyn Store>, guard: impl Any + Send) -> Self {
        Fixture { store, _guard: Some(Box::new(guard)) }
    }
}

/// What a conformance factory returns: a fixture, or maybe one (`None` skips the check).
pub trait IntoFixture {
    fn into_fixture(self) -> Option<Fixture>;
}

impl IntoFixture for Fixture {
    fn into_fixture(self) -> Option<Fixture> {
        Some(self)
    }
}

impl IntoFixture for Option<Fixture> {
    fn into_fixture(self) -> Option<Fixture> {
        self
    }
}

/// Expands to one test per conformance check, each on a fresh fixture from `$factory`
/// (a path to an `async fn() -> Fixture`).
#[macro_export]
macro_rules! conformance_tests {
    ($factory:path) => {
        $crate::__conformance_cases!(
            $factory;
            create_get_and_already_exists,
            update_checks_expected_revision,
            delete_with_and_without_expected_revision,
            revisions_increase_globally,
            list_at_older_revision_while_writes_continue,
            list_at_future_revision_fails,
            paging_at_fixed_revision_returns_every_key_once,
            prefix_isolation,
            watch_replays_then_streams_live,
            watch_has_no_gaps_or_duplicates_under_concurrent_writes,
            watch_from_future_revision_waits_for_it,
            compaction_keeps_current_values_and_expires_history,
            concurrent_creates_get_distinct_revisions,
            slow_watcher_is_dropped_without_blocking_writers,
            stats_count_writes_and_watchers,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($factory:path; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                // A factory may return `Option<Fixture>` and `None` to skip (e.g. no etcd).
                let Some(fixture) = $crate::conformance::IntoFixture::into_fixture($factory().await)
                else {
                    return;
                };
                $crate::conformance::$check(fixture.store.clone()).await;
            }
        )*
    };
}

const WAIT: Duration = Duration::from_secs(20);

fn val(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn pod(name: &str) -> String {
    format!("/registry/core/pods/default/{name}")
}

async fn next_event(stream: &mut WatchStream) -> WatchEvent {
    match tokio::time::timeout(WAIT, stream.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(err))) => panic!("watch failed: {err}"),
        Ok(None) => panic!("watch ended"),
        Err(_) => panic!("no watch event within {WAIT:?}"),
    }
}

/// Asserts nothing arrives on `stream` for a short while.
async fn assert_quiet(stream: &mut WatchStream) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(100), stream.next()).await {
        panic!("unexpected watch item: {item:?}");
    }
}

/// Every live key under `prefix` at `revision` (paging through), as key → (value, mod_revision).
async fn snapshot(
    store: &dyn Store,
    prefix: &str,
    revision: Revision,
) -> BTreeMap<String, (Bytes, Revision)> {
    let list = store
        .list(prefix, ListOptions { revision: Some(revision), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(list.revision, revision);
    assert!(!list.more);
    list.items.into_iter().map(|kv| (kv.key, (kv.value, kv.mod_revision))).collect()
}

pub async fn create_get_and_already_exists(store: Arc<dyn Store>) {
    let key = pod("web-0");
    assert_eq!(store.get(&key).await.unwrap(), None);
    let rev = store.create(&key, val("v1")).await.unwrap();
    assert!(rev > 0);
    let kv = store.get(&key).await.unwrap().expect("created key");
    assert_eq!((kv.key.as_str(), &kv.value[..]), (key.as_str(), &b"v1"[..]));
    assert_eq!((kv.create_revision, kv.mod_revision), (rev, rev));

    assert_eq!(store.create(&key, val("v2")).await, Err(StoreError::AlreadyExists(key.clone())));
    assert_eq!(store.get(&key).await.unwrap().unwrap().value, val("v1"));
    assert_eq!(store.current_revision().await.unwrap(), rev, "a failed write takes no revision");
}

pub async fn update_checks_expected_revision(store: Arc<dyn Store>) {
    let key = pod("web-0");
    let missing = pod("web-9");
    assert_eq!(store.update(&missing, val("x"), 1).await, Err(StoreError::NotFound(missing)));

    let created = store.create(&key, val("v1")).await.unwrap();
    assert_eq!(
        store.update(&key, val("v2"), created + 7).await,
        Err(StoreError::Conflict { key: key.clone(), expected: created + 7, current: created })
    );
    assert_eq!(store.get(&key).await.unwrap().unwrap().value, val("v1"));

    let updated = store.update(&key, val("v2"), created).await.unwrap();
    assert!(updated > created);
    let kv = store.get(&key).await.unwrap().unwrap();
    assert_eq!((kv.value, kv.create_revision, kv.mod_revision), (val("v2"), created, updated));
    // The old revision is now stale.
    assert!(matches!(
        store.update(&key, val("v3"), created).await,
        Err(StoreError::Conflict { current, .. }) if current == updated
    ));
}

pub async fn delete_with_and_without_expected_revision(store: Arc<dyn Store>) {
    let (a, b) = (pod("a"), pod("b"));
    assert_eq!(store.delete(&a, None).await, Err(StoreError::NotFound(a.clone())));
    let rev_a = store.create(&a, val("A")).await.unwrap();
    let rev_b = store.create(&b, val("B")).await.unwrap();

    assert_eq!(
        store.delete(&a, Some(rev_b)).await,
        Err(StoreError::Conflict { key: a.clone(), expected: rev_b, current: rev_a })
    );
    let deleted = store.delete(&a, Some(rev_a)).await.unwrap();
    assert_eq!((deleted.key.as_str(), deleted.value.clone()), (a.as_str(), val("A")));
    assert_eq!(deleted.create_revision, rev_a);
    assert!(deleted.mod_revision > rev_b, "a delete's mod_revision is the delete's revision");
    assert_eq!(store.current_revision().await.unwrap(), deleted.mod_revision);
    assert_eq!(store.get(&a).await.unwrap(), None);
    assert_eq!(store.delete(&a, None).await, Err(StoreError::NotFound(a.clone())));
    assert_eq!(
        store.update(&a, val("x"), deleted.mod_revision).await,
        Err(StoreError::NotFound(a.clone()))
    );

    let deleted_b = store.delete(&b, None).await.unwrap();
    assert_eq!(deleted_b.value, val("B"));

    // A re-created key starts a new life.
    let again = store.create(&a, val("A2")).await.unwrap();
    let kv = store.get(&a).await.unwrap().unwrap();
    assert_eq!((kv.create_revision, kv.mod_revision, kv.value), (again, again, val("A2")));
}

pub async fn revisions_increase_globally(store: Arc<dyn Store>) {
    let mut last = store.current_revision().await.unwrap();
    for i in 0..5 {
        let key = format!("/registry/apps/statefulsets/ns{i}/set");
        let created = store.create(&key, val("1")).await.unwrap();
        let updated = store.update(&key, val("2"), created).await.unwrap();
        let other = store.create(&pod(&format!("p{i}")), val("p")).await.unwrap();
        let deleted = store.delete(&key, None).await.unwrap().mod_revision;
        for rev in [created, updated, other, deleted] {
            assert!(rev > last, "revision {rev} after {last}");
            last = rev;
        }
    }
    assert_eq!(store.current_revision().await.unwrap(), last);
}

pub async fn list_at_older_revision_while_writes_continue(store: Arc<dyn Store>) {
    for i in 0..20 {
        store.create(&pod(&format!("p{i:02}")), val(&format!("v{i}"))).await.unwrap();
    }
    let old = store.current_revision().await.unwrap();
    let expected = snapshot(store.as_ref(), "/registry/core/pods/", old).await;
    assert_eq!(expected.len(), 20);

    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..20 {
                let key = pod(&format!("p{i:02}"));
                let kv = store.get(&key).await.unwrap().unwrap();
                let written = match i % 3 {
                    0 => store.delete(&key, None).await.map(|kv| kv.mod_revision),
                    1 => store.update(&key, val("changed"), kv.mod_revision).await,
                    _ => store.create(&pod(&format!("p{i:02}-new")), val("new")).await,
                };
                written.unwrap();
            }
        })
    };
    while !writer.is_finished() {
        assert_eq!(snapshot(store.as_ref(), "/registry/core/pods/", old).await, expected);
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
    assert_eq!(snapshot(store.as_ref(), "/registry/core/pods/", old).await, expected);
    let now = store.list("/registry/core/pods/", ListOptions::default()).await.unwrap();
    assert_eq!(now.revision, store.current_revision().await.unwrap());
    assert_ne!(now.items.len(), 20, "the current list reflects the writes");
}

pub async fn list_at_future_revision_fails(store: Arc<dyn Store>) {
    let current = store.create(&pod("a"), val("a")).await.unwrap();
    let opts = ListOptions { revision: Some(current + 1), ..Default::default() };
    assert_eq!(
        store.list("/registry/", opts).await.unwrap_err(),
        StoreError::FutureRevision { requested: current + 1, current }
    );
}

pub async fn paging_at_fixed_revision_returns_every_key_once(store: Arc<dyn Store>) {
    let prefix = "/registry/core/pods/";
    for i in 0..50 {
        store.create(&pod(&format!("p{i:02}")), val("x")).await.unwrap();
    }
    // Noise outside the prefix on both sides.
    store.create("/registry/core/persistentvolumes/pv", val("x")).await.unwrap();
    store.create("/registry/core/services/default/s", val("x")).await.unwrap();
    let first =
        store.list(prefix, ListOptions { limit: Some(7), ..Default::default() }).await.unwrap();
    let revision = first.revision;
    assert_eq!(first.items.len(), 7);
    assert!(first.more);
    assert_eq!(first.remaining, Some(43));

    // Change the keyspace between pages: pages must still show the list's revision.
    store.delete(&pod("p00"), None).await.unwrap();
    store.delete(&pod("p30"), None).await.unwrap();
    store.create(&pod("p15a"), val("late")).await.unwrap();
    store.create(&pod("p99"), val("late")).await.unwrap();

    let mut seen: Vec<String> = first.items.iter().map(|kv| kv.key.clone()).collect();
    let mut page = first;
    while page.more {
        page = store
            .list(
                prefix,
                ListOptions {
                    revision: Some(revision),
                    limit: Some(7),
                    start_after: page.items.last().map(|kv| kv.key.clone()),
                },
            )
            .await
            .unwrap();
        assert_eq!(page.revision, revision);
        assert!(page.items.len() <= 7);
        if page.more {
            assert_eq!(page.remaining, Some(50 - seen.len() as u64 - page.items.len() as u64));
        }
        seen.extend(page.items.iter().map(|kv| kv.key.clone()));
    }
    let expected: Vec<String> = (0..50).map(|i| pod(&format!("p{i:02}"))).collect();
    assert_eq!(seen, expected);

    // limit 0 means all.
    let all = store
        .list(
            prefix,
            ListOptions { revision: Some(revision), limit: Some(0), ..Default::default() },
        )
        .await
        .unwrap();
    assert_eq!((all.items.len(), all.more, all.remaining), (50, false, None));
}

pub async fn prefix_isolation(store: Arc<dyn Store>) {
    let pods = "/registry/core/pods/";
    let mut watch = store.watch(pods, 0).await.unwrap();
    store.create("/registry/core/pods/default/a", val("a")).await.unwrap();
    store.create("/registry/core/podsx/default/b", val("b")).await.unwrap();
    store.create("/registry/core/pods", val("c")).await.unwrap();
    store.create("/registry/core/pod", val("d")).await.unwrap();
    store.create("/registry/core/pods/kube-system/e", val("e")).await.unwrap();

    let keys = |items: Vec<crate::KeyValue>| items.into_iter().map(|kv| kv.key).collect::<Vec<_>>();
    let list = store.list(pods, ListOptions::default()).await.unwrap();
    assert_eq!(
        keys(list.items),
        ["/registry/core/pods/default/a", "/registry/core/pods/kube-system/e"]
    );
    let list = store.list("/registry/core/pods/default/", ListOptions::default()).await.unwrap();
    assert_eq!(keys(list.items), ["/registry/core/pods/default/a"]);
    // A continue key outside (before) the prefix does not widen it.
    let opts = ListOptions { start_after: Some("/registry/core/p".into()), ..Default::default() };
    assert_eq!(store.list(pods, opts).await.unwrap().items.len(), 2);

    assert_eq!(next_event(&mut watch).await.kv.key, "/registry/core/pods/default/a");
    assert_eq!(next_event(&mut watch).await.kv.key, "/registry/core/pods/kube-system/e");
    assert_quiet(&mut watch).await;
}

pub async fn watch_replays_then_streams_live(store: Arc<dyn Store>) {
    let prefix = "/registry/core/pods/";
    let (a, b, c) = (pod("a"), pod("b"), pod("c"));
    let r1 = store.create(&a, val("a1")).await.unwrap();
    let r2 = store.update(&a, val("a2"), r1).await.unwrap();
    let r3 = store.create(&b, val("b1")).await.unwrap();
    let r4 = store.delete(&a, Some(r2)).await.unwrap().mod_revision;

    let mut from_start = store.watch(prefix, 0).await.unwrap();
    let mut watch = store.watch(prefix, r1).await.unwrap();

    let created = next_event(&mut from_start).await;
    assert_eq!(
        (created.kind, created.kv.key.clone(), created.revision(), created.prev),
        (EventKind::Created, a.clone(), r1, None)
    );

    let updated = next_event(&mut watch).await;
    assert_eq!(updated.kind, EventKind::Updated);
    assert_eq!(
        (updated.kv.value.clone(), updated.kv.create_revision, updated.revision()),
        (val("a2"), r1, r2)
    );
    let prev = updated.prev.expect("an update carries the previous value");
    assert_eq!((prev.value, prev.mod_revision, prev.create_revision), (val("a1"), r1, r1));

    let created_b = next_event(&mut watch).await;
    assert_eq!(
        (created_b.kind, created_b.revision(), created_b.kv.value),
        (EventKind::Created, r3, val("b1"))
    );

    let deleted = next_event(&mut watch).await;
    assert_eq!(deleted.kind, EventKind::Deleted);
    assert_eq!(
        (deleted.kv.key.clone(), deleted.kv.value.clone(), deleted.revision()),
        (a.clone(), val("a2"), r4)
    );
    assert_eq!(deleted.kv.create_revision, r1);
    let prev = deleted.prev.expect("a delete carries the previous value");
    assert_eq!((prev.value, prev.mod_revision), (val("a2"), r2));

    // Live, after the replay.
    let r5 = store.create(&c, val("c1")).await.unwrap();
    let live = next_event(&mut watch).await;
    assert_eq!((live.kind, live.revision(), live.kv.key), (EventKind::Created, r5, c.clone()));
    let r6 = store.create(&a, val("a3")).await.unwrap();
    let recreated = next_event(&mut watch).await;
    assert_eq!(
        (recreated.kind, recreated.kv.create_revision, recreated.prev),
        (EventKind::Created, r6, None)
    );
    assert_quiet(&mut watch).await;

    // The watch from the start saw the first event already; the rest follow in order.
    let mut rest = Vec::new();
    for _ in 0..5 {
        rest.push(next_event(&mut from_start).await.revision());
    }
    assert_eq!(rest, [r2, r3, r4, r5, r6]);
}

pub async fn watch_has_no_gaps_or_duplicates_under_concurrent_writes(store: Arc<dyn Store>) {
    let prefix = "/registry/core/pods/";
    // A fresh store may start above revision 0 (etcd starts at 1, with no key written): the
    // watch from 0 must then see every revision after that one.
    let fresh = store.current_revision().await.unwrap();
    let mut watchers = vec![(fresh, store.watch(prefix, 0).await.unwrap())];
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..100 {
                    let key = pod(&format!("w{w}-{i}"));
                    let rev = store.create(&key, val("1")).await.unwrap();
                    if i % 4 == 0 {
                        store.update(&key, val("2"), rev).await.unwrap();
                    }
                }
            })
        })
        .collect();
    // Start watchers from revisions reached while the writes are under way.
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let after = store.current_revision().await.unwrap();
        watchers.push((after, store.watch(prefix, after).await.unwrap()));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let last = store.current_revision().await.unwrap();
    for (after, mut watch) in watchers {
        // Every revision is a write under the prefix, so each watcher must see each one once.
        let mut revision = after;
        while revision < last {
            let event = next_event(&mut watch).await;
            assert_eq!(event.revision(), revision + 1, "watch from {after}: gap or duplicate");
            revision = event.revision();
        }
        assert_quiet(&mut watch).await;
    }
}

pub async fn watch_from_future_revision_waits_for_it(store: Arc<dyn Store>) {
    let current = store.current_revision().await.unwrap();
    let mut watch = store.watch("/registry/", current + 2).await.unwrap();
    for i in 0..3 {
        store.create(&pod(&format!("p{i}")), val("x")).await.unwrap();
    }
    assert_eq!(next_event(&mut watch).await.revision(), current + 3);
    assert_quiet(&mut watch).await;
}

pub async fn compaction_keeps_current_values_and_expires_history(store: Arc<dyn Store>) {
    let prefix = "/registry/core/pods/";
    let (a, b, c) = (pod("a"), pod("b"), pod("c"));
    let r1 = store.create(&a, val("a1")).await.unwrap();
    let r2 = store.update(&a, val("a2"), r1).await.unwrap();
    let r3 = store.create(&b, val("b1")).await.unwrap();
    let r4 = store.delete(&b, None).await.unwrap().mod_revision;
    let r5 = store.create(&c, val("c1")).await.unwrap();

    store.compact(r4).await.unwrap();
    assert_eq!(store.stats().compacted_revision, r4);
    let at = |revision| ListOptions { revision: Some(revision), ..Default::default() };
    assert_eq!(
        store.list(prefix, at(r3)).await.unwrap_err(),
        StoreError::Compacted { requested: r3, compacted: r4 }
    );
    assert_eq!(
        snapshot(store.as_ref(), prefix, r4).await,
        BTreeMap::from([(a.clone(), (val("a2"), r2))])
    );
    assert_eq!(
        snapshot(store.as_ref(), prefix, r5).await,
        BTreeMap::from([(a.clone(), (val("a2"), r2)), (c.clone(), (val("c1"), r5))])
    );
    assert_eq!(store.get(&a).await.unwrap().unwrap().mod_revision, r2);
    assert_eq!(store.get(&b).await.unwrap(), None);
    assert!(matches!(
        store.watch(prefix, r3).await,
        Err(StoreError::Compacted { requested, compacted }) if requested == r3 && compacted == r4
    ));

    // Watching from the compacted revision itself still works, and previous values that
    // predate the compaction are still there for events after it.
    let mut watch = store.watch(prefix, r4).await.unwrap();
    assert_eq!(next_event(&mut watch).await.revision(), r5);
    let r6 = store.update(&a, val("a3"), r2).await.unwrap();
    let updated = next_event(&mut watch).await;
    assert_eq!((updated.kind, updated.revision()), (EventKind::Updated, r6));
    assert_eq!(updated.prev.map(|p| (p.value, p.mod_revision)), Some((val("a2"), r2)));

    // Compacting again to an old revision is a no-op; to a future one fails.
    store.compact(r2).await.unwrap();
    store.compact(r4).await.unwrap();
    assert!(matches!(store.compact(r6 + 1).await, Err(StoreError::FutureRevision { .. })));

    // Compact everything, including a trailing delete: revisions are never reused.
    let r7 = store.delete(&c, Some(r5)).await.unwrap().mod_revision;
    store.compact(r7).await.unwrap();
    assert_eq!(store.current_revision().await.unwrap(), r7);
    assert_eq!(
        snapshot(store.as_ref(), prefix, r7).await,
        BTreeMap::from([(a.clone(), (val("a3"), r6))])
    );
    let r8 = store.create(&c, val("c2")).await.unwrap();
    assert_eq!(r8, r7 + 1);
    assert_eq!(next_event(&mut watch).await.revision(), r7);
    assert_eq!(next_event(&mut watch).await.revision(), r8);
    assert_eq!(store.stats().compaction_lag, 1);
}

pub async fn concurrent_creates_get_distinct_revisions(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.create(&pod(&format!("p{i:03}")), val("x")).await })
        })
        .collect();
    let mut revisions = Vec::new();
    for task in tasks {
        revisions.push(task.await.unwrap().expect("every create succeeds"));
    }
    let mut distinct = revisions.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 100);
    assert_eq!(store.current_revision().await.unwrap(), *distinct.last().unwrap());
    let list = store.list("/registry/core/pods/", ListOptions::default()).await.unwrap();
    let listed: Vec<Revision> = list.items.iter().map(|kv| kv.mod_revision).collect();
    let mut expected = revisions;
    expected.sort_unstable();
    let mut listed_sorted = listed;
    listed_sorted.sort_unstable();
    assert_eq!(listed_sorted, expected);
}

pub async fn slow_watcher_is_dropped_without_blocking_writers(store: Arc<dyn Store>) {
    const WRITES: usize = 3000;
    let prefix = "/registry/core/pods/";
    let after = store.current_revision().await.unwrap();
    let mut slow = store.watch(prefix, after).await.unwrap();
    let writes = async {
        for chunk in 0..WRITES / 200 {
            let creates = (0..200).map(|i| {
                let store = store.clone();
                async move { store.create(&pod(&format!("p{chunk}-{i}")), val("x")).await }
            });
            for result in futures::future::join_all(creates).await {
                result.unwrap();
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), writes)
        .await
        .expect("writers were blocked by a watcher that does not read");

    let mut delivered = 0;
    let outcome = loop {
        match tokio::time::timeout(WAIT, slow.next()).await.expect("stream stalled") {
            Some(Ok(event)) => {
                delivered += 1;
                assert_eq!(
                    event.revision(),
                    after + delivered as Revision,
                    "buffered events stay in order"
                );
            }
            other => break other,
        }
    };
    assert!(matches!(outcome, Some(Err(StoreError::WatcherTooSlow))), "got {outcome:?}");
    assert!(delivered < WRITES, "delivered {delivered}");
    assert!(
        tokio::time::timeout(WAIT, slow.next()).await.unwrap().is_none(),
        "stream ends after the error"
    );

    // Other watchers are unaffected.
    let mut fresh = store.watch(prefix, store.current_revision().await.unwrap()).await.unwrap();
    let rev = store.create(&pod("after"), val("x")).await.unwrap();
    assert_eq!(next_event(&mut fresh).await.revision(), rev);
}

pub async fn stats_count_writes_and_watchers(store: Arc<dyn Store>) {
    let before = store.stats();
    let mut last = 0;
    for i in 0..3 {
        last = store.create(&pod(&format!("p{i}")), val("x")).await.unwrap();
    }
    assert!(store.create(&pod("p0"), val("x")).await.is_err());
    let stats = store.stats();
    assert_eq!(stats.writes, before.writes + 3);
    assert!(stats.batches > before.batches && stats.batches <= before.batches + 3);
    assert_eq!(stats.current_revision, last);
    assert_eq!(stats.compaction_lag, last, "never compacted");

    let watch = store.watch("/registry/", last).await.unwrap();
    assert_eq!(store.stats().watchers, before.watchers + 1);
    drop(watch);
    assert_eq!(store.stats().watchers, before.watchers);
}
