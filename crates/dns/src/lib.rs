//! berth's cluster DNS: an authoritative server for the cluster domain (`cluster.local` by
//! default) following the Kubernetes DNS specification, on hickory-server. It is fed by
//! informers on Services and EndpointSlices ([`feed`]) that keep an in-memory [`index::Index`]
//! up to date record by record; names outside the zone are forwarded to the host's resolvers.
//!
//! ```text
//! let dns = berth_dns::start(client, Config { listen: "127.0.0.1:0".parse()?, ..Default::default() }).await?;
//! dns.addr   // where it answers, UDP and TCP
//! ```

pub mod answer;
mod feed;
pub mod forward;
pub mod handler;
pub mod index;
pub mod udp;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::rr::Name;
use hickory_server::ServerFuture;

pub use handler::Handler;
pub use index::Index;

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// The cluster domain, e.g. `cluster.local`.
    pub zone: String,
    /// TTL of every cluster record (CoreDNS's `kubernetes` plugin default: 5 s).
    pub ttl: u32,
    /// Resolvers for names outside the zone (default: the host's /etc/resolv.conf).
    pub upstreams: Vec<SocketAddr>,
    pub forward_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            zone: "cluster.local".into(),
            ttl: 5,
            upstreams: forward::host_resolvers(),
            forward_timeout: Duration::from_secs(2),
        }
    }
}

/// A running server; dropping it does not stop it — abort [`DnsServer::task`].
pub struct DnsServer {
    /// The UDP (and, when the same port was free, TCP) address it answers on.
    pub addr: SocketAddr,
    pub index: Arc<RwLock<Index>>,
    /// The request handler, to [`serve`] the same records on more addresses (pods' DNS IP).
    pub handler: Handler,
    pub task: tokio::task::JoinHandle<()>,
}

pub fn zone_name(zone: &str) -> Result<Name, String> {
    let mut n = Name::from_ascii(zone.trim_end_matches('.')).map_err(|e| format!("cluster domain {zone:?}: {e}"))?;
    n.set_fqdn(true);
    Ok(n.to_lowercase())
}

/// Serve `handler` on `listen` (UDP, and TCP on the same port when it can be had).
///
/// TCP is hickory-server's `ServerFuture`; UDP is [`udp::run`] (a cache of encoded answers in
/// front of the same handler). Both run on their own thread with a single-threaded runtime: on
/// a multi-threaded runtime each request would hop between worker threads (wake-ups and
/// context switches cost more than the answer itself). Aborting the returned task stops the
/// server.
pub async fn serve(listen: SocketAddr, handler: Handler) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), String> {
    let udp = std::net::UdpSocket::bind(listen).map_err(|e| format!("DNS: binding UDP {listen}: {e}"))?;
    let addr = udp.local_addr().map_err(|e| e.to_string())?;
    udp.set_nonblocking(true).map_err(|e| e.to_string())?;
    let tcp = match std::net::TcpListener::bind(addr) {
        Ok(t) => t.set_nonblocking(true).map(|_| Some(t)).map_err(|e| e.to_string())?,
        Err(e) => {
            tracing::warn!(%addr, error = %e, "DNS: no TCP listener on the UDP port");
            None
        }
    };
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("berth-dns".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("DNS runtime: {e}")));
                    return;
                }
            };
            rt.block_on(async move {
                let mut server = ServerFuture::new(handler.clone());
                let registered = (|| -> std::io::Result<(tokio::net::UdpSocket, bool)> {
                    let udp = tokio::net::UdpSocket::from_std(udp)?;
                    let has_tcp = tcp.is_some();
                    if let Some(tcp) = tcp {
                        server.register_listener(tokio::net::TcpListener::from_std(tcp)?, Duration::from_secs(5));
                    }
                    Ok((udp, has_tcp))
                })();
                let (udp, has_tcp) = match registered {
                    Ok(x) => x,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("DNS sockets: {e}")));
                        return;
                    }
                };
                let udp_task = tokio::spawn(udp::run(udp, handler));
                let _ = ready_tx.send(Ok(()));
                let token = server.shutdown_token().clone();
                if has_tcp {
                    tokio::select! {
                        r = server.block_until_done() => if let Err(e) = r {
                            tracing::warn!(error = %e, "DNS TCP server stopped");
                        },
                        _ = done_rx => token.cancel(),
                    }
                } else {
                    let _ = done_rx.await;
                }
                udp_task.abort();
            });
        })
        .map_err(|e| format!("DNS thread: {e}"))?;
    ready_rx.await.map_err(|_| "DNS thread ended early".to_string())??;
    // Holding `done_tx` keeps the server up; dropping it (task aborted) stops the thread.
    let task = tokio::spawn(async move {
        let _keep = done_tx;
        std::future::pending::<()>().await;
    });
    Ok((addr, task))
}

/// Start the cluster DNS server fed from the API server behind `client`.
pub async fn start(client: kube::Client, config: Config) -> Result<DnsServer, String> {
    let index = Arc::new(RwLock::new(Index::new(zone_name(&config.zone)?)));
    let feed = feed::spawn(client, index.clone());
    let handler = Handler {
        index: index.clone(),
        ttl: config.ttl,
        upstreams: Arc::new(config.upstreams.clone()),
        forward_timeout: config.forward_timeout,
    };
    let (addr, server) = serve(config.listen, handler.clone()).await?;
    let task = tokio::spawn(async move {
        let _ = tokio::join!(server, feed);
    });
    Ok(DnsServer { addr, index, handler, task })
}
