//! The default, durable backend: one SQLite file in WAL mode, MVCC rows after k3s's kine,
//! group commit on one writer thread, watchers fed in-process from the commit path.
//!
//! - [`schema`]: table layout and connection setup.
//! - [`writer`]: the writer thread (group commit, compaction).
//! - [`hub`]: fan-out to watchers and the ring of recent events.
//! - [`read`]: get / list / watch replay on a pool of read connections.

mod checkpoint;
mod hub;
mod read;
mod schema;
mod writer;

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

use self::hub::{Hub, Replay};
use self::read::ReadPool;
use self::writer::{Command, CommandSender, Op, Writer};
use crate::counters::Counters;
use crate::watchers::{watch_stream, WatcherSet};
use crate::{
    KeyValue, ListOptions, ListResult, Result, Revision, Store, StoreError, StoreStats, WatchEvent,
    WatchStream,
};

/// Events per database read when a watch replays history older than the ring.
const REPLAY_PAGE: usize = 1000;

/// Tuning knobs; the defaults suit a control plane of a few thousand objects.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Recent events kept in memory to replay watches without reading the database.
    pub history_capacity: usize,
    /// Events a watcher may have queued before it is dropped as too slow.
    pub watcher_buffer: usize,
    /// Concurrent reads (and so open read connections).
    pub read_connections: usize,
    /// Revisions compacted per transaction: a long compaction runs in chunks with write
    /// batches in between, so it never stalls writes for long.
    pub compaction_chunk: Revision,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            history_capacity: 10_000,
            watcher_buffer: 1024,
            read_connections: 4,
            compaction_chunk: 10_000,
        }
    }
}

pub struct SqliteStore {
    commands: CommandSender,
    writer: Option<JoinHandle<()>>,
    reads: Arc<ReadPool>,
    hub: Arc<Hub>,
    counters: Arc<Counters>,
    /// Dropping it stops the checkpointer thread.
    _checkpointer: std::sync::mpsc::Sender<()>,
    /// Held (locked) for the store's lifetime so that a second store, in this process or
    /// another, cannot open the same file: two writers would hand out the same revisions.
    _lock: File,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` with default options. The parent
    /// directory must exist. Synchronous: it does a little blocking I/O (creating the schema,
    /// reading the revision to resume from) and starts the writer thread. Fails if another
    /// store holds the file (`<path>.lock`).
    pub fn open(path: &Path) -> Result<Arc<SqliteStore>> {
        Self::open_with(path, SqliteOptions::default())
    }

    pub fn open_with(path: &Path, options: SqliteOptions) -> Result<Arc<SqliteStore>> {
        let lock = lock_file(path)?;
        let conn = schema::open_writer(path)?;
        let (revision, compacted) = writer::load_revisions(&conn)?;
        let counters = Arc::new(Counters::new(revision, compacted));
        let watchers = WatcherSet::new(options.watcher_buffer, counters.watchers.clone());
        let hub = Arc::new(Hub::new(revision, options.history_capacity, watchers));
        let (commands, rx) = mpsc::unbounded_channel();
        let writer = Writer::new(
            conn,
            hub.clone(),
            counters.clone(),
            revision,
            compacted,
            options.compaction_chunk,
        );
        let writer = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|err| StoreError::Internal(format!("starting the writer thread: {err}")))?;
        let (checkpointer, stop) = std::sync::mpsc::channel();
        let checkpoint_path = path.to_owned();
        std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || checkpoint::run(checkpoint_path, stop))
            .map_err(|err| StoreError::Internal(format!("starting the checkpoint thread: {err}")))?;
        tracing::info!(path = %path.display(), revision, compacted, "store: opened");
        Ok(Arc::new(SqliteStore {
            commands,
            writer: Some(writer),
            reads: Arc::new(ReadPool::new(path.to_owned(), options.read_connections)),
            hub,
            counters,
            _checkpointer: checkpointer,
            _lock: lock,
        }))
    }

    async fn write(&self, op: Op) -> Result<WatchEvent> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::Write { op, reply }).map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }
}

fn writer_gone() -> StoreError {
    StoreError::Internal("store writer stopped".into())
}

fn lock_file(path: &Path) -> Result<File> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|err| StoreError::Internal(format!("opening {lock_path:?}: {err}")))?;
    file.try_lock().map_err(|err| match err {
        std::fs::TryLockError::WouldBlock => {
            StoreError::Internal(format!("{} is in use by another store", path.display()))
        }
        std::fs::TryLockError::Error(err) => {
            StoreError::Internal(format!("locking {lock_path:?}: {err}"))
        }
    })?;
    Ok(file)
}

impl Drop for SqliteStore {
    /// Lets the writer finish the writes already queued, then waits for it to close the
    /// database, so that reopening the same path right after a drop works.
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                tracing::error!("store: writer thread panicked");
            }
        }
    }
}

/// Replays `(after, to]` from the database page by page; `first` is the page already read.
fn database_replay(
    reads: Arc<ReadPool>,
    prefix: String,
    after: Revision,
    to: Revision,
    first: Vec<WatchEvent>,
) -> WatchStream {
    struct Paging {
        reads: Arc<ReadPool>,
        prefix: Arc<str>,
        next_after: Revision,
        first: Option<Vec<WatchEvent>>,
        finished: bool,
    }
    let paging = Paging {
        reads,
        prefix: prefix.into(),
        next_after: after,
        first: Some(first),
        finished: false,
    };
    futures::stream::unfold(paging, move |mut p| async move {
        if p.finished {
            return None;
        }
        let page = match p.first.take() {
            Some(page) => Ok(page),
            None => {
                let (prefix, from) = (p.prefix.clone(), p.next_after);
                p.reads
                    .run(move |c| read::replay_page(c, &prefix, from, to, REPLAY_PAGE, after))
                    .await
            }
        };
        match &page {
            Ok(events) => match events.last() {
                Some(last) if events.len() == REPLAY_PAGE => p.next_after = last.revision(),
                _ => p.finished = true,
            },
            Err(_) => p.finished = true,
        }
        Some((page, p))
    })
    .flat_map(|page| match page {
        Ok(events) => futures::stream::iter(events.into_iter().map(Ok)).left_stream(),
        Err(err) => futures::stream::once(futures::future::ready(Err(err))).right_stream(),
    })
    .boxed()
}

#[async_trait]
impl Store for SqliteStore {
    async fn create(&self, key: &str, value: Bytes) -> Result<Revision> {
        Ok(self.write(Op::Create { key: key.to_owned(), value }).await?.revision())
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<Revision> {
        Ok(self.write(Op::Update { key: key.to_owned(), value, expected }).await?.revision())
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        Ok(self.write(Op::Delete { key: key.to_owned(), expected }).await?.kv)
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        // Bounded by the published revision so a get never runs ahead of lists and watches.
        let revision = self.counters.current();
        let key = key.to_owned();
        self.reads.run(move |c| read::get(c, &key, revision)).await
    }

    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult> {
        let current = self.counters.current();
        let revision = opts.revision.unwrap_or(current);
        if revision > current {
            return Err(StoreError::FutureRevision { requested: revision, current });
        }
        let prefix = prefix.to_owned();
        self.reads
            .run(move |c| read::list(c, &prefix, opts.start_after.as_deref(), opts.limit, revision))
            .await
    }

    /// Starting after a revision the store has not reached yet is allowed (as in etcd): the
    /// stream then begins with the first event above `after`.
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        let compacted = self.counters.compacted();
        if after < compacted {
            return Err(StoreError::Compacted { requested: after, compacted });
        }
        let (sub, replay) = self.hub.subscribe(prefix, after);
        let replay = match replay {
            Replay::Memory(events) => futures::stream::iter(events.into_iter().map(Ok)).boxed(),
            Replay::Database { to } => {
                // Read the first page now so that a compacted revision fails the call itself.
                let owned = prefix.to_owned();
                let first = self
                    .reads
                    .run(move |c| read::replay_page(c, &owned, after, to, REPLAY_PAGE, after))
                    .await?;
                database_replay(self.reads.clone(), prefix.to_owned(), after, to, first)
            }
        };
        Ok(watch_stream(replay, sub, after))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::Compact { revision, reply }).map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.counters.current())
    }

    fn stats(&self) -> StoreStats {
        self.counters.snapshot()
    }
}

#[cfg(test)]
mod tests;
