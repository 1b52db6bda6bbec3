//! Tokens of `serviceAccountToken` projections, as upstream's kubelet token manager
//! (pkg/kubelet/token) gets them: a TokenRequest bound to the pod, cached, and renewed once
//! 80% of its lifetime has passed (or it is a day old), with a little jitter so a node's
//! pods do not all renew at once.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount, ServiceAccountTokenProjection};
use kube::api::PostParams;
use kube::{Api, Client};

const MAX_TTL: i64 = 24 * 3600;
const MAX_JITTER: f64 = 10.0;

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct Key {
    namespace: String,
    service_account: String,
    pod_uid: String,
    audience: String,
    expiration_seconds: i64,
}

#[derive(Clone)]
struct Cached {
    token: String,
    /// Unix seconds.
    expires: i64,
    expiration_seconds: i64,
}

static CACHE: LazyLock<Mutex<HashMap<Key, Cached>>> = LazyLock::new(Default::default);

/// upstream `requiresRefresh`: older than the maximum TTL, or within the last 20% (plus
/// `jitter` seconds) of its lifetime.
pub fn requires_refresh(now: i64, expires: i64, expiration_seconds: i64, jitter: i64) -> bool {
    let issued = expires - expiration_seconds;
    now > issued + MAX_TTL - jitter || now > expires - expiration_seconds * 20 / 100 - jitter
}

/// The token for `proj` in `pod`: from the cache while fresh, else requested anew.
pub async fn token(client: &Client, pod: &Pod, proj: &ServiceAccountTokenProjection) -> Result<String, String> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let name = pod.metadata.name.clone().unwrap_or_default();
    let service_account = pod.spec.as_ref().and_then(|s| s.service_account_name.clone()).filter(|s| !s.is_empty()).unwrap_or_else(|| "default".into());
    let key = Key {
        namespace: namespace.clone(),
        service_account: service_account.clone(),
        pod_uid: pod.metadata.uid.clone().unwrap_or_default(),
        audience: proj.audience.clone().unwrap_or_default(),
        expiration_seconds: proj.expiration_seconds.unwrap_or(3600),
    };
    let now = chrono::Utc::now().timestamp();
    // Sub-second clock noise is random enough to spread renewals.
    let jitter = (f64::from(chrono::Utc::now().timestamp_subsec_nanos()) / 1e9 * MAX_JITTER) as i64;
    if let Some(c) = CACHE.lock().expect("token cache lock").get(&key).cloned() {
        if !requires_refresh(now, c.expires, c.expiration_seconds, jitter) {
            return Ok(c.token);
        }
    }
    let req = TokenRequest {
        spec: TokenRequestSpec {
            audiences: proj.audience.iter().cloned().collect(),
            expiration_seconds: Some(key.expiration_seconds),
            bound_object_ref: Some(BoundObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some(name.clone()),
                uid: pod.metadata.uid.clone(),
            }),
        },
        ..Default::default()
    };
    let api = Api::<ServiceAccount>::namespaced(client.clone(), &namespace);
    let got: TokenRequest = api
        .create_subresource("token", &service_account, &PostParams::default(), &req)
        .await
        .map_err(|e| format!("failed to fetch token: {e}"))?;
    let status = got.status.ok_or("failed to fetch token: the TokenRequest has no status")?;
    let cached = Cached {
        token: status.token.clone(),
        expires: status.expiration_timestamp.0.as_second(),
        expiration_seconds: got.spec.expiration_seconds.unwrap_or(key.expiration_seconds),
    };
    let mut cache = CACHE.lock().expect("token cache lock");
    // Forget tokens that have expired (their pods are gone or they were replaced).
    cache.retain(|_, c| c.expires > now);
    cache.insert(key, cached);
    Ok(status.token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_after_eighty_percent_or_a_day() {
        // Issued at 0 for 3600 s: fresh until 2880 s (80%), minus the jitter.
        assert!(!requires_refresh(2880, 3600, 3600, 0));
        assert!(requires_refresh(2881, 3600, 3600, 0));
        assert!(requires_refresh(2875, 3600, 3600, 10));
        // A year-long token is still renewed daily.
        let year = 365 * 24 * 3600;
        assert!(!requires_refresh(MAX_TTL, year, year, 0));
        assert!(requires_refresh(MAX_TTL + 1, year, year, 0));
    }
}
