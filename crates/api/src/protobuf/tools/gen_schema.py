#!/usr/bin/env python3
"""Generates crates/api/src/protobuf/schema/*.rs from upstream Go type definitions.

The field facts (protobuf field number, JSON name, Go shape: value / pointer / slice / map, omitempty)
all live in the struct tags of upstream's types.go files; reading them by machine avoids transcription
mistakes across hundreds of fields. Usage (SRC holds checkouts of kubernetes/api and
kubernetes/apimachinery at the tag berth targets, v0.33.0):

    python3 gen_schema.py SRC/api SRC/apimachinery OUT_DIR

Only the messages reachable from ROOTS are emitted. Re-run after bumping the Kubernetes version.
"""
import os, re, sys

API, AM, OUT = sys.argv[1], sys.argv[2], sys.argv[3]

# package key -> (types.go path, Rust module, Go import alias used by other packages)
PACKAGES = {
    "meta_v1": (f"{AM}/pkg/apis/meta/v1/types.go", "metav1"),
    "core_v1": (f"{API}/core/v1/types.go", "corev1"),
    "apps_v1": (f"{API}/apps/v1/types.go", "appsv1"),
    "authentication_v1": (f"{API}/authentication/v1/types.go", "authenticationv1"),
    "autoscaling_v1": (f"{API}/autoscaling/v1/types.go", "autoscalingv1"),
    "coordination_v1": (f"{API}/coordination/v1/types.go", "coordinationv1"),
    "policy_v1": (f"{API}/policy/v1/types.go", "policyv1"),
    "rbac_v1": (f"{API}/rbac/v1/types.go", "rbacv1"),
    "authorization_v1": (f"{API}/authorization/v1/types.go", "authorizationv1"),
}
ALIAS = {alias: key for key, (_, alias) in PACKAGES.items()}
ALIAS["v1"] = "core_v1"  # other API groups import core/v1 as "v1"

ROOTS = [
    ("meta_v1", "ObjectMeta"), ("meta_v1", "ListMeta"), ("meta_v1", "LabelSelector"),
    ("meta_v1", "DeleteOptions"),
    ("core_v1", "Namespace"), ("core_v1", "ConfigMap"), ("core_v1", "Secret"),
    ("core_v1", "ServiceAccount"), ("core_v1", "Service"), ("core_v1", "Binding"),
    ("core_v1", "Endpoints"), ("core_v1", "PersistentVolumeClaim"), ("core_v1", "PersistentVolume"),
    ("core_v1", "Event"), ("core_v1", "Pod"),
    ("apps_v1", "Deployment"),
    ("authentication_v1", "TokenRequest"),
    ("autoscaling_v1", "Scale"),
    ("coordination_v1", "Lease"),
    ("policy_v1", "Eviction"), ("policy_v1", "PodDisruptionBudget"),
    ("rbac_v1", "Role"), ("rbac_v1", "ClusterRole"), ("rbac_v1", "RoleBinding"), ("rbac_v1", "ClusterRoleBinding"),
    ("authorization_v1", "SelfSubjectAccessReview"), ("authorization_v1", "SubjectAccessReview"), ("authorization_v1", "LocalSubjectAccessReview"),
    ("authorization_v1", "SelfSubjectRulesReview"),
    ("authentication_v1", "SelfSubjectReview"),
]

# `map[string]ExtraValue` (user extras) has no decoder; clients never send it in the reviews
# berth serves (kubectl's bodies carry only the attributes), so those fields are left out.
SKIP_TYPES = {"map[string]ExtraValue"}

# Types with their own wire and JSON forms, handled by dedicated decoders.
SPECIAL = {
    ("meta_v1", "Time"): "Time", ("meta_v1", "MicroTime"): "MicroTime",
    ("meta_v1", "FieldsV1"): "FieldsV1",
    ("resource", "Quantity"): "Quantity", ("intstr", "IntOrString"): "IntOrString",
    ("runtime", "RawExtension"): "RawExtension",
}
BUILTIN = {"string": "String", "bool": "Bool", "int32": "Int32", "int64": "Int64", "float64": "Double"}
STRINGISH = {("types", "UID"), ("types", "NodeName")}

FIELD_RE = re.compile(r'^\t(?:(\w+)\s+)?([^\s`]+)\s+`([^`]*)`')


def parse(path):
    """Returns (structs, named): structs name -> list of (goname, gotype, tags); named name -> underlying."""
    structs, named, cur = {}, {}, None
    for line in open(path):
        m = re.match(r'^type (\w+) struct \{', line)
        if m:
            cur = structs.setdefault(m.group(1), [])
            continue
        if cur is not None and line.startswith("}"):
            cur = None
            continue
        m = re.match(r'^type (\w+) (\S+)\s*$', line)
        if m and cur is None:
            named[m.group(1)] = m.group(2)
            continue
        if cur is not None:
            m = FIELD_RE.match(line)
            if m and 'protobuf:"' in m.group(3):
                cur.append((m.group(1), m.group(2), m.group(3)))
    return structs, named


PKG = {key: parse(path) for key, (path, _) in PACKAGES.items()}


def tag(tags, key):
    m = re.search(key + r':"([^"]*)"', tags)
    return m.group(1) if m else None


def qualify(pkg, t):
    if "." in t:
        alias, name = t.split(".", 1)
        return ALIAS.get(alias, alias), name
    return pkg, t


def resolve(pkg, t):
    """Go type -> (shape, kind) where kind is a string (scalar/special) or ('msg', pkg, name)."""
    shape = "Value"
    if t.startswith("*"):
        shape, t = "Pointer", t[1:]
    if t == "[]byte":
        return shape, "Bytes"
    if t.startswith("[]"):
        assert shape == "Value", t
        return "Repeated", elem(pkg, t[2:])
    if t.startswith("map["):
        assert shape == "Value", t
        return "Map", elem(pkg, t[t.index("]") + 1:])
    q = qualify(pkg, t)
    if q[0] in PACKAGES and q[1] in PKG[q[0]][1]:  # named non-struct type: look through it
        under = PKG[q[0]][1][q[1]]
        s, k = resolve(q[0], under)
        return (shape if s == "Value" else s), k
    return shape, elem(pkg, t)


def elem(pkg, t):
    if t == "[]byte":
        return "Bytes"
    if t in BUILTIN:
        return BUILTIN[t]
    q = qualify(pkg, t)
    if q in SPECIAL:
        return SPECIAL[q]
    if q in STRINGISH:
        return "String"
    if q[0] in PACKAGES and q[1] in PKG[q[0]][1]:
        s, k = resolve(q[0], PKG[q[0]][1][q[1]])
        assert s == "Value", (t, s)
        return k
    if q[0] in PACKAGES and q[1] in PKG[q[0]][0]:
        return ("msg",) + q
    raise SystemExit(f"unknown type {t} in {pkg}")


def const_name(go):
    s = re.sub(r'([a-z0-9])([A-Z])', r'\1_\2', go)
    s = re.sub(r'([A-Z]+)([A-Z][a-z])', r'\1_\2', s)
    return s.upper()


# Walk from the roots, collecting every reachable message.
todo, seen, order = list(ROOTS), set(), []
while todo:
    key = todo.pop(0)
    if key in seen:
        continue
    seen.add(key)
    order.append(key)
    pkg, name = key
    fields = []
    for goname, gotype, tags in PKG[pkg][0][name]:
        if gotype in SKIP_TYPES:
            continue
        pb = tag(tags, "protobuf").split(",")
        wire, num = pb[0], int(pb[1])
        js = tag(tags, "json")
        jname, *opts = js.split(",")
        shape, kind = resolve(pkg, gotype)
        inline = jname == "" and "inline" in opts
        if isinstance(kind, tuple):
            todo.append(kind[1:])
        if inline:
            assert shape == "Value" and isinstance(kind, tuple), (name, goname)
        elif jname == "":
            jname = goname  # Go's default JSON name for an untagged field
        fields.append((num, jname, shape, kind, "omitempty" in opts, inline, wire, goname))
    globals().setdefault("MSGS", {})[key] = fields


def rust_kind(pkg, kind, inline):
    if isinstance(kind, tuple):
        path = const_name(kind[2]) if kind[1] == pkg else f"super::{kind[1]}::{const_name(kind[2])}"
        return f"{'Inline' if inline else 'Message'}(&{path})"
    return kind


for pkg in PACKAGES:
    keys = [k for k in order if k[0] == pkg]
    if not keys:
        continue
    out = [f"//! Protobuf schema of the `{pkg.replace('_', '/')}` messages berth decodes.",
           "//! GENERATED by ../tools/gen_schema.py from upstream types.go (v0.33.0); do not edit by hand.",
           "", "use super::{Field, Kind::*, Message, Shape::*};", ""]
    for key in sorted(keys, key=lambda k: k[1]):
        out.append(f"pub static {const_name(key[1])}: Message = Message {{")
        out.append(f'    name: "{pkg.replace("_", "/")}.{key[1]}",')
        out.append("    fields: &[")
        for num, jname, shape, kind, omit, inline, wire, goname in MSGS[key]:
            out.append(f'        Field {{ number: {num}, json: "{jname}", kind: {rust_kind(pkg, kind, inline)}, '
                       f'shape: {shape}, omitempty: {"true" if omit else "false"} }},')
        out.append("    ],")
        out.append("};")
        out.append("")
    with open(os.path.join(OUT, f"{pkg}.rs"), "w") as f:
        f.write("\n".join(out))
    print(pkg, len(keys), "messages")
