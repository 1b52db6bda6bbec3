//! Objects of recent watch events, decoded once and shared by every watch stream.
//!
//! Each store event reaches every watcher of its prefix; with a hundred nodes each watching
//! pods by `spec.nodeName`, decoding the event in every stream (to test its selectors) was
//! most of the server's CPU. The first stream to see an object version decodes it; the others
//! reuse that, and the serialized form for plain-object watches. Entries are keyed by
//! (key, revision), so a version is immutable; the oldest are dropped beyond [`CAPACITY`]
//! (a stream that lags further just decodes for itself).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use berth_store::{KeyValue, Revision};
use bytes::Bytes;
use serde_json::Value;

use crate::objects::decode;

/// Object versions kept; about one burst of writes, which every stream reads within
/// milliseconds.
pub const CAPACITY: usize = 512;

/// One decoded object version.
#[derive(Debug)]
pub struct Decoded {
    pub value: Value,
    json: OnceLock<Bytes>,
}

impl Decoded {
    pub fn new(value: Value) -> Decoded {
        Decoded { value, json: OnceLock::new() }
    }

    /// The object serialized (as `serde_json::to_vec` of [`Decoded::value`]), computed once.
    pub fn json(&self) -> &Bytes {
        self.json.get_or_init(|| Bytes::from(serde_json::to_vec(&self.value).expect("JSON values always serialize")))
    }
}

type VersionKey = (String, Revision);

#[derive(Default)]
pub struct DecodedCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<VersionKey, Arc<Decoded>>,
    order: VecDeque<VersionKey>,
}

impl DecodedCache {
    /// The decoded object of `kv` (with its resourceVersion set, as [`decode`] does).
    pub fn get(&self, kv: &KeyValue) -> Result<Arc<Decoded>, String> {
        let key = (kv.key.clone(), kv.mod_revision);
        if let Some(d) = self.inner.lock().expect("cache lock").map.get(&key) {
            return Ok(d.clone());
        }
        // Decode outside the lock; two streams racing on one version both decode it once.
        let d = Arc::new(Decoded::new(decode(kv)?));
        let mut inner = self.inner.lock().expect("cache lock");
        if let Some(existing) = inner.map.get(&key) {
            return Ok(existing.clone());
        }
        inner.map.insert(key.clone(), d.clone());
        inner.order.push_back(key);
        while inner.order.len() > CAPACITY {
            if let Some(old) = inner.order.pop_front() {
                inner.map.remove(&old);
            }
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kv(key: &str, rev: Revision, v: Value) -> KeyValue {
        KeyValue { key: key.into(), value: Bytes::from(v.to_string()), create_revision: 1, mod_revision: rev }
    }

    #[test]
    fn a_version_is_decoded_once_and_old_ones_are_dropped() {
        let cache = DecodedCache::default();
        let a = cache.get(&kv("/a", 2, json!({"metadata": {"name": "a"}}))).unwrap();
        let again = cache.get(&kv("/a", 2, json!({"metadata": {"name": "a"}}))).unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        assert_eq!(a.value["metadata"]["resourceVersion"], "2");
        assert_eq!(a.json(), &Bytes::from(serde_json::to_vec(&a.value).unwrap()));
        // Another revision of the same key is another version.
        let b = cache.get(&kv("/a", 3, json!({"metadata": {"name": "a", "labels": {"x": "y"}}}))).unwrap();
        assert_eq!(b.value["metadata"]["resourceVersion"], "3");
        for r in 10..10 + CAPACITY as i64 {
            cache.get(&kv("/b", r, json!({}))).unwrap();
        }
        let inner = cache.inner.lock().unwrap();
        assert_eq!(inner.map.len(), CAPACITY);
        assert!(!inner.map.contains_key(&("/a".to_string(), 2)));
    }
}
