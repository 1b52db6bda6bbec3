//! Tests check the documents the way kubectl reads them: the v3 root and its hashes, the
//! GVK and `fieldValidation` lookups of `query_param_verifier_v3.go`, the strategic-merge-patch
//! check of kubectl's apply patcher, the path search of `kubectl explain`'s template, and that
//! every `$ref` resolves.

use std::time::Instant;

use serde_json::{json, Value};

use super::*;
use crate::registry::REGISTRY;

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("documents are valid JSON")
}

fn gv_doc(group: &str, version: &str) -> Value {
    parse(v3_document(&gv_key(group, version)).expect("document for every served group-version"))
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    let name = reference
        .strip_prefix("#/components/schemas/")
        .or_else(|| reference.strip_prefix("#/definitions/"))
        .unwrap_or_else(|| panic!("unexpected reference {reference}"));
    doc.pointer("/components/schemas")
        .or_else(|| doc.get("definitions"))
        .and_then(|d| d.get(name))
        .unwrap_or_else(|| panic!("unresolved reference {reference}"))
}

/// The definition a field refers to, written either as `$ref` or (v3, with a description
/// beside it) as a one-element `allOf`.
fn target<'a>(doc: &'a Value, field: &Value) -> &'a Value {
    let reference = field
        .get("$ref")
        .or_else(|| field.pointer("/allOf/0/$ref"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{field} refers to no definition"));
    resolve(doc, reference)
}

/// The definition carrying `gvk` in its `x-kubernetes-group-version-kind` list.
fn schema_for_gvk<'a>(doc: &'a Value, gvk: &Value) -> (&'a str, &'a Value) {
    doc["components"]["schemas"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, s)| {
            s["x-kubernetes-group-version-kind"]
                .as_array()
                .is_some_and(|l| l.contains(gvk))
        })
        .map(|(n, s)| (n.as_str(), s))
        .unwrap_or_else(|| panic!("no schema with GVK {gvk}"))
}

fn gvk_json(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "kind": kind, "version": version})
}

#[test]
fn openapi_root_lists_every_group_version_with_its_hash() {
    let root = parse(v3_root());
    let entries = root["paths"].as_object().unwrap();
    assert_eq!(entries.len(), group_versions().len());
    for (group, version) in group_versions() {
        let key = gv_key(group, version);
        let url = entries[&key]["serverRelativeURL"].as_str().unwrap();
        let hash = content_hash(v3_document(&key).unwrap());
        assert_eq!(url, format!("/openapi/v3/{key}?hash={hash}"));
    }
    assert!(entries.contains_key("api/v1") && entries.contains_key("apis/apps/v1"));
    assert_eq!(v3_document("apis/nope/v1"), None);
    assert_eq!(v3_document("/apis/apps/v1"), v3_document("apis/apps/v1"));
}

#[test]
fn openapi_content_hash_tracks_content() {
    assert_eq!(content_hash(b"abc"), content_hash(b"abc"));
    assert_ne!(content_hash(b"abc"), content_hash(b"abd"));
    assert_eq!(content_hash(b"").len(), 32);
}

/// `query_param_verifier_v3.go` looks at the *first* PATCH operation it meets whose GVK
/// matches (map order is random) and requires `fieldValidation` among that operation's own
/// parameters; kubectl's apply patcher additionally requires a strategic-merge-patch body.
/// So every PATCH operation for a kind must satisfy both.
#[test]
fn openapi_every_kind_supports_field_validation_and_strategic_merge_patch() {
    for info in REGISTRY {
        let doc = gv_doc(info.group, info.version);
        let gvk = gvk_json(info.group, info.version, info.kind);
        let mut patches = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            let Some(op) = item.get("patch") else {
                continue;
            };
            if op["x-kubernetes-group-version-kind"] != gvk {
                continue;
            }
            patches += 1;
            let params: Vec<&str> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            for name in ["fieldValidation", "dryRun", "fieldManager"] {
                assert!(params.contains(&name), "{path} PATCH lacks {name}");
            }
            assert!(
                op["requestBody"]["content"]
                    .get("application/strategic-merge-patch+json")
                    .is_some(),
                "{path} PATCH does not accept strategic merge patch"
            );
            assert_eq!(op["x-kubernetes-action"], "patch");
        }
        assert!(patches >= 1, "no PATCH operation for {}", info.kind);
        // POST and PUT carry fieldValidation too (kubectl create / replace).
        let collection = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(p, _)| {
                p.ends_with(&format!("/{}", info.plural))
                    && (!info.namespaced() || p.contains("{namespace}"))
            })
            .map(|(_, v)| v)
            .unwrap();
        let post = &collection["post"];
        assert_eq!(post["x-kubernetes-group-version-kind"], gvk);
        assert!(post["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation"));
    }
}

/// Mirrors the path search of kubectl explain's `plaintext.tmpl`: the GVK comes from an
/// operation on one of four path spellings, and a definition must carry that GVK.
#[test]
fn openapi_explain_finds_every_kind_and_its_list() {
    for info in REGISTRY {
        let doc = gv_doc(info.group, info.version);
        let prefix = paths::gv_prefix(info.group, info.version);
        let candidates = [
            format!("{prefix}/{}", info.plural),
            format!("{prefix}/{}/{{name}}", info.plural),
            format!("{prefix}/namespaces/{{namespace}}/{}", info.plural),
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", info.plural),
        ];
        let gvk = candidates
            .iter()
            .filter_map(|p| doc["paths"].get(p))
            .flat_map(|item| ["get", "post", "put", "patch", "delete"].map(|m| item.get(m)))
            .flatten()
            .find_map(|op| op.get("x-kubernetes-group-version-kind"))
            .unwrap_or_else(|| panic!("explain would not find {}", info.plural));
        assert_eq!(*gvk, gvk_json(info.group, info.version, info.kind));
        let (_, schema) = schema_for_gvk(&doc, gvk);
        assert!(
            schema["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{} has no description",
            info.kind
        );
        assert!(schema["properties"].get("metadata").is_some());
        let (list_name, _) =
            schema_for_gvk(&doc, &gvk_json(info.group, info.version, &info.list_kind()));
        assert!(list_name.ends_with(&info.list_kind()));
        // Cluster-scoped kinds have no namespaced paths and vice versa.
        assert_eq!(
            doc["paths"].get(&candidates[3]).is_some(),
            info.namespaced(),
            "{}",
            info.plural
        );
    }
}

#[test]
fn openapi_statefulset_update_strategy_is_documented() {
    let doc = gv_doc("apps", "v1");
    let (_, sts) = schema_for_gvk(&doc, &gvk_json("apps", "v1", "StatefulSet"));
    let spec = target(&doc, &sts["properties"]["spec"]);
    let strategy = &spec["properties"]["updateStrategy"];
    // The field's own description sits beside an `allOf` so that explain prints it as well
    // as the type's.
    assert!(strategy["description"]
        .as_str()
        .unwrap()
        .contains("updateStrategy"));
    assert!(strategy.get("$ref").is_none());
    let strategy = target(&doc, strategy);
    let rolling = target(&doc, &strategy["properties"]["rollingUpdate"]);
    let max_unavailable = target(&doc, &rolling["properties"]["maxUnavailable"]);
    assert_eq!(
        max_unavailable["oneOf"],
        json!([{"type": "integer"}, {"type": "string"}])
    );
    // metadata is optional upstream even though k8s-openapi's Rust field is not.
    assert!(!sts
        .get("required")
        .is_some_and(|r| r.as_array().unwrap().contains(&json!("metadata"))));
}

#[test]
fn openapi_scale_and_status_subresources() {
    let doc = gv_doc("apps", "v1");
    let scale = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}/scale"];
    for m in ["get", "put", "patch"] {
        assert_eq!(
            scale[m]["x-kubernetes-group-version-kind"],
            gvk_json("autoscaling", "v1", "Scale")
        );
    }
    assert_eq!(
        scale["patch"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/io.k8s.api.autoscaling.v1.Scale"
    );
    assert_eq!(
        scale["patch"]["operationId"],
        "patchAppsV1NamespacedStatefulSetScale"
    );
    let status = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}/status"];
    assert_eq!(
        status["put"]["x-kubernetes-group-version-kind"],
        gvk_json("apps", "v1", "StatefulSet")
    );
    let core = gv_doc("", "v1");
    let pv = &core["paths"]["/api/v1/persistentvolumes/{name}"];
    assert_eq!(pv["get"]["operationId"], "readCoreV1PersistentVolume");
    assert!(core["paths"]
        .get("/api/v1/namespaces/{name}/finalize")
        .is_some());
    let binding = &core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/binding"];
    assert_eq!(
        binding["post"]["x-kubernetes-group-version-kind"],
        gvk_json("", "v1", "Binding")
    );
    // Only subresources the server actually serves are documented.
    assert!(core["paths"]
        .get("/api/v1/namespaces/{namespace}/pods/{name}/exec")
        .is_some());
    assert!(core["paths"]
        .get("/api/v1/namespaces/{namespace}/services/{name}/proxy/{path}")
        .is_some());
    assert!(core["paths"]
        .get("/api/v1/namespaces/{namespace}/pods/{name}/attach")
        .is_none());
}

#[test]
fn openapi_patch_metadata_on_fields() {
    let core = gv_doc("", "v1");
    let pod_spec = &core["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"];
    assert_eq!(
        pod_spec["containers"]["x-kubernetes-patch-strategy"],
        "merge"
    );
    assert_eq!(
        pod_spec["containers"]["x-kubernetes-patch-merge-key"],
        "name"
    );
    assert_eq!(
        pod_spec["volumes"]["x-kubernetes-patch-strategy"],
        "merge,retainKeys"
    );
    let container = &core["components"]["schemas"]["io.k8s.api.core.v1.Container"]["properties"];
    assert_eq!(
        container["ports"]["x-kubernetes-patch-merge-key"],
        "containerPort"
    );
    assert_eq!(
        container["volumeMounts"]["x-kubernetes-patch-merge-key"],
        "mountPath"
    );
    let meta = &core["components"]["schemas"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]
        ["properties"];
    assert_eq!(meta["finalizers"]["x-kubernetes-patch-strategy"], "merge");
    assert!(meta["finalizers"]
        .get("x-kubernetes-patch-merge-key")
        .is_none());
    assert_eq!(
        meta["ownerReferences"]["x-kubernetes-patch-merge-key"],
        "uid"
    );
    // The apps/v1 document carries its own copy of the pod template's definitions.
    let apps = gv_doc("apps", "v1");
    let apps_pod_spec = &apps["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"];
    assert_eq!(
        apps_pod_spec["containers"]["x-kubernetes-patch-merge-key"],
        "name"
    );
}

fn assert_refs_resolve(doc: &Value, node: &Value) {
    match node {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    resolve(doc, v.as_str().unwrap());
                } else {
                    assert_refs_resolve(doc, v);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| assert_refs_resolve(doc, v)),
        _ => {}
    }
}

#[test]
fn openapi_every_reference_resolves() {
    for (group, version) in group_versions() {
        let doc = gv_doc(group, version);
        assert_eq!(doc["openapi"], "3.0.0");
        assert_refs_resolve(&doc, &doc);
        assert!(
            !doc.to_string().contains("#/definitions/"),
            "v2 reference in v3 document"
        );
    }
    let v2 = parse(v2_document());
    assert_eq!(v2["swagger"], "2.0");
    assert_refs_resolve(&v2, &v2);
    assert!(
        !v2.to_string().contains("#/components/"),
        "v3 reference in v2 document"
    );
}

#[test]
fn openapi_v2_document_shape() {
    let v2 = parse(v2_document());
    let defs = &v2["definitions"];
    assert_eq!(
        defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["type"],
        "string"
    );
    assert_eq!(
        defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"],
        "int-or-string"
    );
    assert_eq!(
        defs["io.k8s.apimachinery.pkg.api.resource.Quantity"]["type"],
        "string"
    );
    assert_eq!(
        defs["io.k8s.api.apps.v1.StatefulSet"]["x-kubernetes-group-version-kind"],
        json!([gvk_json("apps", "v1", "StatefulSet")])
    );
    let patch = &v2["paths"]["/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}"]["patch"];
    assert!(patch["consumes"]
        .as_array()
        .unwrap()
        .contains(&json!("application/strategic-merge-patch+json")));
    assert!(patch["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "fieldValidation" && p["in"] == "query"));
    assert_eq!(patch["parameters"][0]["in"], "body");
    for info in REGISTRY {
        let prefix = paths::gv_prefix(info.group, info.version);
        assert!(v2["paths"]
            .as_object()
            .unwrap()
            .keys()
            .any(|p| p.starts_with(&prefix) && p.contains(info.plural)));
    }
}

/// Walks an object the way `PatchMetaFromOpenAPIV3` does while kubectl computes an apply
/// patch: every field present in the object must be found in the schema, or kubectl
/// reports "unable to find api field" and gives up on the v3 schema.
fn walk(doc: &Value, schema: &Value, value: &Value, at: &str) {
    // PatchMetaFromOpenAPIV3 follows the first `allOf` element, then a `$ref`.
    let mut schema = schema.pointer("/allOf/0").unwrap_or(schema);
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        schema = resolve(doc, r);
    }
    match value {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties") {
                for (k, v) in map {
                    let sub = props
                        .get(k)
                        .unwrap_or_else(|| panic!("unable to find api field {at}.{k}"));
                    walk(doc, sub, v, &format!("{at}.{k}"));
                }
            } else if let Some(extra) = schema.get("additionalProperties").filter(|a| a.is_object())
            {
                map.iter()
                    .for_each(|(k, v)| walk(doc, extra, v, &format!("{at}.{k}")));
            }
        }
        Value::Array(items) => {
            let sub = schema
                .get("items")
                .unwrap_or_else(|| panic!("{at} is not an array in the schema"));
            items
                .iter()
                .for_each(|v| walk(doc, sub, v, &format!("{at}[]")));
        }
        _ => {}
    }
}

#[test]
fn openapi_realistic_objects_match_their_schemas() {
    let sts = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"a": "b"}},
        "spec": {
            "serviceName": "web", "replicas": 2, "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": "web"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": 1}},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Delete"},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "terminationGracePeriodSeconds": 10,
                    "containers": [{
                        "name": "c", "image": "luksa/kubia-pet",
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                        "readinessProbe": {"httpGet": {"path": "/", "port": 8080}},
                        "volumeMounts": [{"name": "data", "mountPath": "/var/data"}]
                    }]
                }
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}}
            }]
        }
    });
    let apps = gv_doc("apps", "v1");
    let (_, schema) = schema_for_gvk(&apps, &gvk_json("apps", "v1", "StatefulSet"));
    walk(&apps, schema, &sts, "StatefulSet");

    let svc = json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}
    });
    let core = gv_doc("", "v1");
    let (_, schema) = schema_for_gvk(&core, &gvk_json("", "v1", "Service"));
    walk(&core, schema, &svc, "Service");
}

/// Generation runs on the first request, so its cost is paid by a kubectl call: keep it well
/// under a second. Builds everything from scratch (bypassing the caches) so the measurement
/// does not depend on test order.
#[test]
fn openapi_generation_is_fast() {
    let start = Instant::now();
    let defs = schemas::generate();
    let after_schemas = start.elapsed();
    let mut bytes = 0;
    for (group, version) in group_versions() {
        let doc = v3::document(&defs, &paths::group_version_paths(group, version));
        bytes += serde_json::to_vec(&doc).unwrap().len();
    }
    let after_v3 = start.elapsed();
    let all: Vec<_> = group_versions()
        .into_iter()
        .flat_map(|(g, v)| paths::group_version_paths(g, v))
        .collect();
    let v2_bytes = serde_json::to_vec(&v2::document(&defs, &all))
        .unwrap()
        .len();
    let total = start.elapsed();
    eprintln!(
        "openapi generation: {} definitions in {after_schemas:?}; v3 documents ({bytes} bytes) by {after_v3:?}; v2 ({v2_bytes} bytes) by {total:?}",
        defs.len()
    );
    // Generous bound for an unoptimized build on a loaded machine; typical numbers are in the
    // report and in the line printed above.
    assert!(total.as_secs_f64() < 3.0, "generation took {total:?}");
}

/// Test helper, not a check: with `BERTH_OPENAPI_DUMP=<dir>` set, writes the documents as
/// the API server would serve them (`<dir>/openapi/v3`, `<dir>/openapi/v3/apis/apps/v1`, …,
/// `<dir>/openapi/v2`), for pointing a real kubectl at a static server.
#[test]
fn openapi_dump_documents_when_asked() {
    let Some(dir) = std::env::var_os("BERTH_OPENAPI_DUMP") else {
        return;
    };
    let dir = std::path::Path::new(&dir).join("openapi");
    let write = |rel: &str, bytes: &[u8]| {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    // The root is written as v3/index.json because v3/ is also a directory.
    write("v3/index.json", v3_root());
    for (group, version) in group_versions() {
        let key = gv_key(group, version);
        write(&format!("v3/{key}/index.json"), v3_document(&key).unwrap());
    }
    write("v2/index.json", v2_document());
}
