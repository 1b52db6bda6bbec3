//! Names outside the cluster's zone go to the host's resolvers (`nameserver` lines of
//! /etc/resolv.conf), over UDP with a short timeout; no answer from any of them is SERVFAIL.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use tokio::net::UdpSocket;

/// The `nameserver` addresses of a resolv.conf text, port 53.
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next()).flatten()
        })
        .filter_map(|ip| ip.split('%').next()?.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

pub fn host_resolvers() -> Vec<SocketAddr> {
    std::fs::read_to_string("/etc/resolv.conf").map(|t| parse_resolv_conf(&t)).unwrap_or_default()
}

/// Ask each upstream in turn (sharing `timeout`); the first well-formed reply wins.
pub async fn forward(upstreams: &[SocketAddr], query: &Query, recursion_desired: bool, timeout: Duration) -> Option<Message> {
    if upstreams.is_empty() {
        return None;
    }
    let per_try = timeout / upstreams.len() as u32;
    for upstream in upstreams {
        match tokio::time::timeout(per_try, ask(*upstream, query, recursion_desired)).await {
            Ok(Some(m)) => return Some(m),
            Ok(None) => tracing::debug!(%upstream, "upstream resolver failed"),
            Err(_) => tracing::debug!(%upstream, "upstream resolver timed out"),
        }
    }
    None
}

async fn ask(upstream: SocketAddr, query: &Query, recursion_desired: bool) -> Option<Message> {
    let bind: SocketAddr = if upstream.is_ipv4() { "0.0.0.0:0".parse().ok()? } else { "[::]:0".parse().ok()? };
    let socket = UdpSocket::bind(bind).await.ok()?;
    socket.connect(upstream).await.ok()?;
    let id: u16 = rand_id();
    let mut m = Message::new();
    m.set_id(id).set_message_type(MessageType::Query).set_op_code(OpCode::Query).set_recursion_desired(recursion_desired);
    m.add_query(query.clone());
    socket.send(&m.to_vec().ok()?).await.ok()?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = socket.recv(&mut buf).await.ok()?;
        // Ignore stray datagrams (wrong id or question): keep waiting within the timeout.
        if let Ok(reply) = Message::from_vec(&buf[..n]) {
            if reply.id() == id && reply.message_type() == MessageType::Response && reply.queries().first() == Some(query) {
                return Some(reply);
            }
        }
    }
}

fn rand_id() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.finish() as u16
}
