//! `luksa/kubia-pet-peers`, the walkthrough's scale-out image ("Kubernetes in Action" §10.4):
//! `kubia-pet` that also discovers its peers. On `GET /data` it answers its own stored data;
//! on any other GET it answers `You've hit <hostname>`, then `Data stored in the cluster:` and
//! one `- <peer>: <data>` line per peer, where the peers are the targets of the SRV records of
//! its own service, each asked for `/data` on port 8080. POST stores data as `kubia-pet` does.
//!
//! The original app hard-codes `kubia.default.svc.cluster.local`; this one takes its service
//! from its own FQDN (the kubelet's /etc/hosts line `<ip> <hostname>.<subdomain>.<ns>.svc.<domain>`),
//! so any StatefulSet/service name works. Peers are listed sorted by name (the original
//! lists them in the order their answers arrive).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::path::Path;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use crate::http::{Request, Response};
use crate::kubia;

const PORT: u16 = 8080;
const TIMEOUT: Duration = Duration::from_secs(3);

/// The service domain (`<subdomain>.<ns>.svc.<domain>`) from an /etc/hosts text: the name
/// after the hostname's first label on the line whose name starts with `<hostname>.`.
pub fn service_domain(hosts: &str, hostname: &str) -> Option<String> {
    let prefix = format!("{hostname}.");
    hosts
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.split_whitespace().skip(1))
        .find_map(|name| name.strip_prefix(&prefix).filter(|rest| rest.contains('.')).map(|rest| rest.trim_end_matches('.').to_string()))
}

/// The first nameserver of a resolv.conf text.
pub fn nameserver(resolv: &str) -> Option<SocketAddr> {
    resolv.lines().find_map(|l| {
        let ip = l.trim().strip_prefix("nameserver")?.trim();
        ip.parse::<std::net::IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53))
    })
}

/// SRV targets of `name` from `server`, without the trailing dot, sorted and unique. UDP with
/// EDNS (4096-byte answers: SRV targets are never compressed, so a few peers with long names
/// pass 512 bytes), and TCP when the answer still comes back truncated.
pub fn srv_targets(server: SocketAddr, name: &str) -> Result<Vec<String>, String> {
    let mut qname = Name::from_ascii(name).map_err(|e| e.to_string())?;
    qname.set_fqdn(true);
    let mut msg = Message::new();
    msg.set_id(rand_id()).set_message_type(MessageType::Query).set_op_code(OpCode::Query).set_recursion_desired(true);
    msg.add_query(Query::query(qname, RecordType::SRV));
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    msg.set_edns(edns);
    let bytes = msg.to_vec().map_err(|e| e.to_string())?;
    let mut reply = None;
    for _attempt in 0..2 {
        match udp_exchange(server, &bytes, msg.id()) {
            Ok(r) => {
                reply = Some(r);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(e) => return Err(format!("Error: {e}")),
        }
    }
    let mut reply = reply.ok_or_else(|| format!("Error: querySrv ETIMEOUT {name}"))?;
    if reply.truncated() {
        reply = tcp_exchange(server, &bytes).map_err(|e| format!("Error: {e}"))?;
    }
    // Node's resolveSrv fails with the rcode's name (ENOTFOUND for NXDOMAIN).
    match reply.response_code() {
        ResponseCode::NoError => {}
        ResponseCode::NXDomain => return Err(format!("Error: querySrv ENOTFOUND {name}")),
        other => return Err(format!("Error: querySrv {other} {name}")),
    }
    let mut targets: Vec<String> = reply
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::SRV(s) => Some(s.target().to_string().trim_end_matches('.').to_string()),
            _ => None,
        })
        .collect();
    targets.sort();
    targets.dedup();
    Ok(targets)
}

fn udp_exchange(server: SocketAddr, query: &[u8], id: u16) -> std::io::Result<Message> {
    let bind: SocketAddr = if server.is_ipv4() { "0.0.0.0:0".parse().expect("addr") } else { "[::]:0".parse().expect("addr") };
    let sock = UdpSocket::bind(bind)?;
    sock.set_read_timeout(Some(Duration::from_secs(2)))?;
    sock.send_to(query, server)?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = sock.recv(&mut buf)?;
        match Message::from_vec(&buf[..n]) {
            Ok(m) if m.id() == id => return Ok(m),
            _ => continue,
        }
    }
}

fn tcp_exchange(server: SocketAddr, query: &[u8]) -> std::io::Result<Message> {
    let mut conn = TcpStream::connect_timeout(&server, TIMEOUT)?;
    conn.set_read_timeout(Some(TIMEOUT))?;
    conn.write_all(&(query.len() as u16).to_be_bytes())?;
    conn.write_all(query)?;
    let mut len = [0u8; 2];
    conn.read_exact(&mut len)?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    conn.read_exact(&mut buf)?;
    Message::from_vec(&buf).map_err(std::io::Error::other)
}

fn rand_id() -> u16 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    (t ^ std::process::id()) as u16
}

/// `GET http://<host>:8080/data`'s body, or `Error: <message>` as the original's httpGet.
pub fn fetch_data(host: &str) -> String {
    let get = || -> std::io::Result<String> {
        let addr = (host, PORT).to_socket_addrs()?.next().ok_or_else(|| std::io::Error::other(format!("getaddrinfo ENOTFOUND {host}")))?;
        let mut conn = TcpStream::connect_timeout(&addr, TIMEOUT)?;
        conn.set_read_timeout(Some(TIMEOUT))?;
        write!(conn, "GET /data HTTP/1.1\r\nHost: {host}:{PORT}\r\nConnection: close\r\n\r\n")?;
        let mut raw = Vec::new();
        conn.read_to_end(&mut raw)?;
        let text = String::from_utf8_lossy(&raw);
        Ok(text.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default())
    };
    get().unwrap_or_else(|e| format!("Error: {e}"))
}

/// The answer, with discovery and fetching injected (tests run without a cluster).
pub fn respond(
    req: &Request,
    data_file: &Path,
    hostname: &str,
    discover: impl FnOnce() -> Result<Vec<String>, String>,
    fetch: impl Fn(&str) -> String,
) -> Response {
    if req.method == "POST" {
        return kubia::respond(req, data_file, hostname);
    }
    if req.path == "/data" {
        let data = std::fs::read(data_file).map(|b| String::from_utf8_lossy(&b).into_owned());
        return Response { status: 200, body: data.unwrap_or_else(|_| "No data posted yet".into()).into_bytes() };
    }
    let mut body = format!("You've hit {hostname}\nData stored in the cluster:\n");
    match discover() {
        Err(e) => body.push_str(&format!("Could not look up DNS SRV records: {e}")),
        Ok(peers) if peers.is_empty() => body.push_str("No peers discovered."),
        Ok(peers) => {
            for p in peers {
                body.push_str(&format!("- {p}: {}\n", fetch(&p)));
            }
        }
    }
    Response { status: 200, body: body.into_bytes() }
}

/// Discovery inside a pod: own service from /etc/hosts, nameserver from /etc/resolv.conf.
fn discover(hostname: &str) -> Result<Vec<String>, String> {
    let hosts = std::fs::read_to_string("/etc/hosts").map_err(|e| format!("Error: /etc/hosts: {e}"))?;
    let service = service_domain(&hosts, hostname)
        .ok_or_else(|| format!("Error: {hostname} has no FQDN in /etc/hosts (the pod needs a subdomain: the StatefulSet's serviceName)"))?;
    let resolv = std::fs::read_to_string("/etc/resolv.conf").map_err(|e| format!("Error: /etc/resolv.conf: {e}"))?;
    let server = nameserver(&resolv).ok_or("Error: no nameserver in /etc/resolv.conf")?;
    srv_targets(server, &service)
}

fn handler(req: &Request) -> Response {
    let hostname = kubia::hostname();
    respond(req, Path::new(kubia::DATA_FILE), &hostname, || discover(&hostname), fetch_data)
}

/// Serve forever on `0.0.0.0:8080`.
pub fn serve() -> std::io::Result<()> {
    println!("Kubia server starting...");
    crate::http::serve(&format!("0.0.0.0:{PORT}"), handler)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str, body: &str) -> Request {
        Request { method: method.into(), path: path.into(), body: body.as_bytes().to_vec() }
    }

    #[test]
    fn finds_its_service_from_the_hosts_file() {
        let hosts = "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n10.250.1.2\tweb-0.kubia.default.svc.cluster.local\tweb-0\n";
        assert_eq!(service_domain(hosts, "web-0").as_deref(), Some("kubia.default.svc.cluster.local"));
        assert_eq!(service_domain("10.0.0.1\tsolo\n", "solo"), None);
        assert_eq!(nameserver("search x\nnameserver 10.96.0.10\noptions ndots:5\n"), Some("10.96.0.10:53".parse().unwrap()));
    }

    #[test]
    fn lists_every_peer_with_its_data_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("kubia.txt");
        let peers = || Ok(vec!["web-0.kubia.default.svc.cluster.local".to_string(), "web-1.kubia.default.svc.cluster.local".to_string()]);
        let fetch = |p: &str| if p.starts_with("web-0") { "Hey there".to_string() } else { "No data posted yet".to_string() };
        let r = respond(&req("GET", "/", ""), &f, "web-1", peers, fetch);
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            "You've hit web-1\nData stored in the cluster:\n- web-0.kubia.default.svc.cluster.local: Hey there\n- web-1.kubia.default.svc.cluster.local: No data posted yet\n"
        );
        let r = respond(&req("GET", "/", ""), &f, "web-1", || Ok(vec![]), fetch);
        assert_eq!(String::from_utf8(r.body).unwrap(), "You've hit web-1\nData stored in the cluster:\nNo peers discovered.");
        let r = respond(&req("GET", "/", ""), &f, "web-1", || Err("Error: querySrv ENOTFOUND x".into()), fetch);
        assert!(String::from_utf8(r.body).unwrap().ends_with("Could not look up DNS SRV records: Error: querySrv ENOTFOUND x"));
    }

    #[test]
    fn data_path_and_post() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("kubia.txt");
        let none = || -> Result<Vec<String>, String> { panic!("no discovery for /data") };
        assert_eq!(respond(&req("GET", "/data", ""), &f, "h", none, |_| String::new()).body, b"No data posted yet");
        let r = respond(&req("POST", "/", "stored"), &f, "h", none, |_| String::new());
        assert_eq!(String::from_utf8(r.body).unwrap(), "Data stored on pod h\n");
        assert_eq!(respond(&req("GET", "/data", ""), &f, "h", none, |_| String::new()).body, b"stored");
    }

    /// The SRV query against a real UDP responder.
    #[test]
    fn srv_query_over_udp() {
        use hickory_proto::rr::rdata::SRV;
        use hickory_proto::rr::Record;
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            let (n, from) = server.recv_from(&mut buf).unwrap();
            let q = Message::from_vec(&buf[..n]).unwrap();
            let mut reply = Message::new();
            reply.set_id(q.id()).set_message_type(MessageType::Response);
            let name = q.queries()[0].name().clone();
            for t in ["b.kubia.default.svc.cluster.local.", "a.kubia.default.svc.cluster.local."] {
                reply.add_answer(Record::from_rdata(name.clone(), 5, RData::SRV(SRV::new(0, 50, 8080, Name::from_ascii(t).unwrap()))));
            }
            server.send_to(&reply.to_vec().unwrap(), from).unwrap();
        });
        let t = srv_targets(addr, "kubia.default.svc.cluster.local").unwrap();
        assert_eq!(t, ["a.kubia.default.svc.cluster.local", "b.kubia.default.svc.cluster.local"]);
    }

    /// A truncated UDP answer is asked again over TCP.
    #[test]
    fn truncated_answers_go_to_tcp() {
        use hickory_proto::rr::rdata::SRV;
        use hickory_proto::rr::Record;
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = udp.local_addr().unwrap();
        let tcp = std::net::TcpListener::bind(addr).unwrap();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            let (n, from) = udp.recv_from(&mut buf).unwrap();
            let q = Message::from_vec(&buf[..n]).unwrap();
            assert!(q.extensions().is_some(), "the query carries EDNS");
            let mut reply = Message::new();
            reply.set_id(q.id()).set_message_type(MessageType::Response).set_truncated(true);
            udp.send_to(&reply.to_vec().unwrap(), from).unwrap();
            let (mut conn, _) = tcp.accept().unwrap();
            let mut len = [0u8; 2];
            conn.read_exact(&mut len).unwrap();
            let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
            conn.read_exact(&mut buf).unwrap();
            let q = Message::from_vec(&buf).unwrap();
            let mut reply = Message::new();
            reply.set_id(q.id()).set_message_type(MessageType::Response);
            let target = Name::from_ascii("web-0.web.default.svc.cluster.local.").unwrap();
            reply.add_answer(Record::from_rdata(q.queries()[0].name().clone(), 5, RData::SRV(SRV::new(0, 100, 8080, target))));
            let out = reply.to_vec().unwrap();
            conn.write_all(&(out.len() as u16).to_be_bytes()).unwrap();
            conn.write_all(&out).unwrap();
        });
        assert_eq!(srv_targets(addr, "web.default.svc.cluster.local").unwrap(), ["web-0.web.default.svc.cluster.local"]);
    }
}
