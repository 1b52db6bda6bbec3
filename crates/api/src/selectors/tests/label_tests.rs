//! Label selector cases: parse → canonical string, upstream error messages, matching, and
//! `metav1.LabelSelector` conversion. Expected messages are upstream's (apimachinery v0.33).

use crate::selectors::{LabelSelector, Operator};
use serde_json::{json, Map, Value};

const KEY_REGEX_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName' or 'my.name' or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const VALUE_REGEX_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue' or 'my_value' or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn labels(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("labels must be an object")
}

#[test]
fn parse_prints_canonical_form() {
    let cases = [
        ("", ""),
        ("a=b", "a=b"),
        ("a==b", "a==b"),
        ("a!=b", "a!=b"),
        ("a", "a"),
        ("!a", "!a"),
        ("a=", "a="),
        ("a>1", "a>1"),
        ("a<10", "a<10"),
        ("  a  =  b  ", "a=b"),
        ("a in (x,y)", "a in (x,y)"),
        ("a notin (y,x)", "a notin (x,y)"),
        ("a in (y,x,y)", "a in (x,y)"),
        ("a in ()", "a in ()"),
        ("a in (x,y,)", "a in (,x,y)"),
        ("a in (,x)", "a in (,x)"),
        ("a in (x,,)", "a in (,x)"),
        ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
        ("tier in (a,b),app=web", "app=web,tier in (a,b)"),
        ("x in (in)", "x in (in)"),
        ("in=notin", "in=notin"),
        ("example.com/app=web", "example.com/app=web"),
        ("a=b,a!=c", "a=b,a!=c"),
        ("b,!a,c=d", "!a,b,c=d"),
        ("a\tin\n(x)", "a in (x)"),
    ];
    for (input, want) in cases {
        let sel = LabelSelector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(sel.to_string(), want, "input {input:?}");
        // The printed form parses back to the same selector.
        assert_eq!(LabelSelector::parse(want).unwrap(), sel, "round trip of {want:?}");
    }
}

#[test]
fn parse_reports_upstream_errors() {
    let key_prefix = "unable to parse requirement: <nil>: Invalid value: ";
    let cases: Vec<(&str, String)> = vec![
        ("a in (", "unable to parse requirement: found '', expected: ',', ')' or identifier".into()),
        ("=b", "found '=', expected: !, identifier, or 'end of string'".into()),
        ("(a)", "found '(', expected: !, identifier, or 'end of string'".into()),
        ("a=b c", "found 'c', expected: ',' or 'end of string'".into()),
        ("a=b)", "found ')', expected: ',' or 'end of string'".into()),
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt".into()),
        ("a !", "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt".into()),
        ("a,", "found '', expected: identifier after ','".into()),
        ("a,,b", "found ',', expected: identifier after ','".into()),
        ("a in x", "unable to parse requirement: found 'x' expected: '('".into()),
        ("a in (x y)", "unable to parse requirement: found 'y', expected: ',' or ')'".into()),
        ("a in (x=)", "unable to parse requirement: found '=', expected: ',' or ')'".into()),
        ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier".into()),
        ("a in (,=)", "unable to parse requirement: found '=', expected: ',', or identifier".into()),
        ("a=(b)", "unable to parse requirement: found '(', expected: identifier".into()),
        ("a===b", "unable to parse requirement: found '=', expected: identifier".into()),
        ("!", "unable to parse requirement: found '', expected: identifier".into()),
        ("!a=b", "found '=', expected: ',' or 'end of string'".into()),
        (
            "a=b/c",
            format!("unable to parse requirement: values[0][a]: Invalid value: \"b/c\": {VALUE_REGEX_MSG}"),
        ),
        (
            // Gt/Lt values must be integers and valid label values, so negatives are rejected.
            "a>-3",
            format!("unable to parse requirement: values[0][a]: Invalid value: \"-3\": {VALUE_REGEX_MSG}"),
        ),
        (
            "a in (ok,-bad)",
            format!("unable to parse requirement: values[0][a]: Invalid value: \"-bad\": {VALUE_REGEX_MSG}"),
        ),
        (
            "a/b/c=d",
            format!("{key_prefix}\"a/b/c\": a qualified name {KEY_REGEX_MSG} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"),
        ),
        ("-a", format!("{key_prefix}\"-a\": name part {KEY_REGEX_MSG}")),
        ("/a", format!("{key_prefix}\"/a\": prefix part must be non-empty")),
        ("a/", format!("{key_prefix}\"a/\": name part must be non-empty; name part {KEY_REGEX_MSG}")),
        (
            "Example.com/a",
            format!("{key_prefix}\"Example.com/a\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
        ),
        (
            "a>x",
            "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer".into(),
        ),
        (
            "a<",
            "unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', 'Lt' operators, the value must be an integer".into(),
        ),
        (
            "a>b/c",
            format!("unable to parse requirement: [values[0]: Invalid value: \"b/c\": for 'Gt', 'Lt' operators, the value must be an integer, values[0][a]: Invalid value: \"b/c\": {VALUE_REGEX_MSG}]"),
        ),
    ];
    for (input, want) in cases {
        assert_eq!(LabelSelector::parse(input).unwrap_err(), want, "input {input:?}");
    }
    // Length limits: 63 bytes for the key's name part and for values.
    let long = "k".repeat(64);
    assert_eq!(
        LabelSelector::parse(&format!("{long}=x")).unwrap_err(),
        format!("{key_prefix}\"{long}\": name part must be no more than 63 characters")
    );
    assert_eq!(
        LabelSelector::parse(&format!("a={long}")).unwrap_err(),
        format!("unable to parse requirement: values[0][a]: Invalid value: \"{long}\": must be no more than 63 characters")
    );
    assert!(LabelSelector::parse(&format!("{}={}", "k".repeat(63), "v".repeat(63))).is_ok());
}

#[test]
fn parse_matches_like_upstream() {
    let l = labels(json!({"app": "web", "tier": "db", "n": "5"}));
    let cases = [
        ("", true),
        ("app=web", true),
        ("app==web", true),
        ("app=api", false),
        ("app!=web", false),
        ("app!=api", true),
        ("missing!=x", true),
        ("missing=", false),
        ("app in (web,api)", true),
        ("app in (api)", false),
        ("app notin (web)", false),
        ("missing notin (x)", true),
        ("app", true),
        ("missing", false),
        ("!app", false),
        ("!missing", true),
        ("n>4", true),
        ("n>5", false),
        ("n<6", true),
        ("n<5", false),
        ("app>1", false),
        ("missing>1", false),
        ("app=web,tier=db", true),
        ("app=web,tier=web", false),
        ("app=web,!tier", false),
    ];
    for (input, want) in cases {
        let sel = LabelSelector::parse(input).unwrap();
        assert_eq!(sel.matches(&l), want, "selector {input:?}");
    }
    // Objects without labels match only selectors that tolerate absence.
    let none = Map::new();
    assert!(LabelSelector::parse("").unwrap().matches(&none));
    assert!(LabelSelector::parse("!a,b notin (x)").unwrap().matches(&none));
    assert!(!LabelSelector::parse("a").unwrap().matches(&none));
}

#[test]
fn empty_and_exact_match() {
    assert!(LabelSelector::parse("").unwrap().is_empty());
    assert!(LabelSelector::parse("  ").unwrap().is_empty());
    assert!(!LabelSelector::parse("a").unwrap().is_empty());

    let sel = LabelSelector::parse("app=web,tier in (db),env in (a,b),x!=y").unwrap();
    assert_eq!(sel.requires_exact_match("app"), Some("web"));
    assert_eq!(sel.requires_exact_match("tier"), Some("db"));
    assert_eq!(sel.requires_exact_match("env"), None);
    assert_eq!(sel.requires_exact_match("x"), None);
    assert_eq!(sel.requires_exact_match("nope"), None);
    let ops: Vec<Operator> = sel.requirements().iter().map(|r| r.operator()).collect();
    assert_eq!(ops, [Operator::Equals, Operator::In, Operator::In, Operator::NotEquals]);
}

#[test]
fn label_selector_object_converts_and_matches() {
    let sel = LabelSelector::from_label_selector(&json!({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["b", "a"]},
            {"key": "env", "operator": "NotIn", "values": ["prod"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "team", "operator": "Exists", "values": []},
        ]
    }))
    .unwrap();
    assert_eq!(sel.to_string(), "app=web,!canary,env notin (prod),team,tier in (a,b)");
    // Values keep the object's order; only printing sorts.
    let tier = sel.requirements().iter().find(|r| r.key() == "tier").unwrap();
    assert_eq!(tier.values(), ["b", "a"]);

    let ok = labels(json!({"app": "web", "tier": "a", "team": "x"}));
    assert!(sel.matches(&ok));
    let cases = [
        (json!({"app": "web", "tier": "c", "team": "x"}), "tier outside the set"),
        (json!({"app": "web", "tier": "a", "team": "x", "env": "prod"}), "env excluded"),
        (json!({"app": "web", "tier": "a", "team": "x", "canary": ""}), "canary present"),
        (json!({"app": "web", "tier": "a"}), "team missing"),
        (json!({"app": "api", "tier": "a", "team": "x"}), "matchLabels differ"),
    ];
    for (l, why) in cases {
        assert!(!sel.matches(&labels(l)), "{why}");
    }
}

#[test]
fn label_selector_object_null_and_empty() {
    let nothing = LabelSelector::from_label_selector(&Value::Null).unwrap();
    assert!(!nothing.matches(&Map::new()));
    assert!(!nothing.is_empty());
    assert!(nothing.matches_nothing());
    assert_eq!(nothing.to_string(), "");

    for v in [json!({}), json!({"matchLabels": {}, "matchExpressions": []}), json!({"matchLabels": null})] {
        let everything = LabelSelector::from_label_selector(&v).unwrap();
        assert!(everything.is_empty(), "{v}");
        assert!(everything.matches(&labels(json!({"any": "thing"}))), "{v}");
    }
}

#[test]
fn label_selector_object_reports_upstream_errors() {
    let cases: Vec<(Value, String)> = vec![
        (
            json!({"matchExpressions": [{"key": "a", "operator": "Foo", "values": ["x"]}]}),
            "\"Foo\" is not a valid label selector operator".into(),
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "in", "values": ["x"]}]}),
            "\"in\" is not a valid label selector operator".into(),
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "In"}]}),
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty".into(),
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": []}]}),
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty".into(),
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
            "values: Invalid value: [\"x\"]: values set must be empty for exists and does not exist".into(),
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "DoesNotExist", "values": ["x", "y"]}]}),
            "values: Invalid value: [\"x\",\"y\"]: values set must be empty for exists and does not exist".into(),
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "In", "values": ["ok", "b c"]}]}),
            format!("values[1][a]: Invalid value: \"b c\": {VALUE_REGEX_MSG}"),
        ),
        (
            json!({"matchLabels": {"app": "b c"}}),
            format!("values[0][app]: Invalid value: \"b c\": {VALUE_REGEX_MSG}"),
        ),
        (
            json!({"matchLabels": {"a/b/c": "x"}}),
            format!("key: Invalid value: \"a/b/c\": a qualified name {KEY_REGEX_MSG} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"),
        ),
        (
            json!({"matchExpressions": [{"key": "", "operator": "Exists"}]}),
            format!("key: Invalid value: \"\": name part must be non-empty; name part {KEY_REGEX_MSG}"),
        ),
        (
            // Several failures in one requirement come back as upstream's bracketed aggregate.
            json!({"matchExpressions": [{"key": "-k", "operator": "In"}]}),
            format!("[key: Invalid value: \"-k\": name part {KEY_REGEX_MSG}, values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty]"),
        ),
    ];
    for (v, want) in cases {
        assert_eq!(LabelSelector::from_label_selector(&v).unwrap_err(), want, "{v}");
    }
    // Shape errors are rejected too (berth's wording; upstream fails while decoding).
    assert!(LabelSelector::from_label_selector(&json!("app=web")).is_err());
    assert!(LabelSelector::from_label_selector(&json!({"matchLabels": {"a": 1}})).is_err());
    assert!(LabelSelector::from_label_selector(&json!({"matchExpressions": {}})).is_err());
}

#[test]
fn from_set_selects_exact_pairs() {
    let sel = LabelSelector::from_set(&labels(json!({"b": "2", "a": "1"})));
    assert_eq!(sel.to_string(), "a=1,b=2");
    assert!(sel.matches(&labels(json!({"a": "1", "b": "2", "c": "3"}))));
    assert!(!sel.matches(&labels(json!({"a": "1"}))));
    assert!(LabelSelector::from_set(&Map::new()).is_empty());
}
