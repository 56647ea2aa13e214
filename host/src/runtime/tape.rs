//! Record and replay of a connector's HTTP exchanges ("cassettes"), so that a
//! third party tests a connector against real traffic without credentials.
//!
//! Recording keeps what crossed the sandbox's boundary: the request as the
//! connector wrote it (secret placeholders, never values) and the response
//! as the connector received it, with every secret value scrubbed back to
//! its placeholder. Replay answers each request with the first unused
//! recorded exchange of the same method, URL and body, after the sandbox's
//! host policy has let the request through, so an undeclared host is still
//! refused offline.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// The file of a cassette's exchanges, one JSON object per line.
pub const EXCHANGES: &str = "exchanges.jsonl";

/// One request and the response the connector got for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Exchange {
    /// which session it belongs to, e.g. `valid` or `wrong-credential`
    pub tag: String,
    pub method: String,
    pub url: String,
    /// request headers as the connector wrote them (placeholders, no values)
    pub request_headers: Vec<(String, String)>,
    /// request body, base64
    pub request_body: Option<String>,
    pub status: u16,
    pub response_headers: Vec<(String, String)>,
    /// response body as text when it is UTF-8, else base64 in `response_body_base64`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body_base64: Option<String>,
}

impl Exchange {
    pub fn body(&self) -> Vec<u8> {
        match (&self.response_body, &self.response_body_base64) {
            (Some(text), _) => text.clone().into_bytes(),
            (None, Some(b64)) => B64.decode(b64).unwrap_or_default(),
            (None, None) => Vec::new(),
        }
    }

    fn matches(&self, tag: &str, method: &str, url: &str, body: &Option<String>) -> bool {
        self.tag == tag && self.method == method && self.url == url && self.request_body == *body
    }
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A session's tape: recording to a cassette, or replaying one.
#[derive(Clone, Debug)]
pub struct Tape {
    pub tag: String,
    pub mode: Mode,
}

#[derive(Clone, Debug)]
pub enum Mode {
    Record(Arc<Recorder>),
    Replay(Arc<Cassette>),
}

/// Appends exchanges to `DIR/exchanges.jsonl`.
#[derive(Debug)]
pub struct Recorder {
    file: Mutex<std::fs::File>,
    pub dir: PathBuf,
}

impl Recorder {
    /// Starts a new cassette in `dir`, replacing the exchanges of an old one.
    pub fn create(dir: &Path) -> std::io::Result<Recorder> {
        std::fs::create_dir_all(dir)?;
        let file = std::fs::File::create(dir.join(EXCHANGES))?;
        Ok(Recorder {
            file: Mutex::new(file),
            dir: dir.to_path_buf(),
        })
    }

    pub fn append(&self, exchange: &Exchange) {
        let mut line = serde_json::to_vec(exchange).expect("an exchange serializes");
        line.push(b'\n');
        // A cassette that cannot be written is reported by the run's end,
        // which checks the file; the connector's call is not failed for it.
        if let Err(e) = self.file.lock().write_all(&line) {
            tracing::error!(error = %e, dir = %self.dir.display(), "cannot write the cassette");
        }
    }
}

/// A cassette loaded for replay.
#[derive(Debug)]
pub struct Cassette {
    unused: Mutex<VecDeque<Exchange>>,
    pub dir: PathBuf,
}

impl Cassette {
    pub fn open(dir: &Path) -> anyhow::Result<Cassette> {
        let path = dir.join(EXCHANGES);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            anyhow::anyhow!(
                "{} is not a cassette ({e}); record one with `--record DIR`",
                path.display()
            )
        })?;
        let mut unused = VecDeque::new();
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            unused.push_back(serde_json::from_str(line).map_err(|e| {
                anyhow::anyhow!("{} line {}: not an exchange: {e}", path.display(), n + 1)
            })?);
        }
        Ok(Cassette {
            unused: Mutex::new(unused),
            dir: dir.to_path_buf(),
        })
    }

    /// The recorded answer to a request, used up once given.
    pub fn answer(
        &self,
        tag: &str,
        method: &str,
        url: &str,
        body: Option<&[u8]>,
    ) -> Result<Exchange, String> {
        let body = body.map(|b| B64.encode(b));
        let mut unused = self.unused.lock();
        let at = unused
            .iter()
            .position(|e| e.matches(tag, method, url, &body))
            .ok_or_else(|| {
                format!(
                    "the cassette in {} has no (further) answer to {method} {url}: the connector asked something the recorded run did not",
                    self.dir.display()
                )
            })?;
        Ok(unused.remove(at).expect("position is in range"))
    }

    /// How many recorded exchanges were not asked for.
    pub fn left(&self) -> usize {
        self.unused.lock().len()
    }
}

impl Exchange {
    /// An exchange to record, from the request as the connector wrote it.
    pub fn request(
        tag: &str,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: Option<&[u8]>,
    ) -> Exchange {
        Exchange {
            tag: tag.to_string(),
            method: method.to_string(),
            url: url.to_string(),
            request_headers: headers.to_vec(),
            request_body: body.map(|b| B64.encode(b)),
            status: 0,
            response_headers: Vec::new(),
            response_body: None,
            response_body_base64: None,
        }
    }

    /// With the response the connector got: its headers and body already
    /// scrubbed by the caller, which holds the secrets.
    pub fn answered(
        mut self,
        status: u16,
        headers: Vec<(String, String)>,
        body: &[u8],
    ) -> Exchange {
        self.status = status;
        self.response_headers = headers;
        match std::str::from_utf8(body) {
            Ok(text) => self.response_body = Some(text.to_string()),
            Err(_) => self.response_body_base64 = Some(B64.encode(body)),
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_in_order_per_request_and_refuses_what_was_not_recorded() {
        let dir = std::env::temp_dir().join(format!("synchost-tape-{}", std::process::id()));
        let rec = Recorder::create(&dir).unwrap();
        for (n, body) in [b"first".as_slice(), b"second", &[0xff, 0xfe]]
            .iter()
            .enumerate()
        {
            rec.append(
                &Exchange::request(
                    "valid",
                    "GET",
                    "https://api.example.com/v1/items",
                    &[("authorization".into(), "Bearer {{secret:tok}}".into())],
                    None,
                )
                .answered(200 + n as u16, vec![], body),
            );
        }
        drop(rec);
        let tape = Cassette::open(&dir).unwrap();
        let url = "https://api.example.com/v1/items";
        assert_eq!(
            tape.answer("valid", "GET", url, None).unwrap().body(),
            b"first"
        );
        assert!(tape.answer("wrong-credential", "GET", url, None).is_err());
        assert!(tape.answer("valid", "POST", url, None).is_err());
        assert_eq!(
            tape.answer("valid", "GET", url, None).unwrap().body(),
            b"second"
        );
        let third = tape.answer("valid", "GET", url, None).unwrap();
        assert_eq!((third.status, third.body()), (202, vec![0xff, 0xfe]));
        let err = tape.answer("valid", "GET", url, None).unwrap_err();
        assert!(err.contains("no (further) answer to GET"), "{err}");
        assert_eq!(tape.left(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_damaged_cassette_names_its_line() {
        let dir = std::env::temp_dir().join(format!("synchost-tape-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(EXCHANGES), "{\"tag\":1}\n").unwrap();
        let err = Cassette::open(&dir).unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
        let err = Cassette::open(&dir.join("missing"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("record one with `--record DIR`"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
