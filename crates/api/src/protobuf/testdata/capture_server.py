#!/usr/bin/env python3
"""Capture server for the fixtures in this directory (see README.md).

    python3 capture_server.py PORT OUTDIR &
    kubectl --server http://127.0.0.1:PORT --cache-dir $(mktemp -d) create namespace ns1

Serves just enough discovery for kubectl 1.33 (it picks its 1.33 build from /version) and saves
the body of each POST as OUTDIR/$CAP.pb (CAP from the environment, default "cap") with its
headers in OUTDIR/$CAP.hdr, answering 201 with a JSON object kubectl accepts.
"""
import http.server, json, sys, os
OUT = sys.argv[2]
def res(name, kind, namespaced=True, group=None, version=None, verbs=None):
    r = {"name": name, "singularName": "", "namespaced": namespaced, "kind": kind,
         "verbs": verbs or ["create","delete","get","list","patch","update","watch"]}
    if group: r["group"] = group
    if version: r["version"] = version
    return r
CORE = [res("namespaces","Namespace",False), res("configmaps","ConfigMap"), res("secrets","Secret"),
        res("serviceaccounts","ServiceAccount"), res("services","Service"),
        res("serviceaccounts/token","TokenRequest",group="authentication.k8s.io",version="v1",verbs=["create"]),
        res("pods","Pod"), res("events","Event"), res("endpoints","Endpoints"),
        res("persistentvolumeclaims","PersistentVolumeClaim"), res("persistentvolumes","PersistentVolume",False),
        res("pods/eviction","Eviction",group="policy",version="v1",verbs=["create"]),
        res("pods/binding","Binding",verbs=["create"])]
GROUPS = {"apps/v1":[res("deployments","Deployment")], "coordination.k8s.io/v1":[res("leases","Lease")],
          "authentication.k8s.io/v1":[res("tokenreviews","TokenReview",False,verbs=["create"])],
          "policy/v1":[res("poddisruptionbudgets","PodDisruptionBudget")],
          "batch/v1":[res("jobs","Job"),res("cronjobs","CronJob")]}
class H(http.server.BaseHTTPRequestHandler):
    def send(self, code, obj):
        b = json.dumps(obj).encode()
        self.send_response(code); self.send_header("Content-Type","application/json")
        self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def do_GET(self):
        p = self.path.split("?")[0]
        if p == "/version": return self.send(200, {"major":"1","minor":"33","gitVersion":"v1.33.0"})
        if p == "/api": return self.send(200, {"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1"}]})
        if p == "/api/v1": return self.send(200, {"kind":"APIResourceList","groupVersion":"v1","resources":CORE})
        if p == "/apis":
            gs=[]
            for gv in GROUPS:
                g,v=gv.split("/")
                gs.append({"name":g,"versions":[{"groupVersion":gv,"version":v}],"preferredVersion":{"groupVersion":gv,"version":v}})
            return self.send(200, {"kind":"APIGroupList","apiVersion":"v1","groups":gs})
        if p.startswith("/apis/"):
            gv = p[len("/apis/"):]
            if gv in GROUPS: return self.send(200, {"kind":"APIResourceList","groupVersion":gv,"resources":GROUPS[gv]})
        if p == "/api/v1/namespaces/default/pods/p1":
            return self.send(200, {"kind":"Pod","apiVersion":"v1","metadata":{"name":"p1","namespace":"default","uid":"0a1b2c3d-0000-4000-8000-000000000001"},"spec":{"containers":[{"name":"c","image":"i"}]}})
        self.send(404, {"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404})
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        name = os.environ.get("CAP", "cap")
        with open(os.path.join(OUT, name + ".pb"), "wb") as f: f.write(body)
        with open(os.path.join(OUT, name + ".hdr"), "w") as f: f.write(self.command+" "+self.path+"\n"+str(self.headers))
        # echo: if JSON, echo back; else minimal object
        try: obj = json.loads(body)
        except Exception: obj = None
        if obj is None:
            obj = {"apiVersion":"v1","kind":"Status","metadata":{}}
            if "token" in self.path:
                obj = {"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","metadata":{"name":"sa1"},"spec":{"audiences":["x"]},"status":{"token":"abc","expirationTimestamp":"2030-01-01T00:00:00Z"}}
            else:
                seg = self.path.split("?")[0].rstrip("/").split("/")
                kinds={"namespaces":"Namespace","configmaps":"ConfigMap","secrets":"Secret","serviceaccounts":"ServiceAccount","services":"Service","pods":"Pod"}
                obj={"apiVersion":"v1","kind":kinds.get(seg[-1],"Status"),"metadata":{"name":"x","namespace":"default"}}
        self.send(201, obj)
    def log_message(self,*a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
