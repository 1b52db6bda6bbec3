#!/usr/bin/env python3
"""Benchmarks of real node agents (`berth up --nodes N`), driven over the API with the admin
token: pod start latency (POST → Ready seen on a watch) for N pods created one at a time, and
the walkthrough's 3-replica StatefulSet (apply → readyReplicas 3). Run as root against a
running cluster:

    target/release/berth up --data-dir /tmp/bn --listen 127.0.0.1:16450 --nodes 1 &
    scripts/bench_real_nodes.py /tmp/bn 100
"""
import json, ssl, sys, threading, time, urllib.request

data = sys.argv[1]
mode = sys.argv[2] if len(sys.argv) > 2 else "100"
cfg = open(f"{data}/kubeconfig.yaml").read()
server = [l.split("server:")[1].strip() for l in cfg.splitlines() if "server:" in l][0]
token = open(f"{data}/pki/admin.token").read().strip()
ctx = ssl.create_default_context(cafile=f"{data}/pki/ca.crt")

def req(method, path, body=None):
    r = urllib.request.Request(server + path, method=method, data=json.dumps(body).encode() if body else None,
                               headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    return urllib.request.urlopen(r, context=ctx)

ready_at = {}
def watch(ns, rv):
    r = req("GET", f"/api/v1/namespaces/{ns}/pods?watch=1&resourceVersion={rv}")
    for line in r:
        ev = json.loads(line)
        pod = ev["object"]
        name = pod["metadata"]["name"]
        conds = (pod.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Ready" and c["status"] == "True" for c in conds) and name not in ready_at:
            ready_at[name] = time.monotonic()

def walkthrough():
    """The walkthrough's PVs (as hostPath under the data dir), service and 3-replica set:
    time from the StatefulSet's POST to readyReplicas == 3 (polled every 10 ms)."""
    for i in range(1, 4):
        req("POST", "/api/v1/persistentvolumes", {"metadata": {"name": f"pv-{i}"}, "spec": {
            "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Recycle",
            "storageClassName": "nfs", "hostPath": {"path": f"{data}/pv-{i}"}}})
    req("POST", "/api/v1/namespaces/default/services", {"metadata": {"name": "statefulset-kubia-svc"},
        "spec": {"clusterIP": "None", "selector": {"app": "statefulset-kubia"}, "ports": [{"name": "http", "port": 80}]}})
    time.sleep(1)  # let the PV controller see the volumes
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "statefulset-kubia-v1"}, "spec": {
        "serviceName": "statefulset-kubia-v1", "replicas": 3, "selector": {"matchLabels": {"app": "statefulset-kubia"}},
        "template": {"metadata": {"labels": {"app": "statefulset-kubia"}}, "spec": {"containers": [{
            "name": "statefulset-kubia", "image": "luksa/kubia-pet", "ports": [{"name": "http", "containerPort": 8080}],
            "volumeMounts": [{"name": "data", "mountPath": "/var/data"}]}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "1Gi"}},
            "storageClassName": "nfs", "accessModes": ["ReadWriteOnce"]}}]}}
    t0 = time.monotonic()
    req("POST", "/apis/apps/v1/namespaces/default/statefulsets", sts)
    while time.monotonic() - t0 < 60:
        st = json.load(req("GET", "/apis/apps/v1/namespaces/default/statefulsets/statefulset-kubia-v1")).get("status", {})
        if st.get("readyReplicas") == 3:
            print(f"walkthrough 3-replica StatefulSet, POST -> readyReplicas 3: {(time.monotonic() - t0) * 1000:.0f} ms")
            return
        time.sleep(0.01)
    print("walkthrough StatefulSet not ready within 60 s")

if mode == "sts":
    walkthrough()
    sys.exit(0)
count = int(mode)
ns = f"bench-{int(time.time())}"
req("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
rv = json.load(req("GET", f"/api/v1/namespaces/{ns}/pods"))["metadata"]["resourceVersion"]
threading.Thread(target=watch, args=(ns, rv), daemon=True).start()
time.sleep(0.2)
sent = {}
for i in range(count):
    name = f"p{i}"
    pod = {"metadata": {"name": name}, "spec": {"terminationGracePeriodSeconds": 0,
           "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}}
    sent[name] = time.monotonic()
    req("POST", f"/api/v1/namespaces/{ns}/pods", pod)
    deadline = time.monotonic() + 30
    while name not in ready_at and time.monotonic() < deadline:
        time.sleep(0.001)
lat = sorted((ready_at[n] - sent[n]) * 1000 for n in sent if n in ready_at)
pct = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))]
print(f"pod start (POST -> Ready on watch), {len(lat)}/{count} pods: p50 {pct(50):.0f} ms, p90 {pct(90):.0f} ms, p99 {pct(99):.0f} ms, max {lat[-1]:.0f} ms")
req("DELETE", f"/api/v1/namespaces/{ns}/pods?gracePeriodSeconds=0")
