//! The UDP path on a live server: cached answers keep the asker's ID and spelling, follow
//! index changes, truncate past the payload limit, and random datagrams never stop it.

use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use rand::{Rng, SeedableRng};

use super::*;
use crate::tests::{cluster, handler, slice};

fn q(id: u16, name: &str, t: RecordType, edns: bool) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(id).set_message_type(MessageType::Query).set_op_code(OpCode::Query).set_recursion_desired(true);
    m.add_query(Query::query(Name::from_str(name).unwrap(), t));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(4096);
        m.set_edns(e);
    }
    m.to_vec().unwrap()
}

async fn exchange(sock: &tokio::net::UdpSocket, addr: SocketAddr, bytes: &[u8]) -> Message {
    sock.send_to(bytes, addr).await.unwrap();
    let mut buf = vec![0u8; 65536];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf)).await.expect("a reply").unwrap();
    Message::from_vec(&buf[..n]).unwrap()
}

fn ips(m: &Message) -> Vec<Ipv4Addr> {
    let mut v: Vec<Ipv4Addr> = m.answers().iter().filter_map(|r| if let RData::A(a) = r.data() { Some(a.0) } else { None }).collect();
    v.sort();
    v
}

#[tokio::test]
async fn cached_answers_keep_id_and_spelling_and_follow_changes() {
    let ix = cluster();
    let (addr, task) = crate::serve("127.0.0.1:0".parse().unwrap(), handler(ix.clone(), vec![])).await.unwrap();
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let first = exchange(&sock, addr, &q(1, "kubia-0.kubia.default.svc.cluster.local.", RecordType::A, false)).await;
    // Spelled with capitals on the wire (hickory's encoder writes names in lower case).
    let mut mixed = q(2, "kubia-0.kubia.default.svc.cluster.local.", RecordType::A, false);
    mixed[13] = b'K';
    mixed[21] = b'K';
    let second = exchange(&sock, addr, &mixed).await;
    assert_eq!((first.id(), second.id()), (1, 2));
    assert_eq!(second.queries()[0].name().to_string(), "Kubia-0.Kubia.default.svc.cluster.local.");
    assert_eq!(ips(&first), ips(&second));
    assert!(second.authoritative());

    ix.write().unwrap().apply_slice(&slice("kubia-abc", "kubia", &[("10.244.1.99", Some("kubia-0"), true)]));
    let third = exchange(&sock, addr, &q(3, "kubia-0.kubia.default.svc.cluster.local.", RecordType::A, false)).await;
    assert_eq!(ips(&third), ["10.244.1.99".parse::<Ipv4Addr>().unwrap()]);
    let nx = exchange(&sock, addr, &q(4, "kubia-1.kubia.default.svc.cluster.local.", RecordType::A, false)).await;
    assert_eq!(nx.response_code(), ResponseCode::NXDomain);
    task.abort();
}

#[tokio::test]
async fn large_answers_truncate_without_edns_and_fit_with_it() {
    let ix = cluster();
    let many: Vec<(String, String)> = (0..30).map(|i| (format!("10.244.3.{i}"), format!("pod-{i}"))).collect();
    let eps: Vec<(&str, Option<&str>, bool)> = many.iter().map(|(ip, h)| (ip.as_str(), Some(h.as_str()), true)).collect();
    ix.write().unwrap().apply_slice(&slice("kubia-big", "kubia", &eps));
    let (addr, task) = crate::serve("127.0.0.1:0".parse().unwrap(), handler(ix, vec![])).await.unwrap();
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for _ in 0..2 {
        // Twice: once computed, once from the cache.
        let small = exchange(&sock, addr, &q(7, "_http._tcp.kubia.default.svc.cluster.local.", RecordType::SRV, false)).await;
        assert!(small.truncated() && small.answers().is_empty());
        let big = exchange(&sock, addr, &q(8, "_http._tcp.kubia.default.svc.cluster.local.", RecordType::SRV, true)).await;
        assert!(!big.truncated());
        assert_eq!(big.answers().len(), 33);
    }
    task.abort();
}

#[tokio::test]
async fn garbage_datagrams_get_formerr_or_nothing_and_the_server_keeps_answering() {
    let (addr, task) = crate::serve("127.0.0.1:0".parse().unwrap(), handler(cluster(), vec![])).await.unwrap();
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let valid = q(9, "kubia-0.kubia.default.svc.cluster.local.", RecordType::A, true);
    for i in 0..3000u32 {
        let bytes: Vec<u8> = match i % 3 {
            0 => (0..rng.random_range(0..600)).map(|_| rng.random()).collect(),
            1 => valid[..rng.random_range(0..valid.len())].to_vec(),
            _ => {
                let mut b = valid.clone();
                let at = rng.random_range(0..b.len());
                b[at] ^= 1 << rng.random_range(0..8);
                b
            }
        };
        sock.send_to(&bytes, addr).await.unwrap();
    }
    let mut buf = vec![0u8; 4096];
    while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(100), sock.recv_from(&mut buf)).await {}
    let m = exchange(&sock, addr, &valid).await;
    assert_eq!(ips(&m), ["10.244.1.2".parse::<Ipv4Addr>().unwrap()]);
    // A header-only query is a format error, answered with its ID.
    let m = exchange(&sock, addr, &[0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]).await;
    assert_eq!((m.id(), m.response_code()), (0x1234, ResponseCode::FormErr));
    task.abort();
}

#[test]
fn plain_parser_never_panics_and_accepts_only_plain_queries() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let valid = q(9, "kubia.default.svc.cluster.local.", RecordType::A, true);
    assert!(plain(&valid).is_some());
    assert!(plain(&q(9, "kubia.default.svc.cluster.local.", RecordType::A, false)).is_some());
    for _ in 0..100_000 {
        let mut b = valid[..rng.random_range(0..=valid.len())].to_vec();
        if rng.random_bool(0.5) && !b.is_empty() {
            let at = rng.random_range(0..b.len());
            b[at] = rng.random();
        }
        let _ = plain(&b);
    }
}
