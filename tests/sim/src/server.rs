//! Serving a simulator's router on loopback, and stopping it.

use std::net::SocketAddr;
use tokio::sync::oneshot;

/// A simulator listening on 127.0.0.1; it stops when dropped.
pub struct Served {
    pub addr: SocketAddr,
    /// every request received, as `METHOD /path`, in order
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: Option<oneshot::Sender<()>>,
}

impl Served {
    /// Binds an ephemeral port on 127.0.0.1 (never another interface) and serves `router`.
    pub async fn start(router: axum::Router) -> anyhow::Result<Self> {
        Self::start_on(router, 0).await
    }

    /// As `start`, on a chosen port (0 for any).
    pub async fn start_on(router: axum::Router, port: u16) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let logged = log.clone();
        let router = router.layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                logged
                    .lock()
                    .unwrap()
                    .push(format!("{} {}", req.method(), req.uri().path()));
                next.run(req)
            },
        ));
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            log,
            stop: Some(stop),
        })
    }

    /// Every request received so far, as `METHOD /path`, in order.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Sends every response with a `Date` header from `clock` (RFC 9110 §6.6.1:
/// an origin server with a clock sends Date), so that a test that moves the
/// clock sees the platform's time move too.
pub fn dated(router: axum::Router, clock: crate::clock::Clock) -> axum::Router {
    router.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let clock = clock.clone();
            async move {
                let mut resp = next.run(req).await;
                let date = clock.now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
                if let Ok(value) = axum::http::HeaderValue::from_str(&date) {
                    resp.headers_mut().insert(axum::http::header::DATE, value);
                }
                resp
            }
        },
    ))
}
