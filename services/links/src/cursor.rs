//! The cursor of "my links" pages: opaque to clients, and signed, so a crafted one is a 400
//! and never reaches a query.
//!
//! A cursor is the last item's creation time and id (16 bytes) followed by the first 16
//! bytes of their HMAC-SHA256 under a key derived from SECRET_KEY, in URL-safe base64. A
//! cursor that does not verify, or whose contents are out of range, is refused with the
//! same message as garbage.

use crate::error::LinksError;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{KeyInit as _, Mac as _};
use subtle::ConstantTimeEq as _;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The HKDF label of the cursor key.
const LABEL: &str = "list cursor hmac v1";
const PAYLOAD: usize = 16;
const TAG: usize = 16;

/// A position in "my links, newest first": the last item's creation time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: i64,
}

/// Signs and checks cursors.
#[derive(Clone)]
pub struct CursorKey([u8; 32]);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

impl CursorKey {
    pub fn derive(secret: &hop_kit::secret::Secret) -> Self {
        Self(secret.derive(LABEL))
    }

    fn tag(&self, payload: &[u8]) -> [u8; TAG] {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(payload);
        let full = mac.finalize().into_bytes();
        full[..TAG]
            .try_into()
            .expect("SHA-256 is longer than the tag")
    }

    pub fn encode(&self, cursor: &Cursor) -> String {
        let mut bytes = Vec::with_capacity(PAYLOAD + TAG);
        bytes.extend_from_slice(&cursor.created_at.timestamp_micros().to_be_bytes());
        bytes.extend_from_slice(&cursor.id.to_be_bytes());
        let tag = self.tag(&bytes);
        bytes.extend_from_slice(&tag);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn decode(&self, raw: &str) -> Result<Cursor, LinksError> {
        let invalid = || LinksError::invalid("cursor", "is not a cursor from a previous page");
        if raw.len() > 64 {
            return Err(invalid());
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(raw)
            .map_err(|_| invalid())?;
        if bytes.len() != PAYLOAD + TAG {
            return Err(invalid());
        }
        let (payload, tag) = bytes.split_at(PAYLOAD);
        if !bool::from(self.tag(payload).ct_eq(tag)) {
            return Err(invalid());
        }
        let micros = i64::from_be_bytes(payload[..8].try_into().expect("8 bytes"));
        let id = i64::from_be_bytes(payload[8..].try_into().expect("8 bytes"));
        // Ours, so in range; checked anyway so no future bug turns into a query error.
        let created_at = DateTime::from_timestamp_micros(micros)
            .filter(|t| t.timestamp() >= 0 && *t <= Utc::now() + chrono::Duration::days(1))
            .ok_or_else(invalid)?;
        if id < 0 {
            return Err(invalid());
        }
        Ok(Cursor { created_at, id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hop_kit::secret::Secret;

    fn key(secret: &str) -> CursorKey {
        CursorKey::derive(&Secret::parse(secret).unwrap())
    }

    #[test]
    fn cursors_round_trip_and_anything_else_is_refused() {
        let key = key("cursor test secret 1");
        let cursor = Cursor {
            created_at: DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap(),
            id: 4242,
        };
        let encoded = key.encode(&cursor);
        assert_eq!(key.decode(&encoded).unwrap(), cursor);
        // Another deployment's cursor, a flipped bit, a truncation, garbage.
        assert!(self::key("cursor test secret 2").decode(&encoded).is_err());
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&encoded)
            .unwrap();
        bytes[3] ^= 1;
        let flipped = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
        assert!(key.decode(&flipped).is_err());
        for bad in [
            "",
            "zz",
            &encoded[..encoded.len() - 2],
            "00000000ffffffff0000000000000001",
            "../../etc/passwd",
            &"A".repeat(10_000),
        ] {
            assert!(key.decode(bad).is_err(), "{bad}");
        }
    }
}
