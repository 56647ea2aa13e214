//! The forms in which a platform might echo a secret back, so that the host
//! can scrub every one of them from a response before the connector sees it:
//! as is, percent-encoded (every byte, or all but the unreserved ones, upper
//! or lower case, or as a form), JSON-escaped, hex, base64 at each of the
//! three offsets a value can start at inside a longer encoded text, and the
//! `user:pass` pair and password inside a Basic credential.

use std::collections::BTreeMap;

/// Values shorter than this are not scrubbed: they would garble bodies.
const MIN_SCRUBBED: usize = 4;

/// Every form of every value worth scrubbing, longest first (so a longer
/// form is replaced before a shorter one inside it), each with its placeholder.
pub fn patterns(values: &BTreeMap<String, String>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for (name, value) in values {
        let placeholder = super::secrets::placeholder(name).into_bytes();
        for form in encoded_forms(value) {
            if form.len() >= MIN_SCRUBBED && !out.iter().any(|(p, _)| *p == form) {
                out.push((form, placeholder.clone()));
            }
        }
    }
    out.sort_by(|a, b| b.0.len().cmp(&a.0.len()));
    out
}

/// The forms in which a platform might echo `value`.
fn encoded_forms(value: &str) -> Vec<Vec<u8>> {
    let mut plain: Vec<String> = vec![value.to_string()];
    // `Basic base64(user:pass)`, or a bare base64 of it: the pair and the
    // password are secrets too.
    let token = value.strip_prefix("Basic ").unwrap_or(value).trim();
    if let Ok(decoded) = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, token) {
        if let Ok(pair) = String::from_utf8(decoded) {
            if let Some((_, password)) = pair.split_once(':') {
                plain.push(password.to_string());
                plain.push(pair);
            }
        }
    }
    let mut out = Vec::new();
    for text in &plain {
        let bytes = text.as_bytes();
        out.push(bytes.to_vec());
        for (all, upper) in [(false, true), (false, false), (true, true), (true, false)] {
            out.push(percent(bytes, all, upper).into_bytes());
        }
        out.push(
            url::form_urlencoded::byte_serialize(bytes)
                .collect::<String>()
                .into_bytes(),
        );
        if let Ok(json) = serde_json::to_string(text) {
            let json = json.trim_matches('"');
            // JSON may also escape `/` (PHP's encoder does)
            out.push(json.replace('/', "\\/").into_bytes());
            out.push(json.as_bytes().to_vec());
        }
        out.push(hex::encode(bytes).into_bytes());
        out.push(hex::encode_upper(bytes).into_bytes());
        out.extend(base64_cores(bytes));
    }
    out
}

/// Percent-encodes every byte (`all`), or every byte but RFC 3986's
/// unreserved ones.
fn percent(bytes: &[u8], all: bool, upper: bool) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if !all && (b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')) {
            out.push(b as char);
        } else if upper {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

/// The base64 characters that depend on `bytes` alone, at each of the three
/// offsets a value can start at inside a longer encoded text, in the
/// standard and the URL-safe alphabets: found anywhere in a base64 blob,
/// they carry the value whatever surrounds it.
fn base64_cores(bytes: &[u8]) -> Vec<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    use base64::Engine as _;
    let mut out = Vec::new();
    for offset in 0..3usize {
        let mut padded = vec![0u8; offset];
        padded.extend_from_slice(bytes);
        let first = (8 * offset).div_ceil(6);
        let last = 8 * (offset + bytes.len()) / 6;
        if last <= first + 5 {
            continue;
        }
        for engine in [&STANDARD, &URL_SAFE] {
            let encoded = engine.encode(&padded);
            out.push(encoded.as_bytes()[first..last].to_vec());
        }
    }
    out
}

pub fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = memchr::memmem::find(rest, needle) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(with);
        rest = &rest[at + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}
