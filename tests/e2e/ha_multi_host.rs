//! Issue #8's whole picture: one etcd, two `berth server` processes, two node agents on two
//! simulated hosts (network namespaces on a test LAN). The walkthrough's StatefulSet runs
//! with a pod on each host; the pod on host A reaches the pod on host B by IP and by DNS name;
//! kubectl pointed at either server sees the same state; killing the leading server (the one
//! the agents talk to first) moves controller leadership, the agents move to the other server,
//! and the cluster keeps reconciling (a pod deleted afterwards is recreated and runs on its
//! host). Needs root, iproute2, nft and etcd.

use std::time::Duration;

use berth_store::etcd::testing::EtcdServer;

use crate::harness::{eventually, Cluster};
use crate::multi_host::{can_run, pvs, running_on, statefulset, wait_running_on, Teardown, SERVICE};
use crate::netns_hosts::{NetnsHosts, NodeAgent};

/// This test's own ranges: no other test uses them.
const LAN: &str = "10.254.1.0/24";
const CLUSTER_CIDR: &str = "10.242.0.0/16";
const ELECTION: [&str; 6] =
    ["--leader-elect-lease-duration", "3s", "--leader-elect-renew-deadline", "2s", "--leader-elect-retry-period", "500ms"];

fn holder(c: &Cluster) -> String {
    let out = c.kubectl(&["get", "lease", "kube-controller-manager", "-n", "kube-system", "-o", "jsonpath={.spec.holderIdentity}"]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `name=resourceVersion` of every pod, claim and volume: what "the same state" means.
fn state(c: &Cluster) -> String {
    c.ok(&["get", "pods,pvc,pv,sts", "-o", "jsonpath={range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion} {end}"])
}

#[test]
fn two_servers_two_hosts_one_etcd() {
    if !can_run() {
        return;
    }
    // Declared so that they drop in reverse: agents, servers, etcd, hosts.
    let hosts = NetnsHosts::create("bha", LAN, 2);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(etcd) = runtime.block_on(EtcdServer::start_or_skip()) else { return };
    let gw = hosts.gateway.to_string();
    let mut common = vec!["--etcd-endpoints", etcd.endpoint()];
    common.extend(ELECTION);
    let mut a = Teardown(Cluster::start_listening(&gw, &common));
    // Node tokens minted before B copies A's credentials, so both servers accept them.
    for node in ["host-a", "host-b"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth")).args(["token", "node", node, "--data-dir"]).arg(a.0.dir.path()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // The cluster DNS the pods use runs in the server that stays (both could serve it, but
    // only one can hold <gateway>:53).
    let dns = format!("{gw}:53");
    let b_flags: Vec<&str> = common.iter().copied().chain(["--cluster-dns", &dns]).collect();
    let b = Teardown(a.0.join(&b_flags));
    let (a_ref, b) = (&a.0, &b.0);

    // What the agents' network parts read beyond a kubelet's rights (all Nodes, Services,
    // EndpointSlices): upstream's kube-proxy role, granted to the nodes explicitly.
    b.ok(&["create", "clusterrolebinding", "berth:node-proxier", "--clusterrole=system:node-proxier", "--group=system:nodes"]);
    // The agents are given both servers, A first: they move to B when A dies.
    let servers = format!("https://{gw}:{},https://{gw}:{}", a_ref.port, b.port);
    let flags = ["--cluster-dns", &gw, "--cluster-cidr", CLUSTER_CIDR, "--pod-routes"];
    let _host_a = NodeAgent::start(&hosts, 0, "host-a", b.dir.path(), &servers, "10.242.1.0/24", &flags);
    let _host_b = NodeAgent::start(&hosts, 1, "host-b", b.dir.path(), &servers, "10.242.2.0/24", &flags);

    let leader = holder(b);
    assert!(!leader.is_empty(), "{}", b.ok(&["get", "leases", "-A"]));
    assert_eq!(holder(a_ref), leader);

    // The walkthrough's StatefulSet, created through A; one pod on each host.
    let data = a_ref.dir.path();
    a_ref.ok(&["apply", "-f", &a_ref.manifest("pvs.yaml", &pvs(&data.join("pvs")))]);
    a_ref.ok(&["apply", "-f", &a_ref.manifest("svc.yaml", SERVICE)]);
    a_ref.ok(&["apply", "-f", &a_ref.manifest("sts.yaml", &statefulset())]);
    let (pod_a, _) = wait_running_on(b, "host-a");
    let (pod_b, ip_b) = wait_running_on(b, "host-b");

    // A → B by pod IP and by B's per-pod DNS name.
    let expected = format!("You've hit {pod_b}\n");
    let by_ip = b.ok(&["exec", &pod_a, "--", "wget", "-qO-", "-T", "5", &format!("http://{ip_b}:8080/")]);
    assert!(by_ip.starts_with(&expected), "{by_ip}");
    let fqdn = format!("{pod_b}.statefulset-kubia-v1.default.svc.cluster.local");
    let by_name = b.ok(&["exec", &pod_a, "--", "wget", "-qO-", "-T", "5", &format!("http://{fqdn}:8080/")]);
    assert!(by_name.starts_with(&expected), "{by_name}");

    // Either server shows the same objects at the same resourceVersions.
    assert!(eventually(Duration::from_secs(15), || state(a_ref) == state(b)), "{}\nvs\n{}", state(a_ref), state(b));

    // The leading server dies; B takes the controllers over and keeps reconciling.
    a.0.kill9();
    assert!(
        eventually(Duration::from_secs(30), || {
            let now = holder(b);
            !now.is_empty() && now != leader
        }),
        "{}",
        b.ok(&["get", "leases", "-n", "kube-system"])
    );
    let uid = |c: &Cluster| c.ok(&["get", "pod", &pod_b, "-o", "jsonpath={.metadata.uid}"]);
    let old = uid(b);
    b.ok(&["delete", "pod", &pod_b, "--wait=false"]);
    assert!(
        eventually(Duration::from_secs(90), || {
            let now = b.kubectl(&["get", "pod", &pod_b, "-o", "jsonpath={.metadata.uid}"]);
            let now = String::from_utf8_lossy(&now.stdout).to_string();
            !now.is_empty() && now != old && running_on(b, "host-b").is_some_and(|(name, _)| name == pod_b)
        }),
        "{}",
        b.ok(&["get", "pods", "-o", "wide"])
    );
    // The recreated pod is reachable from host A again (new IP, same name).
    let (_, ip_b) = running_on(b, "host-b").expect("checked above");
    let again = b.ok(&["exec", &pod_a, "--", "wget", "-qO-", "-T", "5", &format!("http://{ip_b}:8080/")]);
    assert!(again.starts_with(&expected), "{again}");
}
