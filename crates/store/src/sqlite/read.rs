//! Reads (get, list, watch replay) on a small pool of read connections, run on tokio's blocking
//! threads so they neither stall the async runtime nor wait for the writer (WAL readers see the
//! last committed snapshot).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, Row};
use tokio::sync::Semaphore;

use super::schema::{self, internal, prefix_end};
use crate::{EventKind, KeyValue, ListResult, Result, Revision, StoreError, WatchEvent};

pub(crate) struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Bounds concurrent reads (and so open read connections).
    permits: Semaphore,
}

impl ReadPool {
    pub fn new(path: PathBuf, size: usize) -> Self {
        ReadPool { path, idle: Mutex::new(Vec::new()), permits: Semaphore::new(size.max(1)) }
    }

    /// Runs `f` with a read connection on a blocking thread.
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Internal("read pool closed".into()))?;
        let pool = self.clone();
        let result = tokio::task::spawn_blocking(move || {
            let idle = pool.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let conn = match idle {
                Some(conn) => conn,
                None => schema::open_reader(&pool.path).map_err(internal)?,
            };
            let result = f(&conn);
            pool.idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
            result
        })
        .await
        .map_err(|err| StoreError::Internal(format!("read task failed: {err}")))?;
        drop(permit);
        result
    }
}

fn key_value(
    key: Vec<u8>,
    value: Vec<u8>,
    create_revision: Revision,
    mod_revision: Revision,
) -> Result<KeyValue> {
    let key = String::from_utf8(key)
        .map_err(|_| StoreError::Internal("stored key is not UTF-8".into()))?;
    Ok(KeyValue { key, value: Bytes::from(value), create_revision, mod_revision })
}

/// The newest live value of `key` at or below `revision`.
pub(crate) fn get(conn: &Connection, key: &str, revision: Revision) -> Result<Option<KeyValue>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT create_revision, revision, deleted, value FROM kv
             WHERE key = ?1 AND revision <= ?2 ORDER BY revision DESC LIMIT 1",
        )
        .map_err(internal)?;
    let row = stmt
        .query_row((key.as_bytes(), revision), |row| {
            Ok((
                row.get::<_, Revision>(0)?,
                row.get::<_, Revision>(1)?,
                row.get::<_, bool>(2)?,
                row.get::<_, Vec<u8>>(3)?,
            ))
        })
        .optional()
        .map_err(internal)?;
    match row {
        Some((create, rev, false, value)) => {
            Ok(Some(key_value(key.as_bytes().to_vec(), value, create, rev)?))
        }
        _ => Ok(None),
    }
}

/// Fails unless `revision` is still readable in this connection's snapshot.
fn check_not_compacted(conn: &Connection, requested: Revision) -> Result<()> {
    let compacted = schema::compacted_revision(conn).map_err(internal)?;
    if requested < compacted {
        return Err(StoreError::Compacted { requested, compacted });
    }
    Ok(())
}

// The newest row per key at or below ?3, keys in [?1, ?2) (or (?1, ?2)), skipping deleted ones.
// The scan walks the (key, revision) index in key order, so LIMIT stops it early; the MAX
// subquery is an index seek.
const LIST_WHERE: &str = "o.key < ?2 AND o.revision <= ?3 AND o.deleted = 0
    AND o.revision = (SELECT MAX(i.revision) FROM kv AS i WHERE i.key = o.key AND i.revision <= ?3)";

fn list_sql(inclusive: bool, count: bool) -> String {
    let lower = if inclusive { "o.key >= ?1" } else { "o.key > ?1" };
    if count {
        format!("SELECT COUNT(*) FROM kv AS o WHERE {lower} AND {LIST_WHERE}")
    } else {
        format!(
            "SELECT o.key, o.value, o.create_revision, o.revision FROM kv AS o
             WHERE {lower} AND {LIST_WHERE} ORDER BY o.key LIMIT ?4"
        )
    }
}

pub(crate) fn list(
    conn: &Connection,
    prefix: &str,
    start_after: Option<&str>,
    limit: Option<usize>,
    revision: Revision,
) -> Result<ListResult> {
    let txn = conn.unchecked_transaction().map_err(internal)?;
    check_not_compacted(&txn, revision)?;
    let end = prefix_end(prefix);
    let (lower, inclusive) = match start_after {
        Some(after) if after >= prefix => (after, false),
        _ => (prefix, true),
    };
    let limit = limit.filter(|l| *l > 0);
    // One extra row tells whether more follow.
    let fetch = limit.and_then(|l| i64::try_from(l).ok()?.checked_add(1)).unwrap_or(-1);
    let mut items = Vec::with_capacity(limit.map_or(64, |l| l.min(4096) + 1));
    {
        let mut stmt = txn.prepare_cached(&list_sql(inclusive, false)).map_err(internal)?;
        let mut rows =
            stmt.query((lower.as_bytes(), &end[..], revision, fetch)).map_err(internal)?;
        while let Some(row) = rows.next().map_err(internal)? {
            items.push(key_value(
                row.get(0).map_err(internal)?,
                row.get(1).map_err(internal)?,
                row.get(2).map_err(internal)?,
                row.get(3).map_err(internal)?,
            )?);
        }
    }
    let mut more = false;
    let mut remaining = None;
    if let Some(limit) = limit {
        if items.len() > limit {
            items.truncate(limit);
            more = true;
            let last = items.last().map(|kv| kv.key.as_bytes()).unwrap_or_default();
            let count: i64 = txn
                .prepare_cached(&list_sql(false, true))
                .and_then(|mut stmt| stmt.query_row((last, &end[..], revision), |row| row.get(0)))
                .map_err(internal)?;
            remaining = Some(count as u64);
        }
    }
    txn.finish().map_err(internal)?;
    Ok(ListResult { items, revision, more, remaining })
}

/// Up to `limit` events for keys under `prefix` with revisions in `(after, to]`, in revision
/// order. `requested` is the revision the watch started from (for the error).
pub(crate) fn replay_page(
    conn: &Connection,
    prefix: &str,
    after: Revision,
    to: Revision,
    limit: usize,
    requested: Revision,
) -> Result<Vec<WatchEvent>> {
    let txn = conn.unchecked_transaction().map_err(internal)?;
    let compacted = schema::compacted_revision(&txn).map_err(internal)?;
    if after < compacted {
        return Err(StoreError::Compacted { requested, compacted });
    }
    let end = prefix_end(prefix);
    let mut events = Vec::new();
    {
        let mut stmt = txn
            .prepare_cached(
                "SELECT o.revision, o.key, o.create_revision, o.deleted, o.value, p.revision, p.value
                 FROM kv AS o LEFT JOIN kv AS p ON p.revision = o.prev_revision
                 WHERE o.revision > ?1 AND o.revision <= ?2 AND o.key >= ?3 AND o.key < ?4
                 ORDER BY o.revision LIMIT ?5",
            )
            .map_err(internal)?;
        let mut rows =
            stmt.query((after, to, prefix.as_bytes(), &end[..], limit as i64)).map_err(internal)?;
        while let Some(row) = rows.next().map_err(internal)? {
            events.push(event_from_row(row).map_err(internal)??);
        }
    }
    txn.finish().map_err(internal)?;
    Ok(events)
}

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<Result<WatchEvent>> {
    let revision: Revision = row.get(0)?;
    let key: Vec<u8> = row.get(1)?;
    let create_revision: Revision = row.get(2)?;
    let deleted: bool = row.get(3)?;
    let value: Vec<u8> = row.get(4)?;
    let prev_revision: Option<Revision> = row.get(5)?;
    let prev_value: Option<Vec<u8>> = row.get(6)?;
    Ok((|| {
        if create_revision == revision {
            let kv = key_value(key, value, create_revision, revision)?;
            return Ok(WatchEvent { kind: EventKind::Created, kv, prev: None });
        }
        // An update's or delete's previous row is never compacted away while the row itself
        // exists (compaction keeps each key's newest row at or below the compacted revision).
        let (Some(prev_revision), Some(prev_value)) = (prev_revision, prev_value) else {
            return Err(StoreError::Internal(format!("revision {revision}: previous row missing")));
        };
        let prev = key_value(key, prev_value, create_revision, prev_revision)?;
        if deleted {
            let kv = KeyValue { mod_revision: revision, ..prev.clone() };
            Ok(WatchEvent { kind: EventKind::Deleted, kv, prev: Some(prev) })
        } else {
            let kv = KeyValue {
                key: prev.key.clone(),
                value: Bytes::from(value),
                create_revision,
                mod_revision: revision,
            };
            Ok(WatchEvent { kind: EventKind::Updated, kv, prev: Some(prev) })
        }
    })())
}

#[cfg(test)]
pub(crate) fn list_sql_for_tests() -> String {
    list_sql(true, false)
        .replace("?1", "x'2f'")
        .replace("?2", "x'30'")
        .replace("?3", "100")
        .replace("?4", "10")
}
