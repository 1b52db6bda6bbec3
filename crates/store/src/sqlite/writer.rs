//! The single writer thread: group commit and incremental compaction.
//!
//! Requests queue on a channel. The writer takes everything pending (up to [`MAX_BATCH`]),
//! applies it in one transaction (each write gets the next revision, in arrival order; a failed
//! precondition fails only its own request), commits (one fsync for the whole batch), publishes
//! the events, and only then answers. Under load many writes share one fsync.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::hub::Hub;
use super::schema::{self, internal};
use crate::counters::Counters;
use crate::{EventKind, KeyValue, Result, Revision, StoreError, WatchEvent};

/// Most writes in one transaction; bounds the latency a batch adds to its first request.
const MAX_BATCH: usize = 1024;

pub(crate) enum Op {
    Create { key: String, value: Bytes },
    Update { key: String, value: Bytes, expected: Revision },
    Delete { key: String, expected: Option<Revision> },
}

pub(crate) enum Command {
    /// Answered with the event the write produced.
    Write {
        op: Op,
        reply: oneshot::Sender<Result<WatchEvent>>,
    },
    Compact {
        revision: Revision,
        reply: oneshot::Sender<Result<()>>,
    },
    /// Finish what was received before this, then exit.
    Shutdown,
}

pub(crate) type CommandSender = mpsc::UnboundedSender<Command>;

struct Write {
    op: Op,
    reply: oneshot::Sender<Result<WatchEvent>>,
}

struct Compaction {
    target: Revision,
    waiters: Vec<oneshot::Sender<Result<()>>>,
}

pub(crate) struct Writer {
    conn: Connection,
    hub: Arc<Hub>,
    counters: Arc<Counters>,
    /// Newest committed revision.
    revision: Revision,
    compacted: Revision,
    /// Revisions a compaction handles per transaction.
    compaction_chunk: Revision,
    /// The compaction in progress; a failed chunk abandons it (its callers get the error and the
    /// periodic compactor retries).
    compaction: Option<Compaction>,
    /// Writes received and not yet committed.
    batch: Vec<Write>,
}

impl Writer {
    pub fn new(
        conn: Connection,
        hub: Arc<Hub>,
        counters: Arc<Counters>,
        revision: Revision,
        compacted: Revision,
        compaction_chunk: Revision,
    ) -> Self {
        Writer {
            conn,
            hub,
            counters,
            revision,
            compacted,
            compaction_chunk: compaction_chunk.max(1),
            compaction: None,
            batch: Vec::with_capacity(MAX_BATCH),
        }
    }

    pub fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        let mut stopping = false;
        while !stopping {
            if self.batch.is_empty() && self.compaction.is_none() {
                match rx.blocking_recv() {
                    Some(command) => stopping = self.accept(command),
                    None => break,
                }
            }
            while !stopping && self.batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(command) => stopping = self.accept(command),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => stopping = true,
                }
            }
            if !self.batch.is_empty() {
                self.commit_batch();
            }
            if !stopping {
                self.compaction_step();
            }
        }
        if let Some(compaction) = self.compaction.take() {
            for waiter in compaction.waiters {
                let _ =
                    waiter.send(Err(StoreError::Internal("store closed during compaction".into())));
            }
        }
    }

    /// Queues `command`; returns true for shutdown.
    fn accept(&mut self, command: Command) -> bool {
        match command {
            Command::Write { op, reply } => self.batch.push(Write { op, reply }),
            Command::Compact { revision, reply } => {
                if revision > self.revision {
                    let _ = reply.send(Err(StoreError::FutureRevision {
                        requested: revision,
                        current: self.revision,
                    }));
                } else if revision <= self.compacted {
                    let _ = reply.send(Ok(()));
                } else {
                    let compaction = self
                        .compaction
                        .get_or_insert(Compaction { target: revision, waiters: Vec::new() });
                    compaction.target = compaction.target.max(revision);
                    compaction.waiters.push(reply);
                }
            }
            Command::Shutdown => return true,
        }
        false
    }

    fn commit_batch(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        let mut outcomes: Vec<Result<WatchEvent>> = Vec::with_capacity(batch.len());
        let committed = (|| -> rusqlite::Result<Vec<WatchEvent>> {
            let txn = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut revision = self.revision;
            let mut events = Vec::with_capacity(batch.len());
            for write in &batch {
                match apply(&txn, &write.op, revision + 1)? {
                    Ok(event) => {
                        revision += 1;
                        events.push(event.clone());
                        outcomes.push(Ok(event));
                    }
                    Err(precondition) => outcomes.push(Err(precondition)),
                }
            }
            txn.commit()?;
            Ok(events)
        })();
        match committed {
            Ok(events) => {
                if let Some(last) = events.last() {
                    self.revision = last.revision();
                    self.counters.record_batch(events.len() as u64);
                    self.hub.publish(events, &self.counters);
                }
                for (write, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = write.reply.send(outcome);
                }
            }
            Err(err) => {
                // The transaction rolled back: nothing of the batch exists and its revisions
                // will be reused. Fail every request in it.
                tracing::error!(error = %err, writes = batch.len(), "store: commit failed");
                let err = StoreError::Internal(format!("commit failed: {err}"));
                for write in batch {
                    let _ = write.reply.send(Err(err.clone()));
                }
            }
        }
    }

    /// Runs one chunk of the pending compaction, if any.
    fn compaction_step(&mut self) {
        let Some(compaction) = &self.compaction else {
            return;
        };
        let to = compaction.target.min(self.compacted + self.compaction_chunk);
        let started = Instant::now();
        match compact_chunk(&mut self.conn, self.compacted, to) {
            Ok(removed) => {
                tracing::debug!(from = self.compacted, to, removed, elapsed = ?started.elapsed(), "store: compacted chunk");
                self.compacted = to;
                self.counters.compacted_revision.store(to, std::sync::atomic::Ordering::Release);
                if to == compaction.target {
                    self.counters.record_compaction_done();
                    for waiter in self.compaction.take().into_iter().flat_map(|c| c.waiters) {
                        let _ = waiter.send(Ok(()));
                    }
                }
            }
            Err(err) => {
                tracing::warn!(from = self.compacted, to, error = %err, "store: compaction failed");
                let err = StoreError::Internal(format!("compaction to {to} failed: {err}"));
                for waiter in self.compaction.take().into_iter().flat_map(|c| c.waiters) {
                    let _ = waiter.send(Err(err.clone()));
                }
            }
        }
    }
}

/// A key's newest row.
struct NewestRow {
    revision: Revision,
    create_revision: Revision,
    deleted: bool,
    value: Vec<u8>,
}

fn newest_row(conn: &Connection, key: &str) -> rusqlite::Result<Option<NewestRow>> {
    conn.prepare_cached(
        "SELECT revision, create_revision, deleted, value FROM kv
         WHERE key = ?1 ORDER BY revision DESC LIMIT 1",
    )?
    .query_row([key.as_bytes()], |row| {
        Ok(NewestRow {
            revision: row.get(0)?,
            create_revision: row.get(1)?,
            deleted: row.get(2)?,
            value: row.get(3)?,
        })
    })
    .optional()
}

fn insert(
    conn: &Connection,
    revision: Revision,
    key: &str,
    create_revision: Revision,
    prev_revision: Revision,
    deleted: bool,
    value: &[u8],
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO kv (revision, key, create_revision, prev_revision, deleted, value)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute((revision, key.as_bytes(), create_revision, prev_revision, deleted, value))?;
    Ok(())
}

/// Applies one write as `revision`. The outer error is a database failure (fails the batch),
/// the inner one a failed precondition (fails only this write).
fn apply(conn: &Connection, op: &Op, revision: Revision) -> rusqlite::Result<Result<WatchEvent>> {
    let key = match op {
        Op::Create { key, .. } | Op::Update { key, .. } | Op::Delete { key, .. } => key.as_str(),
    };
    let newest = newest_row(conn, key)?;
    let prev_revision = newest.as_ref().map_or(0, |row| row.revision);
    let live = newest.filter(|row| !row.deleted).map(|row| KeyValue {
        key: key.to_owned(),
        value: Bytes::from(row.value),
        create_revision: row.create_revision,
        mod_revision: row.revision,
    });
    Ok(match (op, live) {
        (Op::Create { .. }, Some(_)) => Err(StoreError::AlreadyExists(key.to_owned())),
        (Op::Create { value, .. }, None) => {
            insert(conn, revision, key, revision, prev_revision, false, value)?;
            let kv = KeyValue {
                key: key.to_owned(),
                value: value.clone(),
                create_revision: revision,
                mod_revision: revision,
            };
            Ok(WatchEvent { kind: EventKind::Created, kv, prev: None })
        }
        (Op::Update { .. } | Op::Delete { .. }, None) => Err(StoreError::NotFound(key.to_owned())),
        (Op::Update { expected, .. } | Op::Delete { expected: Some(expected), .. }, Some(prev))
            if *expected != prev.mod_revision =>
        {
            Err(StoreError::Conflict {
                key: key.to_owned(),
                expected: *expected,
                current: prev.mod_revision,
            })
        }
        (Op::Update { value, .. }, Some(prev)) => {
            insert(conn, revision, key, prev.create_revision, prev.mod_revision, false, value)?;
            let kv = KeyValue {
                key: key.to_owned(),
                value: value.clone(),
                create_revision: prev.create_revision,
                mod_revision: revision,
            };
            Ok(WatchEvent { kind: EventKind::Updated, kv, prev: Some(prev) })
        }
        (Op::Delete { .. }, Some(prev)) => {
            insert(conn, revision, key, prev.create_revision, prev.mod_revision, true, &[])?;
            let kv = KeyValue { mod_revision: revision, ..prev.clone() };
            Ok(WatchEvent { kind: EventKind::Deleted, kv, prev: Some(prev) })
        }
    })
}

/// Compacts `(from, to]`, given that everything up to `from` is compacted: removes each row
/// superseded by a write in `(from, to]` (exactly the rows those writes point at with
/// `prev_revision`) and the delete rows in `(from, to]`. Only primary-key lookups, so the cost
/// is proportional to the writes compacted, not to the table. Returns rows removed.
fn compact_chunk(conn: &mut Connection, from: Revision, to: Revision) -> rusqlite::Result<usize> {
    let txn = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut removed = txn.prepare_cached(
        "DELETE FROM kv WHERE revision IN
            (SELECT prev_revision FROM kv WHERE revision > ?1 AND revision <= ?2 AND prev_revision > 0)",
    )?
    .execute((from, to))?;
    removed += txn
        .prepare_cached("DELETE FROM kv WHERE revision > ?1 AND revision <= ?2 AND deleted = 1")?
        .execute((from, to))?;
    txn.prepare_cached("UPDATE meta SET value = ?1 WHERE name = 'compacted_revision'")?
        .execute([to])?;
    txn.commit()?;
    Ok(removed)
}

/// Reads the revisions to resume from.
pub(crate) fn load_revisions(conn: &Connection) -> Result<(Revision, Revision)> {
    let current = schema::current_revision(conn).map_err(internal)?;
    let compacted = schema::compacted_revision(conn).map_err(internal)?;
    Ok((current, compacted))
}
