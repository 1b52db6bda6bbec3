//! Simulated nodes (`berth_node::simulated::runner::run`) against a real `berth up`, seen
//! through kubectl as a user would see real kubelets.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use berth_node::simulated::runner::{run, sim_node_config};
use berth_node::simulated::PodCidr;
use regex::Regex;
use tokio::sync::oneshot;

use crate::harness::{eventually, rows, Cluster};

/// Simulated nodes running in a background runtime, as `berth up --simulated-nodes` runs them.
struct SimNodes {
    rt: tokio::runtime::Runtime,
    stops: Vec<Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>>,
}

impl SimNodes {
    fn new() -> SimNodes {
        // The nodes' logs, shown for failing tests when run with e.g. RUST_LOG=berth_node=debug.
        let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).with_test_writer().try_init();
        SimNodes { rt: tokio::runtime::Runtime::new().unwrap(), stops: Vec::new() }
    }

    fn client(&self, c: &Cluster) -> kube::Client {
        let path = c.kubeconfig();
        self.rt.block_on(async move {
            let kubeconfig = kube::config::Kubeconfig::read_from(path).unwrap();
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.unwrap();
            kube::Client::try_from(config).unwrap()
        })
    }

    /// Start node `sim-<index>`.
    fn start(&mut self, c: &Cluster, index: usize) {
        let client = self.client(c);
        let (tx, rx) = oneshot::channel::<()>();
        let task = self.rt.spawn(run(client, sim_node_config(index), async move {
            let _ = rx.await;
        }));
        if self.stops.len() <= index {
            self.stops.resize_with(index + 1, || None);
        }
        self.stops[index] = Some((tx, task));
    }

    /// Resolve node `sim-<index>`'s shutdown future and wait until `run` has returned.
    fn stop(&mut self, index: usize) {
        let (tx, task) = self.stops[index].take().expect("node is running");
        tx.send(()).unwrap();
        self.rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), task).await })
            .expect("run returns promptly after shutdown")
            .unwrap();
    }
}

fn pod(name: &str, node: &str, grace: i64, annotations: &str, restart_policy: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  annotations: {{{annotations}}}\n\
         spec:\n  nodeName: {node}\n  terminationGracePeriodSeconds: {grace}\n  restartPolicy: {restart_policy}\n\
         \x20 containers:\n  - name: app\n    image: nginx\n"
    )
}

/// READY and STATUS columns of `kubectl get pod <name>`, or None if the pod does not exist.
fn ready_and_status(c: &Cluster, name: &str) -> Option<(String, String)> {
    let out = c.kubectl(&["get", "pod", name, "--no-headers"]);
    if !out.status.success() {
        return None;
    }
    let r = rows(&String::from_utf8_lossy(&out.stdout)).into_iter().next()?;
    Some((r.get(1)?.clone(), r.get(2)?.clone()))
}

fn wait_for(c: &Cluster, name: &str, ready: &str, status: &str, timeout: Duration) {
    let want = Some((ready.to_string(), status.to_string()));
    let mut last = None;
    let ok = eventually(timeout, || {
        last = ready_and_status(c, name);
        last == want
    });
    assert!(ok, "pod {name}: wanted {want:?}, last saw {last:?}\n{}", c.ok(&["get", "pod", name, "-o", "yaml"]));
}

fn lease_renew_time(c: &Cluster, node: &str) -> String {
    c.ok(&["get", "lease", node, "-n", "kube-node-lease", "-o", "jsonpath={.spec.renewTime}"])
}

fn nodes_ready(c: &Cluster, names: &[&str]) -> bool {
    let out = c.ok(&["get", "nodes"]);
    names.iter().all(|n| {
        Regex::new(&format!(r"(?m)^{n}\s+Ready\s+<none>\s+\d+s\s+v1\.33\.0-berth$")).unwrap().is_match(&out)
    })
}

#[test]
fn simulated_nodes_register_and_run_pods() {
    let c = Cluster::start();
    let mut sim = SimNodes::new();
    sim.start(&c, 1);
    sim.start(&c, 2);

    // Nodes: registered, Ready, with the kubelet version.
    let mut out = String::new();
    assert!(
        eventually(Duration::from_secs(20), || {
            out = c.ok(&["get", "nodes"]);
            nodes_ready(&c, &["sim-1", "sim-2"])
        }),
        "{out}"
    );
    assert!(out.starts_with("NAME"), "{out}");
    let node = c.json(&["get", "node", "sim-1"]);
    assert_eq!(node["spec"]["podCIDR"], "10.244.1.0/24", "{node:#}");
    let addresses = node["status"]["addresses"].to_string();
    assert!(addresses.contains(r#""address":"10.250.0.1","type":"InternalIP""#), "{addresses}");
    assert_eq!(node["status"]["nodeInfo"]["kubeletVersion"], "v1.33.0-berth");
    assert_eq!(node["metadata"]["labels"]["node.berth.dev/simulated"], "true");
    let node_uid = node["metadata"]["uid"].as_str().unwrap().to_string();

    // Lease: held by the node, owned by it.
    assert!(eventually(Duration::from_secs(10), || c.kubectl(&["get", "lease", "sim-1", "-n", "kube-node-lease"]).status.success()));
    let lease = c.json(&["get", "lease", "sim-1", "-n", "kube-node-lease"]);
    assert_eq!(lease["spec"]["holderIdentity"], "sim-1", "{lease:#}");
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 40, "{lease:#}");
    assert_eq!(lease["metadata"]["ownerReferences"][0]["kind"], "Node", "{lease:#}");
    assert_eq!(lease["metadata"]["ownerReferences"][0]["uid"], node_uid.as_str(), "{lease:#}");
    let first_renew = lease_renew_time(&c, "sim-1");
    assert!(!first_renew.is_empty());

    // A pod bound to sim-1 runs, ready, with an IP from the node's range.
    let web = c.manifest("web.yaml", &pod("web", "sim-1", 2, "", "Always"));
    c.ok(&["create", "-f", &web]);
    wait_for(&c, "web", "1/1", "Running", Duration::from_secs(15));
    let ip: Ipv4Addr = c.ok(&["get", "pod", "web", "-o", "jsonpath={.status.podIP}"]).parse().unwrap();
    assert!(PodCidr::parse("10.244.1.0/24").unwrap().contains(ip), "{ip}");
    assert_eq!(c.ok(&["get", "pod", "web", "-o", "jsonpath={.status.hostIP}"]), "10.250.0.1");
    let wide = c.ok(&["get", "pod", "web", "-o", "wide"]);
    assert!(Regex::new(&format!(r"(?m)^web\s+1/1\s+Running\s+0\s+\d+s\s+{ip}\s+sim-1\s")).unwrap().is_match(&wide), "{wide}");

    // The node's readiness annotation flips READY.
    c.ok(&["annotate", "pod", "web", "sim.berth.dev/ready=false"]);
    wait_for(&c, "web", "0/1", "Running", Duration::from_secs(10));
    c.ok(&["annotate", "pod", "web", "sim.berth.dev/ready=true", "--overwrite"]);
    wait_for(&c, "web", "1/1", "Running", Duration::from_secs(10));

    // A pod on sim-2 gets an address from sim-2's range.
    let other = c.manifest("other.yaml", &pod("other", "sim-2", 30, "", "Always"));
    c.ok(&["create", "-f", &other]);
    wait_for(&c, "other", "1/1", "Running", Duration::from_secs(15));
    let ip2: Ipv4Addr = c.ok(&["get", "pod", "other", "-o", "jsonpath={.status.podIP}"]).parse().unwrap();
    assert!(PodCidr::parse("10.244.2.0/24").unwrap().contains(ip2), "{ip2}");
    // A running pod with nothing left to do is not written again.
    let rv = |c: &Cluster| c.ok(&["get", "pod", "other", "-o", "jsonpath={.metadata.resourceVersion}"]);
    let settled = rv(&c);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(rv(&c), settled, "the node keeps rewriting a settled pod");

    // Graceful delete: Terminating for the grace period, then gone (the node's final DELETE).
    let t0 = std::time::Instant::now();
    c.ok(&["delete", "pod", "web", "--wait=false"]);
    let status = ready_and_status(&c, "web").map(|(_, s)| s);
    assert_eq!(status.as_deref(), Some("Terminating"));
    assert!(eventually(Duration::from_secs(10), || ready_and_status(&c, "web").is_none()), "web was not deleted");
    // deletionTimestamp has whole seconds, so up to 1 s of the grace period is lost to truncation.
    assert!(t0.elapsed() >= Duration::from_millis(900), "deleted before its grace period: {:?}", t0.elapsed());

    // Forced delete of a pod with the default 30 s grace period.
    let out = c.ok(&["delete", "pod", "other", "--force", "--grace-period=0"]);
    assert!(out.contains(r#"pod "other" force deleted"#), "{out}");
    assert!(ready_and_status(&c, "other").is_none());

    // A container that fails after 1 s, never restarted: Error / Failed.
    let crash = c.manifest("crash.yaml", &pod("crash", "sim-1", 30, r#""sim.berth.dev/fail-after": "1s""#, "Never"));
    c.ok(&["create", "-f", &crash]);
    wait_for(&c, "crash", "0/1", "Error", Duration::from_secs(15));
    assert_eq!(c.ok(&["get", "pod", "crash", "-o", "jsonpath={.status.phase}"]), "Failed");

    // The lease is renewed (every 10 s).
    let mut renew = String::new();
    assert!(
        eventually(Duration::from_secs(15), || {
            renew = lease_renew_time(&c, "sim-1");
            renew != first_renew
        }),
        "renewTime stayed at {first_renew}"
    );
    // MicroTime, as the kubelet writes it.
    assert!(Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$").unwrap().is_match(&renew), "{renew}");

    sim.stop(1);
    sim.stop(2);
}

#[test]
fn many_pods_get_distinct_addresses_quickly() {
    let c = Cluster::start();
    let mut sim = SimNodes::new();
    sim.start(&c, 1);
    sim.start(&c, 2);
    assert!(eventually(Duration::from_secs(20), || nodes_ready(&c, &["sim-1", "sim-2"])));

    let n = 40;
    let docs: Vec<String> = (0..n)
        .map(|i| pod(&format!("p{i}"), if i % 2 == 0 { "sim-1" } else { "sim-2" }, 30, "", "Always"))
        .collect();
    let list = docs.join("---\n");
    let path = c.manifest("many.yaml", &list);
    c.ok(&["create", "-f", &path]);

    let mut last = String::new();
    let all_running = eventually(Duration::from_secs(30), || {
        last = c.ok(&["get", "pods", "--no-headers"]);
        let r = rows(&last);
        r.len() == n && r.iter().all(|row| row[1] == "1/1" && row[2] == "Running")
    });
    assert!(all_running, "{last}");

    let pods = c.json(&["get", "pods"]);
    let mut seen = HashSet::new();
    for p in pods["items"].as_array().unwrap() {
        let node = p["spec"]["nodeName"].as_str().unwrap();
        let ip: Ipv4Addr = p["status"]["podIP"].as_str().unwrap().parse().unwrap();
        let cidr = if node == "sim-1" { "10.244.1.0/24" } else { "10.244.2.0/24" };
        assert!(PodCidr::parse(cidr).unwrap().contains(ip), "{node}: {ip}");
        assert!(seen.insert(ip), "address {ip} given twice");
    }
    sim.stop(1);
    sim.stop(2);
}

#[test]
fn a_stopped_node_stops_renewing_and_a_restarted_one_keeps_its_node() {
    let c = Cluster::start();
    let mut sim = SimNodes::new();
    sim.start(&c, 1);
    assert!(eventually(Duration::from_secs(20), || nodes_ready(&c, &["sim-1"])));
    assert!(eventually(Duration::from_secs(10), || c.kubectl(&["get", "lease", "sim-1", "-n", "kube-node-lease"]).status.success()));
    let uid = c.ok(&["get", "node", "sim-1", "-o", "jsonpath={.metadata.uid}"]);
    let web = c.manifest("web.yaml", &pod("web", "sim-1", 2, "", "Always"));
    c.ok(&["create", "-f", &web]);
    wait_for(&c, "web", "1/1", "Running", Duration::from_secs(15));
    let ip = c.ok(&["get", "pod", "web", "-o", "jsonpath={.status.podIP}"]);

    sim.stop(1);
    let stopped_at = lease_renew_time(&c, "sim-1");
    // Longer than the 10 s renew interval: a running node would have renewed by now.
    std::thread::sleep(Duration::from_secs(12));
    assert_eq!(lease_renew_time(&c, "sim-1"), stopped_at, "lease renewed after shutdown");

    // Restart: the same Node object (uid) is taken over, the lease renewed again, and the
    // running pod is picked up as it is.
    sim.start(&c, 1);
    assert!(
        eventually(Duration::from_secs(15), || lease_renew_time(&c, "sim-1") != stopped_at),
        "lease not renewed after restart"
    );
    assert_eq!(c.ok(&["get", "node", "sim-1", "-o", "jsonpath={.metadata.uid}"]), uid);
    assert!(nodes_ready(&c, &["sim-1"]));
    assert_eq!(c.ok(&["get", "pod", "web", "-o", "jsonpath={.status.podIP}"]), ip);
    assert_eq!(ready_and_status(&c, "web"), Some(("1/1".into(), "Running".into())));
    // ... and still driven: deleting it completes.
    c.ok(&["delete", "pod", "web", "--wait=false"]);
    assert!(eventually(Duration::from_secs(10), || ready_and_status(&c, "web").is_none()), "web was not deleted");
    sim.stop(1);
}

/// 1,000 pods on 100 simulated nodes in one process, created through the API at once. Heavy
/// for a shared CI machine, so run on demand:
/// `cargo test -p berth --test e2e soak_100_nodes -- --ignored --nocapture`.
#[test]
#[ignore]
fn soak_100_nodes_1000_pods() {
    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, ListParams, PostParams};

    let c = Cluster::start();
    let mut sim = SimNodes::new();
    for i in 1..=100 {
        sim.start(&c, i);
    }
    let client = sim.client(&c);
    let started = std::time::Instant::now();
    sim.rt.block_on(async {
        let pods: Api<Pod> = Api::namespaced(client, "default");
        futures::stream::iter(0..1000)
            .map(|i| {
                let pods = pods.clone();
                async move {
                    let p: Pod = serde_json::from_value(serde_json::json!({
                        "metadata": {"name": format!("s{i}")},
                        "spec": {"nodeName": format!("sim-{}", i % 100 + 1), "containers": [{"name": "app", "image": "nginx"}]}
                    }))
                    .unwrap();
                    pods.create(&PostParams::default(), &p).await.map(|_| ())
                }
            })
            .buffer_unordered(32)
            .try_collect::<Vec<()>>()
            .await
            .unwrap();
        let created = started.elapsed();
        loop {
            let list = pods.list(&ListParams::default()).await.unwrap();
            let running = list.items.iter().filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")).count();
            if running == 1000 {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(120), "{running}/1000 running after {:?}", started.elapsed());
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        eprintln!("1000 pods created in {created:?}, all Running after {:?}", started.elapsed());
    });
    assert!(eventually(Duration::from_secs(30), || rows(&c.ok(&["get", "nodes", "--no-headers"])).iter().filter(|r| r[1] == "Ready").count() == 100));
}
