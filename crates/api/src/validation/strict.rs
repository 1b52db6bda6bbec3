//! Strict field validation (`?fieldValidation=Strict`): unknown and duplicate fields,
//! reported as JSON paths the way upstream prints them
//! (`unknown field "spec.template.spec.containers[0].imagee"`, `duplicate field "metadata.name"`).

use k8s_openapi::api::{apps, coordination, core::v1 as corev1, discovery, events, policy, rbac, storage};
use serde::{de::DeserializeOwned, Serialize};
use k8s_openapi::Resource;
use serde_json::Value;

/// Paths of fields in `obj` that the kind's schema does not know, in document order.
///
/// The object is decoded into its `k8s-openapi` type and encoded again; every non-null
/// input path missing from the result is unknown. Only the outermost unknown key is
/// reported (upstream does not descend into unknown subtrees). If the object does not
/// decode at all (a type error) nothing is reported here: that is a decoding error the
/// caller reports on its own. Unsupported kinds report nothing.
pub fn unknown_fields(group: &str, kind: &str, obj: &Value) -> Vec<String> {
    let known = match (group, kind) {
        ("", "Namespace") => roundtrip::<corev1::Namespace>(obj),
        ("", "Pod") => roundtrip::<corev1::Pod>(obj),
        ("", "Service") => roundtrip::<corev1::Service>(obj),
        ("", "Endpoints") => roundtrip::<corev1::Endpoints>(obj),
        ("", "PersistentVolume") => roundtrip::<corev1::PersistentVolume>(obj),
        ("", "PersistentVolumeClaim") => roundtrip::<corev1::PersistentVolumeClaim>(obj),
        ("", "Node") => roundtrip::<corev1::Node>(obj),
        ("", "Event") => roundtrip::<corev1::Event>(obj),
        ("", "ConfigMap") => roundtrip::<corev1::ConfigMap>(obj),
        ("", "Secret") => roundtrip::<corev1::Secret>(obj),
        ("", "ServiceAccount") => roundtrip::<corev1::ServiceAccount>(obj),
        ("apps", "StatefulSet") => roundtrip::<apps::v1::StatefulSet>(obj),
        ("apps", "ControllerRevision") => roundtrip::<apps::v1::ControllerRevision>(obj),
        ("policy", "PodDisruptionBudget") => roundtrip::<policy::v1::PodDisruptionBudget>(obj),
        ("storage.k8s.io", "StorageClass") => roundtrip::<storage::v1::StorageClass>(obj),
        ("coordination.k8s.io", "Lease") => roundtrip::<coordination::v1::Lease>(obj),
        ("discovery.k8s.io", "EndpointSlice") => roundtrip::<discovery::v1::EndpointSlice>(obj),
        ("events.k8s.io", "Event") => roundtrip::<events::v1::Event>(obj),
        ("rbac.authorization.k8s.io", "ClusterRole") => roundtrip::<rbac::v1::ClusterRole>(obj),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => roundtrip::<rbac::v1::ClusterRoleBinding>(obj),
        ("rbac.authorization.k8s.io", "Role") => roundtrip::<rbac::v1::Role>(obj),
        ("rbac.authorization.k8s.io", "RoleBinding") => roundtrip::<rbac::v1::RoleBinding>(obj),
        _ => None,
    };
    let mut out = Vec::new();
    if let Some(known) = known {
        diff(obj, &known, "", &mut out);
    }
    out
}

fn roundtrip<T: DeserializeOwned + Serialize + Resource>(obj: &Value) -> Option<Value> {
    let mut input = obj.clone();
    // apiVersion/kind are checked by the types; the caller has already routed by them
    if let Some(m) = input.as_object_mut() {
        m.insert("apiVersion".into(), Value::from(T::API_VERSION));
        m.insert("kind".into(), Value::from(T::KIND));
    }
    let typed: T = serde_json::from_value(input).ok()?;
    serde_json::to_value(typed).ok()
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn diff(input: &Value, known: &Value, path: &str, out: &mut Vec<String>) {
    match (input, known) {
        (Value::Object(i), Value::Object(k)) => {
            for (key, v) in i {
                if v.is_null() {
                    continue;
                }
                let p = join(path, key);
                match k.get(key) {
                    None => out.push(p),
                    Some(kv) => diff(v, kv, &p, out),
                }
            }
        }
        (Value::Array(i), Value::Array(k)) => {
            for (idx, (v, kv)) in i.iter().zip(k).enumerate() {
                diff(v, kv, &format!("{path}[{idx}]"), out);
            }
        }
        _ => {}
    }
}

/// Paths of keys that occur twice in the same JSON object of the raw body, in document
/// order (`metadata.name`, `spec.template.spec.containers[0].imagePullPolicy`).
/// A body that is not well-formed JSON yields no paths (the decoder reports it).
pub fn duplicate_fields(raw: &[u8]) -> Vec<String> {
    let mut sc = Scanner { b: raw, i: 0, out: Vec::new() };
    sc.ws();
    if sc.value("").is_none() {
        return Vec::new();
    }
    sc.out
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    out: Vec<String>,
}

impl Scanner<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn value(&mut self, path: &str) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(path),
            b'[' => self.array(path),
            b'"' => self.string().map(|_| ()),
            _ => self.scalar(),
        }
    }

    fn object(&mut self, path: &str) -> Option<()> {
        self.i += 1;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        let mut seen = std::collections::HashSet::new();
        loop {
            self.ws();
            let key = self.string()?;
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            self.ws();
            let p = join(path, &key);
            if !seen.insert(key) {
                self.out.push(p.clone());
            }
            self.value(&p)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, path: &str) -> Option<()> {
        self.i += 1;
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(());
        }
        let mut idx = 0;
        loop {
            self.ws();
            self.value(&format!("{path}[{idx}]"))?;
            idx += 1;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A JSON string; escapes are decoded by serde_json so keys compare correctly.
    fn string(&mut self) -> Option<String> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i;
        self.i += 1;
        loop {
            match self.peek()? {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    break;
                }
                _ => self.i += 1,
            }
        }
        serde_json::from_slice(&self.b[start..self.i]).ok()
    }

    fn scalar(&mut self) -> Option<()> {
        let start = self.i;
        while self.i < self.b.len() && !matches!(self.b[self.i], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
        let tok = &self.b[start..self.i];
        serde_json::from_slice::<Value>(tok).ok().map(|_| ())
    }
}
