//! TLS of the kubelet API: a serving certificate for the node (signed by the cluster CA where
//! its key is at hand, else self-signed), and client certificates required and verified
//! against the cluster CA (the API server presents `apiserver-kubelet-client.crt`). Nothing
//! else may connect.

use std::path::Path;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;

/// Build the server configuration for node `node_name` from `<pki_dir>/ca.crt` and `ca.key`.
/// The serving key is generated in memory on every call; it never touches the disk.
pub fn server_config(pki_dir: &Path, node_name: &str) -> Result<rustls::ServerConfig, String> {
    let read = |f: &str| std::fs::read_to_string(pki_dir.join(f)).map_err(|e| format!("{}: {e}", pki_dir.join(f).display()));
    server_config_for(&read("ca.crt")?, Some(&read("ca.key")?), node_name, &[])
}

/// The server configuration of a kubelet API: client certificates must chain to `ca_pem`
/// (the cluster CA, as always). The serving certificate is signed by the CA when its key is
/// given (agents on the control-plane host), else self-signed, as upstream's kubelet does by
/// default on a host without the CA key (kube-apiserver does not verify kubelet serving
/// certificates unless `--kubelet-certificate-authority` is set). SANs: loopback, the node
/// name and `ips` (the node's `--node-ip`).
pub fn server_config_for(ca_pem: &str, ca_key_pem: Option<&str>, node_name: &str, ips: &[std::net::IpAddr]) -> Result<rustls::ServerConfig, String> {
    let ca_der: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut ca_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("ca.crt: {e}"))?;
    let ca_first = ca_der.first().ok_or("ca.crt holds no certificate")?.clone();

    let mut names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    for n in ips.iter().map(|ip| ip.to_string()).chain([node_name.to_string()]) {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let mut params = CertificateParams::new(names).map_err(|e| e.to_string())?;
    params.distinguished_name.push(DnType::CommonName, format!("{node_name}@kubelet"));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2099, 1, 1);
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let chain = match ca_key_pem {
        Some(ca_key) => {
            let ca_key = KeyPair::from_pem(ca_key).map_err(|e| format!("ca.key: {e}"))?;
            // rcgen signs with the CA's key and the issuer name taken from the CA certificate.
            let issuer = Issuer::from_ca_cert_der(&ca_first, ca_key).map_err(|e| format!("ca.crt: {e}"))?;
            let cert = params.signed_by(&key, &issuer).map_err(|e| format!("signing the kubelet certificate: {e}"))?;
            vec![cert.der().clone(), ca_first]
        }
        None => vec![params.self_signed(&key).map_err(|e| format!("self-signing the kubelet certificate: {e}"))?.der().clone()],
    };

    let mut roots = rustls::RootCertStore::empty();
    for c in &ca_der {
        roots.add(c.clone()).map_err(|e| format!("ca.crt: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("client verifier: {e}"))?;
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key_der)
        .map_err(|e| format!("kubelet serving certificate: {e}"))?;
    // Exec and logs are HTTP/1.1 (WebSocket upgrades need it).
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// A client certificate signed by the CA in `pki_dir`, for tests that play the API server.
pub fn client_config_for_tests(pki_dir: &Path) -> Result<rustls::ClientConfig, String> {
    let ca_pem = std::fs::read_to_string(pki_dir.join("ca.crt")).map_err(|e| e.to_string())?;
    let ca_key = KeyPair::from_pem(&std::fs::read_to_string(pki_dir.join("ca.key")).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let ca_der: Vec<CertificateDer<'static>> =
        rustls_pemfile::certs(&mut ca_pem.as_bytes()).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    let issuer = Issuer::from_ca_cert_der(&ca_der[0], ca_key).map_err(|e| e.to_string())?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    params.distinguished_name.push(DnType::CommonName, "test-client");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.signed_by(&key, &issuer).map_err(|e| e.to_string())?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_der[0].clone()).map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![cert.der().clone()], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))
        .map_err(|e| e.to_string())
}

/// Create a throwaway CA (`ca.crt`, `ca.key`) in `dir`, as the API server's PKI would.
pub fn write_test_ca(dir: &Path) -> Result<(), String> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    params.distinguished_name.push(DnType::CommonName, "test-ca");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("ca.crt"), cert.pem()).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("ca.key"), key.serialize_pem()).map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{ServerName, UnixTime};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Accepts any server certificate (as the API server does for kubelets).
    #[derive(Debug)]
    struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

    impl ServerCertVerifier for AnyCert {
        fn verify_server_cert(&self, _: &CertificateDer<'_>, _: &[CertificateDer<'_>], _: &ServerName<'_>, _: &[u8], _: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &rustls::DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
        }
        fn verify_tls13_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &rustls::DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    /// Handshake `client` against `server` in memory; the server's accept result.
    async fn handshake(server: rustls::ServerConfig, mut client: rustls::ClientConfig) -> Result<(), String> {
        client.dangerous().set_certificate_verifier(Arc::new(AnyCert(Arc::new(rustls::crypto::ring::default_provider()))));
        let (a, b) = tokio::io::duplex(64 * 1024);
        let srv = tokio::spawn(async move {
            let mut s = tokio_rustls::TlsAcceptor::from(Arc::new(server)).accept(a).await.map_err(|e| e.to_string())?;
            s.write_all(b"ok").await.map_err(|e| e.to_string())?;
            s.flush().await.map_err(|e| e.to_string())
        });
        let name = ServerName::try_from("10.254.0.3").unwrap();
        if let Ok(mut c) = tokio_rustls::TlsConnector::from(Arc::new(client)).connect(name, b).await {
            let mut buf = [0u8; 2];
            let _ = c.read_exact(&mut buf).await;
        }
        srv.await.unwrap()
    }

    #[tokio::test]
    async fn without_the_ca_key_clients_still_need_a_ca_signed_certificate() {
        let ca = tempfile::tempdir().unwrap();
        write_test_ca(ca.path()).unwrap();
        let ca_pem = std::fs::read_to_string(ca.path().join("ca.crt")).unwrap();
        let ip: std::net::IpAddr = "10.254.0.3".parse().unwrap();
        let server = || server_config_for(&ca_pem, None, "host-b", &[ip]).unwrap();
        // The API server's client certificate (signed by the cluster CA) is accepted.
        handshake(server(), client_config_for_tests(ca.path()).unwrap()).await.unwrap();
        // A client certificate from another CA, or none, is refused.
        let other = tempfile::tempdir().unwrap();
        write_test_ca(other.path()).unwrap();
        assert!(handshake(server(), client_config_for_tests(other.path()).unwrap()).await.is_err());
        let anonymous = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        assert!(handshake(server(), anonymous).await.is_err());
    }
}
