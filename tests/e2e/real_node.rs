//! Real node agents (`berth up --nodes 2`): pods are namespaced processes with their own IP,
//! hostname and volumes. Needs root (namespaces, bridges) and iproute2; skipped otherwise.
//!
//! Each test gets its own `--cluster-cidr`, so clusters running side by side never share
//! pod addresses.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use crate::harness::{eventually, Cluster};
use crate::manifests;

pub(crate) fn can_run_real_nodes() -> bool {
    let root = std::process::Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false);
    let ip = std::process::Command::new("ip").arg("-V").output().is_ok();
    if !root || !ip {
        eprintln!("SKIPPED: real node tests need root and iproute2 (root: {root}, ip: {ip})");
    }
    root && ip
}

/// One HTTP/1.1 request to `ip:8080`, returning the body.
pub(crate) fn http(ip: &str, method: &str, body: &str) -> String {
    let mut s = std::net::TcpStream::connect_timeout(&format!("{ip}:8080").parse().unwrap(), Duration::from_secs(5)).expect("connect to the pod");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "{method} / HTTP/1.1\r\nHost: {ip}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
}

pub(crate) fn hostpath_pvs(dir: &Path) -> String {
    let mut out = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for i in 1..=3 {
        let path = dir.join(format!("pv-{i}"));
        out.push_str(&format!(
            "  - apiVersion: v1\n    kind: PersistentVolume\n    metadata:\n      name: pv-{i}\n    spec:\n      capacity:\n        storage: 1Gi\n      accessModes:\n        - ReadWriteOnce\n      persistentVolumeReclaimPolicy: Recycle\n      storageClassName: nfs\n      hostPath:\n        path: {}\n",
            path.display()
        ));
    }
    out
}

fn jsonpath(c: &Cluster, what: &[&str], path: &str) -> String {
    let mut args = what.to_vec();
    let p = format!("jsonpath={path}");
    args.extend(["-o", &p]);
    String::from_utf8_lossy(&c.kubectl(&args).stdout).to_string()
}

/// Processes whose command line mentions `needle` (the cluster's data dir).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if e.file_name().to_string_lossy().parse::<u32>().is_err() {
            continue;
        }
        // Zombies have an empty command line; skip them explicitly anyway.
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        if stat.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')) {
            continue;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(needle) {
            out.push(format!("{}: {cmd}", e.file_name().to_string_lossy()));
        }
    }
    out
}

/// Stops `berth up` with SIGTERM when dropped — also when a test fails — so that it tears
/// down its pods and bridges instead of being SIGKILLed by the harness.
pub(crate) struct Teardown(pub(crate) Cluster);

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

impl std::ops::DerefMut for Teardown {
    fn deref_mut(&mut self) -> &mut Cluster {
        &mut self.0
    }
}

pub(crate) fn container_pid(c: &Cluster, node: &str, uid: &str, container: &str) -> Option<String> {
    std::fs::read_to_string(c.dir.path().join(format!("nodes/{node}/pods/{uid}/containers/{container}/pid"))).ok()
}

#[test]
fn walkthrough_runs_on_real_nodes() {
    if !can_run_real_nodes() {
        return;
    }
    let mut c = Teardown(Cluster::start_with(&["--nodes", "2", "--simulated-nodes", "0", "--cluster-cidr", "10.246.0.0/16"]));
    assert!(eventually(Duration::from_secs(20), || c.ok(&["get", "nodes"]).matches(" Ready ").count() == 2), "{}", c.ok(&["get", "nodes"]));
    let node = c.json(&["get", "node", "node-1"]);
    assert_eq!(node["status"]["nodeInfo"]["containerRuntimeVersion"].as_str().unwrap(), format!("berth://{}", env!("CARGO_PKG_VERSION")));
    assert_eq!(node["spec"]["podCIDR"], "10.246.1.0/24");
    assert!(node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"].as_i64().unwrap() > 0);

    let pv = c.manifest("pv.yaml", &hostpath_pvs(c.dir.path()));
    c.ok(&["apply", "-f", &pv]);
    c.ok(&["apply", "-f", &c.manifest("svc.yaml", manifests::SERVICE)]);
    c.ok(&["apply", "-f", &c.manifest("sts.yaml", &manifests::statefulset("luksa/kubia-pet"))]);
    assert!(
        eventually(Duration::from_secs(60), || jsonpath(&c, &["get", "sts", "statefulset-kubia-v1"], "{.status.readyReplicas}") == "3"),
        "{}",
        c.ok(&["get", "pods,pvc,pv", "-o", "wide"])
    );
    let wide = c.ok(&["get", "pods", "-o", "wide"]);
    let mut ips = Vec::new();
    for i in 0..3 {
        let pod = c.json(&["get", "pod", &format!("statefulset-kubia-v1-{i}")]);
        assert_eq!(pod["status"]["phase"], "Running", "{wide}");
        assert_eq!(pod["status"]["containerStatuses"][0]["ready"], true);
        assert_eq!(pod["status"]["containerStatuses"][0]["restartCount"], 0);
        let ip = pod["status"]["podIP"].as_str().unwrap().to_string();
        assert!(ip.starts_with("10.246."), "{ip}");
        assert!(wide.contains(&ip), "{wide}");
        ips.push(ip);
        if i > 0 {
            // OrderedReady: pod i was created only once pod i-1 was Ready.
            let prev = c.json(&["get", "pod", &format!("statefulset-kubia-v1-{}", i - 1)]);
            let ready_at = prev["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap()["lastTransitionTime"].as_str().unwrap().to_string();
            let created = pod["metadata"]["creationTimestamp"].as_str().unwrap().to_string();
            assert!(created >= ready_at, "pod {i} created {created} before pod {} was Ready at {ready_at}", i - 1);
        }
    }
    assert_eq!(http(&ips[0], "GET", ""), "You've hit statefulset-kubia-v1-0\nData stored on this pod: No data posted yet\n");
    let greeting = "Hey There ! This greeting was submitted to statefulset-kubia-v1-0";
    assert_eq!(http(&ips[0], "POST", greeting), "Data stored on pod statefulset-kubia-v1-0\n");
    assert_eq!(http(&ips[0], "GET", ""), format!("You've hit statefulset-kubia-v1-0\nData stored on this pod: {greeting}\n"));
    assert_eq!(http(&ips[1], "GET", ""), "You've hit statefulset-kubia-v1-1\nData stored on this pod: No data posted yet\n");

    // Through the API server, as the walkthrough does it with `kubectl proxy`: pods/proxy to the
    // pod IP, logs and exec through the node's kubelet API.
    assert_eq!(
        c.ok(&["get", "--raw", "/api/v1/namespaces/default/pods/statefulset-kubia-v1-0/proxy/"]),
        format!("You've hit statefulset-kubia-v1-0\nData stored on this pod: {greeting}\n")
    );
    assert_eq!(c.ok(&["exec", "statefulset-kubia-v1-1", "--", "hostname"]).trim(), "statefulset-kubia-v1-1");
    assert!(c.ok(&["logs", "statefulset-kubia-v1-0"]).contains("Kubia server starting..."));
    assert!(c.ok(&["logs", "statefulset-kubia-v1-0", "--tail=1"]).contains("New data has been received and stored."));

    // The pod comes back under the same name with the data posted before.
    let old_uid = jsonpath(&c, &["get", "pod", "statefulset-kubia-v1-0"], "{.metadata.uid}");
    c.ok(&["delete", "pod", "statefulset-kubia-v1-0"]);
    assert!(eventually(Duration::from_secs(60), || {
        let uid = jsonpath(&c, &["get", "pod", "statefulset-kubia-v1-0"], "{.metadata.uid}");
        !uid.is_empty() && uid != old_uid && jsonpath(&c, &["get", "pod", "statefulset-kubia-v1-0"], "{.status.containerStatuses[0].ready}") == "true"
    }));
    let ip0 = jsonpath(&c, &["get", "pod", "statefulset-kubia-v1-0"], "{.status.podIP}");
    assert_eq!(http(&ip0, "GET", ""), format!("You've hit statefulset-kubia-v1-0\nData stored on this pod: {greeting}\n"));

    // Restarting an agent restarts no container.
    let pod1 = c.json(&["get", "pod", "statefulset-kubia-v1-1"]);
    let (node1, uid1) = (pod1["spec"]["nodeName"].as_str().unwrap().to_string(), pod1["metadata"]["uid"].as_str().unwrap().to_string());
    let pid_before = container_pid(&c, &node1, &uid1, "statefulset-kubia").expect("container pid file");
    let agent_pid_file = c.dir.path().join(format!("nodes/{node1}/pid"));
    let agent_before = std::fs::read_to_string(&agent_pid_file).unwrap();
    assert!(std::process::Command::new("kill").arg(agent_before.trim()).status().unwrap().success());
    assert!(eventually(Duration::from_secs(20), || std::fs::read_to_string(&agent_pid_file).is_ok_and(|p| p != agent_before)), "agent not restarted");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(container_pid(&c, &node1, &uid1, "statefulset-kubia").as_deref(), Some(pid_before.as_str()));
    assert_eq!(jsonpath(&c, &["get", "pod", "statefulset-kubia-v1-1"], "{.status.containerStatuses[0].restartCount}"), "0");
    assert!(http(&ips[1], "GET", "").starts_with("You've hit statefulset-kubia-v1-1\n"));

    // Stopping berth leaves nothing behind: processes, addresses, mounts.
    let data_dir = c.dir.path().to_string_lossy().to_string();
    assert!(c.stop(), "berth up exits cleanly");
    // Gone, or a zombie nobody reaps (the runtime's processes are re-parented to PID 1).
    let dead = |pid: &str| std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')));
    assert!(eventually(Duration::from_secs(5), || dead(pid_before.trim())), "container process {pid_before} survived");
    assert!(eventually(Duration::from_secs(5), || processes_mentioning(&data_dir).is_empty()), "{:?}", processes_mentioning(&data_dir));
    let addrs = String::from_utf8_lossy(&std::process::Command::new("ip").args(["-br", "addr"]).output().unwrap().stdout).to_string();
    assert!(!addrs.contains("10.246."), "{addrs}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&data_dir), "{mounts}");
}

#[test]
fn crash_loops_probes_image_errors_and_pod_identity() {
    if !can_run_real_nodes() {
        return;
    }
    let c = Teardown(Cluster::start_with(&["--nodes", "1", "--cluster-cidr", "10.247.0.0/16"]));
    let pods = r#"apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo bye; exit 1"]
---
apiVersion: v1
kind: Pod
metadata: {name: nginx}
spec:
  containers:
  - name: c
    image: nginx:1.27
---
apiVersion: v1
kind: Pod
metadata: {name: who}
spec:
  hostname: who
  subdomain: sub
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "hostname; grep who /etc/hosts; echo $POD; sleep 3600"]
    env:
    - {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
"#;
    c.ok(&["apply", "-f", &c.manifest("pods.yaml", pods)]);
    // The first restart is immediate, the next after a 10 s back-off.
    assert!(
        eventually(Duration::from_secs(30), || {
            jsonpath(&c, &["get", "pod", "crash"], "{.status.containerStatuses[0].restartCount}").parse::<i32>().unwrap_or(0) >= 2
        }),
        "{}",
        c.ok(&["get", "pod", "crash", "-o", "yaml"])
    );
    assert!(eventually(Duration::from_secs(15), || {
        let p = c.json(&["get", "pod", "crash"]);
        let cs = &p["status"]["containerStatuses"][0];
        cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
            && cs["state"]["waiting"]["message"].as_str().unwrap_or_default().starts_with("back-off ")
            && cs["lastState"]["terminated"]["exitCode"] == 1
            && cs["lastState"]["terminated"]["reason"] == "Error"
    }));
    assert!(c.ok(&["get", "pod", "crash"]).contains("CrashLoopBackOff"));
    let uid = jsonpath(&c, &["get", "pod", "crash"], "{.metadata.uid}");
    let log = std::fs::read_to_string(c.dir.path().join(format!("nodes/node-1/pods/{uid}/containers/c/0.log"))).unwrap();
    assert!(log.ends_with(" stdout F bye\n"), "{log}");

    assert!(eventually(Duration::from_secs(15), || {
        let p = c.json(&["get", "pod", "nginx"]);
        let w = &p["status"]["containerStatuses"][0]["state"]["waiting"];
        (w["reason"] == "ErrImagePull" || w["reason"] == "ImagePullBackOff")
            && w["message"].as_str().unwrap_or_default().contains("luksa/kubia-pet, luksa/kubia-pet-peers, busybox, alpine")
    }));
    let events = c.ok(&["get", "events", "--field-selector", "involvedObject.name=nginx"]);
    assert!(events.contains("Failed to pull image \"nginx:1.27\""), "{events}");

    assert!(eventually(Duration::from_secs(15), || jsonpath(&c, &["get", "pod", "who"], "{.status.phase}") == "Running"));
    let uid = jsonpath(&c, &["get", "pod", "who"], "{.metadata.uid}");
    let ip = jsonpath(&c, &["get", "pod", "who"], "{.status.podIP}");
    let log_path = c.dir.path().join(format!("nodes/node-1/pods/{uid}/containers/c/0.log"));
    assert!(eventually(Duration::from_secs(10), || std::fs::read_to_string(&log_path).is_ok_and(|l| l.lines().count() >= 3)));
    let lines: Vec<String> = std::fs::read_to_string(&log_path).unwrap().lines().map(|l| l.splitn(4, ' ').nth(3).unwrap().to_string()).collect();
    assert_eq!(lines, ["who".to_string(), format!("{ip}\twho.sub.default.svc.cluster.local\twho"), "who".to_string()]);
    // Probes: an exec readiness probe that passes only after 3 s, an httpGet one that passes
    // at once, a tcpSocket liveness probe that fails and restarts its container.
    let probed = r#"apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  containers:
  - name: late
    image: busybox
    command: ["sh", "-c", "sleep 3; touch /tmp/ready; sleep 3600"]
    readinessProbe: {exec: {command: ["cat", "/tmp/ready"]}, periodSeconds: 1}
  - name: web
    image: luksa/kubia-pet
    readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
  - name: dead
    image: busybox
    command: ["sleep", "3600"]
    livenessProbe: {tcpSocket: {port: 9999}, periodSeconds: 1, failureThreshold: 2}
"#;
    c.ok(&["apply", "-f", &c.manifest("probed.yaml", probed)]);
    let ready_of = |name: &str| {
        let p = c.json(&["get", "pod", "probed"]);
        p["status"]["containerStatuses"].as_array().into_iter().flatten().find(|s| s["name"] == name).map(|s| s["ready"] == true)
    };
    assert!(eventually(Duration::from_secs(15), || ready_of("web") == Some(true)));
    assert_eq!(ready_of("late"), Some(false), "not ready before /tmp/ready exists");
    assert!(eventually(Duration::from_secs(15), || ready_of("late") == Some(true)));
    assert!(eventually(Duration::from_secs(20), || {
        jsonpath(&c, &["get", "pod", "probed"], "{.status.containerStatuses[?(@.name==\"dead\")].restartCount}").parse::<i32>().unwrap_or(0) >= 1
    }), "{}", c.ok(&["describe", "pod", "probed"]));
    let events = c.ok(&["get", "events", "--field-selector", "involvedObject.name=probed"]);
    assert!(events.contains("Liveness probe failed") && events.contains("Container dead failed liveness probe, will be restarted"), "{events}");

    // Graceful deletion: SIGTERM ends `sh`, then the agent's final DELETE removes the pod.
    c.ok(&["delete", "pod", "who", "--wait=true"]);
    assert!(c.kubectl(&["get", "pod", "who"]).stderr.starts_with(b"Error from server (NotFound)"));

    // preStop runs before SIGTERM; a force-deleted pod's processes are killed.
    let out = c.dir.path().join("prestop");
    let pod = format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: hooked}}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: c
    image: busybox
    command: ["sleep", "3600"]
    lifecycle: {{preStop: {{exec: {{command: ["sh", "-c", "echo stopping > /out/hook"]}}}}}}
    volumeMounts: [{{name: out, mountPath: /out}}]
  volumes: [{{name: out, hostPath: {{path: {}, type: DirectoryOrCreate}}}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: forced}}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sleep", "3600"]
"#,
        out.display()
    );
    c.ok(&["apply", "-f", &c.manifest("hooked.yaml", &pod)]);
    for name in ["hooked", "forced"] {
        assert!(eventually(Duration::from_secs(15), || jsonpath(&c, &["get", "pod", name], "{.status.phase}") == "Running"));
    }
    c.ok(&["delete", "pod", "hooked", "--wait=true"]);
    assert_eq!(std::fs::read_to_string(out.join("hook")).unwrap(), "stopping\n");
    let uid = jsonpath(&c, &["get", "pod", "forced"], "{.metadata.uid}");
    let pid = std::fs::read_to_string(c.dir.path().join(format!("nodes/node-1/pods/{uid}/containers/c/pid"))).unwrap();
    c.ok(&["delete", "pod", "forced", "--force", "--grace-period=0"]);
    let dead = |pid: &str| std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')));
    assert!(eventually(Duration::from_secs(10), || dead(pid.trim())), "force-deleted pod's process {pid} still runs");
}
