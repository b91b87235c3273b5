//! The Ed25519 key that signs access tokens, and the tokens themselves.
//!
//! The key is derived from SECRET_KEY with HKDF-SHA256, so every auth instance of a
//! deployment signs with the same key and no key file is needed; AUTH_SIGNING_KEY_FILE
//! names a PKCS#8 PEM key instead (`openssl genpkey -algorithm ed25519`), for deployments
//! that keep the signing key apart from other secrets. The key's `kid` is derived from its
//! public half, so gateways notice a new key by its kid and fetch it.

use base64::Engine as _;
use hop_proto::token::Claims;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sha2::{Digest, Sha256};

/// PKCS#8 v1 DER of an Ed25519 private key is this prefix and the 32-byte seed (RFC 8410).
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The keys a deployment publishes: the one that signs, and during a rotation the one that
/// signed before it, so tokens it signed still verify until they expire.
#[derive(Debug, Clone)]
pub struct Keys {
    pub current: SigningKey,
    pub previous: Option<SigningKey>,
}

impl Keys {
    /// Every key whose tokens may still be live, the current one first.
    pub fn published(&self) -> impl Iterator<Item = &SigningKey> {
        std::iter::once(&self.current).chain(self.previous.iter())
    }
}

/// The signing key. `Debug` shows only the kid.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    public: [u8; 32],
    encoding: EncodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// The key derived from the deployment secret.
    pub fn derive(secret: &[u8]) -> Self {
        let hkdf = hkdf::Hkdf::<Sha256>::new(Some(b"hop/auth"), secret);
        let mut seed = [0u8; 32];
        hkdf.expand(b"ed25519 access-token signing key v1", &mut seed)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Self::from_seed(seed)
    }

    /// A key from a PKCS#8 PEM file's text.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let body: String = pem
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("-----") && !l.is_empty())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| format!("is not PEM: {e}"))?;
        match der.split_at_checked(PKCS8_ED25519_PREFIX.len()) {
            Some((prefix, seed)) if prefix == PKCS8_ED25519_PREFIX && seed.len() == 32 => {
                Ok(Self::from_seed(seed.try_into().expect("32 bytes")))
            }
            _ => Err("is not a PKCS#8 Ed25519 private key (make one with `openssl genpkey -algorithm ed25519`)".into()),
        }
    }

    fn from_seed(seed: [u8; 32]) -> Self {
        let public = ed25519_dalek::SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_bytes();
        let mut der = PKCS8_ED25519_PREFIX.to_vec();
        der.extend_from_slice(&seed);
        let digest = Sha256::digest(public);
        let kid = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..12]);
        Self {
            kid,
            public,
            encoding: EncodingKey::from_ed_der(&der),
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// A signed access token (`alg: EdDSA`, this key's `kid`).
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    fn claims() -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            iss: "hop".into(),
            aud: "hop-api".into(),
            sub: "1".into(),
            sid: "s".into(),
            jti: "j".into(),
            iat: now,
            exp: now + 60,
            nbf: None,
        }
    }

    #[test]
    fn the_derived_key_is_stable_and_verifies_its_tokens() {
        let (a, b) = (
            SigningKey::derive(b"secret one, long enough"),
            SigningKey::derive(b"secret one, long enough"),
        );
        assert_eq!(a.kid(), b.kid());
        assert_ne!(
            a.kid(),
            SigningKey::derive(b"another secret entirely").kid()
        );
        let token = a.sign(&claims()).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some(a.kid()));
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&["hop-api"]);
        let decoded = jsonwebtoken::decode::<Claims>(
            &token,
            &DecodingKey::from_ed_der(&a.public_key()),
            &validation,
        )
        .unwrap();
        assert_eq!(
            decoded.claims,
            claims_with(decoded.claims.iat, decoded.claims.exp)
        );
    }

    fn claims_with(iat: i64, exp: i64) -> Claims {
        Claims {
            iat,
            exp,
            ..claims()
        }
    }

    #[test]
    fn pem_keys_load_and_garbage_is_refused() {
        // The shape `openssl genpkey -algorithm ed25519` writes.
        let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIFe6b306onKJ6SY6uaEvCpal2b6ONYNdZzq2tFTLMAQV\n-----END PRIVATE KEY-----\n";
        let key = SigningKey::from_pem(pem).unwrap();
        assert_eq!(key.kid().len(), 16);
        assert!(
            SigningKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
                .is_err()
        );
        assert!(SigningKey::from_pem("not pem at all!").is_err());
    }
}
