//! TLS to etcd, configured like kube-apiserver (`--etcd-cafile`, `--etcd-certfile`,
//! `--etcd-keyfile`): the CA that signed etcd's serving certificate, and optionally a client
//! certificate for etcd's `--client-cert-auth`. rustls (ring) does the handshake, so no system
//! OpenSSL is involved; there are no built-in trust roots, so `https://` needs the CA file.

use std::path::{Path, PathBuf};

use etcd_client::{Certificate, Identity, TlsOptions};

use crate::{Result, StoreError};

/// PEM files for TLS to etcd.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcdTls {
    /// CA bundle that verifies etcd's serving certificate (`--etcd-cafile`).
    pub ca_file: Option<PathBuf>,
    /// Client certificate (`--etcd-certfile`); needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// Its private key (`--etcd-keyfile`).
    pub key_file: Option<PathBuf>,
}

impl EtcdTls {
    /// Whether any TLS setting is given (then every endpoint must be `https://`).
    pub fn is_set(&self) -> bool {
        self.ca_file.is_some() || self.cert_file.is_some() || self.key_file.is_some()
    }

    /// Reads the files into the client's TLS settings, naming the file that is wrong.
    pub(crate) fn client_options(&self) -> Result<TlsOptions> {
        let mut options = TlsOptions::new();
        match &self.ca_file {
            Some(ca) => options = options.ca_certificate(Certificate::from_pem(read_pem(ca)?)),
            None => return Err(invalid("--etcd-cafile is required for TLS to etcd (berth has no built-in trust roots)")),
        }
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                options = options.identity(Identity::from_pem(read_pem(cert)?, read_pem(key)?));
            }
            (None, None) => {}
            (Some(_), None) => return Err(invalid("--etcd-certfile needs --etcd-keyfile")),
            (None, Some(_)) => return Err(invalid("--etcd-keyfile needs --etcd-certfile")),
        }
        Ok(options)
    }
}

/// Checks the endpoints against the TLS settings before connecting, so a mismatch is a clear
/// error rather than a handshake failure or a plaintext request to a TLS port.
pub(crate) fn check_endpoints(endpoints: &[String], tls: &EtcdTls) -> Result<()> {
    for endpoint in endpoints {
        let https = endpoint.starts_with("https://");
        if tls.is_set() && !https {
            return Err(invalid(&format!("etcd endpoint {endpoint}: TLS settings need https:// endpoints")));
        }
        if !tls.is_set() && https {
            return Err(invalid(&format!("etcd endpoint {endpoint}: https:// needs --etcd-cafile")));
        }
    }
    Ok(())
}

fn read_pem(path: &Path) -> Result<Vec<u8>> {
    let pem = std::fs::read(path).map_err(|e| invalid(&format!("reading {}: {e}", path.display())))?;
    if !pem.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(invalid(&format!("{} is not a PEM file", path.display())));
    }
    Ok(pem)
}

fn invalid(message: &str) -> StoreError {
    StoreError::Internal(message.to_owned())
}

/// How a failed connection is explained: TLS failures are configuration errors, and the
/// transport's own message (e.g. "invalid peer certificate: UnknownIssuer") says which.
pub(crate) fn describe_connect_error(e: &etcd_client::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        let text = inner.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        source = inner.source();
    }
    message
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn endpoints_must_match_the_tls_settings() {
        let tls = EtcdTls { ca_file: Some("ca.crt".into()), ..Default::default() };
        assert!(check_endpoints(&["https://127.0.0.1:2379".into()], &tls).is_ok());
        assert!(check_endpoints(&["http://127.0.0.1:2379".into()], &tls).is_err());
        assert!(check_endpoints(&["https://127.0.0.1:2379".into()], &EtcdTls::default()).is_err());
        assert!(check_endpoints(&["http://127.0.0.1:2379".into()], &EtcdTls::default()).is_ok());
    }

    #[test]
    fn a_client_certificate_needs_its_key_and_a_ca() {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("x.pem");
        std::fs::write(&pem, "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n").unwrap();
        let only_cert = EtcdTls { ca_file: Some(pem.clone()), cert_file: Some(pem.clone()), key_file: None };
        assert!(only_cert.client_options().unwrap_err().to_string().contains("--etcd-keyfile"));
        let no_ca = EtcdTls { ca_file: None, cert_file: Some(pem.clone()), key_file: Some(pem.clone()) };
        assert!(no_ca.client_options().unwrap_err().to_string().contains("--etcd-cafile"));
        let missing = EtcdTls { ca_file: Some(dir.path().join("nope.crt")), ..Default::default() };
        assert!(missing.client_options().unwrap_err().to_string().contains("nope.crt"));
        let not_pem = dir.path().join("bad.crt");
        std::fs::write(&not_pem, "hello").unwrap();
        let bad = EtcdTls { ca_file: Some(not_pem), ..Default::default() };
        assert!(bad.client_options().unwrap_err().to_string().contains("not a PEM file"));
    }
}
