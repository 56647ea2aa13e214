//! `HTTP_PROXY`, `HTTPS_PROXY` and `ALL_PROXY` in the host's environment
//! once sent connector requests through the proxy, so the private-network
//! check ran against the proxy's address and a connector reached `localhost`
//! with `allow_private_networks: false`. This binary runs with all three set
//! to a recording proxy on loopback (its own process, so no other test sees
//! the variables) and attacks through it.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, OnceLock};

use synchost::runtime::{Runtime, RuntimeOptions};
use synchost_e2e::hostile::*;

/// A forward proxy that answers every request itself and remembers each
/// request line it saw.
struct Proxy {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

fn proxy() -> &'static Proxy {
    static PROXY: OnceLock<Proxy> = OnceLock::new();
    PROXY.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                log.lock().unwrap().push(line.trim().to_string());
                let mut stream = stream;
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nproxied",
                );
            }
        });
        // SAFETY: set once, before any runtime (and its HTTP clients) exists
        // in this process, which has no other tests reading them.
        unsafe {
            for var in [
                "HTTP_PROXY",
                "HTTPS_PROXY",
                "ALL_PROXY",
                "http_proxy",
                "https_proxy",
            ] {
                std::env::set_var(var, &url);
            }
            std::env::remove_var("NO_PROXY");
            std::env::remove_var("no_proxy");
        }
        Proxy { url, seen }
    })
}

/// Both attacks share the proxy, so they run in order in one test.
#[tokio::test]
async fn proxy_env_does_not_reach_loopback_and_an_explicit_proxy_checks_first() {
    proxy_env_does_not_reach_loopback().await;
    an_explicit_proxy_still_checks_the_destination_first().await;
}

async fn proxy_env_does_not_reach_loopback() {
    let proxy = proxy();
    let s = setup().await;
    for (entity, target) in [("localhost", "localhost"), ("loopback", "127.0.0.1")] {
        assert_denied(attack(&s, entity, false).await.unwrap_err(), target);
    }
    assert!(
        proxy.seen.lock().unwrap().is_empty(),
        "a request went through the environment's proxy: {:?}",
        proxy.seen.lock().unwrap()
    );
}

/// A proxy is an explicit setting; even then the destination is checked
/// before the request leaves, and with the job's permission it goes through
/// the proxy.
async fn an_explicit_proxy_still_checks_the_destination_first() {
    let proxy = proxy();
    let mut s = setup().await;
    s.rt = Runtime::new(RuntimeOptions {
        proxy: Some(proxy.url.clone()),
        cache_dir: Some(synchost_e2e::root().join("target/test-cache")),
        ..Default::default()
    })
    .unwrap();
    s.hostile =
        s.rt.load(&synchost_e2e::build_connector("synchost-connector-hostile"))
            .await
            .unwrap();
    assert_denied(
        attack(&s, "localhost", false).await.unwrap_err(),
        "localhost",
    );
    assert!(proxy.seen.lock().unwrap().is_empty());
    let page = attack(&s, "loopback", true).await.unwrap();
    assert_eq!(observed(&page), "200");
    let seen = proxy.seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|l| l.starts_with("GET http://127.0.0.1/")),
        "{seen:?}"
    );
}
