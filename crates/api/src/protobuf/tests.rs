//! Tests: real kubectl captures (testdata/) and hand-built messages for the edge cases.

use serde_json::{json, Value};

use super::schema::{Field, Kind, Message, Shape};
use super::value::decode_message;
use super::wire::{Reader, WireError, WireValue};
use super::{decode, ProtoError};

// ---- a tiny encoder, only for building test inputs ----

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn len_field(number: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = varint(u64::from(number) << 3 | 2);
    out.extend(varint(payload.len() as u64));
    out.extend_from_slice(payload);
    out
}

fn varint_field(number: u32, v: u64) -> Vec<u8> {
    let mut out = varint(u64::from(number) << 3);
    out.extend(varint(v));
    out
}

/// A complete body: magic + runtime.Unknown{typeMeta, raw}.
fn body(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let type_meta = [len_field(1, api_version.as_bytes()), len_field(2, kind.as_bytes())].concat();
    [b"k8s\x00".to_vec(), len_field(1, &type_meta), len_field(2, raw)].concat()
}

// ---- real kubectl captures ----

fn check_fixture(name: &str) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/protobuf/testdata");
    let pb = std::fs::read(format!("{dir}/{name}.pb")).unwrap();
    let expected: Value = serde_json::from_slice(&std::fs::read(format!("{dir}/{name}.json")).unwrap()).unwrap();
    let decoded = decode(&pb).unwrap_or_else(|e| panic!("{name}: {e}"));
    // Compare the serialised text, so key order (Go struct order, sorted map keys) counts too.
    assert_eq!(
        serde_json::to_string_pretty(&decoded).unwrap(),
        serde_json::to_string_pretty(&expected).unwrap(),
        "{name}"
    );
}

#[test]
fn kubectl_create_namespace() {
    check_fixture("namespace");
}

#[test]
fn kubectl_create_configmap() {
    check_fixture("configmap");
}

#[test]
fn kubectl_create_secret_generic() {
    check_fixture("secret");
}

#[test]
fn kubectl_create_serviceaccount() {
    check_fixture("serviceaccount");
}

#[test]
fn kubectl_create_service_clusterip() {
    check_fixture("service_clusterip");
}

#[test]
fn kubectl_create_service_nodeport() {
    check_fixture("service_nodeport");
}

#[test]
fn kubectl_create_token() {
    check_fixture("token");
}

#[test]
fn kubectl_create_deployment() {
    check_fixture("deployment");
}

#[test]
fn kubectl_create_configmap_from_files_with_binary_data() {
    check_fixture("configmap_files");
}

#[test]
fn kubectl_create_secret_tls() {
    check_fixture("secret_tls");
}

#[test]
fn kubectl_create_secret_docker_registry() {
    check_fixture("secret_docker");
}

#[test]
fn kubectl_create_service_loadbalancer() {
    check_fixture("service_lb");
}

#[test]
fn kubectl_create_service_externalname() {
    check_fixture("service_externalname");
}

#[test]
fn kubectl_create_service_clusterip_none() {
    check_fixture("service_headless");
}

#[test]
fn kubectl_create_deployment_with_command_port_replicas() {
    check_fixture("deployment_full");
}

#[test]
fn kubectl_create_namespace_save_config() {
    check_fixture("namespace_labels");
}

#[test]
fn kubectl_create_token_bound_to_pod() {
    check_fixture("token_bound");
}

#[test]
fn every_truncation_of_every_capture_is_an_error_or_a_value_never_a_panic() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/protobuf/testdata");
    for name in ["namespace", "configmap_files", "secret_tls", "service_lb", "token_bound", "deployment_full"] {
        let pb = std::fs::read(format!("{dir}/{name}.pb")).unwrap();
        for end in 0..pb.len() {
            let _ = decode(&pb[..end]);
        }
        // Flip each byte too: lengths, tags and varints all get corrupted somewhere.
        for i in 4..pb.len() {
            for flip in [0x80u8, 0xff, 0x07] {
                let mut bad = pb.clone();
                bad[i] ^= flip;
                let _ = decode(&bad);
            }
        }
    }
}

// ---- the wire reader on malformed input ----

#[test]
fn truncated_varint_is_an_error() {
    let mut r = Reader::new(&[0x80, 0x80]);
    assert_eq!(r.read_varint(), Err(WireError::Truncated));
    // A field key with a varint payload cut short.
    let mut r = Reader::new(&[0x08, 0xff]);
    assert_eq!(r.next_field(), Err(WireError::Truncated));
}

#[test]
fn overlong_varint_is_an_error() {
    let mut r = Reader::new(&[0xff; 11]);
    assert_eq!(r.read_varint(), Err(WireError::VarintOverflow));
}

#[test]
fn length_past_the_end_is_an_error() {
    let mut r = Reader::new(&[0x0a, 0x05, b'a', b'b']);
    assert_eq!(r.next_field(), Err(WireError::LengthOutOfBounds { length: 5, remaining: 2 }));
    // A length that does not even fit in usize arithmetic.
    let mut huge = vec![0x0a];
    huge.extend(varint(u64::MAX));
    assert!(matches!(Reader::new(&huge).next_field(), Err(WireError::LengthOutOfBounds { .. })));
}

#[test]
fn truncated_fixed_width_values_are_errors() {
    assert_eq!(Reader::new(&[0x09, 1, 2, 3]).next_field(), Err(WireError::Truncated));
    assert_eq!(Reader::new(&[0x0d, 1, 2]).next_field(), Err(WireError::Truncated));
}

#[test]
fn groups_and_bad_wire_types_and_field_zero_are_errors() {
    assert_eq!(Reader::new(&[0x0b]).next_field(), Err(WireError::UnsupportedWireType(3)));
    assert_eq!(Reader::new(&[0x0e]).next_field(), Err(WireError::UnsupportedWireType(6)));
    assert_eq!(Reader::new(&[0x00, 0x01]).next_field(), Err(WireError::InvalidFieldNumber(0)));
}

#[test]
fn reader_reads_each_wire_type() {
    let bytes = [varint_field(1, 300), vec![0x11, 1, 0, 0, 0, 0, 0, 0, 0], len_field(3, b"hi"), vec![0x25, 7, 0, 0, 0]]
        .concat();
    let mut r = Reader::new(&bytes);
    assert_eq!(r.next_field(), Ok(Some((1, WireValue::Varint(300)))));
    assert_eq!(r.next_field(), Ok(Some((2, WireValue::Fixed64(1)))));
    assert_eq!(r.next_field(), Ok(Some((3, WireValue::Len(b"hi")))));
    assert_eq!(r.next_field(), Ok(Some((4, WireValue::Fixed32(7)))));
    assert_eq!(r.next_field(), Ok(None));
}

#[test]
fn wrong_wire_type_for_a_known_field_is_an_error() {
    // ConfigMap.metadata (1) as a varint.
    let err = decode(&body("v1", "ConfigMap", &varint_field(1, 5))).unwrap_err();
    assert!(matches!(err, ProtoError::InvalidField { field: "metadata", number: 1, .. }), "{err}");
    // Namespace.metadata.name (1) as a varint.
    let err = decode(&body("v1", "Namespace", &len_field(1, &varint_field(1, 5)))).unwrap_err();
    assert!(err.to_string().contains("meta/v1.ObjectMeta field 1 (name)"), "{err}");
}

// ---- the envelope ----

#[test]
fn envelope_errors() {
    assert!(matches!(decode(b"{\"kind\":\"Pod\"}"), Err(ProtoError::MissingMagic)));
    assert!(matches!(decode(b"k8s"), Err(ProtoError::MissingMagic)));
    assert!(matches!(decode(b"k8s\x00"), Err(ProtoError::MissingTypeMeta)));
    let err = decode(&body("v1", "Frobnicator", &[])).unwrap_err();
    assert!(matches!(&err, ProtoError::UnsupportedType { kind, .. } if kind == "Frobnicator"));
    assert_eq!(err.to_string(), "berth cannot decode Frobnicator (v1) from protobuf; send it as application/json");
    let mut gz = body("v1", "ConfigMap", &[]);
    gz.extend(len_field(3, b"gzip"));
    assert!(matches!(decode(&gz), Err(ProtoError::UnsupportedContentEncoding(e)) if e == "gzip"));
    let mut js = body("v1", "ConfigMap", &[]);
    js.extend(len_field(4, b"application/json"));
    assert!(matches!(decode(&js), Err(ProtoError::UnsupportedContentType(_))));
}

#[test]
fn unknown_fields_are_skipped() {
    let raw = [
        varint_field(99, 1),
        vec![0x99, 0x06, 0, 0, 0, 0, 0, 0, 0, 0], // field 99, fixed64
        len_field(1, &len_field(1, b"cm")),
        len_field(1000, b"ignored"),
    ]
    .concat();
    let v = decode(&body("v1", "ConfigMap", &raw)).unwrap();
    assert_eq!(v, json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "cm", "creationTimestamp": null}}));
}

#[test]
fn delete_options_under_any_group_version() {
    let raw = [varint_field(1, 0), len_field(4, b"Foreground"), len_field(5, b"All")].concat();
    let v = decode(&body("apps/v1", "DeleteOptions", &raw)).unwrap();
    // gracePeriodSeconds is a pointer: present with 0 means "now", and must stay.
    assert_eq!(
        v,
        json!({"kind": "DeleteOptions", "apiVersion": "apps/v1", "gracePeriodSeconds": 0,
               "propagationPolicy": "Foreground", "dryRun": ["All"]})
    );
}

// ---- field semantics ----

fn object_meta(fields: &[Vec<u8>]) -> Vec<u8> {
    len_field(1, &fields.concat())
}

#[test]
fn time_and_microtime() {
    // Lease: spec.acquireTime is MicroTime (pointer), metadata.creationTimestamp is Time.
    let ts = [varint_field(1, 1_700_000_000), varint_field(2, 123_456_789)].concat();
    let spec = [len_field(1, b"holder"), len_field(3, &ts)].concat();
    let raw = [object_meta(&[len_field(8, &ts)]), len_field(2, &spec)].concat();
    let v = decode(&body("coordination.k8s.io/v1", "Lease", &raw)).unwrap();
    assert_eq!(v["metadata"]["creationTimestamp"], "2023-11-14T22:13:20Z");
    assert_eq!(v["spec"]["acquireTime"], "2023-11-14T22:13:20.123456Z");
    assert_eq!(v["spec"]["holderIdentity"], "holder");
    assert!(v["spec"].get("renewTime").is_none());
    // Before 1970: negative seconds are ten-byte varints.
    let raw = object_meta(&[len_field(8, &varint_field(1, (-86_400i64) as u64))]);
    let v = decode(&body("v1", "Namespace", &raw)).unwrap();
    assert_eq!(v["metadata"]["creationTimestamp"], "1969-12-31T00:00:00Z");
    // A time past year 9999 cannot be written as Go writes RFC 3339.
    let raw = object_meta(&[len_field(8, &varint_field(1, 300_000_000_000))]);
    assert!(matches!(decode(&body("v1", "Namespace", &raw)), Err(ProtoError::InvalidField { .. })));
}

#[test]
fn pointer_fields_keep_zero_values_and_plain_fields_with_omitempty_drop_them() {
    // ObjectMeta.generation (plain int64, omitempty) = 0 → omitted;
    // deletionGracePeriodSeconds (*int64) = 0 → kept; Secret.immutable (*bool) = false → kept.
    let raw = [object_meta(&[varint_field(7, 0), varint_field(10, 0)]), varint_field(5, 0)].concat();
    let v = decode(&body("v1", "Secret", &raw)).unwrap();
    assert_eq!(
        v,
        json!({"kind": "Secret", "apiVersion": "v1",
               "metadata": {"creationTimestamp": null, "deletionGracePeriodSeconds": 0}, "immutable": false})
    );
}

#[test]
fn bytes_maps_are_base64_and_missing_map_values_are_zero() {
    let entry = |k: &str, v: Option<&[u8]>| {
        let mut e = len_field(1, k.as_bytes());
        if let Some(v) = v {
            e.extend(len_field(2, v));
        }
        len_field(2, &e)
    };
    let raw = [entry("b", Some(&[0, 1, 2, 253, 254, 255])), entry("a", None), entry("c", Some(b"x")), entry("c", Some(b"hello"))]
        .concat();
    let v = decode(&body("v1", "Secret", &raw)).unwrap();
    // Sorted keys, last duplicate wins, as Go's map and encoder do.
    assert_eq!(serde_json::to_string(&v["data"]).unwrap(), r#"{"a":"","b":"AAEC/f7/","c":"aGVsbG8="}"#);
    assert_eq!(super::base64::encode(b"admin"), "YWRtaW4=");
    assert_eq!(super::base64::encode(b"ab"), "YWI=");
    assert_eq!(super::base64::encode(b""), "");
}

#[test]
fn int_or_string_and_quantity() {
    let port = |ios: &[u8]| len_field(1, &[varint_field(3, 80), len_field(4, ios)].concat());
    let spec = [port(&[varint_field(1, 1), len_field(3, b"http")].concat()), port(&varint_field(2, 8080))].concat();
    let v = decode(&body("v1", "Service", &len_field(2, &spec))).unwrap();
    assert_eq!(v["spec"]["ports"], json!([{"port": 80, "targetPort": "http"}, {"port": 80, "targetPort": 8080}]));
    assert_eq!(v["status"], json!({"loadBalancer": {}}));
    let bad = port(&varint_field(1, 7));
    assert!(decode(&body("v1", "Service", &len_field(2, &bad))).is_err());

    // PersistentVolume.spec.capacity: map<string, Quantity>.
    let cap = len_field(1, &[len_field(1, b"storage"), len_field(2, &len_field(1, b"10Gi"))].concat());
    let v = decode(&body("v1", "PersistentVolume", &len_field(2, &cap))).unwrap();
    assert_eq!(v["spec"]["capacity"], json!({"storage": "10Gi"}));
    let empty = len_field(1, &[len_field(1, b"storage"), len_field(2, &len_field(1, b""))].concat());
    assert!(decode(&body("v1", "PersistentVolume", &len_field(2, &empty))).is_err());
}

#[test]
fn inline_structs_merge_into_the_parent() {
    // PersistentVolumeSpec.persistentVolumeSource (2, inline) → hostPath (3) {path=1}.
    let spec = len_field(2, &len_field(3, &len_field(1, b"/data")));
    let v = decode(&body("v1", "PersistentVolume", &len_field(2, &spec))).unwrap();
    assert_eq!(v["spec"]["hostPath"], json!({"path": "/data"}));
}

#[test]
fn repeated_occurrences_of_a_message_merge_and_repeated_numbers_may_be_packed() {
    // metadata sent in two pieces merges, as protobuf requires.
    let raw = [object_meta(&[len_field(1, b"ns1")]), object_meta(&[len_field(6, b"42")])].concat();
    let v = decode(&body("v1", "Namespace", &raw)).unwrap();
    assert_eq!(v["metadata"], json!({"name": "ns1", "resourceVersion": "42", "creationTimestamp": null}));
    // PodSecurityContext.supplementalGroups (4, []int64): packed and unpacked.
    let psc = [len_field(4, &[varint(1), varint(2)].concat()), varint_field(4, 3)].concat();
    let raw = len_field(2, &len_field(14, &psc));
    let v = decode(&body("v1", "Pod", &raw)).unwrap();
    assert_eq!(v["spec"]["securityContext"]["supplementalGroups"], json!([1, 2, 3]));
}

#[test]
fn raw_extension_embeds_json() {
    // ManagedFieldsEntry.fieldsV1 {Raw=1}.
    let mf = [len_field(1, b"kubectl"), len_field(7, &len_field(1, br#"{"f:data":{}}"#))].concat();
    let v = decode(&body("v1", "ConfigMap", &object_meta(&[len_field(17, &mf)]))).unwrap();
    assert_eq!(v["metadata"]["managedFields"], json!([{"manager": "kubectl", "fieldsV1": {"f:data": {}}}]));
    let bad = [len_field(7, &len_field(1, b"k8s\x00..."))].concat();
    assert!(decode(&body("v1", "ConfigMap", &object_meta(&[len_field(17, &bad)]))).is_err());
}

/// A message using the kinds no covered Kubernetes type uses yet.
static TEST_MESSAGE: Message = Message {
    name: "test.Message",
    fields: &[
        Field { number: 1, json: "ratio", kind: Kind::Double, shape: Shape::Value, omitempty: true },
        Field { number: 2, json: "ratios", kind: Kind::Double, shape: Shape::Repeated, omitempty: true },
        Field { number: 3, json: "object", kind: Kind::RawExtension, shape: Shape::Value, omitempty: false },
        Field { number: 4, json: "nested", kind: Kind::Message(&TEST_MESSAGE), shape: Shape::Pointer, omitempty: true },
        Field { number: 5, json: "list", kind: Kind::Message(&super::schema::meta_v1::LIST_META), shape: Shape::Value, omitempty: false },
    ],
};

fn fixed64_field(number: u32, v: f64) -> Vec<u8> {
    let mut out = varint(u64::from(number) << 3 | 1);
    out.extend(v.to_bits().to_le_bytes());
    out
}

#[test]
fn doubles_raw_extensions_and_list_meta() {
    let packed: Vec<u8> = [0.5f64, 2.0].iter().flat_map(|v| v.to_bits().to_le_bytes()).collect();
    let raw = [
        fixed64_field(1, 1.5),
        len_field(2, &packed),
        fixed64_field(2, -3.0),
        len_field(3, &len_field(1, br#"{"kind":"Pod","apiVersion":"v1"}"#)),
        len_field(5, &[len_field(2, b"7"), varint_field(4, 0)].concat()),
    ]
    .concat();
    let v = decode_message(&TEST_MESSAGE, &raw, 0).unwrap();
    assert_eq!(
        Value::Object(v),
        json!({"ratio": 1.5, "ratios": [0.5, 2.0, -3.0], "object": {"kind": "Pod", "apiVersion": "v1"},
               "list": {"resourceVersion": "7", "remainingItemCount": 0}})
    );
    // Zero double with omitempty is dropped; a missing RawExtension is null; NaN is refused.
    let v = decode_message(&TEST_MESSAGE, &fixed64_field(1, 0.0), 0).unwrap();
    assert_eq!(Value::Object(v), json!({"object": null, "list": {}}));
    assert!(decode_message(&TEST_MESSAGE, &fixed64_field(1, f64::NAN), 0).is_err());
    // A double field sent as a varint has the wrong wire type.
    assert!(decode_message(&TEST_MESSAGE, &varint_field(1, 1), 0).is_err());
}

#[test]
fn nesting_is_bounded_for_recursive_messages() {
    // The covered Kubernetes types are not recursive, but the decoder must not overflow its stack
    // if a recursive one is ever added.
    let mut raw = Vec::new();
    for _ in 0..200 {
        raw = len_field(4, &raw);
    }
    assert!(matches!(decode_message(&TEST_MESSAGE, &raw, 0), Err(ProtoError::TooDeep(_))));
}
