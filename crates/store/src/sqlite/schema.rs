//! The table layout (after k3s's kine) and connection setup.
//!
//! Every write appends one row to `kv`; `revision` is the row id and the store's global revision.
//! A key's current value is its newest row; the value at revision R is its newest row with
//! `revision <= R`. A delete appends a row with `deleted = 1` and an empty value: the deleted
//! value is the row `prev_revision` points at. Keys are BLOBs so that range bounds compare
//! byte-wise (a TEXT column would sort every BLOB bound after every key).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::{Revision, StoreError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    revision        INTEGER PRIMARY KEY,
    key             BLOB    NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision   INTEGER NOT NULL,  -- the key's previous row, 0 if none
    deleted         INTEGER NOT NULL,
    value           BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_key_revision ON kv (key, revision);
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('compacted_revision', 0);
";

/// How long a connection waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn internal(err: rusqlite::Error) -> StoreError {
    StoreError::Internal(err.to_string())
}

/// Opens the one write connection, creating the schema if needed.
pub(crate) fn open_writer(path: &Path) -> crate::Result<Connection> {
    open_writer_inner(path).map_err(|err| match err {
        WriterError::Sqlite(err) => {
            StoreError::Internal(format!("opening {}: {err}", path.display()))
        }
        WriterError::NotWal(mode) => StoreError::Internal(format!(
            "cannot switch {} to WAL mode (journal mode is {mode})",
            path.display()
        )),
    })
}

enum WriterError {
    Sqlite(rusqlite::Error),
    NotWal(String),
}

impl From<rusqlite::Error> for WriterError {
    fn from(err: rusqlite::Error) -> Self {
        WriterError::Sqlite(err)
    }
}

fn open_writer_inner(path: &Path) -> Result<Connection, WriterError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL lets readers proceed while the writer commits; synchronous=FULL fsyncs the WAL on
    // every commit, so an acknowledged write survives power loss.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(WriterError::NotWal(mode));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Checkpoints run on their own thread (checkpoint.rs), never inside a commit.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.set_prepared_statement_cache_capacity(32);
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// Opens a read connection; it never writes (query_only guards against mistakes).
pub(crate) fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "query_only", true)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

pub(crate) fn compacted_revision(conn: &Connection) -> rusqlite::Result<Revision> {
    conn.prepare_cached("SELECT value FROM meta WHERE name = 'compacted_revision'")?
        .query_row([], |row| row.get(0))
}

/// The newest revision ever written. Compaction may delete the newest row (a delete at or
/// below the compacted revision), so the compacted revision is a floor: revisions are never
/// reused.
pub(crate) fn current_revision(conn: &Connection) -> rusqlite::Result<Revision> {
    let max_row: Option<Revision> =
        conn.query_row("SELECT MAX(revision) FROM kv", [], |row| row.get(0)).optional()?.flatten();
    Ok(max_row.unwrap_or(0).max(compacted_revision(conn)?))
}

/// The smallest byte string above every key that starts with `prefix`. Keys are UTF-8, which
/// never contains 0xFF, so bumping the last byte always works and `[0xFF]` bounds all keys.
pub(crate) fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    match end.last_mut() {
        Some(last) => *last += 1,
        None => end.push(0xFF),
    }
    end
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_bounds_exactly_the_prefix() {
        assert_eq!(prefix_end("/registry/pods/"), b"/registry/pods0".to_vec());
        assert!(b"/registry/pods/zzz".as_slice() < prefix_end("/registry/pods/").as_slice());
        assert!(b"/registry/podsx/a".as_slice() >= prefix_end("/registry/pods/").as_slice());
        assert!("\u{10FFFF}".as_bytes() < prefix_end("").as_slice());
        assert!("é".as_bytes() < prefix_end("é").as_slice());
    }
}
