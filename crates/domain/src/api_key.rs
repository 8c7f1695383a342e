//! API keys: `tg-<public id>-<secret>`. The public id finds the key; only the SHA-256 digest of
//! the secret is stored, so a database leak yields no usable key.

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::secret;

pub const PREFIX: &str = "tg-";
/// 64 random bits in lower-case hex: unique enough to index, says nothing about the secret.
pub const PUBLIC_ID_LEN: usize = 16;
/// 256 random bits in lower-case hex.
pub const SECRET_LEN: usize = 64;
pub const KEY_LEN: usize = PREFIX.len() + PUBLIC_ID_LEN + 1 + SECRET_LEN;

/// A freshly made key: `full` is shown to its creator once and then forgotten.
pub struct NewApiKey {
    pub public_id: String,
    pub secret_digest: String,
    pub full: String,
}

impl NewApiKey {
    pub fn generate() -> Self {
        let mut bytes = [0u8; PUBLIC_ID_LEN / 2];
        rand::thread_rng().fill_bytes(&mut bytes);
        let public_id = hex::encode(bytes);
        let secret = secret::new_token();
        Self {
            full: format!("{PREFIX}{public_id}-{secret}"),
            secret_digest: secret::digest(&secret),
            public_id,
        }
    }
}

/// A key as presented by a client, split into its parts but not yet checked against storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresentedKey<'a> {
    pub public_id: &'a str,
    pub secret: &'a str,
}

/// Why a presented key could not even be looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    #[error("API keys start with 'tg-'")]
    WrongPrefix,
    #[error("this API key has the wrong length")]
    WrongLength,
    #[error("this API key contains characters API keys never have")]
    BadCharacters,
}

impl<'a> PresentedKey<'a> {
    /// Splits `tg-<16 hex>-<64 hex>`. Anything else is refused before any look-up, so garbage
    /// costs neither a database query nor memory.
    pub fn parse(raw: &'a str) -> Result<Self, KeyFormatError> {
        let rest = raw
            .strip_prefix(PREFIX)
            .ok_or(KeyFormatError::WrongPrefix)?;
        if raw.len() != KEY_LEN {
            return Err(KeyFormatError::WrongLength);
        }
        // Checked before slicing: a multi-byte character must not be cut in half.
        if !raw.is_ascii() {
            return Err(KeyFormatError::BadCharacters);
        }
        let (public_id, secret) = (&rest[..PUBLIC_ID_LEN], &rest[PUBLIC_ID_LEN + 1..]);
        if rest.as_bytes()[PUBLIC_ID_LEN] != b'-'
            || !is_lower_hex(public_id)
            || !is_lower_hex(secret)
        {
            return Err(KeyFormatError::BadCharacters);
        }
        Ok(Self { public_id, secret })
    }

    /// The SHA-256 digest of the secret, to compare with the stored one.
    pub fn secret_digest(&self) -> [u8; 32] {
        Sha256::digest(self.secret.as_bytes()).into()
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// True when `public_id` has the shape `NewApiKey` produces.
pub fn is_well_formed_public_id(public_id: &str) -> bool {
    public_id.len() == PUBLIC_ID_LEN && is_lower_hex(public_id)
}

/// What lists show instead of the key: the public id and a mask where the secret was.
pub fn masked_preview(public_id: &str) -> String {
    format!("{PREFIX}{public_id}-••••••••")
}

/// Constant-time equality of two digests.
pub fn digests_match(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_keys_parse_and_their_digest_is_stored() {
        let k = NewApiKey::generate();
        assert_eq!(k.full.len(), KEY_LEN);
        let p = PresentedKey::parse(&k.full).unwrap();
        assert_eq!(p.public_id, k.public_id);
        assert_eq!(hex::encode(p.secret_digest()), k.secret_digest);
        assert!(!k.secret_digest.contains(p.secret));
        assert!(is_well_formed_public_id(&k.public_id));
        assert!(masked_preview(&k.public_id).starts_with(&format!("tg-{}-", k.public_id)));
        assert!(!masked_preview(&k.public_id).contains(p.secret));
    }

    #[test]
    fn malformed_keys_of_every_shape_are_refused() {
        let good = NewApiKey::generate().full;
        use KeyFormatError::*;
        let cases = [
            (String::new(), WrongPrefix),
            ("tg-".to_owned(), WrongLength),
            (good[..40].to_owned(), WrongLength),
            (format!("{good}0"), WrongLength),
            (format!("{good}{}", "a".repeat(10_000)), WrongLength),
            (good.replacen("tg-", "sk-", 1), WrongPrefix),
            (good.to_uppercase(), WrongPrefix),
            (good.replacen("tg-", "TG-", 1), WrongPrefix),
            (format!("{}G{}", &good[..30], &good[31..]), BadCharacters),
            (format!("{}_{}", &good[..19], &good[20..]), BadCharacters),
            (format!("{}\0{}", &good[..50], &good[51..]), BadCharacters),
            (format!("{}é{}", &good[..50], &good[52..]), BadCharacters),
            (format!("{}é{}", &good[..18], &good[20..]), BadCharacters),
            (format!("Bearer {good}"), WrongPrefix),
        ];
        for (raw, expected) in cases {
            assert_eq!(PresentedKey::parse(&raw), Err(expected), "{raw:?}");
        }
    }

    #[test]
    fn digests_compare_exactly() {
        let a = [7u8; 32];
        let mut b = a;
        assert!(digests_match(&a, &b));
        b[31] = 8;
        assert!(!digests_match(&a, &b));
    }
}
