//! Node agents on other hosts (`berth node --server … --node-ip … --pod-routes
//! --cluster-cidr …`): two simulated hosts (network namespaces on a test LAN, see
//! [`crate::netns_hosts`]) join a `berth up` listening on the LAN; the walkthrough's
//! StatefulSet runs with a pod on each host; a pod on host A reaches the pod on host B by IP
//! and by its per-pod DNS name (cluster DNS on the server host, through the masquerade), B
//! sees A's pod IP (no NAT between pods), and `kubectl logs`/`exec` reach B's kubelet API
//! over the LAN with its self-signed serving certificate. Needs root, iproute2 and nft.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use crate::harness::{eventually, Cluster};
use crate::netns_hosts::{NetnsHosts, NodeAgent};
use crate::manifests;

/// This test's own ranges: no other test uses them.
const LAN: &str = "10.254.0.0/24";
const CLUSTER_CIDR: &str = "10.243.0.0/16";
const STS: &str = "statefulset-kubia-v1";

pub(crate) fn can_run() -> bool {
    let root = std::process::Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false);
    let ip = std::process::Command::new("ip").arg("-V").output().is_ok();
    let nft = std::process::Command::new("nft").args(["list", "tables"]).output().map(|o| o.status.success()).unwrap_or(false);
    if !(root && ip && nft) {
        eprintln!("SKIPPED: multi-host tests need root, iproute2 and nftables (root: {root}, ip: {ip}, nft: {nft})");
    }
    root && ip && nft
}


/// The walkthrough's headless Service, named as the set's `serviceName` so pods get per-pod
/// DNS names.
pub(crate) const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: statefulset-kubia-v1\nspec:\n  clusterIP: None\n  selector:\n    app: statefulset-kubia\n  ports:\n    - name: http\n      port: 80\n      targetPort: 8080\n";

/// A ClusterIP Service over the set (each host's `berth node --proxy` programs it).
const PUBLIC: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: kubia-public\nspec:\n  selector:\n    app: statefulset-kubia\n  ports:\n    - name: http\n      port: 80\n      targetPort: 8080\n";

/// A Node object for a host that runs no agent: its pod CIDR must be routed, then unrouted
/// when the Node goes.
const HOST_C: &str = "apiVersion: v1\nkind: Node\nmetadata:\n  name: host-c\nspec:\n  podCIDR: 10.243.3.0/24\n  taints:\n    - key: example.com/no-agent\n      effect: NoSchedule\n";

/// Two hostPath PVs of the walkthrough's class (the walkthrough's NFS server does not exist here).
pub(crate) fn pvs(dir: &std::path::Path) -> String {
    let mut out = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for i in 1..=2 {
        out.push_str(&format!(
            "  - apiVersion: v1\n    kind: PersistentVolume\n    metadata:\n      name: pv-{i}\n    spec:\n      capacity:\n        storage: 1Gi\n      accessModes:\n        - ReadWriteOnce\n      persistentVolumeReclaimPolicy: Recycle\n      storageClassName: nfs\n      hostPath:\n        path: {}\n",
            dir.join(format!("pv-{i}")).display()
        ));
    }
    out
}

/// The walkthrough's StatefulSet with 2 replicas that may not share a host.
pub(crate) fn statefulset() -> String {
    manifests::statefulset("luksa/kubia-pet").replace("replicas: 3", "replicas: 2").replace(
        "    spec:\n      containers:\n",
        "    spec:\n      affinity:\n        podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n            - labelSelector:\n                matchLabels:\n                  app: statefulset-kubia\n              topologyKey: kubernetes.io/hostname\n      containers:\n",
    )
}

/// `berth up` stopped with SIGTERM even when the test fails; dropped after the agents.
pub(crate) struct Teardown(pub Cluster);

impl Drop for Teardown {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Wait (up to 2 minutes) for a Ready pod on `node`: its name and IP.
pub(crate) fn wait_running_on(c: &Cluster, node: &str) -> (String, String) {
    let mut found = None;
    let ok = eventually(Duration::from_secs(120), || {
        found = running_on(c, node);
        found.is_some()
    });
    assert!(ok, "no Ready pod on {node}: {}", c.ok(&["get", "pods,nodes", "-o", "wide"]));
    found.expect("checked above")
}

pub(crate) fn running_on(c: &Cluster, node: &str) -> Option<(String, String)> {
    let pods = c.json(&["get", "pods"]);
    pods["items"].as_array()?.iter().find_map(|p| {
        let ready = p["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
        (p["spec"]["nodeName"] == node && ready)
            .then(|| (p["metadata"]["name"].as_str().unwrap_or_default().to_string(), p["status"]["podIP"].as_str().unwrap_or_default().to_string()))
    })
}

#[test]
fn statefulset_pods_on_two_hosts_reach_each_other() {
    if !can_run() {
        return;
    }
    // Declared in this order so they drop in reverse: agents, then `berth up`, then the hosts.
    let hosts = NetnsHosts::create("bhg", LAN, 2);
    let gw = hosts.gateway.to_string();
    // `--pod-routes` on the server host too: the API server reaches pods on both hosts.
    let c = Teardown(Cluster::start_listening(&gw, &["--cluster-dns", &format!("{gw}:53"), "--pod-routes"]));
    let c = &c.0;
    // What the agents' network parts read beyond a kubelet's rights (all Nodes, Services,
    // EndpointSlices): upstream's kube-proxy role, granted to the nodes explicitly.
    c.ok(&["create", "clusterrolebinding", "berth:node-proxier", "--clusterrole=system:node-proxier", "--group=system:nodes"]);
    let server = format!("https://{gw}:{}", c.port);
    let data = c.dir.path();
    let flags = ["--cluster-dns", &gw, "--cluster-cidr", CLUSTER_CIDR, "--pod-routes", "--proxy"];
    let _a = NodeAgent::start(&hosts, 0, "host-a", data, &server, "10.243.1.0/24", &flags);
    let _b = NodeAgent::start(&hosts, 1, "host-b", data, &server, "10.243.2.0/24", &flags);

    // Each node publishes its LAN address; each host routes the other's pod CIDR there.
    for (node, ip) in [("host-a", "10.254.0.2"), ("host-b", "10.254.0.3")] {
        assert!(
            eventually(Duration::from_secs(60), || {
                let out = c.kubectl(&["get", "node", node, "-o", "jsonpath={.status.addresses[?(@.type==\"InternalIP\")].address}"]);
                String::from_utf8_lossy(&out.stdout) == ip
            }),
            "node {node} with InternalIP {ip}: {}",
            c.ok(&["get", "nodes", "-o", "wide"])
        );
    }
    for (i, route) in [(0, "10.243.2.0/24 via 10.254.0.3 "), (1, "10.243.1.0/24 via 10.254.0.2 ")] {
        assert!(
            eventually(Duration::from_secs(30), || hosts.output(i, &["ip", "route", "show", "proto", "236"]).contains(route)),
            "host {i} lacks {route:?}: {}",
            hosts.output(i, &["ip", "route"])
        );
    }

    // A Node appearing with a pod CIDR is routed; its deletion removes exactly that route.
    c.ok(&["apply", "-f", &c.manifest("host-c.yaml", HOST_C)]);
    c.ok(&["patch", "node", "host-c", "--subresource=status", "--type=merge", "-p", r#"{"status":{"addresses":[{"type":"InternalIP","address":"10.254.0.4"}]}}"#]);
    let host_c_route = "10.243.3.0/24 via 10.254.0.4 ";
    assert!(eventually(Duration::from_secs(30), || hosts.output(0, &["ip", "route", "show", "proto", "236"]).contains(host_c_route)));
    c.ok(&["delete", "node", "host-c"]);
    assert!(eventually(Duration::from_secs(30), || !hosts.output(0, &["ip", "route", "show", "proto", "236"]).contains(host_c_route)));
    assert!(hosts.output(0, &["ip", "route", "show", "proto", "236"]).contains("10.243.2.0/24 via 10.254.0.3 "));

    c.ok(&["apply", "-f", &c.manifest("pvs.yaml", &pvs(&data.join("pvs")))]);
    c.ok(&["apply", "-f", &c.manifest("svc.yaml", SERVICE)]);
    c.ok(&["apply", "-f", &c.manifest("public.yaml", PUBLIC)]);
    c.ok(&["apply", "-f", &c.manifest("sts.yaml", &statefulset())]);
    let (pod_a, ip_a) = wait_running_on(c, "host-a");
    let (pod_b, ip_b) = wait_running_on(c, "host-b");
    assert!(ip_a.starts_with("10.243.1.") && ip_b.starts_with("10.243.2."), "{ip_a} {ip_b}");

    // A → B by pod IP, and by B's per-pod DNS name (the cluster DNS is on the server host).
    let expected = format!("You've hit {pod_b}\n");
    let by_ip = c.ok(&["exec", &pod_a, "--", "wget", "-qO-", "-T", "5", &format!("http://{ip_b}:8080/")]);
    assert!(by_ip.starts_with(&expected), "{by_ip}");
    let fqdn = format!("{pod_b}.{STS}.default.svc.cluster.local");
    let by_name = c.ok(&["exec", &pod_a, "--", "wget", "-qO-", "-T", "5", &format!("http://{fqdn}:8080/")]);
    assert!(by_name.starts_with(&expected), "{by_name}");

    // The ClusterIP from host A's pod, through host A's proxy, to the endpoint on host B.
    assert!(
        eventually(Duration::from_secs(30), || {
            let out = c.kubectl(&["exec", &pod_a, "--", "wget", "-qO-", "-T", "3", "http://kubia-public/"]);
            String::from_utf8_lossy(&out.stdout).starts_with(&expected)
        }),
        "kubia-public never answered from {pod_b}"
    );

    // No NAT between pods: B sees A's pod IP as the source (a one-shot listener in B's pod).
    let mut listener = c_kubectl_spawn(
        c,
        &["exec", &pod_b, "--", "perl", "-MIO::Socket::INET", "-e", "my $s = IO::Socket::INET->new(LocalPort => 9000, Listen => 1, ReuseAddr => 1) or die $!; print \"listening\\n\"; STDOUT->flush; my $c = $s->accept; print $c->peerhost, \"\\n\";"],
    );
    let mut lines = BufReader::new(listener.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("listening"));
    let connect = format!("IO::Socket::INET->new(PeerAddr => '{ip_b}:9000', Timeout => 5) or die $!");
    c.ok(&["exec", &pod_a, "--", "perl", "-MIO::Socket::INET", "-e", &connect]);
    assert_eq!(lines.next().and_then(Result::ok), Some(ip_a.clone()), "the pod on host B saw another source than A's pod IP");
    let _ = listener.wait();

    // logs and exec of B's pod through B's kubelet API on the LAN (self-signed serving cert).
    let logs = c.ok(&["logs", &pod_b]);
    assert!(logs.contains("Kubia server starting..."), "{logs}");
    assert_eq!(c.ok(&["exec", &pod_b, "--", "cat", "/etc/hostname"]).trim(), pod_b);
    // The walkthrough's `kubectl proxy` step: the API server proxies to B's pod through its
    // host-gw route.
    let proxied = c.ok(&["get", "--raw", &format!("/api/v1/namespaces/default/pods/{pod_b}/proxy/")]);
    assert!(proxied.starts_with(&expected), "{proxied}");
    let host_ip = c.json(&["get", "pod", &pod_b])["status"]["hostIP"].as_str().unwrap_or_default().to_string();
    assert_eq!(host_ip, "10.254.0.3");
    eprintln!("multi_host: {pod_a} ({ip_a}) on host-a reached {pod_b} ({ip_b}) on host-b by IP and name");
}

/// kubectl as a child with piped stdout (for a command that runs while the test goes on).
fn c_kubectl_spawn(c: &Cluster, args: &[&str]) -> std::process::Child {
    std::process::Command::new(crate::harness::kubectl_binary())
        .arg("--kubeconfig")
        .arg(c.kubeconfig())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run kubectl")
}
