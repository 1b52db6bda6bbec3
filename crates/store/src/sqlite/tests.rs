use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::*;
use crate::conformance::Fixture;
use crate::EventKind;

fn open_in(dir: &tempfile::TempDir, options: SqliteOptions) -> Arc<SqliteStore> {
    SqliteStore::open_with(&dir.path().join("state.db"), options).unwrap()
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    Fixture::with_guard(open_in(&dir, SqliteOptions::default()), dir)
}

crate::conformance_tests!(fixture);

/// The whole suite again with a ring so small that nearly every watch replays from the
/// database rows.
mod small_ring {
    use super::*;

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteOptions { history_capacity: 3, ..Default::default() };
        Fixture::with_guard(open_in(&dir, options), dir)
    }

    crate::conformance_tests!(fixture);
}

fn rows(path: &Path) -> Vec<(Revision, String, bool)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn.prepare("SELECT revision, key, deleted FROM kv ORDER BY revision").unwrap();
    stmt.query_map([], |row| {
        Ok((row.get(0)?, String::from_utf8(row.get::<_, Vec<u8>>(1)?).unwrap(), row.get(2)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[tokio::test]
async fn reopen_keeps_data_and_revision_counter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = SqliteStore::open(&path).unwrap();
    let a = store.create("/registry/core/pods/default/a", "a1".into()).await.unwrap();
    let a2 = store.update("/registry/core/pods/default/a", "a2".into(), a).await.unwrap();
    store.create("/registry/core/pods/default/b", "b".into()).await.unwrap();
    // The newest row is a delete, and compacting past it removes it: the counter must still
    // not go back.
    let last = store.delete("/registry/core/pods/default/b", None).await.unwrap().mod_revision;
    store.compact(last).await.unwrap();
    drop(store);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), last);
    assert_eq!(store.stats().compacted_revision, last);
    let kv = store.get("/registry/core/pods/default/a").await.unwrap().unwrap();
    assert_eq!((kv.value, kv.create_revision, kv.mod_revision), ("a2".into(), a, a2));
    assert_eq!(store.get("/registry/core/pods/default/b").await.unwrap(), None);
    assert_eq!(store.create("/registry/core/pods/default/c", "c".into()).await.unwrap(), last + 1);
    assert!(matches!(store.watch("/registry/", last - 1).await, Err(StoreError::Compacted { .. })));
}

#[tokio::test]
async fn a_second_store_cannot_open_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = SqliteStore::open(&path).unwrap();
    let err = SqliteStore::open(&path).err().expect("second open must fail");
    assert!(err.to_string().contains("in use"), "{err}");
    drop(store);
    SqliteStore::open(&path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_batches_concurrent_writes() {
    const WRITES: usize = 2000;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = open_in(&dir, SqliteOptions::default());
    let started = Instant::now();
    let tasks: Vec<_> = (0..WRITES)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .create(&format!("/registry/core/pods/default/p{i}"), vec![b'x'; 512].into())
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let elapsed = started.elapsed();
    let stats = store.stats();
    eprintln!(
        "sqlite: {WRITES} concurrent creates in {elapsed:?} ({:.0}/s), {} batches",
        WRITES as f64 / elapsed.as_secs_f64(),
        stats.batches
    );
    assert_eq!(stats.writes, WRITES as u64);
    assert!(
        stats.batches < stats.writes / 4,
        "batches {} for {} writes",
        stats.batches,
        stats.writes
    );

    // One writer at a time: every write pays its own commit (fsync).
    let started = Instant::now();
    for i in 0..100 {
        store
            .create(&format!("/registry/core/pods/seq/p{i}"), vec![b'x'; 512].into())
            .await
            .unwrap();
    }
    eprintln!("sqlite: 100 sequential creates in {:?}", started.elapsed());
    let started = Instant::now();
    let list = store.list("/registry/core/pods/", ListOptions::default()).await.unwrap();
    eprintln!("sqlite: list of {} keys in {:?}", list.items.len(), started.elapsed());

    // A precondition failure inside a batch fails only that request.
    let key = "/registry/core/pods/default/p0";
    let current = store.get(key).await.unwrap().unwrap().mod_revision;
    let (good, stale, dup) = tokio::join!(
        store.update(key, "new".into(), current),
        store.update("/registry/core/pods/default/p1", "new".into(), 1_000_000),
        store.create("/registry/core/pods/default/p2", "dup".into()),
    );
    good.unwrap();
    assert!(matches!(stale, Err(StoreError::Conflict { .. })));
    assert!(matches!(dup, Err(StoreError::AlreadyExists(_))));
}

#[tokio::test]
async fn compaction_removes_exactly_the_superseded_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = SqliteStore::open(&path).unwrap();
    let k = |n: &str| format!("/registry/core/configmaps/default/{n}");
    let r1 = store.create(&k("a"), "1".into()).await.unwrap(); // superseded by r2
    let r2 = store.update(&k("a"), "2".into(), r1).await.unwrap(); // newest of a at r5: kept
    let r3 = store.create(&k("b"), "1".into()).await.unwrap(); // deleted by r4
    let _r4 = store.delete(&k("b"), None).await.unwrap(); // delete at or below r5: dropped
    let r5 = store.create(&k("c"), "1".into()).await.unwrap(); // kept
    let r6 = store.update(&k("c"), "2".into(), r5).await.unwrap(); // above r5: kept
    let r7 = store.update(&k("a"), "3".into(), r2).await.unwrap();
    let _ = r3;

    store.compact(r5).await.unwrap();
    let revisions: Vec<Revision> = rows(&path).into_iter().map(|r| r.0).collect();
    assert_eq!(revisions, [r2, r5, r6, r7]);

    // Incremental: the next compaction only looks at writes after the previous one.
    store.compact(r7).await.unwrap();
    let revisions: Vec<Revision> = rows(&path).into_iter().map(|r| r.0).collect();
    assert_eq!(revisions, [r6, r7]);
    let list = store.list("/registry/core/configmaps/", ListOptions::default()).await.unwrap();
    assert_eq!(list.items.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_replays_history_older_than_the_ring_from_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(&dir, SqliteOptions { history_capacity: 5, ..Default::default() });
    // More than two replay pages, mixing kinds.
    let mut expected = Vec::new();
    for chunk in 0..25 {
        let creates = (0..100).map(|i| {
            let store = store.clone();
            async move {
                store.create(&format!("/registry/core/pods/default/p{chunk}-{i}"), "x".into()).await
            }
        });
        futures::future::join_all(creates).await.into_iter().for_each(|r| {
            r.unwrap();
        });
    }
    for rev in 1..=2500 {
        expected.push((rev, EventKind::Created));
    }
    let kv = store.get("/registry/core/pods/default/p0-0").await.unwrap().unwrap();
    let updated = store.update(&kv.key, "y".into(), kv.mod_revision).await.unwrap();
    let deleted = store.delete(&kv.key, None).await.unwrap().mod_revision;
    expected.push((updated, EventKind::Updated));
    expected.push((deleted, EventKind::Deleted));

    let mut watch = store.watch("/registry/core/pods/", 0).await.unwrap();
    let live = store.create("/registry/core/pods/default/live", "x".into()).await.unwrap();
    expected.push((live, EventKind::Created));
    let mut seen = Vec::new();
    while seen.len() < expected.len() {
        let event = tokio::time::timeout(Duration::from_secs(20), watch.next())
            .await
            .expect("watch stalled")
            .expect("watch ended")
            .unwrap();
        if event.kind == EventKind::Deleted {
            assert_eq!(event.kv.value, bytes::Bytes::from("y"));
            assert_eq!(event.prev.as_ref().unwrap().mod_revision, updated);
        }
        seen.push((event.revision(), event.kind));
    }
    assert_eq!(seen, expected);
}

#[test]
fn queries_use_the_key_index() {
    let dir = tempfile::tempdir().unwrap();
    let conn = schema::open_writer(&dir.path().join("state.db")).unwrap();
    let plan = |sql: &str| -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        stmt.query_map([], |row| row.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let get = plan(
        "SELECT value FROM kv WHERE key = x'61' AND revision <= 5 ORDER BY revision DESC LIMIT 1",
    );
    assert!(
        get.contains("USING INDEX kv_key_revision")
            || get.contains("USING COVERING INDEX kv_key_revision"),
        "{get}"
    );
    let list = plan(&read::list_sql_for_tests());
    eprintln!("list plan:\n{list}");
    assert!(
        !list.lines().any(|l| l.starts_with("SCAN") && !l.contains("INDEX")),
        "full scan in:\n{list}"
    );
    assert!(!list.contains("TEMP B-TREE"), "list sorts instead of walking the index:\n{list}");
}

/// Creates `count` keys `/registry/core/pods/default/{tag}-{i}`, 100 at a time.
async fn create_many(store: &Arc<SqliteStore>, tag: &str, count: usize) {
    for chunk in 0..count.div_ceil(100) {
        let creates = (chunk * 100..((chunk + 1) * 100).min(count)).map(|i| {
            let store = store.clone();
            async move {
                store.create(&format!("/registry/core/pods/default/{tag}-{i}"), "x".into()).await
            }
        });
        for result in futures::future::join_all(creates).await {
            result.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_compaction_interleaves_with_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let options = SqliteOptions { compaction_chunk: 7, ..Default::default() };
    let store = SqliteStore::open_with(&path, options).unwrap();
    create_many(&store, "a", 300).await;
    // Supersede every one of those rows: update half, delete the other half.
    for i in 0..300 {
        let key = format!("/registry/core/pods/default/a-{i}");
        if i % 2 == 0 {
            let kv = store.get(&key).await.unwrap().unwrap();
            store.update(&key, "y".into(), kv.mod_revision).await.unwrap();
        } else {
            store.delete(&key, None).await.unwrap();
        }
    }
    let target = store.current_revision().await.unwrap();
    let (compacted, ()) = tokio::join!(store.compact(target), create_many(&store, "b", 300));
    compacted.unwrap();
    assert_eq!(store.stats().compacted_revision, target);
    // Left: the 150 updated rows and the 300 later creates.
    assert_eq!(rows(&path).len(), 450);
    let list = store.list("/registry/core/pods/", ListOptions::default()).await.unwrap();
    assert_eq!(list.items.len(), 450);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_during_a_database_replay_ends_the_watch_with_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(&dir, SqliteOptions { history_capacity: 5, ..Default::default() });
    create_many(&store, "p", 2500).await;
    let mut watch = store.watch("/registry/core/pods/", 0).await.unwrap();
    let wait = Duration::from_secs(20);
    for expected in 1..=REPLAY_PAGE as Revision {
        let event = tokio::time::timeout(wait, watch.next()).await.expect("replay stalled");
        assert_eq!(event.unwrap().unwrap().revision(), expected);
    }
    tokio::time::timeout(wait, store.compact(2000)).await.expect("compaction stalled").unwrap();
    assert_eq!(
        tokio::time::timeout(wait, watch.next()).await.expect("watch stalled").unwrap(),
        Err(StoreError::Compacted { requested: 0, compacted: 2000 })
    );
    assert!(tokio::time::timeout(wait, watch.next()).await.expect("watch stalled").is_none());
}
