//! Upstream's service-account JWT claims (pkg/serviceaccount/claims.go): building them for a
//! TokenRequest and checking a presented token's time window, issuer and audience. Pure.

use serde_json::{json, Map, Value};

/// The API server's issuer and default audience (upstream `--service-account-issuer` as
/// kubeadm sets it).
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// The expiration admission asks for in `kube-api-access-*` volumes; upstream extends pod-bound
/// tokens of exactly this lifetime to a year and records `warnafter` instead.
pub const WARN_ONLY_EXPIRATION: i64 = 3607;
const EXTENDED_EXPIRATION: i64 = 3600 * 24 * 365;

/// An object a token is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    pub name: String,
    pub uid: String,
}

/// Who a token is for: the ServiceAccount and what the token is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subject {
    pub namespace: String,
    pub service_account: Option<Ref>,
    pub pod: Option<Ref>,
    pub secret: Option<Ref>,
    pub node: Option<Ref>,
    /// The token's id (`jti`), when it has one.
    pub jti: Option<String>,
}

/// upstream's `user.Info` extra for a service-account token (pod, node and credential id),
/// ready for the user's `extra` map once berth's `User` carries one.
pub fn extra(s: &Subject) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut out = std::collections::BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        out.insert(format!("authentication.kubernetes.io/{k}"), vec![v.to_string()]);
    };
    if let Some(p) = &s.pod {
        put("pod-name", &p.name);
        put("pod-uid", &p.uid);
    }
    if let Some(n) = &s.node {
        put("node-name", &n.name);
        put("node-uid", &n.uid);
    }
    if let Some(j) = &s.jti {
        put("credential-id", &format!("JTI={j}"));
    }
    out
}

fn ref_json(r: &Ref) -> Value {
    json!({"name": r.name, "uid": r.uid})
}

/// The claims of a new token issued at `now` (seconds) for `expiration` seconds. Returns the
/// claims and the `exp` actually signed (longer than asked for extended pod-bound tokens).
pub fn build(s: &Subject, audiences: &[String], now: i64, expiration: i64, jti: &str) -> (Value, i64) {
    let sa = s.service_account.as_ref().expect("a token is always for a service account");
    let mut k8s = Map::new();
    k8s.insert("namespace".into(), json!(s.namespace));
    k8s.insert("serviceaccount".into(), ref_json(sa));
    let mut exp = now + expiration;
    if let Some(p) = &s.pod {
        k8s.insert("pod".into(), ref_json(p));
        if expiration == WARN_ONLY_EXPIRATION {
            exp = now + EXTENDED_EXPIRATION;
            k8s.insert("warnafter".into(), json!(now + expiration));
        }
    }
    if let Some(x) = &s.secret {
        k8s.insert("secret".into(), ref_json(x));
    }
    if let Some(n) = &s.node {
        k8s.insert("node".into(), ref_json(n));
    }
    let claims = json!({
        "aud": audiences,
        "exp": exp,
        "iat": now,
        "iss": ISSUER,
        "jti": jti,
        "kubernetes.io": k8s,
        "nbf": now,
        "sub": format!("system:serviceaccount:{}:{}", s.namespace, sa.name),
    });
    (claims, exp)
}

fn get_ref(v: Option<&Value>) -> Option<Ref> {
    let v = v?;
    Some(Ref { name: v.get("name")?.as_str()?.to_string(), uid: v.get("uid")?.as_str()?.to_string() })
}

/// Check a verified token's claims at `now` against the server's `audiences`; the subject it
/// names, or why it is not valid.
pub fn validate(c: &Value, now: i64, audiences: &[&str]) -> Result<Subject, String> {
    if c.get("iss").and_then(Value::as_str) != Some(ISSUER) {
        return Err("unknown issuer".into());
    }
    let exp = c.get("exp").and_then(Value::as_i64).ok_or("missing exp")?;
    if now >= exp {
        return Err("token has expired".into());
    }
    if c.get("nbf").and_then(Value::as_i64).is_some_and(|nbf| now < nbf) {
        return Err("token is not valid yet".into());
    }
    // `aud` is a string or a list of strings (RFC 7519).
    let auds: Vec<&str> = match c.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !auds.iter().any(|a| audiences.contains(a)) {
        return Err("token audiences do not match the API server's".into());
    }
    let k = c.get("kubernetes.io").ok_or("missing kubernetes.io claims")?;
    let namespace = k.get("namespace").and_then(Value::as_str).ok_or("missing namespace")?.to_string();
    let sa = get_ref(k.get("serviceaccount")).ok_or("missing serviceaccount")?;
    let sub = format!("system:serviceaccount:{namespace}:{}", sa.name);
    if c.get("sub").and_then(Value::as_str) != Some(sub.as_str()) {
        return Err("subject does not match the service account".into());
    }
    let jti = c.get("jti").and_then(Value::as_str).map(str::to_string);
    Ok(Subject { namespace, service_account: Some(sa), pod: get_ref(k.get("pod")), secret: get_ref(k.get("secret")), node: get_ref(k.get("node")), jti })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(pod: bool) -> Subject {
        Subject {
            namespace: "ns".into(),
            service_account: Some(Ref { name: "default".into(), uid: "sa-uid".into() }),
            pod: pod.then(|| Ref { name: "p".into(), uid: "p-uid".into() }),
            ..Default::default()
        }
    }

    #[test]
    fn builds_upstream_claims() {
        let (c, exp) = build(&subject(true), &[ISSUER.to_string()], 1000, 600, "j1");
        assert_eq!(exp, 1600);
        assert_eq!(c["sub"], "system:serviceaccount:ns:default");
        assert_eq!(c["kubernetes.io"]["pod"], json!({"name": "p", "uid": "p-uid"}));
        assert_eq!(c["kubernetes.io"]["serviceaccount"]["uid"], "sa-uid");
        assert_eq!((c["iat"].as_i64(), c["nbf"].as_i64(), c["jti"].as_str()), (Some(1000), Some(1000), Some("j1")));
        assert!(c["kubernetes.io"].get("warnafter").is_none());
    }

    #[test]
    fn admission_lifetime_of_pod_tokens_is_extended_with_warnafter() {
        let (c, exp) = build(&subject(true), &[ISSUER.to_string()], 0, WARN_ONLY_EXPIRATION, "j");
        assert_eq!(exp, EXTENDED_EXPIRATION);
        assert_eq!(c["kubernetes.io"]["warnafter"], 3607);
        let (_, exp) = build(&subject(false), &[ISSUER.to_string()], 0, WARN_ONLY_EXPIRATION, "j");
        assert_eq!(exp, WARN_ONLY_EXPIRATION, "only pod-bound tokens are extended");
    }

    #[test]
    fn validates_time_issuer_audience_and_subject() {
        let (c, _) = build(&subject(true), &[ISSUER.to_string()], 1000, 600, "j");
        let got = validate(&c, 1000, &[ISSUER]).unwrap();
        assert_eq!(got, Subject { jti: Some("j".into()), ..subject(true) });
        let x = extra(&got);
        assert_eq!(x["authentication.kubernetes.io/pod-name"], ["p"]);
        assert_eq!(x["authentication.kubernetes.io/pod-uid"], ["p-uid"]);
        assert_eq!(x["authentication.kubernetes.io/credential-id"], ["JTI=j"]);
        assert!(!x.contains_key("authentication.kubernetes.io/node-name"));
        assert_eq!(validate(&c, 1600, &[ISSUER]).unwrap_err(), "token has expired");
        assert_eq!(validate(&c, 999, &[ISSUER]).unwrap_err(), "token is not valid yet");
        assert!(validate(&c, 1000, &["other"]).is_err());
        let mut bad = c.clone();
        bad["iss"] = json!("https://elsewhere");
        assert!(validate(&bad, 1000, &[ISSUER]).is_err());
        let mut bad = c.clone();
        bad["sub"] = json!("system:serviceaccount:ns:admin");
        assert!(validate(&bad, 1000, &[ISSUER]).is_err());
        let (c, _) = build(&subject(false), &["a".into(), "b".into()], 0, 600, "j");
        assert!(validate(&c, 1, &["b"]).unwrap().pod.is_none());
    }
}
