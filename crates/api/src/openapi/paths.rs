//! The REST operations berth serves, as a format-neutral model rendered by `v3.rs` and `v2.rs`.
//!
//! Built from `registry::REGISTRY`: for each resource the collection and item paths
//! (namespaced or cluster-scoped, as upstream lays them out), the all-namespaces list, and one
//! path per subresource. Operation ids, tags, `x-kubernetes-action` and
//! `x-kubernetes-group-version-kind` follow upstream's apiserver. kubectl relies on two of
//! these facts: `kubectl explain` finds a resource's kind through the GVK of the operations on
//! its paths, and `kubectl apply`/`create` send `fieldValidation=Strict` only if the PATCH
//! operation for the kind lists a `fieldValidation` parameter (and compute apply patches from
//! the schema only if that PATCH accepts `application/strategic-merge-patch+json`).

use super::kinds::{self, Gvk};
use super::params::{self, Param};
use super::schemas::list_definition;
use crate::registry::{ResourceInfo, REGISTRY};

/// What an operation takes as its body.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// A whole object of this definition (create, replace).
    Object(String),
    /// A patch document, in any of the patch content types.
    Patch,
    /// `DeleteOptions`.
    Delete,
}

/// What an operation answers with on success.
#[derive(Debug, Clone)]
pub(crate) enum Response {
    Object(String),
    /// A list; also served as a watch stream.
    List(String),
    /// Plain text or a stream (logs, exec, proxy).
    Text,
}

#[derive(Debug, Clone)]
pub(crate) struct Operation {
    /// Lowercase HTTP method: "get", "post", …
    pub method: &'static str,
    /// `x-kubernetes-action`.
    pub action: &'static str,
    pub id: String,
    pub description: String,
    pub gvk: Gvk,
    pub params: Vec<Param>,
    pub body: Option<Body>,
    /// Status codes answered with `response`.
    pub codes: &'static [u16],
    pub response: Response,
    pub tag: String,
}

#[derive(Debug, Clone)]
pub(crate) struct PathItem {
    pub path: String,
    /// Parameters common to all operations of the path (path parameters and `pretty`).
    pub params: Vec<Param>,
    pub ops: Vec<Operation>,
}

/// "/api/v1" or "/apis/apps/v1".
pub(crate) fn gv_prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

/// Upstream's operation-id and tag spelling of a group: "" → "core", "storage.k8s.io" → "storage".
fn group_word(group: &str) -> &str {
    if group.is_empty() {
        "core"
    } else {
        group.split('.').next().unwrap_or(group)
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Upstream's spelling of the resource's operation ids and tag.
struct Naming {
    /// "AppsV1"
    gv: String,
    /// "apps_v1"
    tag: String,
}

impl Naming {
    fn new(group: &str, version: &str) -> Naming {
        let word = group_word(group);
        Naming { gv: format!("{}{}", capitalize(word), capitalize(version)), tag: format!("{word}_{version}") }
    }
}

/// All paths of one group-version, in a stable order: discovery first, then the registry's
/// resources in registry order.
pub(crate) fn group_version_paths(group: &str, version: &str) -> Vec<PathItem> {
    let naming = Naming::new(group, version);
    let mut out = vec![PathItem {
        path: format!("{}/", gv_prefix(group, version)),
        params: vec![],
        ops: vec![Operation {
            method: "get",
            action: "",
            id: format!("get{}APIResources", naming.gv),
            description: "get available resources".into(),
            gvk: Gvk::new("", "", ""),
            params: vec![],
            body: None,
            codes: &[200],
            response: Response::Object(kinds::API_RESOURCE_LIST.into()),
            tag: naming.tag.clone(),
        }],
    }];
    for info in REGISTRY.iter().filter(|r| r.group == group && r.version == version) {
        out.extend(resource_paths(info, &naming));
    }
    out
}

fn definition_of(group: &str, version: &str, kind: &str) -> String {
    let t = kinds::kind_type(group, version, kind)
        .unwrap_or_else(|| panic!("no k8s-openapi type for {group}/{version} {kind}"));
    (t.definition)().into_owned()
}

fn resource_paths(info: &'static ResourceInfo, naming: &Naming) -> Vec<PathItem> {
    let kind = info.kind;
    let gvk = Gvk::new(info.group, info.version, kind);
    let def = definition_of(info.group, info.version, kind);
    let list_def = list_definition(&def);
    let prefix = gv_prefix(info.group, info.version);
    let (collection, scope_word, mut scope_params) = if info.namespaced() {
        (format!("{prefix}/namespaces/{{namespace}}/{}", info.plural), "Namespaced", vec![params::path_namespace()])
    } else {
        (format!("{prefix}/{}", info.plural), "", vec![])
    };
    let gv = &naming.gv;
    let op = |method, action, id: String, description: String, params: Vec<Param>, body, codes, response| Operation {
        method,
        action,
        id,
        description,
        gvk,
        params,
        body,
        codes,
        response,
        tag: naming.tag.clone(),
    };
    let with_pretty = |mut p: Vec<Param>| {
        p.push(params::q("pretty"));
        p
    };

    let mut out = Vec::new();
    out.push(PathItem {
        path: collection.clone(),
        params: with_pretty(scope_params.clone()),
        ops: vec![
            op("get", "list", format!("list{gv}{scope_word}{kind}"), format!("list or watch objects of kind {kind}"),
                params::many(params::LIST), None, &[200], Response::List(list_def.clone())),
            op("post", "post", format!("create{gv}{scope_word}{kind}"), format!("create a {kind}"),
                params::many(params::WRITE), Some(Body::Object(def.clone())), &[200, 201, 202], Response::Object(def.clone())),
            op("delete", "deletecollection", format!("delete{gv}Collection{scope_word}{kind}"), format!("delete collection of {kind}"),
                params::many(params::DELETE_COLLECTION), Some(Body::Delete), &[200], Response::Object(kinds::STATUS.into())),
        ],
    });

    scope_params.insert(0, params::path_name(kind));
    let item = format!("{collection}/{{name}}");
    // Deleting a pod answers the pod (it is deleted gracefully); other kinds answer a Status.
    let deleted = if info.group.is_empty() && kind == "Pod" { def.clone() } else { kinds::STATUS.to_string() };
    out.push(PathItem {
        path: item.clone(),
        params: with_pretty(scope_params.clone()),
        ops: vec![
            op("get", "get", format!("read{gv}{scope_word}{kind}"), format!("read the specified {kind}"),
                vec![], None, &[200], Response::Object(def.clone())),
            op("put", "put", format!("replace{gv}{scope_word}{kind}"), format!("replace the specified {kind}"),
                params::many(params::WRITE), Some(Body::Object(def.clone())), &[200, 201], Response::Object(def.clone())),
            op("patch", "patch", format!("patch{gv}{scope_word}{kind}"), format!("partially update the specified {kind}"),
                params::many(params::PATCH), Some(Body::Patch), &[200, 201], Response::Object(def.clone())),
            op("delete", "delete", format!("delete{gv}{scope_word}{kind}"), format!("delete a {kind}"),
                params::many(params::DELETE), Some(Body::Delete), &[200, 202], Response::Object(deleted)),
        ],
    });

    if info.namespaced() {
        out.push(PathItem {
            path: format!("{prefix}/{}", info.plural),
            params: with_pretty(vec![]),
            ops: vec![op("get", "list", format!("list{gv}{kind}ForAllNamespaces"),
                format!("list or watch objects of kind {kind}"), params::many(params::LIST), None, &[200],
                Response::List(list_def.clone()))],
        });
    }

    for sub in info.subresources {
        let path = format!("{item}/{sub}");
        let title = capitalize(sub);
        let id = |verb: &str| format!("{verb}{gv}{scope_word}{kind}{title}");
        let sub_op = |method, action, verb: &str, description: String, params, body, codes, response, gvk| Operation {
            gvk,
            ..op(method, action, id(verb), description, params, body, codes, response)
        };
        let read_write = |target: &str, target_gvk: Gvk| {
            vec![
                sub_op("get", "get", "read", format!("read {sub} of the specified {kind}"), vec![], None, &[200],
                    Response::Object(target.to_string()), target_gvk),
                sub_op("put", "put", "replace", format!("replace {sub} of the specified {kind}"),
                    params::many(params::WRITE), Some(Body::Object(target.to_string())), &[200, 201],
                    Response::Object(target.to_string()), target_gvk),
                sub_op("patch", "patch", "patch", format!("partially update {sub} of the specified {kind}"),
                    params::many(params::PATCH), Some(Body::Patch), &[200, 201], Response::Object(target.to_string()),
                    target_gvk),
            ]
        };
        let create = |target_gvk: Gvk| {
            let target = definition_of(target_gvk.group, target_gvk.version, target_gvk.kind);
            vec![sub_op("post", "post", "create", format!("create {sub} of a {kind}"), params::many(params::WRITE),
                Some(Body::Object(target.clone())), &[200, 201, 202], Response::Object(target), target_gvk)]
        };
        let connect = |methods: &[&'static str], options_kind: &'static str, query: Vec<Param>| {
            methods
                .iter()
                .map(|&m| sub_op(m, "connect", &format!("connect{}", capitalize(m)),
                    format!("connect {} requests to {sub} of {kind}", m.to_uppercase()), query.clone(), None, &[200],
                    Response::Text, Gvk::new(info.group, info.version, options_kind)))
                .collect::<Vec<_>>()
        };
        let (ops, path_params) = match *sub {
            "status" => (read_write(&def, gvk), with_pretty(scope_params.clone())),
            "scale" => {
                let scale = kinds::kind_type("autoscaling", "v1", "Scale").expect("Scale is in KIND_TYPES");
                (read_write(&(scale.definition)(), scale.gvk()), with_pretty(scope_params.clone()))
            }
            "finalize" => {
                let mut ops = read_write(&def, gvk);
                ops.retain(|o| o.method == "put");
                (ops, with_pretty(scope_params.clone()))
            }
            "binding" => (create(Gvk::new("", "v1", "Binding")), with_pretty(scope_params.clone())),
            "eviction" => (create(Gvk::new("policy", "v1", "Eviction")), with_pretty(scope_params.clone())),
            "token" => (create(Gvk::new("authentication.k8s.io", "v1", "TokenRequest")), with_pretty(scope_params.clone())),
            "log" => {
                let ops = vec![sub_op("get", "get", "read", format!("read log of the specified {kind}"),
                    params::many(params::LOG), None, &[200], Response::Text, gvk)];
                (ops, with_pretty(scope_params.clone()))
            }
            "exec" => (connect(&["get", "post"], "PodExecOptions", params::many(params::EXEC)), scope_params.clone()),
            "proxy" => {
                let options_kind: &'static str = match kind {
                    "Pod" => "PodProxyOptions",
                    "Service" => "ServiceProxyOptions",
                    "Node" => "NodeProxyOptions",
                    other => panic!("no proxy options kind for {other}"),
                };
                let methods = &["delete", "get", "head", "options", "patch", "post", "put"];
                // `/proxy` takes the target path as a query parameter, `/proxy/{path}` in the URL.
                let mut with_path = scope_params.clone();
                with_path.insert(1, params::path_proxy_path());
                let ops_with_path = connect(methods, options_kind, vec![]);
                out.push(PathItem {
                    path: format!("{path}/{{path}}"),
                    params: with_path,
                    ops: ops_with_path.into_iter().map(|mut o| {
                        o.id = o.id.replacen(&format!("{kind}{title}"), &format!("{kind}{title}WithPath"), 1);
                        o
                    }).collect(),
                });
                (connect(methods, options_kind, vec![params::q("path")]), scope_params.clone())
            }
            other => panic!("subresource {other} of {kind} has no OpenAPI description"),
        };
        out.push(PathItem { path, params: path_params, ops });
    }
    out
}
