//! ControllerRevisions of a StatefulSet (`stateful_set_utils.go` getPatch/newRevision/
//! ApplyRevision and `pkg/controller/history`): what a revision holds, its hash and name,
//! equality, ordering, and restoring a set from a revision.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use serde_json::{json, Map, Value};

use super::gojson;
use super::identity::{controller_ref, set_name, set_namespace};
use super::podstate::to_chrono;

/// `history.ControllerRevisionHashLabel`.
pub const HASH_LABEL: &str = "controller.kubernetes.io/hash";

/// `getPatch`: `{"spec":{"template":{"$patch":"replace", …template…}}}` as Go's encoding/json
/// writes it. The template is the set's JSON, normalised to what Go would have encoded for the
/// same object (see [`go_template`]).
pub fn patch_bytes(set: &StatefulSet) -> Vec<u8> {
    let mut template = go_template(set);
    if let Value::Object(m) = &mut template {
        m.insert("$patch".into(), json!("replace"));
    }
    gojson::marshal(&json!({ "spec": { "template": template } }))
}

/// The pod template's JSON as Go's `encoding/json` emits it for a `PodTemplateSpec` decoded from
/// the same object: `metadata` always present with `creationTimestamp: null` (a zero
/// `metav1.Time` struct is never omitted), `spec` always present, and empty lists / maps that
/// Go's `omitempty` drops removed (serde keeps an explicit `[]`). Struct-typed fields such as
/// `resources: {}` or `securityContext: {}` stay, since Go never omits a struct.
fn go_template(set: &StatefulSet) -> Value {
    let template = set.spec.as_ref().map(|s| serde_json::to_value(&s.template).unwrap_or(Value::Null));
    let mut t = match template {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let meta = t.entry("metadata").or_insert_with(|| json!({}));
    if let Value::Object(m) = meta {
        m.entry("creationTimestamp").or_insert(Value::Null);
    }
    t.entry("spec").or_insert_with(|| json!({}));
    let mut v = Value::Object(t);
    drop_go_omitempty(&mut v, "");
    v
}

/// Map-typed fields inside a pod template: Go omits them when empty; an empty struct is kept.
const MAP_FIELDS: &[&str] = &[
    "labels", "annotations", "nodeSelector", "limits", "requests", "overhead", "volumeAttributes", "options",
    "capacity",
];
/// Slice fields Go encodes without `omitempty` (everything else in a template is omitempty).
const ALWAYS_LISTS: &[&str] = &["containers"];

fn drop_go_omitempty(v: &mut Value, _key: &str) {
    match v {
        Value::Object(m) => {
            m.retain(|k, child| match child {
                Value::Array(a) => !a.is_empty() || ALWAYS_LISTS.contains(&k.as_str()),
                Value::Object(o) => !o.is_empty() || !MAP_FIELDS.contains(&k.as_str()),
                _ => true,
            });
            for (k, child) in m.iter_mut() {
                drop_go_omitempty(child, k);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| drop_go_omitempty(i, "")),
        _ => {}
    }
}

/// `HashControllerRevision`: FNV-1 (32 bit) over the data bytes followed by the collision
/// count's decimal digits, printed in decimal and passed through `rand.SafeEncodeString`.
pub fn hash(data: &[u8], collision_count: i32) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in data.iter().chain(collision_count.to_string().as_bytes()) {
        h = h.wrapping_mul(0x0100_0193);
        h ^= u32::from(*b);
    }
    safe_encode(&h.to_string())
}

/// `rand.SafeEncodeString`: each byte mapped into an alphabet without vowels (no bad words).
fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes().map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char).collect()
}

/// `history.ControllerRevisionName`: the prefix cut to 223 bytes, then `-<hash>`.
pub fn revision_name(prefix: &str, hash: &str) -> String {
    let mut cut = prefix.len().min(223);
    while !prefix.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{}", &prefix[..cut], hash)
}

/// `newRevision`: labels = template labels + hash label, controller ref to the set, the set's
/// annotations, `revision` as given, name from the hash at `collision_count`.
pub fn new_revision(set: &StatefulSet, data: &[u8], revision: i64, collision_count: i32) -> ControllerRevision {
    let h = hash(data, collision_count);
    let mut labels: BTreeMap<String, String> = set
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(HASH_LABEL.into(), h.clone());
    let annotations = set.metadata.annotations.clone().unwrap_or_default();
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(revision_name(set_name(set), &h)),
            namespace: Some(set_namespace(set).to_string()),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![controller_ref(set)]),
            ..ObjectMeta::default()
        },
        data: Some(RawExtension(serde_json::from_slice(data).unwrap_or(Value::Null))),
        revision,
    }
}

/// The Go bytes of a stored revision's data. Upstream keeps `data.Raw` as written; berth gets
/// the decoded JSON back and re-encodes it, which yields the same bytes for data that Go wrote.
pub fn data_bytes(cr: &ControllerRevision) -> Vec<u8> {
    match &cr.data {
        Some(RawExtension(v)) => gojson::marshal(v),
        None => Vec::new(),
    }
}

/// `history.EqualRevision`: when both hash labels parse as int32 they must agree; then the data
/// bytes must be equal.
pub fn equal_revision(a: &ControllerRevision, b: &ControllerRevision) -> bool {
    let parsed = |cr: &ControllerRevision| {
        cr.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL)).and_then(|h| h.parse::<i32>().ok())
    };
    if let (Some(x), Some(y)) = (parsed(a), parsed(b)) {
        if x != y {
            return false;
        }
    }
    data_bytes(a) == data_bytes(b)
}

/// `history.SortControllerRevisions`: by `revision`, then creation time, then name (stable).
pub fn sort_revisions(revisions: &mut [ControllerRevision]) {
    revisions.sort_by(|a, b| {
        a.revision
            .cmp(&b.revision)
            .then_with(|| {
                let ta = a.metadata.creation_timestamp.as_ref().map(to_chrono);
                let tb = b.metadata.creation_timestamp.as_ref().map(to_chrono);
                ta.cmp(&tb)
            })
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
}

/// `nextRevision`: one more than the highest (sorted) revision, 1 for none.
pub fn next_revision(sorted: &[ControllerRevision]) -> i64 {
    sorted.last().map_or(1, |r| r.revision + 1)
}

/// `ApplyRevision`: the set with its template restored by strategic-merge-patching the set's
/// JSON with the revision's data (a `$patch: replace` of `spec.template`).
pub fn apply_revision(set: &StatefulSet, cr: &ControllerRevision) -> Result<StatefulSet, String> {
    let original = serde_json::to_value(set).map_err(|e| e.to_string())?;
    let patch = cr.data.as_ref().map(|d| d.0.clone()).unwrap_or_else(|| json!({}));
    let root = berth_api::smp::root_definition("apps", "StatefulSet")
        .ok_or_else(|| "no strategic merge patch schema for apps/v1 StatefulSet".to_string())?;
    let patched = berth_api::smp::strategic_merge_patch(&original, &patch, root).map_err(|e| e.to_string())?;
    serde_json::from_value(patched).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upstream's `stateful_set_compatibility_test.go` pins this pair: the 1.33 defaulted set
    /// `test` (template labels app=foo, annotation test=value, one container image `test`)
    /// has the revision `test-c77f6d978` with exactly these data bytes.
    const UPSTREAM_DATA: &str = r#"{"spec":{"template":{"$patch":"replace","metadata":{"annotations":{"test":"value"},"creationTimestamp":null,"labels":{"app":"foo"}},"spec":{"containers":[{"image":"test","imagePullPolicy":"Always","name":"test","resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],"dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},"terminationGracePeriodSeconds":30}}}}"#;

    fn upstream_set() -> StatefulSet {
        let mut v = json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "test", "namespace": "default", "uid": "ec335e25-1045-4216-8634-50cfbe05f3d6"},
            "spec": {
                "selector": {"matchLabels": {"app": "foo"}},
                "template": {
                    "metadata": {"annotations": {"test": "value"}, "labels": {"app": "foo"}},
                    "spec": {"containers": [{"image": "test", "name": "test"}]}
                }
            }
        });
        berth_api::defaults::apply_defaults("apps", "StatefulSet", &mut v);
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn hash_matches_upstream_reference_value() {
        assert_eq!(hash(UPSTREAM_DATA.as_bytes(), 0), "c77f6d978");
    }

    #[test]
    fn patch_of_defaulted_set_matches_upstream_bytes() {
        let set = upstream_set();
        assert_eq!(String::from_utf8(patch_bytes(&set)).unwrap(), UPSTREAM_DATA);
        let cr = new_revision(&set, &patch_bytes(&set), 1, 0);
        assert_eq!(cr.metadata.name.as_deref(), Some("test-c77f6d978"));
        assert_eq!(cr.metadata.labels.as_ref().unwrap()[HASH_LABEL], "c77f6d978");
        assert_eq!(cr.metadata.labels.as_ref().unwrap()["app"], "foo");
        assert_eq!(data_bytes(&cr), UPSTREAM_DATA.as_bytes());
    }

    #[test]
    fn collision_count_changes_the_name() {
        assert_ne!(hash(UPSTREAM_DATA.as_bytes(), 1), hash(UPSTREAM_DATA.as_bytes(), 0));
        let long = "x".repeat(300);
        assert_eq!(revision_name(&long, "abc").len(), 223 + 4);
    }

    #[test]
    fn apply_revision_restores_the_template() {
        let set = upstream_set();
        let cr = new_revision(&set, &patch_bytes(&set), 1, 0);
        let mut changed = set.clone();
        changed.spec.as_mut().unwrap().template.spec.as_mut().unwrap().containers[0].image = Some("other".into());
        let restored = apply_revision(&changed, &cr).unwrap();
        assert_eq!(restored.spec.unwrap().template.spec.unwrap().containers[0].image.as_deref(), Some("test"));
    }
}
