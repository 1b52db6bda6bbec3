//! Answers built from hand-made Services and EndpointSlices, asked through the request
//! handler with real DNS messages (hickory-proto), and a fuzz-style run of random and
//! truncated packets through both the handler and a live UDP server.

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinDecodable;
use hickory_server::authority::MessageRequest;
use hickory_proto::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::udp::Capture;
use crate::{zone_name, Handler, Index};

fn svc(name: &str, spec: serde_json::Value) -> Service {
    serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default"}, "spec": spec})).unwrap()
}

/// A slice of `svc` with (ip, hostname, ready) endpoints and an `http` TCP port 8080.
pub(crate) fn slice(name: &str, svc: &str, eps: &[(&str, Option<&str>, bool)]) -> EndpointSlice {
    let endpoints: Vec<_> = eps
        .iter()
        .map(|(ip, host, ready)| json!({"addresses": [ip], "hostname": host, "conditions": {"ready": ready, "serving": ready, "terminating": false}}))
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4", "endpoints": endpoints, "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
    }))
    .unwrap()
}

pub(crate) fn cluster() -> Arc<RwLock<Index>> {
    let mut ix = Index::new(zone_name("cluster.local").unwrap());
    ix.apply_service(&svc("kubia", json!({"clusterIP": "None", "selector": {"app": "kubia"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]})));
    ix.apply_slice(&slice("kubia-abc", "kubia", &[("10.244.1.2", Some("kubia-0"), true), ("10.244.2.2", Some("kubia-1"), true), ("10.244.1.3", Some("kubia-2"), false)]));
    ix.apply_slice(&slice("kubia-def", "kubia", &[("10.244.2.7", None, true)]));
    ix.apply_service(&svc("web", json!({"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"port": 81}]})));
    ix.apply_service(&svc("ext", json!({"type": "ExternalName", "externalName": "db.example.com"})));
    ix.apply_service(&svc("empty", json!({"clusterIP": "None", "selector": {"app": "none"}})));
    Arc::new(RwLock::new(ix))
}

pub(crate) fn handler(index: Arc<RwLock<Index>>, upstreams: Vec<SocketAddr>) -> Handler {
    Handler { index, ttl: 5, upstreams: Arc::new(upstreams), forward_timeout: Duration::from_millis(300) }
}

async fn raw(h: &Handler, bytes: &[u8]) -> Option<Vec<u8>> {
    let msg = MessageRequest::from_bytes(bytes).ok()?;
    if msg.message_type() == MessageType::Response {
        return None;
    }
    let req = Request::new(msg, "127.0.0.1:5353".parse().unwrap(), Protocol::Udp);
    let cap = Capture::default();
    h.handle_request(&req, cap.clone()).await;
    let out = cap.0.lock().unwrap().take();
    out
}

fn query_bytes(name: &str, t: RecordType) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(4242).set_message_type(MessageType::Query).set_op_code(OpCode::Query).set_recursion_desired(true);
    m.add_query(Query::query(Name::from_str(name).unwrap(), t));
    m.to_vec().unwrap()
}

async fn ask_with(h: &Handler, name: &str, t: RecordType) -> Message {
    let reply = raw(h, &query_bytes(name, t)).await.expect("a reply");
    Message::from_vec(&reply).unwrap()
}

async fn ask(name: &str, t: RecordType) -> Message {
    ask_with(&handler(cluster(), vec![]), name, t).await
}

fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    let mut v: Vec<Ipv4Addr> = m.answers().iter().filter_map(|r| if let RData::A(a) = r.data() { Some(a.0) } else { None }).collect();
    v.sort();
    v
}

#[tokio::test]
async fn headless_service_lists_ready_endpoints() {
    let m = ask("kubia.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.authoritative());
    assert_eq!(m.id(), 4242);
    let ips: Vec<Ipv4Addr> = ["10.244.1.2", "10.244.2.2", "10.244.2.7"].iter().map(|s| s.parse().unwrap()).collect();
    assert_eq!(a_records(&m), ips);
    assert!(m.answers().iter().all(|r| r.ttl() == 5));
}

#[tokio::test]
async fn per_pod_names_case_insensitively_and_only_when_ready() {
    let m = ask("KUBIA-1.Kubia.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(a_records(&m), ["10.244.2.2".parse::<Ipv4Addr>().unwrap()]);
    // Names compare case-insensitively.
    assert!(m.answers()[0].name().to_string().eq_ignore_ascii_case("KUBIA-1.Kubia.default.svc.cluster.local."));
    let m = ask("kubia-2.kubia.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(m.response_code(), ResponseCode::NXDomain);
    assert!(!m.name_servers().is_empty(), "negative answers carry the SOA");
    // No hostname: the dashed IP names the endpoint.
    let m = ask("10-244-2-7.kubia.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(a_records(&m), ["10.244.2.7".parse::<Ipv4Addr>().unwrap()]);
    // A name that exists, asked for another type: NODATA.
    let m = ask("kubia-0.kubia.default.svc.cluster.local.", RecordType::AAAA).await;
    assert_eq!((m.response_code(), m.answers().len()), (ResponseCode::NoError, 0));
}

#[tokio::test]
async fn srv_for_named_ports() {
    let m = ask("_http._tcp.kubia.default.svc.cluster.local.", RecordType::SRV).await;
    let mut targets: Vec<(u16, String)> = m
        .answers()
        .iter()
        .filter_map(|r| if let RData::SRV(s) = r.data() { Some((s.port(), s.target().to_string())) } else { None })
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        [
            (8080, "10-244-2-7.kubia.default.svc.cluster.local.".to_string()),
            (8080, "kubia-0.kubia.default.svc.cluster.local.".to_string()),
            (8080, "kubia-1.kubia.default.svc.cluster.local.".to_string())
        ]
    );
    assert_eq!(m.additionals().len(), 3, "the targets' A records ride along");
    let m = ask("_http._tcp.web.default.svc.cluster.local.", RecordType::SRV).await;
    match m.answers()[0].data() {
        RData::SRV(s) => assert_eq!((s.port(), s.target().to_string()), (80, "web.default.svc.cluster.local.".into())),
        other => panic!("{other:?}"),
    }
    let m = ask("_https._tcp.web.default.svc.cluster.local.", RecordType::SRV).await;
    assert_eq!(m.response_code(), ResponseCode::NXDomain);
}

#[tokio::test]
async fn srv_on_the_service_name_lists_every_endpoint() {
    let m = ask("kubia.default.svc.cluster.local.", RecordType::SRV).await;
    let mut targets: Vec<String> =
        m.answers().iter().filter_map(|r| if let RData::SRV(s) = r.data() { Some(s.target().to_string()) } else { None }).collect();
    targets.sort();
    assert_eq!(targets, ["10-244-2-7.kubia.default.svc.cluster.local.", "kubia-0.kubia.default.svc.cluster.local.", "kubia-1.kubia.default.svc.cluster.local."]);
    assert!(m.answers().iter().all(|r| r.record_type() == RecordType::SRV), "no A records in an SRV answer");
}

#[tokio::test]
async fn cluster_ip_external_name_pod_ptr_and_version() {
    assert_eq!(a_records(&ask("web.default.svc.cluster.local.", RecordType::A).await), ["10.96.0.10".parse::<Ipv4Addr>().unwrap()]);
    let m = ask("ext.default.svc.cluster.local.", RecordType::A).await;
    match m.answers()[0].data() {
        RData::CNAME(c) => assert_eq!(c.0.to_string(), "db.example.com."),
        other => panic!("{other:?}"),
    }
    assert_eq!(a_records(&ask("10-244-9-9.default.pod.cluster.local.", RecordType::A).await), ["10.244.9.9".parse::<Ipv4Addr>().unwrap()]);
    assert_eq!(ask("10-244-9.default.pod.cluster.local.", RecordType::A).await.response_code(), ResponseCode::NXDomain);
    let ptr = |m: &Message| m.answers().iter().filter_map(|r| if let RData::PTR(p) = r.data() { Some(p.0.to_string()) } else { None }).collect::<Vec<_>>();
    assert_eq!(ptr(&ask("2.2.244.10.in-addr.arpa.", RecordType::PTR).await), ["kubia-1.kubia.default.svc.cluster.local."]);
    assert_eq!(ptr(&ask("10.0.96.10.in-addr.arpa.", RecordType::PTR).await), ["web.default.svc.cluster.local."]);
    let m = ask("dns-version.cluster.local.", RecordType::TXT).await;
    match m.answers()[0].data() {
        RData::TXT(t) => assert_eq!(t.to_string(), "1.1.0"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn missing_names_and_empty_headless_services_are_nxdomain() {
    for name in ["nope.default.svc.cluster.local.", "empty.default.svc.cluster.local.", "a.b.c.d.e.f.cluster.local.", "nons.svc.cluster.local."] {
        assert_eq!(ask(name, RecordType::A).await.response_code(), ResponseCode::NXDomain, "{name}");
    }
    assert_eq!(ask("default.svc.cluster.local.", RecordType::A).await.response_code(), ResponseCode::NoError);
}

#[tokio::test]
async fn changes_show_in_the_next_answer() {
    let ix = cluster();
    let h = handler(ix.clone(), vec![]);
    ix.write().unwrap().apply_slice(&slice("kubia-abc", "kubia", &[("10.244.1.2", Some("kubia-0"), false)]));
    let m = ask_with(&h, "kubia.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(a_records(&m), ["10.244.2.7".parse::<Ipv4Addr>().unwrap()]);
    assert_eq!(ask_with(&h, "kubia-1.kubia.default.svc.cluster.local.", RecordType::A).await.response_code(), ResponseCode::NXDomain);
    assert!(ask_with(&h, "2.2.244.10.in-addr.arpa.", RecordType::PTR).await.answers().is_empty());
    let def = slice("kubia-def", "kubia", &[]);
    ix.write().unwrap().delete_slice(&def);
    assert_eq!(ask_with(&h, "kubia.default.svc.cluster.local.", RecordType::A).await.response_code(), ResponseCode::NXDomain);
    ix.write().unwrap().delete_service(&svc("web", json!({})));
    assert_eq!(ask_with(&h, "web.default.svc.cluster.local.", RecordType::A).await.response_code(), ResponseCode::NXDomain);
}

#[tokio::test]
async fn bad_requests_get_error_codes() {
    let h = handler(cluster(), vec![]);
    let mut m = Message::from_vec(&query_bytes("kubia.default.svc.cluster.local.", RecordType::A)).unwrap();
    m.set_op_code(OpCode::Status);
    let r = Message::from_vec(&raw(&h, &m.to_vec().unwrap()).await.unwrap()).unwrap();
    assert_eq!(r.response_code(), ResponseCode::NotImp);
    let mut two = Message::from_vec(&query_bytes("a.cluster.local.", RecordType::A)).unwrap();
    two.add_query(Query::query(Name::from_str("b.cluster.local.").unwrap(), RecordType::A));
    let r = Message::from_vec(&raw(&h, &two.to_vec().unwrap()).await.unwrap()).unwrap();
    assert_eq!(r.response_code(), ResponseCode::FormErr);
    let mut none = Message::from_vec(&query_bytes("a.cluster.local.", RecordType::A)).unwrap();
    none.take_queries();
    let r = Message::from_vec(&raw(&h, &none.to_vec().unwrap()).await.unwrap()).unwrap();
    assert_eq!(r.response_code(), ResponseCode::FormErr);
}

#[tokio::test]
async fn outside_names_are_forwarded_and_servfail_without_an_upstream() {
    // A fake upstream that answers every question with 192.0.2.1.
    let up = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let up_addr = up.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, from)) = up.recv_from(&mut buf).await else { return };
            let q = Message::from_vec(&buf[..n]).unwrap();
            let mut r = Message::new();
            r.set_id(q.id()).set_message_type(MessageType::Response).set_recursion_available(true);
            r.add_query(q.queries()[0].clone());
            r.add_answer(Record::from_rdata(q.queries()[0].name().clone(), 60, RData::A(hickory_proto::rr::rdata::A::new(192, 0, 2, 1))));
            up.send_to(&r.to_vec().unwrap(), from).await.unwrap();
        }
    });
    let h = handler(cluster(), vec![up_addr]);
    let m = ask_with(&h, "example.org.", RecordType::A).await;
    assert_eq!(a_records(&m), ["192.0.2.1".parse::<Ipv4Addr>().unwrap()]);
    assert!(!m.authoritative());
    // Reverse names the cluster does not own are forwarded too.
    assert_eq!(ask_with(&h, "1.2.0.192.in-addr.arpa.", RecordType::PTR).await.response_code(), ResponseCode::NoError);

    // An upstream that never answers, and none at all.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let h = handler(cluster(), vec![silent.local_addr().unwrap()]);
    assert_eq!(ask_with(&h, "example.org.", RecordType::A).await.response_code(), ResponseCode::ServFail);
    let h = handler(cluster(), vec![]);
    assert_eq!(ask_with(&h, "example.org.", RecordType::A).await.response_code(), ResponseCode::ServFail);
}

/// Random bytes, truncations and bit flips of valid queries: the handler answers or ignores
/// each, never panics.
#[tokio::test]
async fn fuzzed_packets_never_panic_the_handler() {
    let h = handler(cluster(), vec![]);
    let mut rng = rand::rngs::StdRng::seed_from_u64(6);
    let seeds: Vec<Vec<u8>> = [
        ("kubia.default.svc.cluster.local.", RecordType::A),
        ("_http._tcp.kubia.default.svc.cluster.local.", RecordType::SRV),
        ("2.2.244.10.in-addr.arpa.", RecordType::PTR),
        ("dns-version.cluster.local.", RecordType::TXT),
    ]
    .iter()
    .map(|(n, t)| query_bytes(n, *t))
    .collect();
    let mut answered = 0;
    for i in 0..20_000u32 {
        let seed = &seeds[i as usize % seeds.len()];
        let bytes: Vec<u8> = match i % 3 {
            0 => (0..rng.random_range(0..64)).map(|_| rng.random()).collect(),
            1 => seed[..rng.random_range(0..seed.len())].to_vec(),
            _ => {
                let mut b = seed.clone();
                for _ in 0..rng.random_range(1..4) {
                    let at = rng.random_range(0..b.len());
                    b[at] ^= 1 << rng.random_range(0..8);
                }
                b
            }
        };
        if raw(&h, &bytes).await.is_some() {
            answered += 1;
        }
    }
    assert!(answered > 1000, "mutated queries that still parse get answers ({answered})");
}

/// The same garbage at a live server over UDP; afterwards it still answers.
#[tokio::test]
async fn live_server_survives_garbage() {
    let (addr, task) = crate::serve("127.0.0.1:0".parse().unwrap(), handler(cluster(), vec![])).await.unwrap();
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let valid = query_bytes("kubia-0.kubia.default.svc.cluster.local.", RecordType::A);
    for i in 0..3000u32 {
        let bytes: Vec<u8> = if i % 2 == 0 {
            (0..rng.random_range(0..600)).map(|_| rng.random()).collect()
        } else {
            valid[..rng.random_range(0..valid.len())].to_vec()
        };
        sock.send_to(&bytes, addr).await.unwrap();
    }
    let mut buf = vec![0u8; 4096];
    // Drain whatever FORMERR replies came back, then ask properly.
    while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(50), sock.recv_from(&mut buf)).await {}
    sock.send_to(&valid, addr).await.unwrap();
    let reply = loop {
        let (n, _) = tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf)).await.expect("the server still answers").unwrap();
        let m = Message::from_vec(&buf[..n]).unwrap();
        if m.id() == 4242 && !m.answers().is_empty() {
            break m;
        }
    };
    assert_eq!(a_records(&reply), ["10.244.1.2".parse::<Ipv4Addr>().unwrap()]);
    task.abort();
}

#[tokio::test]
async fn retain_forgets_what_a_relist_no_longer_shows() {
    let ix = cluster();
    let h = handler(ix.clone(), vec![]);
    let services: std::collections::HashSet<(String, String)> =
        [("default", "kubia"), ("default", "web")].iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    let slices: std::collections::HashSet<(String, String)> = [("default".to_string(), "kubia-def".to_string())].into();
    ix.write().unwrap().retain(&services, &slices);
    assert_eq!(a_records(&ask_with(&h, "kubia.default.svc.cluster.local.", RecordType::A).await), ["10.244.2.7".parse::<Ipv4Addr>().unwrap()]);
    assert_eq!(ask_with(&h, "ext.default.svc.cluster.local.", RecordType::A).await.response_code(), ResponseCode::NXDomain);
    assert_eq!(a_records(&ask_with(&h, "web.default.svc.cluster.local.", RecordType::A).await), ["10.96.0.10".parse::<Ipv4Addr>().unwrap()]);
}
