//! One client over several API servers of the same cluster (`berth node --server A,B`), so a
//! node agent keeps working when the server it talks to dies. Upstream puts a load balancer or
//! a virtual IP in front of the servers instead; this is the same idea without one.
//!
//! Requests go to the current server; a transport error (connection refused or reset, a
//! connect timeout: the server is gone) moves the *next* requests to the next server in the
//! list. The failed request itself is not replayed (its body is consumed, and a write may have
//! reached the server): callers already retry, as they must for any transport error, and a
//! broken watch re-establishes itself — on the next server.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use kube::client::Body;

use crate::{connect, ClusterAccess, ConnectError};

/// A client that fails over between `servers` (in order, wrapping around).
pub fn connect_any(servers: &[ClusterAccess]) -> Result<kube::Client, ConnectError> {
    match servers {
        [] => Err(ConnectError::Url(String::new())),
        [one] => connect(one),
        many => {
            let clients = many.iter().map(connect).collect::<Result<Vec<_>, _>>()?;
            let urls = many.iter().map(|s| s.url.clone()).collect();
            let service = Failover { clients: Arc::new(clients), urls: Arc::new(urls), current: Arc::new(AtomicUsize::new(0)) };
            Ok(kube::Client::new(service, "default"))
        }
    }
}

#[derive(Clone)]
struct Failover {
    clients: Arc<Vec<kube::Client>>,
    urls: Arc<Vec<String>>,
    current: Arc<AtomicUsize>,
}

/// Whether the error means the server could not be reached (as opposed to an answer).
fn unreachable(e: &kube::Error) -> bool {
    matches!(e, kube::Error::HyperError(_) | kube::Error::Service(_))
}

/// The index after `failed`, unless another request moved on already.
pub(crate) fn advance(current: &AtomicUsize, failed: usize, len: usize) -> usize {
    let next = (failed + 1) % len;
    match current.compare_exchange(failed, next, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => next,
        Err(moved) => moved,
    }
}

impl tower::Service<http::Request<Body>> for Failover {
    type Response = http::Response<Body>;
    type Error = kube::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let i = this.current.load(Ordering::Acquire) % this.clients.len();
            let result = this.clients[i].send(request).await;
            if let Err(e) = &result {
                if unreachable(e) {
                    let next = advance(&this.current, i, this.clients.len());
                    tracing::warn!(server = %this.urls[i], next = %this.urls[next], error = %e, "API server unreachable; switching");
                }
            }
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_moves_on_once_and_wraps_around() {
        let current = AtomicUsize::new(0);
        assert_eq!(advance(&current, 0, 3), 1);
        // A second request that failed on server 0 too does not skip server 1.
        assert_eq!(advance(&current, 0, 3), 1);
        assert_eq!(advance(&current, 1, 3), 2);
        assert_eq!(advance(&current, 2, 3), 0);
        assert_eq!(current.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn requests_reach_the_next_server_after_a_dead_one() {
        // Server 0: a port nothing listens on. Server 1: a plain HTTP listener answering 200.
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let live_addr = live.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = live.accept().await.unwrap();
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let body = r#"{"major":"1","minor":"33","gitVersion":"v1.33.0"}"#;
                    let _ = s.write_all(format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len()).as_bytes()).await;
                });
            }
        });
        let plain = |addr: std::net::SocketAddr| {
            let mut config = kube::Config::new(format!("http://{addr}").parse().unwrap());
            config.connect_timeout = Some(std::time::Duration::from_secs(2));
            kube::Client::try_from(config).unwrap()
        };
        let service = Failover {
            clients: Arc::new(vec![plain(dead), plain(live_addr)]),
            urls: Arc::new(vec![dead.to_string(), live_addr.to_string()]),
            current: Arc::new(AtomicUsize::new(0)),
        };
        let client = kube::Client::new(service, "default");
        assert!(client.apiserver_version().await.is_err(), "the first request goes to the dead server");
        let v = client.apiserver_version().await.expect("the next one goes to the live server");
        assert_eq!(v.git_version, "v1.33.0");
    }
}
