//! Paths of subresources (`…/{name}/status`, `/scale`, `/log`, …), named and typed as upstream.

use super::kinds::{self, Gvk};
use super::params::{self, Param};
use super::paths::{capitalize, definition_of, Body, Operation, PathItem, Resource, Response};

/// The paths of subresource `sub` of `r`. Panics on a subresource with no description here,
/// so adding one to the registry without describing it fails the tests.
pub(crate) fn paths(r: &Resource, sub: &str) -> Vec<PathItem> {
    let kind = r.info.kind;
    let path = format!("{}/{sub}", r.item_path);
    let title = capitalize(sub);
    let id = |verb: &str| format!("{verb}{}{}{kind}{title}", r.gv, r.scope_word);
    let pretty = || Resource::with_pretty(r.item_params.clone());

    // get/put/patch of an object at the subresource (status, scale).
    let read_write = |target: &str, gvk: Gvk| {
        let object = || Response::Object(target.to_string());
        vec![
            Operation::new("get", "get", id("read"), gvk)
                .describe(format!("read {sub} of the specified {kind}"))
                .answers(&[200], object()),
            Operation::new("put", "put", id("replace"), gvk)
                .describe(format!("replace {sub} of the specified {kind}"))
                .query(params::WRITE)
                .body(Body::Object(target.to_string()))
                .answers(&[200, 201], object()),
            Operation::new("patch", "patch", id("patch"), gvk)
                .describe(format!("partially update {sub} of the specified {kind}"))
                .query(params::PATCH)
                .body(Body::Patch)
                .answers(&[200, 201], object()),
        ]
    };
    // A POST of another kind (binding, eviction, token).
    let create = |gvk: Gvk| {
        let target = definition_of(gvk.group, gvk.version, gvk.kind);
        vec![Operation::new("post", "post", id("create"), gvk)
            .describe(format!("create {sub} of a {kind}"))
            .query(params::WRITE)
            .body(Body::Object(target.clone()))
            .answers(&[200, 201, 202], Response::Object(target))]
    };
    // Streams upgraded or proxied by the server; upstream names the method after the
    // group-version: connectCoreV1GetNamespacedPodExec.
    let connect =
        |methods: &[&'static str], options_kind: &'static str, query: &[&str], suffix: &str| {
            let gvk = Gvk::new(r.info.group, r.info.version, options_kind);
            methods
                .iter()
                .map(|&m| {
                    let id = format!(
                        "connect{}{}{}{kind}{title}{suffix}",
                        r.gv,
                        capitalize(m),
                        r.scope_word
                    );
                    Operation::new(m, "connect", id, gvk)
                        .describe(format!(
                            "connect {} requests to {sub} of {kind}",
                            m.to_uppercase()
                        ))
                        .query(query)
                })
                .collect::<Vec<_>>()
        };
    let item =
        |path: String, params: Vec<Param>, ops: Vec<Operation>| PathItem { path, params, ops };

    match sub {
        "status" => vec![item(path, pretty(), read_write(&r.def, r.gvk))],
        "scale" => {
            let scale =
                kinds::kind_type("autoscaling", "v1", "Scale").expect("Scale is in KIND_TYPES");
            vec![item(
                path,
                pretty(),
                read_write(&(scale.definition)(), scale.gvk()),
            )]
        }
        "finalize" => {
            let mut ops = read_write(&r.def, r.gvk);
            ops.retain(|o| o.method == "put");
            vec![item(path, pretty(), ops)]
        }
        "binding" => vec![item(path, pretty(), create(Gvk::new("", "v1", "Binding")))],
        "eviction" => vec![item(
            path,
            pretty(),
            create(Gvk::new("policy", "v1", "Eviction")),
        )],
        "token" => vec![item(
            path,
            pretty(),
            create(Gvk::new("authentication.k8s.io", "v1", "TokenRequest")),
        )],
        "log" => {
            let op = Operation::new("get", "get", id("read"), r.gvk)
                .describe(format!("read log of the specified {kind}"))
                .query(params::LOG);
            vec![item(path, pretty(), vec![op])]
        }
        "exec" => vec![item(
            path,
            r.item_params.clone(),
            connect(&["get", "post"], "PodExecOptions", params::EXEC, ""),
        )],
        "proxy" => {
            let options_kind = match kind {
                "Pod" => "PodProxyOptions",
                "Service" => "ServiceProxyOptions",
                "Node" => "NodeProxyOptions",
                other => panic!("no proxy options kind for {other}"),
            };
            let methods = &["delete", "get", "head", "options", "patch", "post", "put"];
            // `…/proxy` takes the target path as a query parameter, `…/proxy/{path}` in the URL.
            let mut with_path = r.item_params.clone();
            with_path.insert(1, params::path_proxy_path());
            vec![
                item(
                    path.clone(),
                    r.item_params.clone(),
                    connect(methods, options_kind, &["path"], ""),
                ),
                item(
                    format!("{path}/{{path}}"),
                    with_path,
                    connect(methods, options_kind, &[], "WithPath"),
                ),
            ]
        }
        other => panic!("subresource {other} of {kind} has no OpenAPI description"),
    }
}
