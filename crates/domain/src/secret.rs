//! Secrets handed to users (session ids, invitation tokens): 256 random bits, shown once,
//! stored only as a SHA-256 digest.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// 256 random bits, hex encoded (64 characters).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The digest stored in place of a token.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// True when `token` has the shape `new_token` produces.
pub fn is_well_formed_token(token: &str) -> bool {
    token.len() == 64
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bits_and_digests_differ_from_them() {
        let t = new_token();
        assert!(is_well_formed_token(&t));
        assert_ne!(t, new_token());
        assert_ne!(digest(&t), t);
        assert_eq!(digest(&t), digest(&t));
    }
}
