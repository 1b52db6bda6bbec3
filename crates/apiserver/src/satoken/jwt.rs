//! The service-account token signing key (`<data-dir>/pki/sa.key`, PKCS#8 PEM, and its public
//! half `sa.pub`, as upstream's `--service-account-signing-key-file`/`--service-account-key-file`)
//! and compact JWS (ES256) signing and verification.

use std::fs;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

pub const KEY_FILE: &str = "sa.key";
pub const PUB_FILE: &str = "sa.pub";

pub struct SigningKey {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
    /// Upstream's key id: base64url(SHA-256(DER SubjectPublicKeyInfo)).
    pub kid: String,
}

impl SigningKey {
    /// Load `sa.key` from `pki_dir`, generating it (and `sa.pub`) on first start.
    pub fn load_or_create(pki_dir: &Path) -> Result<SigningKey, String> {
        let path = pki_dir.join(KEY_FILE);
        let kp = match fs::read_to_string(&path) {
            Ok(pem) => rcgen::KeyPair::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?,
            Err(_) => {
                let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
                crate::pki::write_private(&path, &kp.serialize_pem()).map_err(|e| e.to_string())?;
                let pub_path = pki_dir.join(PUB_FILE);
                fs::write(&pub_path, kp.public_key_pem()).map_err(|e| format!("{}: {e}", pub_path.display()))?;
                kp
            }
        };
        Self::from_pkcs8(kp.serialized_der(), &rcgen::PublicKeyData::subject_public_key_info(&kp))
    }

    pub fn from_pkcs8(pkcs8: &[u8], spki_der: &[u8]) -> Result<SigningKey, String> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
            .map_err(|e| format!("service account key is not an ECDSA P-256 key: {e}"))?;
        let kid = B64.encode(ring::digest::digest(&ring::digest::SHA256, spki_der));
        Ok(SigningKey { pair, rng, kid })
    }

    /// A fresh key that is never written anywhere (tests, forged tokens).
    pub fn generate() -> SigningKey {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("P-256 key generation");
        Self::from_pkcs8(kp.serialized_der(), &rcgen::PublicKeyData::subject_public_key_info(&kp)).expect("a generated key loads")
    }

    /// `header.claims.signature`, base64url without padding.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "kid": self.kid});
        let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
        let sig = self.pair.sign(&self.rng, input.as_bytes()).expect("ECDSA signing does not fail");
        format!("{input}.{}", B64.encode(sig.as_ref()))
    }

    /// The claims of a token this key signed, or why not.
    pub fn verify(&self, token: &str) -> Result<Value, String> {
        use ring::signature::KeyPair;
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err("not a compact JWS".into());
        };
        let header: Value = B64.decode(h).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or("malformed header")?;
        if header.get("alg").and_then(Value::as_str) != Some("ES256") {
            return Err("unexpected signing algorithm".into());
        }
        let sig = B64.decode(s).map_err(|_| "malformed signature")?;
        let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.pair.public_key().as_ref());
        public
            .verify(format!("{h}.{c}").as_bytes(), &sig)
            .map_err(|_| "invalid signature".to_string())?;
        B64.decode(c).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or_else(|| "malformed claims".to_string())
    }
}

/// Whether a bearer token has the shape of a JWT (so it is worth verifying).
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.matches('.').count() == 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_verifies_and_rejects_other_keys_and_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let k = SigningKey::load_or_create(dir.path()).unwrap();
        let again = SigningKey::load_or_create(dir.path()).unwrap();
        assert_eq!(k.kid, again.kid, "the key persists");
        assert!(dir.path().join(PUB_FILE).exists());
        let t = k.sign(&json!({"sub": "x", "exp": 5}));
        assert!(looks_like_jwt(&t));
        assert_eq!(again.verify(&t).unwrap()["sub"], "x");
        let forged = SigningKey::generate().sign(&json!({"sub": "x"}));
        assert_eq!(k.verify(&forged).unwrap_err(), "invalid signature");
        let parts: Vec<&str> = t.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], B64.encode(json!({"sub": "x", "exp": 99999999999u64}).to_string()), parts[2]);
        assert_eq!(k.verify(&tampered).unwrap_err(), "invalid signature");
        assert!(k.verify("a.b").is_err());
    }
}
