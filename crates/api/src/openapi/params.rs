//! Path and query parameters of the REST operations, with upstream's names and descriptions.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum In {
    Path,
    Query,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type {
    String,
    Integer,
    Boolean,
}

impl Type {
    pub fn as_str(self) -> &'static str {
        match self {
            Type::String => "string",
            Type::Integer => "integer",
            Type::Boolean => "boolean",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Param {
    pub name: &'static str,
    pub location: In,
    pub description: String,
    pub ty: Type,
    /// Query parameters that may repeat (`command` of exec) are arrays upstream.
    pub repeated: bool,
}

const fn query(name: &'static str, ty: Type) -> (&'static str, Type) {
    (name, ty)
}

/// Query parameters by name. Descriptions follow upstream's `ListOptions`, `CreateOptions`,
/// `PatchOptions`, `DeleteOptions`, `PodLogOptions`, … field comments.
const QUERY: &[((&str, Type), &str)] = &[
    (query("pretty", Type::String), "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget)."),
    (query("dryRun", Type::String), "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed"),
    (query("fieldManager", Type::String), "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint."),
    (query("fieldValidation", Type::String), "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered."),
    (query("force", Type::Boolean), "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests."),
    (query("gracePeriodSeconds", Type::Integer), "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately."),
    (query("orphanDependents", Type::Boolean), "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed from the object's finalizers list. Either this field or PropagationPolicy may be set, but not both."),
    (query("propagationPolicy", Type::String), "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground."),
    (query("allowWatchBookmarks", Type::Boolean), "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion. Clients should not assume bookmarks are returned at any specific interval, nor may they assume the server will send any BOOKMARK event during a session. If this is not a watch, this field is ignored."),
    (query("continue", Type::String), "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue) and the server may reject a continue value it does not recognize. If the specified continue value is no longer valid whether due to expiration (generally five to fifteen minutes) or a configuration change on the server, the server will respond with a 410 ResourceExpired error together with a continue token."),
    (query("fieldSelector", Type::String), "A selector to restrict the list of returned objects by their fields. Defaults to everything."),
    (query("labelSelector", Type::String), "A selector to restrict the list of returned objects by their labels. Defaults to everything."),
    (query("limit", Type::Integer), "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results. Setting a limit may return fewer than the requested amount of items (up to zero items) in the event all requested objects are filtered out and clients should only use the presence of the continue field to determine whether more results are available."),
    (query("resourceVersion", Type::String), "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset"),
    (query("resourceVersionMatch", Type::String), "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset"),
    (query("sendInitialEvents", Type::Boolean), "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection. Once all such events have been sent, a synthetic \"Bookmark\" event will be sent."),
    (query("timeoutSeconds", Type::Integer), "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity."),
    (query("watch", Type::Boolean), "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion."),
    // pods/log
    (query("container", Type::String), "The container for which to stream logs. Defaults to only container if there is one container in the pod."),
    (query("follow", Type::Boolean), "Follow the log stream of the pod. Defaults to false."),
    (query("limitBytes", Type::Integer), "If set, the number of bytes to read from the server before terminating the log output. This may not display a complete final line of logging, and may return slightly more or slightly less than the specified limit."),
    (query("previous", Type::Boolean), "Return previous terminated container logs. Defaults to false."),
    (query("sinceSeconds", Type::Integer), "A relative time in seconds before the current time from which to show logs. If this value precedes the time a pod was started, only logs since the pod start will be returned. If this value is in the future, no logs will be returned. Only one of sinceSeconds or sinceTime may be specified."),
    (query("tailLines", Type::Integer), "If set, the number of lines from the end of the logs to show. If not specified, logs are shown from the creation of the container or sinceSeconds or sinceTime"),
    (query("timestamps", Type::Boolean), "If true, add an RFC3339 or RFC3339Nano timestamp at the beginning of every line of log output. Defaults to false."),
    // pods/exec
    (query("command", Type::String), "Command is the remote command to execute. argv array. Not executed within a shell."),
    (query("stdin", Type::Boolean), "Redirect the standard input stream of the pod for this call. Defaults to false."),
    (query("stdout", Type::Boolean), "Redirect the standard output stream of the pod for this call."),
    (query("stderr", Type::Boolean), "Redirect the standard error stream of the pod for this call."),
    (query("tty", Type::Boolean), "TTY if true indicates that a tty will be allocated for the exec call. Defaults to false."),
    // */proxy
    (query("path", Type::String), "Path is the URL path to use for the current proxy request."),
];

/// The query parameter `name`. Panics on a name missing from the table: that is a bug in
/// the operation tables, caught by the tests that build every document.
pub(crate) fn q(name: &str) -> Param {
    let ((name, ty), description) = QUERY
        .iter()
        .find(|((n, _), _)| *n == name)
        .copied()
        .unwrap_or_else(|| panic!("unknown query parameter {name}"));
    Param {
        name,
        location: In::Query,
        description: description.to_string(),
        ty,
        repeated: name == "command",
    }
}

pub(crate) fn path_name(kind: &str) -> Param {
    Param {
        name: "name",
        location: In::Path,
        description: format!("name of the {kind}"),
        ty: Type::String,
        repeated: false,
    }
}

pub(crate) fn path_namespace() -> Param {
    Param {
        name: "namespace",
        location: In::Path,
        description: "object name and auth scope, such as for teams and projects".into(),
        ty: Type::String,
        repeated: false,
    }
}

pub(crate) fn path_proxy_path() -> Param {
    Param {
        name: "path",
        location: In::Path,
        description: "path to the resource".into(),
        ty: Type::String,
        repeated: false,
    }
}

pub(crate) fn many(names: &[&str]) -> Vec<Param> {
    names.iter().map(|n| q(n)).collect()
}

pub(crate) const LIST: &[&str] = &[
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
    "watch",
];
pub(crate) const WRITE: &[&str] = &["dryRun", "fieldManager", "fieldValidation"];
pub(crate) const PATCH: &[&str] = &["dryRun", "fieldManager", "fieldValidation", "force"];
pub(crate) const DELETE: &[&str] = &[
    "dryRun",
    "gracePeriodSeconds",
    "orphanDependents",
    "propagationPolicy",
];
pub(crate) const DELETE_COLLECTION: &[&str] = &[
    "continue",
    "dryRun",
    "fieldSelector",
    "gracePeriodSeconds",
    "labelSelector",
    "limit",
    "orphanDependents",
    "propagationPolicy",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
];
pub(crate) const LOG: &[&str] = &[
    "container",
    "follow",
    "limitBytes",
    "previous",
    "sinceSeconds",
    "tailLines",
    "timestamps",
];
pub(crate) const EXEC: &[&str] = &["command", "container", "stderr", "stdin", "stdout", "tty"];
