//! Service networking for pods on real nodes (`berth up --nodes 2`): the cluster DNS on the
//! kube-dns Service IP (pods' resolv.conf, short names through the search path), ClusterIP
//! services through the nftables proxy from the host and from pods (ready endpoints only),
//! and `luksa/kubia-pet-peers` listing its peers' data. Needs root, iproute2 and nft.

use std::io::{Read, Write};
use std::time::Duration;

use crate::harness::{eventually, Cluster};
use crate::manifests;

const CIDR: &str = "10.250.0.0/16";
/// This cluster's own DNS IP, so it never meets another test cluster's.
const DNS_IP: &str = "10.96.250.10";
const STS: &str = "statefulset-kubia-v1";

fn can_run() -> bool {
    let root = std::process::Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false);
    let ip = std::process::Command::new("ip").arg("-V").output().is_ok();
    let nft = std::process::Command::new("nft").args(["list", "tables"]).output().map(|o| o.status.success()).unwrap_or(false);
    if !(root && ip && nft) {
        eprintln!("SKIPPED: service networking tests need root, iproute2 and nftables (root: {root}, ip: {ip}, nft: {nft})");
    }
    root && ip && nft
}

/// `berth up` stopped with SIGTERM even when the test fails, so it removes what it set up.
struct Teardown(Cluster);

impl Drop for Teardown {
    fn drop(&mut self) {
        self.0.stop();
    }
}

impl std::ops::Deref for Teardown {
    type Target = Cluster;
    fn deref(&self) -> &Cluster {
        &self.0
    }
}

fn http(addr: &str, method: &str, body: &str) -> Result<String, String> {
    let sock: std::net::SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let mut s = std::net::TcpStream::connect_timeout(&sock, Duration::from_secs(3)).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "{method} / HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    Ok(out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

/// The cluster id `berth up` derives from its data dir (FNV-1a, as crates/berth/src/svcnet.rs).
fn cluster_id(c: &Cluster) -> String {
    let mut h: u32 = 0x811c9dc5;
    for b in c.dir.path().to_string_lossy().bytes() {
        h = (h ^ b as u32).wrapping_mul(0x01000193);
    }
    format!("{h:08x}")
}

fn nft_table(c: &Cluster) -> Option<String> {
    let out = std::process::Command::new("nft").args(["list", "table", "ip", &format!("berth-{}", cluster_id(c))]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn link_exists(c: &Cluster) -> bool {
    std::process::Command::new("ip").args(["link", "show", &format!("bdns{}", cluster_id(c))]).output().map(|o| o.status.success()).unwrap_or(false)
}

fn pvs(dir: &std::path::Path) -> String {
    let mut out = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for i in 1..=4 {
        out.push_str(&format!(
            "  - apiVersion: v1\n    kind: PersistentVolume\n    metadata:\n      name: pv-{i}\n    spec:\n      capacity:\n        storage: 1Gi\n      accessModes:\n        - ReadWriteOnce\n      persistentVolumeReclaimPolicy: Recycle\n      storageClassName: nfs\n      hostPath:\n        path: {}\n",
            dir.join(format!("pv-{i}")).display()
        ));
    }
    out
}

/// The walkthrough's StatefulSet with a readiness probe a test can fail on purpose (the file
/// `/var/data/unready`).
fn statefulset(image: &str) -> String {
    manifests::statefulset(image).replace(
        "        volumeMounts:\n",
        "        readinessProbe:\n          exec:\n            command: [sh, -c, \"test ! -e /var/data/unready\"]\n          periodSeconds: 1\n          failureThreshold: 1\n        volumeMounts:\n",
    )
}

const SERVICES: &str = r#"apiVersion: v1
kind: List
items:
  - apiVersion: v1
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
          targetPort: 8080
  - apiVersion: v1
    kind: Service
    metadata:
      name: kubia-public
    spec:
      selector:
        app: statefulset-kubia
      ports:
        - name: http
          port: 80
          targetPort: 8080
"#;

fn pod_ip(c: &Cluster, pod: &str) -> String {
    c.json(&["get", "pod", pod])["status"]["podIP"].as_str().unwrap_or_default().to_string()
}

fn ready(c: &Cluster, pod: &str) -> bool {
    let p = c.json(&["get", "pods"]);
    p["items"].as_array().unwrap().iter().any(|p| {
        p["metadata"]["name"] == pod
            && p["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
    })
}

#[test]
fn cluster_dns_cluster_ips_and_peers_on_real_nodes() {
    if !can_run() {
        return;
    }
    let mut c = Teardown(Cluster::start_with(&["--nodes", "2", "--cluster-cidr", CIDR, "--cluster-dns-ip", DNS_IP]));
    let svc = c.json(&["get", "service", "kube-dns", "-n", "kube-system"]);
    assert_eq!(svc["spec"]["clusterIP"], DNS_IP);
    assert_eq!(svc["spec"]["ports"][0]["name"], "dns");
    assert_eq!(svc["spec"]["ports"][1]["name"], "dns-tcp");

    let pv_dir = c.dir.path().join("pvs");
    c.ok(&["apply", "-f", &c.manifest("pvs.yaml", &pvs(&pv_dir))]);
    c.ok(&["apply", "-f", &c.manifest("svc.yaml", SERVICES)]);
    c.ok(&["apply", "-f", &c.manifest("sts.yaml", &statefulset("luksa/kubia-pet"))]);
    c.ok(&["run", "client", "--image=busybox", "--", "sleep", "3600"]);
    for p in ["statefulset-kubia-v1-0", "statefulset-kubia-v1-1", "statefulset-kubia-v1-2", "client"] {
        assert!(eventually(Duration::from_secs(90), || ready(&c, p)), "{p} not Ready: {}", c.ok(&["get", "pods", "-o", "wide"]));
    }

    // Pods use the cluster DNS with the search path; short names resolve through it.
    let resolv = c.ok(&["exec", "statefulset-kubia-v1-0", "--", "cat", "/etc/resolv.conf"]);
    assert!(resolv.starts_with("search default.svc.cluster.local svc.cluster.local cluster.local"), "{resolv}");
    assert!(resolv.contains(&format!("nameserver {DNS_IP}\n")) && resolv.contains("options ndots:5"), "{resolv}");
    let ip1 = pod_ip(&c, "statefulset-kubia-v1-1");
    let hosts = c.ok(&["exec", "statefulset-kubia-v1-0", "--", "getent", "hosts", &format!("{STS}-1.{STS}")]);
    assert_eq!(hosts.split_whitespace().collect::<Vec<_>>(), [ip1.as_str(), "statefulset-kubia-v1-1.statefulset-kubia-v1.default.svc.cluster.local"]);

    // The ClusterIP answers from the host and from a pod (by name), spread over the endpoints.
    let cluster_ip = c.json(&["get", "service", "kubia-public"])["spec"]["clusterIP"].as_str().unwrap().to_string();
    let target = format!("{cluster_ip}:80");
    let mut seen = std::collections::BTreeSet::new();
    assert!(eventually(Duration::from_secs(30), || {
        if let Ok(b) = http(&target, "GET", "") {
            seen.extend(b.lines().next().and_then(|l| l.strip_prefix("You've hit ")).map(str::to_string));
        }
        seen.len() == 3
    }), "from the host, answers came from {seen:?} only");
    let from_pod = c.ok(&["exec", "client", "--", "wget", "-qO-", "-T", "5", "http://kubia-public/"]);
    assert!(from_pod.starts_with("You've hit statefulset-kubia-v1-"), "{from_pod}");
    // Hairpin: a pod reaches itself through the ClusterIP (the endpoint picked is random).
    let mut hairpin = 0;
    let me = format!("You've hit {STS}-0\n");
    assert!(
        eventually(Duration::from_secs(60), || {
            let out = c.kubectl(&["exec", &format!("{STS}-0"), "--", "wget", "-qO-", "-T", "3", &format!("http://{cluster_ip}/")]);
            hairpin += 1;
            String::from_utf8_lossy(&out.stdout).starts_with(&me)
        }),
        "{STS}-0 never reached itself through {cluster_ip} in {hairpin} tries"
    );

    // An unready pod gets no traffic.
    let ip2 = pod_ip(&c, "statefulset-kubia-v1-2");
    c.ok(&["exec", "statefulset-kubia-v1-2", "--", "touch", "/var/data/unready"]);
    assert!(eventually(Duration::from_secs(30), || !ready(&c, "statefulset-kubia-v1-2")));
    assert!(eventually(Duration::from_secs(10), || nft_table(&c).is_some_and(|t| !t.contains(&format!("dnat to {ip2}:")))));
    for _ in 0..20 {
        let b = http(&target, "GET", "").expect("the service answers through its ready pods");
        assert!(!b.starts_with("You've hit statefulset-kubia-v1-2\n"), "an unready pod answered: {b}");
    }
    for _ in 0..5 {
        let b = c.ok(&["exec", "client", "--", "wget", "-qO-", "-T", "5", &format!("http://{cluster_ip}/")]);
        assert!(!b.starts_with("You've hit statefulset-kubia-v1-2\n"), "an unready pod answered: {b}");
    }
    c.ok(&["exec", "statefulset-kubia-v1-2", "--", "rm", "/var/data/unready"]);
    assert!(eventually(Duration::from_secs(30), || ready(&c, "statefulset-kubia-v1-2")));

    // Each pod stores its own data; then the walkthrough's image change with 4 replicas.
    for i in 0..3 {
        let ip = pod_ip(&c, &format!("{STS}-{i}"));
        assert_eq!(http(&format!("{ip}:8080"), "POST", &format!("data of {i}")).unwrap(), format!("Data stored on pod {STS}-{i}\n"));
    }
    c.ok(&["set", "image", &format!("statefulset/{STS}"), "statefulset-kubia=luksa/kubia-pet-peers"]);
    c.ok(&["scale", &format!("statefulset/{STS}"), "--replicas=4"]);
    let expected = |host: &str| {
        let mut s = format!("You've hit {host}\nData stored in the cluster:\n");
        for (i, data) in ["data of 0", "data of 1", "data of 2", "No data posted yet"].iter().enumerate() {
            s.push_str(&format!("- {STS}-{i}.{STS}.default.svc.cluster.local: {data}\n"));
        }
        s
    };
    let mut last = String::new();
    assert!(
        eventually(Duration::from_secs(120), || {
            let sts = c.json(&["get", "statefulset", STS]);
            if sts["status"]["updatedReplicas"] != 4 || sts["status"]["readyReplicas"] != 4 {
                return false;
            }
            let ip = pod_ip(&c, &format!("{STS}-3"));
            last = http(&format!("{ip}:8080"), "GET", "").unwrap_or_default();
            last == expected(&format!("{STS}-3"))
        }),
        "peers answer: {last}"
    );
    let ip0 = pod_ip(&c, &format!("{STS}-0"));
    assert_eq!(http(&format!("{ip0}:8080"), "GET", "").unwrap(), expected(&format!("{STS}-0")));

    // Nothing outlives `berth up`.
    assert!(nft_table(&c).is_some() && link_exists(&c));
    assert!(c.0.stop(), "berth up exits cleanly");
    assert!(nft_table(&c).is_none(), "the nft table is left behind");
    assert!(!link_exists(&c), "the DNS link is left behind");
}
