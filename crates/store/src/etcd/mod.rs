//! The etcd backend: each [`Store`] call is one etcd v3 request (or one transaction), so etcd's
//! MVCC revision *is* the store's revision and several API servers can share one etcd.
//!
//! - create: `txn(create_revision(key) == 0 → put)`; update/delete: `txn(mod_revision(key) ==
//!   expected → put/delete, else get)` so a failed compare tells `NotFound` from `Conflict`.
//! - list: one range at a fixed revision (the header's revision for the first page), paged by
//!   `limit` and a start key just after the continue key.
//! - watch: from `after + 1` with `prev_kv` (see [`watch`]).
//! - Every request has a deadline: an unreachable etcd gives [`StoreError::Unavailable`].

mod errors;
mod keys;
mod tls;
mod watch;

pub use tls::EtcdTls;

#[cfg(any(test, feature = "testing"))]
mod test_pki;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, Txn, TxnOp,
    TxnOpResponse,
};

use crate::counters::Counters;
use crate::{KeyValue, ListOptions, ListResult, Result, Revision, Store, StoreError, StoreStats};
use errors::{classify, Classified};
use keys::Keys;

/// How the store reaches etcd.
#[derive(Debug, Clone)]
pub struct EtcdOptions {
    /// Client URLs, e.g. `http://127.0.0.1:2379`.
    pub endpoints: Vec<String>,
    /// Root of berth's keys in etcd; the store's `/registry/…` keys are re-rooted under it.
    pub prefix: String,
    /// Deadline of every request (and of connecting).
    pub timeout: Duration,
    /// Events a watcher may have buffered before it counts as too slow.
    pub watch_buffer: usize,
    /// TLS (CA, client certificate) for `https://` endpoints.
    pub tls: EtcdTls,
}

impl EtcdOptions {
    pub fn new(endpoints: Vec<String>) -> Self {
        EtcdOptions {
            endpoints,
            prefix: "/registry".into(),
            timeout: Duration::from_secs(5),
            watch_buffer: 1024,
            tls: EtcdTls::default(),
        }
    }
}

pub struct EtcdStore {
    client: Client,
    keys: Keys,
    options: EtcdOptions,
    counters: Arc<Counters>,
}

impl EtcdStore {
    /// Connects (within the timeout) and reads etcd's current revision.
    /// TLS settings that cannot work (a missing file, `http://` with a CA) fail at once.
    pub async fn connect(options: EtcdOptions) -> Result<Arc<EtcdStore>> {
        tls::check_endpoints(&options.endpoints, &options.tls)?;
        let mut connect = ConnectOptions::new()
            .with_connect_timeout(options.timeout)
            .with_timeout(options.timeout)
            .with_keep_alive(Duration::from_secs(10), options.timeout);
        if options.tls.is_set() {
            connect = connect.with_tls(options.tls.client_options()?);
        }
        let client = tokio::time::timeout(
            options.timeout,
            Client::connect(options.endpoints.clone(), Some(connect)),
        )
        .await
        .map_err(|_| unreachable_error(&options.endpoints))?
        .map_err(|e| {
            let e = tls::describe_connect_error(&e);
            StoreError::Unavailable(format!("etcd {:?}: {e}", options.endpoints))
        })?;
        let store = EtcdStore {
            client,
            keys: Keys::new(&options.prefix),
            options,
            counters: Arc::new(Counters::new(0, 0)),
        };
        store.current_revision().await?;
        Ok(Arc::new(store))
    }

    /// Runs one request under the deadline, mapping etcd's errors to store errors.
    async fn call<T, F>(&self, request: F) -> Result<T>
    where
        F: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        match tokio::time::timeout(self.options.timeout, request).await {
            Err(_) => Err(unreachable_error(&self.options.endpoints)),
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(match classify(&e) {
                Classified::Unavailable => StoreError::Unavailable(format!("etcd: {e}")),
                _ => StoreError::Internal(format!("etcd: {e}")),
            }),
        }
    }

    fn saw_revision(&self, revision: Revision) -> Revision {
        self.counters
            .current_revision
            .fetch_max(revision, std::sync::atomic::Ordering::AcqRel);
        revision
    }

    fn wrote(&self, revision: Revision) -> Revision {
        self.counters.record_batch(1);
        self.saw_revision(revision)
    }

    /// The current value of `key` as the failure branch of a transaction returned it.
    fn failed_get(&self, key: &str, responses: Vec<TxnOpResponse>) -> Option<KeyValue> {
        responses.into_iter().find_map(|r| match r {
            TxnOpResponse::Get(get) => get.kvs().first().map(|kv| self.keys.kv(key, kv)),
            _ => None,
        })
    }

    /// A range read that failed for its revision: tell compacted from future.
    async fn revision_error(&self, e: etcd_client::Error, requested: Revision) -> StoreError {
        match classify(&e) {
            Classified::Compacted => StoreError::Compacted {
                requested,
                compacted: self.compacted_revision(requested).await,
            },
            Classified::Future => match self.current_revision().await {
                Ok(current) => StoreError::FutureRevision { requested, current },
                Err(e) => e,
            },
            Classified::Unavailable => StoreError::Unavailable(format!("etcd: {e}")),
            Classified::Other => StoreError::Internal(format!("etcd: {e}")),
        }
    }

    /// etcd reports the compacted revision only to watchers: ask with a watch that starts below
    /// it (`below` is a revision known to be compacted), falling back to what this process saw.
    async fn compacted_revision(&self, below: Revision) -> Revision {
        let known = self.counters.compacted();
        let probe = watch::probe_compacted(&self.client, &self.keys, below, self.options.timeout);
        match probe.await {
            Some(compacted) => {
                self.counters
                    .compacted_revision
                    .fetch_max(compacted, std::sync::atomic::Ordering::AcqRel);
                compacted.max(known)
            }
            None => known.max(below + 1),
        }
    }
}

fn unreachable_error(endpoints: &[String]) -> StoreError {
    StoreError::Unavailable(format!("etcd {endpoints:?} did not answer in time"))
}

#[async_trait]
impl Store for EtcdStore {
    async fn create(&self, key: &str, value: Bytes) -> Result<Revision> {
        let k = self.keys.to_etcd(key);
        let txn = Txn::new()
            .when([Compare::create_revision(k.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(k, value.to_vec(), None)]);
        let resp = self.call(self.client.kv_client().txn(txn)).await?;
        let revision = header_revision(resp.header());
        if !resp.succeeded() {
            self.saw_revision(revision);
            return Err(StoreError::AlreadyExists(key.to_owned()));
        }
        Ok(self.wrote(revision))
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<Revision> {
        let k = self.keys.to_etcd(key);
        let txn = Txn::new()
            .when([
                Compare::create_revision(k.clone(), CompareOp::Greater, 0),
                Compare::mod_revision(k.clone(), CompareOp::Equal, expected),
            ])
            .and_then([TxnOp::put(k.clone(), value.to_vec(), None)])
            .or_else([TxnOp::get(k, None)]);
        let resp = self.call(self.client.kv_client().txn(txn)).await?;
        let revision = header_revision(resp.header());
        if resp.succeeded() {
            return Ok(self.wrote(revision));
        }
        self.saw_revision(revision);
        Err(match self.failed_get(key, resp.op_responses()) {
            None => StoreError::NotFound(key.to_owned()),
            Some(kv) => StoreError::Conflict {
                key: key.to_owned(),
                expected,
                current: kv.mod_revision,
            },
        })
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        let k = self.keys.to_etcd(key);
        let mut compares = vec![Compare::create_revision(k.clone(), CompareOp::Greater, 0)];
        if let Some(expected) = expected {
            compares.push(Compare::mod_revision(k.clone(), CompareOp::Equal, expected));
        }
        let txn = Txn::new()
            .when(compares)
            .and_then([TxnOp::delete(
                k.clone(),
                Some(DeleteOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(k, None)]);
        let resp = self.call(self.client.kv_client().txn(txn)).await?;
        let revision = header_revision(resp.header());
        if !resp.succeeded() {
            self.saw_revision(revision);
            return Err(
                match (self.failed_get(key, resp.op_responses()), expected) {
                    (Some(kv), Some(expected)) => StoreError::Conflict {
                        key: key.to_owned(),
                        expected,
                        current: kv.mod_revision,
                    },
                    _ => StoreError::NotFound(key.to_owned()),
                },
            );
        }
        let prev = resp.op_responses().into_iter().find_map(|r| match r {
            TxnOpResponse::Delete(d) => d.prev_kvs().first().map(|kv| self.keys.kv(key, kv)),
            _ => None,
        });
        // Another writer may have deleted the key between compare and delete only if etcd broke
        // its transaction guarantee; treat a missing prev_kv as not found all the same.
        let mut kv = prev.ok_or_else(|| StoreError::NotFound(key.to_owned()))?;
        kv.mod_revision = self.wrote(revision);
        Ok(kv)
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let resp = self
            .call(self.client.kv_client().get(self.keys.to_etcd(key), None))
            .await?;
        self.saw_revision(header_revision(resp.header()));
        Ok(resp.kvs().first().map(|kv| self.keys.kv(key, kv)))
    }

    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult> {
        let (start, end) = self.keys.range(prefix, opts.start_after.as_deref());
        let mut get = GetOptions::new().with_range(end);
        if let Some(revision) = opts.revision {
            get = get.with_revision(revision);
        }
        let limit = opts.limit.filter(|&l| l > 0);
        if let Some(limit) = limit {
            get = get.with_limit(limit as i64);
        }
        let mut kv = self.client.kv_client();
        let resp = match tokio::time::timeout(self.options.timeout, kv.get(start, Some(get))).await
        {
            Err(_) => return Err(unreachable_error(&self.options.endpoints)),
            Ok(Err(e)) => {
                return Err(self
                    .revision_error(e, opts.revision.unwrap_or_default())
                    .await)
            }
            Ok(Ok(resp)) => resp,
        };
        let current = self.saw_revision(header_revision(resp.header()));
        let items: Vec<KeyValue> = resp.kvs().iter().map(|kv| self.keys.store_kv(kv)).collect();
        let more = resp.more();
        let remaining = more.then(|| (resp.count() as u64).saturating_sub(items.len() as u64));
        Ok(ListResult {
            items,
            revision: opts.revision.unwrap_or(current),
            more,
            remaining,
        })
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<crate::WatchStream> {
        // A watch below the compacted revision must fail now, not on its first poll: a range at
        // `after` fails exactly when etcd has compacted past it.
        if after > 0 {
            let (start, end) = self.keys.range(prefix, None);
            let get = GetOptions::new()
                .with_range(end)
                .with_revision(after)
                .with_count_only();
            let mut kv = self.client.kv_client();
            match tokio::time::timeout(self.options.timeout, kv.get(start, Some(get))).await {
                Err(_) => return Err(unreachable_error(&self.options.endpoints)),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => match self.revision_error(e, after).await {
                    StoreError::FutureRevision { .. } => {}
                    other => return Err(other),
                },
            }
        }
        watch::start(self, prefix, after).await
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let mut kv = self.client.kv_client();
        match tokio::time::timeout(self.options.timeout, kv.compact(revision, None)).await {
            Err(_) => Err(unreachable_error(&self.options.endpoints)),
            Ok(Ok(resp)) => {
                self.saw_revision(header_revision(resp.header()));
                self.counters
                    .compacted_revision
                    .fetch_max(revision, std::sync::atomic::Ordering::AcqRel);
                self.counters.record_compaction_done();
                Ok(())
            }
            Ok(Err(e)) => match classify(&e) {
                // Compacting to an already compacted revision is a no-op, as for the others.
                Classified::Compacted => Ok(()),
                Classified::Future => Err(StoreError::FutureRevision {
                    requested: revision,
                    current: self.current_revision().await?,
                }),
                Classified::Unavailable => Err(StoreError::Unavailable(format!("etcd: {e}"))),
                Classified::Other => Err(StoreError::Internal(format!("etcd: {e}"))),
            },
        }
    }

    async fn current_revision(&self) -> Result<Revision> {
        // A count-only range over nothing: only the header's revision matters.
        let get = GetOptions::new().with_count_only();
        let resp = self
            .call(
                self.client
                    .kv_client()
                    .get(self.keys.probe_key(), Some(get)),
            )
            .await?;
        Ok(self.saw_revision(header_revision(resp.header())))
    }

    fn stats(&self) -> StoreStats {
        self.counters.snapshot()
    }
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Revision {
    header.map(|h| h.revision()).unwrap_or_default()
}
