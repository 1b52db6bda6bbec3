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
use super::subresources;
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

impl Operation {
    /// An operation with no parameters, no body and a `200` text answer; the builder methods
    /// below fill in the rest.
    pub fn new(method: &'static str, action: &'static str, id: String, gvk: Gvk) -> Operation {
        Operation {
            method,
            action,
            id,
            description: String::new(),
            gvk,
            params: vec![],
            body: None,
            codes: &[200],
            response: Response::Text,
            tag: String::new(),
        }
    }

    pub fn describe(mut self, description: String) -> Operation {
        self.description = description;
        self
    }

    pub fn query(mut self, names: &[&str]) -> Operation {
        self.params = params::many(names);
        self
    }

    pub fn body(mut self, body: Body) -> Operation {
        self.body = Some(body);
        self
    }

    pub fn answers(mut self, codes: &'static [u16], response: Response) -> Operation {
        self.codes = codes;
        self.response = response;
        self
    }
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

pub(crate) fn capitalize(s: &str) -> String {
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
        Naming {
            gv: format!("{}{}", capitalize(word), capitalize(version)),
            tag: format!("{word}_{version}"),
        }
    }
}

/// All paths of one group-version, in a stable order: discovery first, then the registry's
/// resources in registry order.
pub(crate) fn group_version_paths(group: &str, version: &str) -> Vec<PathItem> {
    let gv = Naming::new(group, version).gv;
    let discovery = Operation::new(
        "get",
        "",
        format!("get{gv}APIResources"),
        Gvk::new("", "", ""),
    )
    .describe("get available resources".into())
    .answers(&[200], Response::Object(kinds::API_RESOURCE_LIST.into()));
    let mut out = vec![PathItem {
        path: format!("{}/", gv_prefix(group, version)),
        params: vec![],
        ops: vec![discovery],
    }];
    for info in REGISTRY
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        out.extend(resource_paths(info));
    }
    let tag = Naming::new(group, version).tag;
    for op in out.iter_mut().flat_map(|p| p.ops.iter_mut()) {
        op.tag = tag.clone();
    }
    out
}

pub(crate) fn definition_of(group: &str, version: &str, kind: &str) -> String {
    let t = kinds::kind_type(group, version, kind)
        .unwrap_or_else(|| panic!("no k8s-openapi type for {group}/{version} {kind}"));
    (t.definition)().into_owned()
}

/// What the operations of one resource are named after.
pub(crate) struct Resource {
    pub info: &'static ResourceInfo,
    pub gvk: Gvk,
    /// Definition name of the kind.
    pub def: String,
    /// "AppsV1", as in operation ids.
    pub gv: String,
    /// "Namespaced" or "", as in operation ids.
    pub scope_word: &'static str,
    /// Path of one object: `…/namespaces/{namespace}/statefulsets/{name}`.
    pub item_path: String,
    /// Path parameters of `item_path` (name, then namespace if namespaced).
    pub item_params: Vec<Param>,
}

impl Resource {
    /// `params` plus `pretty`, which upstream declares on every non-connect path.
    pub fn with_pretty(mut params: Vec<Param>) -> Vec<Param> {
        params.push(params::q("pretty"));
        params
    }
}

fn resource_paths(info: &'static ResourceInfo) -> Vec<PathItem> {
    let kind = info.kind;
    let gvk = Gvk::new(info.group, info.version, kind);
    let def = definition_of(info.group, info.version, kind);
    let list_def = list_definition(&def);
    let prefix = gv_prefix(info.group, info.version);
    let gv = Naming::new(info.group, info.version).gv;
    let (collection, scope_word, scope_params) = if info.namespaced() {
        let path = format!("{prefix}/namespaces/{{namespace}}/{}", info.plural);
        (path, "Namespaced", vec![params::path_namespace()])
    } else {
        (format!("{prefix}/{}", info.plural), "", vec![])
    };
    let id = |verb: &str| format!("{verb}{gv}{scope_word}{kind}");
    let object = || Response::Object(def.clone());

    let mut out = vec![PathItem {
        path: collection.clone(),
        params: Resource::with_pretty(scope_params.clone()),
        ops: vec![
            Operation::new("get", "list", id("list"), gvk)
                .describe(format!("list or watch objects of kind {kind}"))
                .query(params::LIST)
                .answers(&[200], Response::List(list_def.clone())),
            Operation::new("post", "post", id("create"), gvk)
                .describe(format!("create a {kind}"))
                .query(params::WRITE)
                .body(Body::Object(def.clone()))
                .answers(&[200, 201, 202], object()),
            Operation::new(
                "delete",
                "deletecollection",
                format!("delete{gv}Collection{scope_word}{kind}"),
                gvk,
            )
            .describe(format!("delete collection of {kind}"))
            .query(params::DELETE_COLLECTION)
            .body(Body::Delete)
            .answers(&[200], Response::Object(kinds::STATUS.into())),
        ],
    }];

    let mut item_params = scope_params;
    item_params.insert(0, params::path_name(kind));
    let item_path = format!("{collection}/{{name}}");
    // Deleting a pod answers the pod (it is deleted gracefully); other kinds answer a Status.
    let deleted = if info.group.is_empty() && kind == "Pod" {
        object()
    } else {
        Response::Object(kinds::STATUS.into())
    };
    out.push(PathItem {
        path: item_path.clone(),
        params: Resource::with_pretty(item_params.clone()),
        ops: vec![
            Operation::new("get", "get", id("read"), gvk)
                .describe(format!("read the specified {kind}"))
                .answers(&[200], object()),
            Operation::new("put", "put", id("replace"), gvk)
                .describe(format!("replace the specified {kind}"))
                .query(params::WRITE)
                .body(Body::Object(def.clone()))
                .answers(&[200, 201], object()),
            Operation::new("patch", "patch", id("patch"), gvk)
                .describe(format!("partially update the specified {kind}"))
                .query(params::PATCH)
                .body(Body::Patch)
                .answers(&[200, 201], object()),
            Operation::new("delete", "delete", id("delete"), gvk)
                .describe(format!("delete a {kind}"))
                .query(params::DELETE)
                .body(Body::Delete)
                .answers(&[200, 202], deleted),
        ],
    });

    if info.namespaced() {
        out.push(PathItem {
            path: format!("{prefix}/{}", info.plural),
            params: Resource::with_pretty(vec![]),
            ops: vec![Operation::new(
                "get",
                "list",
                format!("list{gv}{kind}ForAllNamespaces"),
                gvk,
            )
            .describe(format!("list or watch objects of kind {kind}"))
            .query(params::LIST)
            .answers(&[200], Response::List(list_def))],
        });
    }

    let resource = Resource {
        info,
        gvk,
        def,
        gv,
        scope_word,
        item_path,
        item_params,
    };
    for sub in info.subresources {
        out.extend(subresources::paths(&resource, sub));
    }
    out
}
