//! Where the store's keys live in etcd. The API server's keys are rooted at `/registry` (as
//! upstream's default `--etcd-prefix`); the configured prefix replaces that root, so the default
//! layout is exactly upstream's and another prefix keeps several clusters apart in one etcd.
//! Keys outside `/registry` (only tests use them) are put under the prefix as they are.

use bytes::Bytes;

use crate::KeyValue;

const ROOT: &str = "/registry";

#[derive(Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.trim_end_matches('/').to_owned(),
        }
    }

    pub fn to_etcd(&self, key: &str) -> Vec<u8> {
        let rest = key.strip_prefix(ROOT).unwrap_or(key);
        format!("{}{rest}", self.prefix).into_bytes()
    }

    fn store_key(&self, key: &[u8]) -> String {
        let key = String::from_utf8_lossy(key);
        match key.strip_prefix(&self.prefix) {
            Some(rest) => format!("{ROOT}{rest}"),
            None => key.into_owned(),
        }
    }

    /// The etcd key range `[start, end)` of store keys under `prefix`, starting strictly after
    /// `start_after` when that lies inside it.
    pub fn range(&self, prefix: &str, start_after: Option<&str>) -> (Vec<u8>, Vec<u8>) {
        let start = self.to_etcd(prefix);
        let end = prefix_end(&start);
        let start = match start_after {
            Some(after) => {
                let mut next = self.to_etcd(after);
                next.push(0);
                // Never before the prefix, never past its end (an empty range).
                next.clamp(start, end.clone())
            }
            None => start,
        };
        (start, end)
    }

    /// A key no object uses, for requests that only want the response header.
    pub fn probe_key(&self) -> Vec<u8> {
        format!("{}/\0berth-probe", self.prefix).into_bytes()
    }

    /// `kv` as the store's value of the known store key `key`.
    pub fn kv(&self, key: &str, kv: &etcd_client::KeyValue) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Bytes::copy_from_slice(kv.value()),
            create_revision: kv.create_revision(),
            mod_revision: kv.mod_revision(),
        }
    }

    pub fn store_kv(&self, kv: &etcd_client::KeyValue) -> KeyValue {
        self.kv(&self.store_key(kv.key()), kv)
    }
}

/// The smallest key greater than every key starting with `prefix` (etcd's `GetPrefixRangeEnd`).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte was 0xff: "\0" means "to the end of the keyspace" to etcd.
    vec![0]
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn default_prefix_is_upstreams_layout() {
        let keys = Keys::new("/registry");
        assert_eq!(
            keys.to_etcd("/registry/core/pods/a/b"),
            b"/registry/core/pods/a/b"
        );
        assert_eq!(
            keys.store_key(b"/registry/core/pods/a/b"),
            "/registry/core/pods/a/b"
        );
    }

    #[test]
    fn other_prefix_replaces_the_root() {
        let keys = Keys::new("/tenant-a/");
        assert_eq!(
            keys.to_etcd("/registry/core/pods/a/b"),
            b"/tenant-a/core/pods/a/b"
        );
        assert_eq!(
            keys.store_key(b"/tenant-a/core/pods/a/b"),
            "/registry/core/pods/a/b"
        );
    }

    #[test]
    fn ranges_respect_prefix_and_continue_key() {
        let keys = Keys::new("/registry");
        let (start, end) = keys.range("/registry/core/pods/", None);
        assert_eq!(
            (start, end),
            (
                b"/registry/core/pods/".to_vec(),
                b"/registry/core/pods0".to_vec()
            )
        );
        let (start, _) = keys.range("/registry/core/pods/", Some("/registry/core/pods/ns/a"));
        assert_eq!(start, b"/registry/core/pods/ns/a\0");
        let (start, _) = keys.range("/registry/core/pods/", Some("/registry/core/p"));
        assert_eq!(start, b"/registry/core/pods/");
        let (start, end) = keys.range("/registry/core/pods/", Some("/registry/core/z"));
        assert_eq!(start, end);
        assert_eq!(prefix_end(b"a\xff\xff"), b"b");
    }
}
