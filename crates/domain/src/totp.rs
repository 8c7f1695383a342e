//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP, HMAC-SHA1, 6 digits, 30 s
//! steps), as authenticator apps compute them, and the base32 text of their secrets. The
//! building block of two-factor sign-in (docs/account-security.md); no I/O.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Seconds per time step (RFC 6238's default, what every authenticator app uses).
pub const STEP_SECS: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
const DIGITS_LEN: usize = 6;
/// Steps accepted on each side of the current one, for clocks a little apart
/// (docs/decisions/0022-account-security.md).
pub const WINDOW_STEPS: i64 = 1;
/// Secret length: 160 bits, RFC 4226's recommendation.
pub const SECRET_BYTES: usize = 20;

/// RFC 4226 HOTP: the `digits`-digit code of `counter`.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return 0;
    };
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[19] & 0x0f);
    let word = [
        hash[offset],
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ];
    let truncated = u32::from_be_bytes(word) & 0x7fff_ffff;
    truncated % 10u32.pow(digits)
}

/// The time step of `unix_ms` (negative times are step 0: they never happen).
pub fn step_at(unix_ms: i64) -> i64 {
    unix_ms.div_euclid(1000).div_euclid(STEP_SECS).max(0)
}

/// The code shown at `unix_ms`, zero-padded.
pub fn code_at(secret: &[u8], unix_ms: i64) -> String {
    let step = u64::try_from(step_at(unix_ms)).unwrap_or(0);
    format!("{:0width$}", hotp(secret, step, DIGITS), width = DIGITS_LEN)
}

/// The time step whose code `code` is, within `WINDOW_STEPS` of `unix_ms`, and after
/// `last_used_step` (a code works once). Spaces in the code are ignored; each candidate is
/// compared in constant time.
pub fn verify(secret: &[u8], code: &str, unix_ms: i64, last_used_step: Option<i64>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS_LEN || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_ms);
    let mut found = None;
    for step in (now - WINDOW_STEPS)..=(now + WINDOW_STEPS) {
        let Ok(counter) = u64::try_from(step) else {
            continue;
        };
        let expected = format!(
            "{:0width$}",
            hotp(secret, counter, DIGITS),
            width = DIGITS_LEN
        );
        let fresh = last_used_step.is_none_or(|last| step > last);
        if constant_time_eq(expected.as_bytes(), code.as_bytes()) && fresh && found.is_none() {
            found = Some(step);
        }
    }
    found
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base32_char(bits: u32) -> char {
    let index = usize::try_from(bits & 31).unwrap_or(0);
    BASE32.get(index).map_or('A', |&b| char::from(b))
}

/// RFC 4648 base32 without padding, as authenticator apps take secrets.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(base32_char(buffer >> bits));
        }
    }
    if bits > 0 {
        out.push(base32_char(buffer << (5 - bits)));
    }
    out
}

/// The bytes of a base32 secret (case, spaces and padding ignored); `None` when it is not
/// base32.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let value = BASE32
            .iter()
            .position(|&b| char::from(b) == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | u32::try_from(value).ok()?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

/// The `otpauth://` URI an authenticator app reads from the QR code.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'@' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        enc(issuer),
        enc(account),
        base32_encode(secret),
        enc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn hotp_matches_rfc_4226_appendix_d() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, code) in expected.into_iter().enumerate() {
            assert_eq!(
                hotp(RFC_SECRET, u64::try_from(counter).unwrap(), 6),
                code,
                "counter {counter}"
            );
        }
    }

    #[test]
    fn totp_matches_rfc_6238_appendix_b_for_sha1() {
        let vectors = [
            (59, 94287082),
            (1_111_111_109, 7081804),
            (1_111_111_111, 14050471),
            (1_234_567_890, 89005924),
            (2_000_000_000, 69279037),
            (20_000_000_000, 65353130),
        ];
        for (unix_secs, code) in vectors {
            let step = u64::try_from(step_at(unix_secs * 1000)).unwrap();
            assert_eq!(hotp(RFC_SECRET, step, 8), code, "T = {unix_secs}");
        }
        // Six digits, as apps show them: the last six of the eight, zero-padded.
        assert_eq!(code_at(RFC_SECRET, 1_111_111_109_000), "081804");
    }

    #[test]
    fn codes_verify_within_one_step_and_once() {
        let now = 1_234_567_890_000;
        let code = code_at(RFC_SECRET, now);
        let step = step_at(now);
        assert_eq!(verify(RFC_SECRET, &code, now, None), Some(step));
        assert_eq!(
            verify(
                RFC_SECRET,
                &format!("{} {}", &code[..3], &code[3..]),
                now,
                None
            ),
            Some(step)
        );
        assert_eq!(
            verify(RFC_SECRET, &code, now + 30_000, None),
            Some(step),
            "a step late"
        );
        assert_eq!(
            verify(RFC_SECRET, &code, now - 30_000, None),
            Some(step),
            "a step early"
        );
        assert_eq!(
            verify(RFC_SECRET, &code, now + 90_000, None),
            None,
            "too late"
        );
        assert_eq!(
            verify(RFC_SECRET, &code, now, Some(step)),
            None,
            "used already"
        );
        for bad in ["", "12345", "1234567", "abcdef", "１２３４５６"] {
            assert_eq!(verify(RFC_SECRET, bad, now, None), None, "{bad}");
        }
    }

    #[test]
    fn base32_round_trips_and_matches_rfc_4648() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_encode(b"f"), "MY");
        assert_eq!(base32_decode("mzxw 6ytb oi======").unwrap(), b"foobar");
        assert_eq!(base32_decode("MZ1"), None);
        let secret = [7u8; SECRET_BYTES];
        assert_eq!(base32_decode(&base32_encode(&secret)).unwrap(), secret);
        let uri = otpauth_uri("Tollgate", "ada@example.com", RFC_SECRET);
        assert!(uri.starts_with("otpauth://totp/Tollgate:ada@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Tollgate"), "{uri}");
    }
}
