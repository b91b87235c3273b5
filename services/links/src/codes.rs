//! Short codes from sequence ids: a keyed permutation, then base62.
//!
//! Ids come from a Postgres sequence, so they are consecutive. Encoding them directly would
//! make codes guessable and let anyone enumerate every link. Instead each id goes through a
//! keyed bijection over `[0, 62^7)` (a Feistel network with cycle-walking), then base62 to
//! exactly 7 characters. Being a bijection, two ids never share a code, so the write path
//! never checks for collisions; past 62^7 ids (3.5 trillion) the domain widens to 8
//! characters with its own permutation over `[62^7, 62^8)`.

use sha2::{Digest, Sha256};

/// The base62 alphabet, in ASCII order so codes sort like their numbers.
pub const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Length of a minted code while ids stay below [`SEVEN_CHAR_SPACE`].
pub const CODE_LEN: usize = 7;

/// 62^7: how many 7-character codes exist.
pub const SEVEN_CHAR_SPACE: u64 = 62u64.pow(7);

/// 62^8: the end of the 8-character domain.
pub const EIGHT_CHAR_SPACE: u64 = 62u64.pow(8);

const ROUNDS: usize = 8;

/// Encodes `n` in base62, left-padded with `0` to at least `width` characters.
pub fn encode(mut n: u64, width: usize) -> String {
    let mut buf = [b'0'; 11]; // u64::MAX needs 11 base62 digits
    let mut i = buf.len();
    while n > 0 {
        i -= 1;
        buf[i] = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    let start = i.min(buf.len() - width.min(buf.len()));
    // The buffer holds only ASCII alphabet bytes.
    String::from_utf8_lossy(&buf[start..]).into_owned()
}

/// Decodes a base62 string; `None` on a character outside the alphabet or on overflow.
/// (Only the tests need the way back: nothing in hop maps a code to its id.)
#[cfg(test)]
pub fn decode(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u64, |acc, b| {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'A'..=b'Z' => b - b'A' + 10,
            b'a'..=b'z' => b - b'a' + 36,
            _ => return None,
        };
        acc.checked_mul(62)?.checked_add(u64::from(digit))
    })
}

/// The keyed bijection from sequence ids to codes.
#[derive(Clone)]
pub struct CodePermutation {
    seven: Feistel,
    eight: Feistel,
}

impl std::fmt::Debug for CodePermutation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The round keys are derived from the secret: never print them.
        f.debug_struct("CodePermutation").finish_non_exhaustive()
    }
}

impl CodePermutation {
    /// Derives the round keys from `secret` (SECRET_KEY). Changing the secret changes every
    /// future code, so it must stay the same for the life of a deployment.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            seven: Feistel::new(SEVEN_CHAR_SPACE, secret, b"hop/codes/7"),
            eight: Feistel::new(EIGHT_CHAR_SPACE - SEVEN_CHAR_SPACE, secret, b"hop/codes/8"),
        }
    }

    /// The code of sequence id `id`: 7 characters below 62^7, 8 characters up to 62^8.
    ///
    /// Returns `None` once the 8-character space is exhausted.
    pub fn code(&self, id: u64) -> Option<String> {
        if id < SEVEN_CHAR_SPACE {
            Some(encode(self.seven.permute(id), CODE_LEN))
        } else if id < EIGHT_CHAR_SPACE {
            let permuted = self.eight.permute(id - SEVEN_CHAR_SPACE) + SEVEN_CHAR_SPACE;
            Some(encode(permuted, CODE_LEN + 1))
        } else {
            None
        }
    }

    /// The sequence id a minted code came from (the inverse of [`Self::code`]): the
    /// tests' proof that the permutation is a bijection.
    #[cfg(test)]
    pub fn id(&self, code: &str) -> Option<u64> {
        let value = decode(code)?;
        match code.len() {
            CODE_LEN if value < SEVEN_CHAR_SPACE => Some(self.seven.invert(value)),
            8 if (SEVEN_CHAR_SPACE..EIGHT_CHAR_SPACE).contains(&value) => {
                Some(self.eight.invert(value - SEVEN_CHAR_SPACE) + SEVEN_CHAR_SPACE)
            }
            _ => None,
        }
    }
}

/// A balanced Feistel network over the smallest even number of bits that covers `domain`,
/// restricted to `[0, domain)` by cycle-walking.
#[derive(Clone)]
struct Feistel {
    domain: u64,
    half_bits: u32,
    keys: [u64; ROUNDS],
}

impl Feistel {
    fn new(domain: u64, secret: &[u8], label: &[u8]) -> Self {
        let bits = 64 - (domain - 1).leading_zeros();
        let half_bits = bits.div_ceil(2);
        let keys = std::array::from_fn(|round| {
            let digest = Sha256::new()
                .chain_update(label)
                .chain_update([round as u8])
                .chain_update(secret)
                .finalize();
            let mut word = [0u8; 8];
            word.copy_from_slice(&digest[..8]);
            u64::from_le_bytes(word)
        });
        Self {
            domain,
            half_bits,
            keys,
        }
    }

    fn mask(&self) -> u64 {
        (1u64 << self.half_bits) - 1
    }

    fn permute(&self, x: u64) -> u64 {
        debug_assert!(x < self.domain);
        let mut y = self.encrypt(x);
        // The network permutes [0, 2^bits); walking the cycle until we land back inside the
        // domain keeps it a bijection on [0, domain). The domain covers over a quarter of
        // the block, so this takes fewer than four steps on average.
        while y >= self.domain {
            y = self.encrypt(y);
        }
        y
    }

    #[cfg(test)]
    fn invert(&self, y: u64) -> u64 {
        let mut x = self.decrypt(y);
        while x >= self.domain {
            x = self.decrypt(x);
        }
        x
    }

    fn encrypt(&self, x: u64) -> u64 {
        let mask = self.mask();
        let (mut left, mut right) = (x >> self.half_bits, x & mask);
        for key in self.keys {
            (left, right) = (right, left ^ (round_fn(right, key) & mask));
        }
        (left << self.half_bits) | right
    }

    #[cfg(test)]
    fn decrypt(&self, y: u64) -> u64 {
        let mask = self.mask();
        let (mut left, mut right) = (y >> self.half_bits, y & mask);
        for key in self.keys.iter().rev() {
            (left, right) = (right ^ (round_fn(left, *key) & mask), left);
        }
        (left << self.half_bits) | right
    }
}

/// The round function: the splitmix64 finalizer over the half-block mixed with the key.
fn round_fn(half: u64, key: u64) -> u64 {
    let mut z = (half ^ key).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn perm() -> CodePermutation {
        CodePermutation::new(b"test secret, not for production")
    }

    #[test]
    fn encode_pads_to_width_and_decodes_back() {
        assert_eq!(encode(0, 7), "0000000");
        assert_eq!(encode(61, 7), "000000z");
        assert_eq!(encode(62, 7), "0000010");
        assert_eq!(encode(SEVEN_CHAR_SPACE - 1, 7), "zzzzzzz");
        assert_eq!(encode(SEVEN_CHAR_SPACE, 7), "10000000");
        assert_eq!(decode("zzzzzzz"), Some(SEVEN_CHAR_SPACE - 1));
        assert_eq!(encode(u64::MAX, 1).len(), 11);
    }

    #[test]
    fn decode_rejects_foreign_characters_and_overflow() {
        assert_eq!(decode(""), None);
        assert_eq!(decode("ab-c"), None);
        assert_eq!(decode("zzzzzzzzzzzz"), None);
    }

    #[test]
    fn no_collision_over_a_million_consecutive_ids() {
        let p = perm();
        let mut seen = HashSet::with_capacity(1_000_000);
        for id in 0..1_000_000u64 {
            let code = p.code(id).unwrap();
            assert_eq!(code.len(), CODE_LEN);
            assert!(seen.insert(code), "collision at id {id}");
        }
    }

    #[test]
    fn consecutive_ids_give_unrelated_codes() {
        let p = perm();
        let (mut same_position, mut pairs, mut shared_prefix) = (0usize, 0usize, 0usize);
        for id in 1_000..11_000u64 {
            let (a, b) = (p.code(id).unwrap(), p.code(id + 1).unwrap());
            same_position += a.bytes().zip(b.bytes()).filter(|(x, y)| x == y).count();
            shared_prefix += usize::from(a[..2] == b[..2]);
            pairs += 1;
        }
        // Unrelated codes agree in a given position 1 time in 62: about 0.11 of 7 positions.
        let mean_same = same_position as f64 / pairs as f64;
        assert!(
            mean_same < 0.3,
            "consecutive codes share {mean_same} positions on average"
        );
        // And share a two-character prefix 1 time in 3844.
        assert!(
            shared_prefix < 20,
            "{shared_prefix} of {pairs} pairs share a prefix"
        );
    }

    #[test]
    fn the_key_changes_every_code() {
        let (a, b) = (perm(), CodePermutation::new(b"another secret"));
        let differ = (0..1000u64).filter(|id| a.code(*id) != b.code(*id)).count();
        assert!(differ > 990);
    }

    #[test]
    fn the_domain_widens_to_eight_characters() {
        let p = perm();
        let code = p.code(SEVEN_CHAR_SPACE).unwrap();
        assert_eq!(code.len(), 8);
        assert_eq!(p.id(&code), Some(SEVEN_CHAR_SPACE));
        assert_eq!(p.code(EIGHT_CHAR_SPACE), None);
    }

    proptest! {
        #[test]
        fn base62_round_trips(n in any::<u64>(), width in 0usize..12) {
            let s = encode(n, width);
            prop_assert!(s.len() >= width);
            prop_assert_eq!(decode(&s), Some(n));
        }

        #[test]
        fn codes_invert_to_their_ids(id in 0..EIGHT_CHAR_SPACE) {
            let p = perm();
            let code = p.code(id).unwrap();
            prop_assert!(code.bytes().all(|b| b.is_ascii_alphanumeric()));
            prop_assert_eq!(p.id(&code), Some(id));
        }
    }
}
