//! The cluster's credentials: a CA, a serving certificate signed by it, and the admin bearer
//! token, generated on first start under `<data-dir>/pki/` and reused afterwards, plus the
//! admin kubeconfig that points kubectl at the server.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use rand::Rng;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// Everything the server needs to speak TLS and authenticate the admin.
pub struct Pki {
    pub ca_cert_pem: String,
    pub serving_cert_pem: String,
    pub serving_key_pem: String,
    pub admin_token: String,
    /// Presented to kubelets (`apiserver-kubelet-client.crt/.key`, CN
    /// `kube-apiserver-kubelet-client`), which require a client certificate from the CA.
    pub kubelet_client_cert_pem: String,
    pub kubelet_client_key_pem: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("certificate generation: {0}")]
    Cert(#[from] rcgen::Error),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io { path: path.to_path_buf(), source }
}

/// The CA's parameters are fixed, so the issuer can be rebuilt from its stored key alone
/// (rcgen needs the parameters, not the parsed certificate, to sign).
/// The certificates of `chain_pems` (leaf first) and the private key of `key_pem`, for a rustls
/// configuration; `what` names them in errors ("serving", "kubelet client").
fn cert_chain_and_key(
    chain_pems: &[&str],
    key_pem: &str,
    what: &str,
) -> Result<(Vec<rustls::pki_types::CertificateDer<'static>>, rustls::pki_types::PrivateKeyDer<'static>), String> {
    let certs = chain_pems
        .iter()
        .flat_map(|pem| rustls_pemfile::certs(&mut pem.as_bytes()).collect::<Vec<_>>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("reading {what} certificate: {e}"))?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| format!("reading {what} key: {e}"))?
        .ok_or_else(|| format!("{what} key file holds no key"))?;
    Ok((certs, key))
}

fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, "berth-ca");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2099, 1, 1);
    Ok(params)
}

/// Names the serving certificate must cover: loopback, the host's name, the in-cluster
/// `kubernetes` service names, and any extra listen address.
fn serving_names(extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = [
        "localhost",
        "127.0.0.1",
        "::1",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "10.96.0.1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Ok(h) = fs::read_to_string("/proc/sys/kernel/hostname") {
        let h = h.trim();
        if !h.is_empty() {
            names.push(h.to_string());
        }
    }
    for e in extra {
        if !e.is_empty() && !names.contains(e) && e != "0.0.0.0" && e != "::" {
            names.push(e.clone());
        }
    }
    names
}

pub(crate) fn write_private(path: &Path, data: &str) -> Result<(), PkiError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(data.as_bytes()).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))?;
    Ok(())
}

pub(crate) fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The API server's client certificate for kubelets, created once (as kubeadm's
/// `apiserver-kubelet-client`).
fn kubelet_client_cert(dir: &Path, ca_key: &KeyPair) -> Result<(String, String), PkiError> {
    let cert_path = dir.join("apiserver-kubelet-client.crt");
    let key_path = dir.join("apiserver-kubelet-client.key");
    if let (Ok(c), Ok(k)) = (fs::read_to_string(&cert_path), fs::read_to_string(&key_path)) {
        return Ok((c, k));
    }
    let issuer = Issuer::new(ca_params()?, ca_key);
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, "kube-apiserver-kubelet-client");
    params.distinguished_name.push(DnType::OrganizationName, "kubeadm:cluster-admins");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2099, 1, 1);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    write_private(&key_path, &key.serialize_pem())?;
    write_private(&cert_path, &cert.pem())?;
    Ok((cert.pem(), key.serialize_pem()))
}

impl Pki {
    /// Load the credentials under `dir`, creating what is missing. The serving certificate is
    /// re-issued when `extra_names` (e.g. a non-loopback listen address) are not yet covered.
    pub fn load_or_create(dir: &Path, extra_names: &[String]) -> Result<Pki, PkiError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err(dir))?;
        let ca_key_path = dir.join("ca.key");
        let ca_cert_path = dir.join("ca.crt");
        let (ca_key, ca_cert_pem) = match (fs::read_to_string(&ca_key_path), fs::read_to_string(&ca_cert_path)) {
            (Ok(k), Ok(c)) => (KeyPair::from_pem(&k)?, c),
            _ => {
                let key = KeyPair::generate()?;
                let cert = ca_params()?.self_signed(&key)?;
                write_private(&ca_key_path, &key.serialize_pem())?;
                write_private(&ca_cert_path, &cert.pem())?;
                (key, cert.pem())
            }
        };

        let names = serving_names(extra_names);
        let names_path = dir.join("serving.names");
        let cert_path = dir.join("serving.crt");
        let key_path = dir.join("serving.key");
        let covered = fs::read_to_string(&names_path)
            .map(|s| names.iter().all(|n| s.lines().any(|l| l == n)))
            .unwrap_or(false);
        let (serving_cert_pem, serving_key_pem) = match (covered, fs::read_to_string(&cert_path), fs::read_to_string(&key_path)) {
            (true, Ok(c), Ok(k)) => (c, k),
            _ => {
                let issuer = Issuer::new(ca_params()?, &ca_key);
                let mut params = CertificateParams::new(names.clone())?;
                params.distinguished_name.push(DnType::CommonName, "berth-apiserver");
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
                params.not_before = rcgen::date_time_ymd(2024, 1, 1);
                params.not_after = rcgen::date_time_ymd(2099, 1, 1);
                let key = KeyPair::generate()?;
                let cert = params.signed_by(&key, &issuer)?;
                write_private(&key_path, &key.serialize_pem())?;
                write_private(&cert_path, &cert.pem())?;
                write_private(&names_path, &names.join("\n"))?;
                (cert.pem(), key.serialize_pem())
            }
        };

        let (kubelet_client_cert_pem, kubelet_client_key_pem) = kubelet_client_cert(dir, &ca_key)?;

        let token_path = dir.join("admin.token");
        let admin_token = match fs::read_to_string(&token_path) {
            Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
            _ => {
                let t = random_token();
                write_private(&token_path, &t)?;
                t
            }
        };
        Ok(Pki { ca_cert_pem, serving_cert_pem, serving_key_pem, admin_token, kubelet_client_cert_pem, kubelet_client_key_pem })
    }

    /// Write an admin kubeconfig (mode 0600) for `server_url` to `path`.
    pub fn write_kubeconfig(&self, path: &Path, server_url: &str) -> Result<(), PkiError> {
        let ca = base64::engine::general_purpose::STANDARD.encode(self.ca_cert_pem.as_bytes());
        let doc = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: berth\n  cluster:\n    server: {server_url}\n    certificate-authority-data: {ca}\nusers:\n- name: berth-admin\n  user:\n    token: {token}\ncontexts:\n- name: berth\n  context:\n    cluster: berth\n    user: berth-admin\n    namespace: default\ncurrent-context: berth\npreferences: {{}}\n",
            token = self.admin_token
        );
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        write_private(path, &doc)
    }

    /// A rustls client configuration for talking to kubelets: presents the kubelet client
    /// certificate; the kubelet's serving certificate is not verified (kube-apiserver's default
    /// without `--kubelet-certificate-authority`, see [`crate::kubelet_server_cert`]).
    /// HTTP/1.1, as WebSocket upgrades need.
    pub fn kubelet_client_tls_config(&self) -> Result<rustls::ClientConfig, String> {
        let (certs, key) = cert_chain_and_key(&[&self.kubelet_client_cert_pem], &self.kubelet_client_key_pem, "kubelet client")?;
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let verifier = std::sync::Arc::new(crate::kubelet_server_cert::AnyServerCert(provider.clone()));
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(certs, key)
            .map_err(|e| format!("kubelet client certificate: {e}"))?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(cfg)
    }

    /// A rustls server configuration serving the certificate over HTTP/2 and HTTP/1.1.
    pub fn server_tls_config(&self) -> Result<rustls::ServerConfig, String> {
        let (certs, key) = cert_chain_and_key(&[&self.serving_cert_pem, &self.ca_cert_pem], &self.serving_key_pem, "serving")?;
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| format!("serving certificate: {e}"))?;
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = Pki::load_or_create(dir.path(), &[]).unwrap();
        let b = Pki::load_or_create(dir.path(), &[]).unwrap();
        assert_eq!(a.admin_token, b.admin_token);
        assert_eq!(a.serving_cert_pem, b.serving_cert_pem);
        assert!(a.server_tls_config().is_ok());
        assert!(a.kubelet_client_tls_config().is_ok());
        assert_eq!(a.kubelet_client_cert_pem, b.kubelet_client_cert_pem);
        assert!(dir.path().join("apiserver-kubelet-client.key").exists());
        let mode = fs::metadata(dir.path().join("admin.token")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A new listen address re-issues the serving certificate, keeping the CA and token.
        let c = Pki::load_or_create(dir.path(), &["192.0.2.7".to_string()]).unwrap();
        assert_ne!(a.serving_cert_pem, c.serving_cert_pem);
        assert_eq!(a.ca_cert_pem, c.ca_cert_pem);
        assert_eq!(a.admin_token, c.admin_token);
    }
}
