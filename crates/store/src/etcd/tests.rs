//! The conformance suite on a real etcd (one throwaway server per check: the checks count
//! revisions, which etcd shares across all keys).

use std::time::Duration;

use super::testing::EtcdServer;
use super::EtcdStore;
use crate::conformance::Fixture;
use crate::{Store, StoreError};

async fn fixture() -> Option<Fixture> {
    let server = EtcdServer::start_or_skip().await?;
    let store = EtcdStore::connect(server.options())
        .await
        .expect("connecting to the test etcd");
    Some(Fixture::with_guard(store, server))
}

crate::conformance_tests!(fixture);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_etcd_is_unavailable_not_a_hang_and_the_store_recovers() {
    let Some(mut server) = EtcdServer::start_or_skip().await else { return };
    let mut options = server.options();
    options.timeout = Duration::from_secs(1);
    let store = EtcdStore::connect(options.clone()).await.unwrap();
    let a = "/registry/core/pods/default/a";
    let written = store.create(a, "a".into()).await.unwrap();
    server.kill();
    let err = store.create("/registry/core/pods/default/b", "b".into()).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "got {err:?}");
    let listed = store.list("/registry/", Default::default()).await;
    assert!(matches!(listed, Err(StoreError::Unavailable(_))), "got {listed:?}");
    assert!(matches!(store.watch("/registry/", 0).await, Err(StoreError::Unavailable(_))));
    assert!(matches!(EtcdStore::connect(options).await, Err(StoreError::Unavailable(_))));

    // Back on the same data: the same store object works again, the acknowledged write is there.
    server.restart().await;
    let mut recovered = None;
    for _ in 0..50 {
        match store.get(a).await {
            Ok(kv) => {
                recovered = kv;
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    assert_eq!(recovered.map(|kv| kv.mod_revision), Some(written));
    store.create("/registry/core/pods/default/b", "b".into()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_prefix_is_another_keyspace() {
    let Some(server) = EtcdServer::start_or_skip().await else {
        return;
    };
    let a = EtcdStore::connect(server.options()).await.unwrap();
    let mut options = server.options();
    options.prefix = "/tenant-b".into();
    let b = EtcdStore::connect(options).await.unwrap();
    a.create("/registry/core/pods/default/x", "a".into())
        .await
        .unwrap();
    assert_eq!(b.get("/registry/core/pods/default/x").await.unwrap(), None);
    b.create("/registry/core/pods/default/x", "b".into())
        .await
        .unwrap();
    let listed = b
        .list("/registry/core/pods/", Default::default())
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].key, "/registry/core/pods/default/x");
    assert_eq!(&listed.items[0].value[..], b"b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_the_right_ca_and_client_certificate_reads_and_writes() {
    let Some(server) = EtcdServer::start_tls_or_skip().await else { return };
    assert!(server.endpoint().starts_with("https://"));
    let store = EtcdStore::connect(server.options()).await.expect("connecting over TLS");
    let key = "/registry/core/configmaps/default/over-tls";
    let revision = store.create(key, "v".into()).await.unwrap();
    let kv = store.get(key).await.unwrap().expect("written over TLS");
    assert_eq!((&kv.value[..], kv.mod_revision), (&b"v"[..], revision));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_wrong_ca_or_no_client_certificate_is_a_clear_error_not_a_hang() {
    let Some(server) = EtcdServer::start_tls_or_skip().await else { return };
    let scratch = tempfile::tempdir().unwrap();
    let (other_ca, _) = super::testing::write_ca(scratch.path(), "other-ca").unwrap();
    let mut wrong_ca = server.options();
    wrong_ca.tls.ca_file = Some(other_ca);
    wrong_ca.timeout = Duration::from_secs(3);
    let started = std::time::Instant::now();
    let err = EtcdStore::connect(wrong_ca).await.err().expect("a wrong CA must not connect");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    let message = err.to_string();
    eprintln!("wrong CA: {message}");
    assert!(message.contains("certificate"), "the error names the certificate problem: {message}");

    // etcd requires a client certificate (--client-cert-auth): the right CA alone is refused.
    let mut no_client_cert = server.options();
    no_client_cert.tls.cert_file = None;
    no_client_cert.tls.key_file = None;
    no_client_cert.timeout = Duration::from_secs(3);
    assert!(EtcdStore::connect(no_client_cert).await.is_err());

    // Plain http:// with TLS settings is refused before any connection attempt.
    let mut plain = server.options();
    plain.endpoints = vec![server.endpoint().replace("https://", "http://")];
    let err = EtcdStore::connect(plain).await.err().unwrap().to_string();
    assert!(err.contains("https://"), "{err}");
}

mod over_tls {
    //! The whole conformance suite again, over TLS with client certificates.
    use super::*;

    async fn fixture() -> Option<Fixture> {
        let server = EtcdServer::start_tls_or_skip().await?;
        let store = EtcdStore::connect(server.options())
            .await
            .expect("connecting to the test etcd over TLS");
        Some(Fixture::with_guard(store, server))
    }

    crate::conformance_tests!(fixture);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_snapshot_copies_into_etcd_in_revision_order() {
    use crate::migrate::checks::{check_copy, write_history};
    let Some(server) = EtcdServer::start_or_skip().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let from = crate::SqliteStore::open(&dir.path().join("store.db")).unwrap();
    write_history(from.as_ref()).await;
    // Another cluster's keys under another prefix neither block the copy nor get copied.
    let mut other = server.options();
    other.prefix = "/other-cluster".into();
    let other = EtcdStore::connect(other).await.unwrap();
    other.create("/registry/core/pods/default/x", "x".into()).await.unwrap();
    let to = EtcdStore::connect(server.options()).await.unwrap();
    check_copy(from.as_ref(), to.as_ref()).await;
    assert!(other.get("/registry/core/pods/default/x").await.unwrap().is_some());
}
