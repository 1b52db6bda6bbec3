//! Service networking end to end: `berth up --simulated-nodes 2`, the walkthrough's
//! StatefulSet behind a headless service named as its `serviceName` (with a named target
//! port), then real DNS packets to berth's cluster DNS and `kubectl get endpoints,endpointslices`.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use crate::harness::{eventually, rows, Cluster};
use crate::manifests;

/// The walkthrough's headless service, named like the StatefulSet's `serviceName` so its pods
/// get per-pod names, with a named target port for SRV.
const PEERS: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: statefulset-kubia-v1
spec:
  clusterIP: None
  selector:
    app: statefulset-kubia
  ports:
    - name: http
      port: 80
      targetPort: http
"#;

const ZONE: &str = "default.svc.cluster.local.";

fn dns_addr(c: &Cluster) -> SocketAddr {
    let text = std::fs::read_to_string(c.dir.path().join("dns-addr")).expect("berth up writes dns-addr");
    text.trim().parse().expect("dns-addr holds an address")
}

/// One UDP question; the parsed reply.
fn query(server: SocketAddr, name: &str, t: RecordType) -> Message {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut m = Message::new();
    m.set_id(0x6b75).set_message_type(MessageType::Query).set_op_code(OpCode::Query).set_recursion_desired(true);
    m.add_query(Query::query(Name::from_str(name).unwrap(), t));
    sock.send_to(&m.to_vec().unwrap(), server).unwrap();
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).expect("a DNS reply");
    let reply = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(reply.id(), 0x6b75);
    reply
}

fn a(server: SocketAddr, name: &str) -> Vec<Ipv4Addr> {
    let mut v: Vec<Ipv4Addr> =
        query(server, name, RecordType::A).answers().iter().filter_map(|r| if let RData::A(a) = r.data() { Some(a.0) } else { None }).collect();
    v.sort();
    v
}

fn srv_targets(server: SocketAddr, name: &str) -> Vec<(u16, String)> {
    let mut v: Vec<(u16, String)> = query(server, name, RecordType::SRV)
        .answers()
        .iter()
        .filter_map(|r| if let RData::SRV(s) = r.data() { Some((s.port(), s.target().to_string())) } else { None })
        .collect();
    v.sort();
    v
}

fn pod_ip(c: &Cluster, pod: &str) -> Ipv4Addr {
    c.json(&["get", "pod", pod])["status"]["podIP"].as_str().expect("pod has an IP").parse().unwrap()
}

#[test]
fn headless_statefulset_resolves_through_cluster_dns() {
    let c = Cluster::start_with(&["--simulated-nodes", "2"]);
    let dns = dns_addr(&c);
    for (name, yaml) in [("pv.yaml", manifests::PV_LIST.to_string()), ("svc.yaml", PEERS.to_string()), ("sts.yaml", manifests::statefulset("luksa/kubia-pet"))] {
        let f = c.manifest(name, &yaml);
        c.ok(&["apply", "-f", &f]);
    }
    let svc = format!("statefulset-kubia-v1.{ZONE}");
    // No ready endpoint yet (or soon only some): the name is NXDOMAIN until the first is Ready.
    assert!(eventually(Duration::from_secs(60), || a(dns, &svc).len() == 3), "three ready pods behind {svc}");

    let ips: Vec<Ipv4Addr> = (0..3).map(|i| pod_ip(&c, &format!("statefulset-kubia-v1-{i}"))).collect();
    for (i, ip) in ips.iter().enumerate() {
        assert_eq!(a(dns, &format!("statefulset-kubia-v1-{i}.{svc}")), [*ip], "per-pod name of ordinal {i}");
    }
    let mut sorted = ips.clone();
    sorted.sort();
    assert_eq!(a(dns, &svc), sorted);
    let want: Vec<(u16, String)> = (0..3).map(|i| (8080, format!("statefulset-kubia-v1-{i}.{svc}"))).collect();
    assert_eq!(srv_targets(dns, &format!("_http._tcp.{svc}")), want);
    assert_eq!(query(dns, &format!("nope.{svc}"), RecordType::A).response_code(), ResponseCode::NXDomain);
    // The pod's IP reverses to its stable name.
    let o = ips[1].octets();
    let ptr = query(dns, &format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0]), RecordType::PTR);
    assert!(matches!(ptr.answers()[0].data(), RData::PTR(p) if p.0.to_string() == format!("statefulset-kubia-v1-1.{svc}")));

    // kubectl's views of the same endpoints.
    let out = c.ok(&["get", "endpoints", "statefulset-kubia-v1"]);
    let r = rows(&out);
    assert_eq!(r[0], ["NAME", "ENDPOINTS", "AGE"]);
    assert_eq!(r[1].len(), 3, "three addresses fit the column without `+ N more...`: {out}");
    assert_eq!(r[1][1].matches(":8080").count(), 3, "{out}");
    let out = c.ok(&["get", "endpointslices", "-l", "kubernetes.io/service-name=statefulset-kubia-v1"]);
    let r = rows(&out);
    assert_eq!(r[0], ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]);
    assert_eq!(r.len(), 2, "one slice: {out}");
    assert!(r[1][0].starts_with("statefulset-kubia-v1-"), "{out}");
    assert_eq!((r[1][1].as_str(), r[1][2].as_str()), ("IPv4", "8080"), "{out}");
    assert_eq!(r[1][3].matches("10.244.").count(), 3, "{out}");
    let slice = &c.json(&["get", "endpointslices", "-l", "kubernetes.io/service-name=statefulset-kubia-v1"])["items"][0];
    assert_eq!(slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"], "endpointslice-controller.k8s.io");
    assert_eq!(slice["metadata"]["labels"]["service.kubernetes.io/headless"], "");
    assert_eq!(slice["metadata"]["ownerReferences"][0]["kind"], "Service");
    let out = c.ok(&["get", "endpoints,endpointslices"]);
    assert!(out.contains("endpoints/statefulset-kubia-v1") && out.contains("endpointslice.discovery.k8s.io/statefulset-kubia-v1-"), "{out}");

    // A pod turned unready leaves the A and SRV answers and moves to notReadyAddresses.
    c.ok(&["annotate", "pod", "statefulset-kubia-v1-1", "sim.berth.dev/ready=false"]);
    assert!(eventually(Duration::from_secs(20), || !a(dns, &svc).contains(&ips[1])), "unready pod still answered");
    assert_eq!(a(dns, &svc).len(), 2);
    assert_eq!(query(dns, &format!("statefulset-kubia-v1-1.{svc}"), RecordType::A).response_code(), ResponseCode::NXDomain);
    assert_eq!(srv_targets(dns, &format!("_http._tcp.{svc}")).len(), 2);
    let ep = c.json(&["get", "endpoints", "statefulset-kubia-v1"]);
    assert_eq!(ep["subsets"][0]["notReadyAddresses"][0]["hostname"], "statefulset-kubia-v1-1");
    let slice = &c.json(&["get", "endpointslices", "-l", "kubernetes.io/service-name=statefulset-kubia-v1"])["items"][0];
    let unready: Vec<&serde_json::Value> = slice["endpoints"].as_array().unwrap().iter().filter(|e| e["conditions"]["ready"] == false).collect();
    assert_eq!(unready.len(), 1);
    assert_eq!(unready[0]["hostname"], "statefulset-kubia-v1-1");

    // Deleting a pod: its replacement's IP answers once it is Ready again.
    c.ok(&["annotate", "pod", "statefulset-kubia-v1-1", "sim.berth.dev/ready=true", "--overwrite"]);
    c.ok(&["delete", "pod", "statefulset-kubia-v1-0", "--wait=false", "--grace-period=1"]);
    assert!(
        eventually(Duration::from_secs(40), || {
            let o = c.kubectl(&["get", "pod", "statefulset-kubia-v1-0", "-o", "jsonpath={.metadata.deletionTimestamp}|{.status.podIP}|{.status.conditions[?(@.type==\"Ready\")].status}"]);
            let s = String::from_utf8_lossy(&o.stdout).to_string();
            let parts: Vec<&str> = s.split('|').collect();
            parts.len() == 3 && parts[0].is_empty() && parts[2] == "True" && a(dns, &format!("statefulset-kubia-v1-0.{svc}")) == [parts[1].parse::<Ipv4Addr>().unwrap()]
        }),
        "the replacement pod's name resolves to its IP"
    );
    assert!(eventually(Duration::from_secs(20), || a(dns, &svc).len() == 3));

    assert_eq!(query(dns, "dns-version.cluster.local.", RecordType::TXT).answers().len(), 1);
}
