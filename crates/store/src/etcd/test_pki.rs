//! Certificates for a throwaway TLS etcd: a CA, etcd's serving certificate for 127.0.0.1 and
//! localhost, and a client certificate, written as PEM files the way an operator would have them.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use super::EtcdTls;

#[derive(Debug, Clone)]
pub struct TestPki {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

fn ca_params(name: &str) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    Ok(params)
}

/// A CA of its own (another one than the server's, for tests that present the wrong CA).
pub fn write_ca(dir: &Path, name: &str) -> Result<(PathBuf, KeyPair), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = ca_params(name).and_then(|p| p.self_signed(&key)).map_err(|e| e.to_string())?;
    let path = dir.join(format!("{name}.crt"));
    std::fs::write(&path, cert.pem()).map_err(|e| e.to_string())?;
    Ok((path, key))
}

impl TestPki {
    pub fn generate(dir: &Path) -> Result<TestPki, String> {
        let (ca_cert, ca_key) = write_ca(dir, "etcd-ca")?;
        let issuer = Issuer::new(ca_params("etcd-ca").map_err(|e| e.to_string())?, &ca_key);
        let leaf = |name: &str, sans: Vec<String>, usage| -> Result<(PathBuf, PathBuf), String> {
            let mut params = CertificateParams::new(sans).map_err(|e| e.to_string())?;
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = vec![usage];
            let key = KeyPair::generate().map_err(|e| e.to_string())?;
            let cert = params.signed_by(&key, &issuer).map_err(|e| e.to_string())?;
            let (cert_path, key_path) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
            std::fs::write(&cert_path, cert.pem()).map_err(|e| e.to_string())?;
            std::fs::write(&key_path, key.serialize_pem()).map_err(|e| e.to_string())?;
            Ok((cert_path, key_path))
        };
        let sans = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let (server_cert, server_key) = leaf("etcd-server", sans, ExtendedKeyUsagePurpose::ServerAuth)?;
        let (client_cert, client_key) =
            leaf("berth-apiserver-etcd-client", Vec::new(), ExtendedKeyUsagePurpose::ClientAuth)?;
        Ok(TestPki { ca_cert, server_cert, server_key, client_cert, client_key })
    }

    /// What a client of this server passes (`--etcd-cafile/certfile/keyfile`).
    pub fn client_tls(&self) -> EtcdTls {
        EtcdTls {
            ca_file: Some(self.ca_cert.clone()),
            cert_file: Some(self.client_cert.clone()),
            key_file: Some(self.client_key.clone()),
        }
    }
}
