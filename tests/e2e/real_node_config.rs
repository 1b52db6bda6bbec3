//! Pod configuration on a real node, as upstream's kubelet does it: env from ConfigMaps,
//! Secrets, fields and resources with `$(VAR)` expansion; configMap/secret/downwardAPI/projected
//! volume files; the error paths (CreateContainerConfigError, FailedMount for a missing hostPath
//! and for nfs, a malformed probe); a failing readiness probe halting an OrderedReady
//! StatefulSet; `kubectl logs -f` and `kubectl exec -it`. Needs root; one cluster on
//! 10.249.0.0/16.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::harness::{eventually, kubectl_binary, rows, Cluster};

const OBJECTS: &str = r#"apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {color: blue, 1bad: x, nested.conf: "a=1"}
---
apiVersion: v1
kind: Secret
metadata: {name: sec}
data: {pw: czNjcmV0}
---
apiVersion: v1
kind: Service
metadata: {name: web-api}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: envy, labels: {app: web, tier: fe}}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo \"args: $0 $1\"; sleep 3600"]
    args: ["$(POD)", "$$(POD)"]
    resources: {limits: {memory: 64Mi, cpu: 500m}}
    envFrom:
    - configMapRef: {name: cfg}
    - {prefix: S_, secretRef: {name: sec}}
    env:
    - {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
    - {name: APP, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}}
    - {name: HOST_IP, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}
    - {name: POD_IPS, valueFrom: {fieldRef: {fieldPath: status.podIPs}}}
    - {name: MEM_MI, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
    - {name: CPU_M, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}}
    - {name: COLOR, valueFrom: {configMapKeyRef: {name: cfg, key: color}}}
    - {name: PW, valueFrom: {secretKeyRef: {name: sec, key: pw}}}
    - {name: MAYBE, valueFrom: {configMapKeyRef: {name: absent, key: k, optional: true}}}
    - {name: GREETING, value: "hi $(POD) in $(color), $$(POD) $(NOPE)"}
    volumeMounts:
    - {name: cm, mountPath: /cm}
    - {name: sec, mountPath: /sec}
    - {name: dw, mountPath: /dw}
    - {name: pj, mountPath: /pj}
    - {name: scratch, mountPath: /scratch, subPathExpr: "by-pod/$(POD)"}
  volumes:
  - {name: scratch, emptyDir: {}}
  - name: cm
    configMap: {name: cfg, items: [{key: color, path: deep/er/color.txt, mode: 0400}, {key: nested.conf, path: n.conf}]}
  - name: sec
    secret: {secretName: sec, defaultMode: 0440}
  - name: dw
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: name, fieldRef: {fieldPath: metadata.name}}
      - {path: mem, resourceFieldRef: {containerName: c, resource: limits.memory, divisor: 1Mi}}
  - name: pj
    projected:
      sources:
      - configMap: {name: cfg, items: [{key: color, path: color}]}
      - secret: {name: sec}
      - downwardAPI: {items: [{path: ns, fieldRef: {fieldPath: metadata.namespace}}]}
---
apiVersion: v1
kind: Pod
metadata: {name: needs-cm}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sleep", "3600"]
    env: [{name: X, valueFrom: {configMapKeyRef: {name: late, key: k}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: needs-key}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sleep", "3600"]
    env: [{name: X, valueFrom: {configMapKeyRef: {name: cfg, key: nokey}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: no-dir}
spec:
  containers:
  - {name: c, image: busybox, command: ["sleep", "3600"], volumeMounts: [{name: data, mountPath: /data}]}
  volumes: [{name: data, hostPath: {path: "@LATER@", type: Directory}}]
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-nfs}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: manual-nfs
  nfs: {server: 127.0.0.1, path: /exports}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: nfs-claim}
spec:
  storageClassName: manual-nfs
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: nfs-pod}
spec:
  containers:
  - {name: c, image: busybox, command: ["sleep", "3600"], volumeMounts: [{name: data, mountPath: /data}]}
  volumes: [{name: data, persistentVolumeClaim: {claimName: nfs-claim}}]
---
apiVersion: v1
kind: Pod
metadata: {name: bad-probe}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sleep", "3600"]
    readinessProbe: {httpGet: {port: web}, periodSeconds: 1}
    livenessProbe: {tcpSocket: {port: nope}, periodSeconds: 1, failureThreshold: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: talker}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo first; while [ ! -f /tmp/go ]; do sleep 0.2; done; echo second; sleep 3600"]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: gate}
spec:
  replicas: 2
  serviceName: gate
  selector: {matchLabels: {app: gate}}
  template:
    metadata: {labels: {app: gate}}
    spec:
      containers:
      - name: c
        image: busybox
        command: ["sleep", "3600"]
        readinessProbe: {exec: {command: ["cat", "/tmp/ready"]}, periodSeconds: 1}
"#;

fn jsonpath(c: &Cluster, what: &[&str], path: &str) -> String {
    let p = format!("jsonpath={path}");
    let mut args = what.to_vec();
    args.extend(["-o", &p]);
    String::from_utf8_lossy(&c.kubectl(&args).stdout).to_string()
}

fn events(c: &Cluster, pod: &str) -> String {
    c.ok(&["get", "events", "--field-selector", &format!("involvedObject.name={pod}"), "-o", "custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message"])
}

fn waiting(c: &Cluster, pod: &str) -> (String, String) {
    let p = c.json(&["get", "pod", pod]);
    let w = &p["status"]["containerStatuses"][0]["state"]["waiting"];
    (w["reason"].as_str().unwrap_or_default().to_string(), w["message"].as_str().unwrap_or_default().to_string())
}

fn pod_row(c: &Cluster, pod: &str) -> Vec<String> {
    rows(&String::from_utf8_lossy(&c.kubectl(&["get", "pod", pod]).stdout)).into_iter().nth(1).unwrap_or_default()
}

struct Teardown(Cluster);

impl Drop for Teardown {
    fn drop(&mut self) {
        self.0.stop();
    }
}

#[test]
fn pod_configuration_errors_probes_logs_and_tty_exec() {
    if !super::real_node::can_run_real_nodes() {
        return;
    }
    let t = Teardown(Cluster::start_with(&["--nodes", "1", "--simulated-nodes", "0", "--cluster-cidr", "10.249.0.0/16"]));
    let c = &t.0;
    assert!(eventually(Duration::from_secs(20), || c.ok(&["get", "nodes"]).contains(" Ready ")));
    let later = c.dir.path().join("later-dir");
    c.ok(&["apply", "-f", &c.manifest("objects.yaml", &OBJECTS.replace("@LATER@", &later.to_string_lossy()))]);

    // Env and volume files.
    assert!(eventually(Duration::from_secs(30), || jsonpath(c, &["get", "pod", "envy"], "{.status.phase}") == "Running"), "{}", c.ok(&["describe", "pod", "envy"]));
    let env = c.ok(&["exec", "envy", "--", "env"]);
    let uid = jsonpath(c, &["get", "pod", "envy"], "{.metadata.uid}");
    let ip = jsonpath(c, &["get", "pod", "envy"], "{.status.podIP}");
    for want in [
        "color=blue".to_string(),
        "nested.conf=a=1".into(),
        "S_pw=s3cret".into(),
        "POD=envy".into(),
        format!("UID={uid}"),
        "APP=web".into(),
        "HOST_IP=127.0.0.1".into(),
        format!("POD_IPS={ip}"),
        "MEM_MI=64".into(),
        "CPU_M=500".into(),
        "COLOR=blue".into(),
        "PW=s3cret".into(),
        "GREETING=hi envy in blue, $(POD) $(NOPE)".into(),
    ] {
        assert!(env.lines().any(|l| l == want), "missing {want:?} in\n{env}");
    }
    assert!(!env.contains("1bad") && !env.contains("MAYBE="), "{env}");
    // Service variables, as upstream's kubelet adds them for the pod's namespace.
    let svc_ip = jsonpath(c, &["get", "svc", "web-api"], "{.spec.clusterIP}");
    for want in [format!("WEB_API_SERVICE_HOST={svc_ip}"), "WEB_API_SERVICE_PORT_HTTP=80".into(), format!("WEB_API_PORT_80_TCP=tcp://{svc_ip}:80")] {
        assert!(env.lines().any(|l| l == want), "missing {want:?} in\n{env}");
    }
    assert!(eventually(Duration::from_secs(10), || c.ok(&["logs", "envy"]).contains("args: envy $(POD)")), "{}", c.ok(&["logs", "envy"]));
    assert!(events(c, "envy").contains("Keys [1bad] from the EnvFrom configMap default/cfg were skipped since they are considered invalid environment variable names."));
    let sh = |cmd: &str| c.ok(&["exec", "envy", "--", "sh", "-c", cmd]);
    assert_eq!(sh("cat /cm/deep/er/color.txt; echo; stat -L -c %a /cm/deep/er/color.txt; cat /cm/n.conf; echo; ls /cm"), "blue\n400\na=1\ndeep\nn.conf\n");
    assert_eq!(sh("cat /sec/pw; echo; stat -L -c %a /sec/pw"), "s3cret\n440\n");
    // Upstream's atomic-writer layout: names link into `..data`, itself a link to this version.
    assert_eq!(sh("readlink /sec/pw; readlink /sec/..data | cut -c1-4"), "..data/pw\n..20\n");
    assert_eq!(sh("cat /dw/labels; echo; cat /dw/name; echo; cat /dw/mem"), "app=\"web\"\ntier=\"fe\"\nenvy\n64");
    assert_eq!(sh("cat /pj/color /pj/pw /pj/ns; stat -L -c %a /pj/ns"), "blues3cretdefault644\n");
    sh("echo hi > /scratch/f");
    let host = c.dir.path().join(format!("nodes/node-1/pods/{uid}/volumes/scratch/by-pod/envy/f"));
    assert_eq!(std::fs::read_to_string(&host).unwrap(), "hi\n", "subPathExpr");
    // The downward API's files follow the pod's labels.
    c.ok(&["label", "pod", "envy", "tier=be", "--overwrite"]);
    assert!(eventually(Duration::from_secs(20), || sh("cat /dw/labels") == "app=\"web\"\ntier=\"be\""), "{}", sh("cat /dw/labels"));

    // A missing ConfigMap or key: CreateContainerConfigError, then it starts once the
    // ConfigMap appears.
    assert!(eventually(Duration::from_secs(20), || waiting(c, "needs-cm") == ("CreateContainerConfigError".into(), "configmap \"late\" not found".into())), "{:?}", waiting(c, "needs-cm"));
    assert!(events(c, "needs-cm").contains("Error: configmap \"late\" not found"), "{}", events(c, "needs-cm"));
    assert_eq!(pod_row(c, "needs-cm")[2], "CreateContainerConfigError");
    assert!(eventually(Duration::from_secs(20), || waiting(c, "needs-key").1 == "couldn't find key nokey in ConfigMap default/cfg"), "{:?}", waiting(c, "needs-key"));
    c.ok(&["create", "configmap", "late", "--from-literal=k=v"]);
    assert!(eventually(Duration::from_secs(30), || jsonpath(c, &["get", "pod", "needs-cm"], "{.status.phase}") == "Running"), "{}", c.ok(&["describe", "pod", "needs-cm"]));

    // FailedMount: a missing hostPath directory, an NFS export that cannot be mounted.
    let failed_mount = |pod: &str, prefix: &str| {
        eventually(Duration::from_secs(20), || events(c, pod).lines().any(|l| l.starts_with("Warning") && l.contains("FailedMount") && l.contains(prefix)))
    };
    let msg = format!("MountVolume.SetUp failed for volume \"data\" : hostPath type check failed: {} is not a directory", later.display());
    assert!(failed_mount("no-dir", &msg), "{}", events(c, "no-dir"));
    assert!(failed_mount("nfs-pod", "MountVolume.SetUp failed for volume \"pv-nfs\" : mount failed: "), "{}", events(c, "nfs-pod"));
    for pod in ["no-dir", "nfs-pod"] {
        assert_eq!(pod_row(c, pod)[2], "ContainerCreating");
    }
    // The mount is retried: once the directory exists, the pod starts.
    std::fs::create_dir(&later).unwrap();
    assert!(eventually(Duration::from_secs(60), || pod_row(c, "no-dir").get(2).is_some_and(|s| s == "Running")), "{}", events(c, "no-dir"));

    // A probe on a named port the container does not have errors as upstream's prober says;
    // the container stays unready and is not restarted.
    assert!(eventually(Duration::from_secs(20), || {
        let e = events(c, "bad-probe");
        e.contains("Readiness probe errored: strconv.Atoi: parsing \"web\": invalid syntax") && e.contains("Liveness probe errored: strconv.Atoi: parsing \"nope\": invalid syntax")
    }), "{}", events(c, "bad-probe"));
    let row = pod_row(c, "bad-probe");
    assert_eq!((row[1].as_str(), row[2].as_str(), row[3].as_str()), ("0/1", "Running", "0"), "{row:?}");

    // A failing readiness probe: 0/1, and the OrderedReady scale-up waits for it.
    assert!(eventually(Duration::from_secs(20), || pod_row(c, "gate-0").get(2).is_some_and(|s| s == "Running")));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(pod_row(c, "gate-0")[1], "0/1");
    assert!(c.kubectl(&["get", "pod", "gate-1"]).stderr.starts_with(b"Error from server (NotFound)"), "gate-1 created while gate-0 is unready");
    // `kubectl exec -it` with a terminal (script(1) provides the pty).
    let cmd = format!("{} --kubeconfig {} exec -it gate-0 -- sh", kubectl_binary(), c.kubeconfig().display());
    let mut script = Command::new("script").args(["-qec", &cmd, "/dev/null"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdin = script.stdin.take().unwrap();
    // A watchdog, so that a shell that never exits fails the test instead of hanging it.
    let (done, cancelled) = mpsc::channel::<()>();
    let pid = script.id().to_string();
    let watchdog = std::thread::spawn(move || {
        if cancelled.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = Command::new("kill").args(["-9", &pid]).status();
        }
    });
    std::thread::sleep(Duration::from_secs(2));
    stdin.write_all(b"hostname; touch /tmp/ready; exit\n").unwrap();
    let out = script.wait_with_output().unwrap();
    let _ = done.send(());
    let _ = watchdog.join();
    drop(stdin);
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(printed.lines().any(|l| l.trim() == "gate-0"), "stdout: {printed}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(eventually(Duration::from_secs(30), || pod_row(c, "gate-1").get(1).is_some_and(|s| s == "0/1" || s == "1/1")), "gate-1 not created after gate-0 became ready");
    assert_eq!(pod_row(c, "gate-0")[1], "1/1");

    // `kubectl logs -f` streams a line written after it started.
    assert!(eventually(Duration::from_secs(20), || c.ok(&["logs", "talker"]) == "first\n"));
    let mut follow = Command::new(kubectl_binary())
        .args(["--kubeconfig", &c.kubeconfig().to_string_lossy(), "logs", "-f", "talker"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(20));
    c.ok(&["exec", "talker", "--", "touch", "/tmp/go"]);
    let second = rx.recv_timeout(Duration::from_secs(20));
    let _ = follow.kill();
    let _ = follow.wait();
    assert_eq!((first.as_deref().ok(), second.as_deref().ok()), (Some("first"), Some("second")));

    // Nothing else was disturbed.
    assert_eq!(jsonpath(c, &["get", "pod", "envy"], "{.status.containerStatuses[0].restartCount}"), "0");
}
