//! Verifying a platform's webhook signature without holding its secret: the
//! host computes the HMAC with the secret the job binds to a name, and the
//! connector compares it with what the delivery carries.

use crate::__bindings::synchost::connector::crypto;

/// HMAC-SHA256 of `message` keyed with the secret bound to `secret_name`,
/// computed by the host. `Err` says which secret is not bound.
pub fn hmac_sha256(secret_name: &str, message: &[u8]) -> Result<Vec<u8>, String> {
    crypto::hmac_sha256(secret_name, message)
}

/// The first header called `name`, compared case-insensitively.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Whether `expected_hex` (a digest as a delivery carries it, hex in either
/// case) is `mac`. The comparison takes the same time whichever byte differs.
pub fn verify_hex(expected_hex: &str, mac: &[u8]) -> bool {
    let hex = expected_hex.as_bytes();
    if mac.is_empty() || hex.len() != mac.len() * 2 {
        return false;
    }
    let mut diff = 0u8;
    let mut valid = true;
    for (pair, m) in hex.chunks_exact(2).zip(mac) {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(hi), Some(lo)) => diff |= ((hi << 4) | lo) ^ m,
            _ => valid = false,
        }
    }
    valid && diff == 0
}

/// Whether `expected_base64` (a digest as a delivery carries it, standard
/// base64, padded or not: HubSpot's `X-HubSpot-Signature-v3`) is `mac`. The
/// comparison takes the same time whichever byte differs.
pub fn verify_base64(expected_base64: &str, mac: &[u8]) -> bool {
    use base64::engine::{general_purpose::GeneralPurpose, DecodePaddingMode};
    use base64::Engine as _;
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    // Decoding looks only at what the delivery carries, never at the MAC.
    let Ok(expected) = LENIENT.decode(expected_base64.trim()) else {
        return false;
    };
    if mac.is_empty() || expected.len() != mac.len() {
        return false;
    }
    expected
        .iter()
        .zip(mac)
        .fold(0u8, |diff, (a, b)| diff | (a ^ b))
        == 0
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_hex_digests_in_either_case() {
        assert!(verify_hex("00ff10", &[0x00, 0xff, 0x10]));
        assert!(verify_hex("00FF10", &[0x00, 0xff, 0x10]));
        assert!(!verify_hex("00ff11", &[0x00, 0xff, 0x10]));
        assert!(!verify_hex("00ff1", &[0x00, 0xff, 0x10]));
        assert!(!verify_hex("zzff10", &[0x00, 0xff, 0x10]));
        assert!(!verify_hex("", &[]));
    }

    #[test]
    fn compares_base64_digests_padded_or_not() {
        let mac = [0xfb, 0xff, 0x10, 0x00];
        assert!(verify_base64("+/8QAA==", &mac));
        assert!(verify_base64("+/8QAA", &mac));
        assert!(!verify_base64("+/8QAQ==", &mac), "last byte differs");
        assert!(!verify_base64("-_8QAA==", &mac), "URL-safe alphabet");
        assert!(!verify_base64("+/8=", &mac[..3]), "short");
        assert!(!verify_base64("+/8QAAA=", &mac), "long");
        assert!(!verify_base64("not base64!", &mac));
        assert!(!verify_base64("", &[]));
    }

    #[test]
    fn finds_headers_in_any_case() {
        let headers = vec![("X-Notion-Signature".to_string(), "sha256=ab".to_string())];
        assert_eq!(header(&headers, "x-notion-signature"), Some("sha256=ab"));
        assert_eq!(header(&headers, "other"), None);
    }
}
