//! `--notify-url`: a receiver on loopback gets one signed POST per conflict a
//! run parks and one when a run turns partial, verifies each signature with
//! the daemon's secret, and is retried when it answers 500.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::daemon::{blocking, Daemon};
use common::World;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// What the receiver was sent: headers of interest and the raw body.
#[derive(Clone, Debug)]
struct Delivery {
    signature: String,
    delivery: String,
    event: String,
    body: Vec<u8>,
}

struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Delivery>>>,
    /// answers 500 to this many requests first
    fail: Arc<Mutex<u32>>,
    _served: synchost_sim::server::Served,
}

async fn receiver(fail: u32) -> Receiver {
    let got = Arc::new(Mutex::new(Vec::new()));
    let failing = Arc::new(Mutex::new(fail));
    let (g, f) = (got.clone(), failing.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let (g, f) = (g.clone(), f.clone());
                async move {
                    let h = |k: &str| {
                        headers
                            .get(k)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string()
                    };
                    g.lock().unwrap().push(Delivery {
                        signature: h("x-synchost-signature"),
                        delivery: h("x-synchost-delivery"),
                        event: h("x-synchost-event"),
                        body: body.to_vec(),
                    });
                    let mut left = f.lock().unwrap();
                    if *left > 0 {
                        *left -= 1;
                        return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    axum::http::StatusCode::NO_CONTENT
                }
            },
        ),
    );
    let served = synchost_sim::server::Served::start(app).await.unwrap();
    Receiver {
        url: format!("{}/hook", served.base_url()),
        got,
        fail: failing,
        _served: served,
    }
}

/// Checks `t=…,v1=…` as a receiver would: HMAC-SHA256 over "{t}.{body}".
fn verified(secret: &str, d: &Delivery) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in d.signature.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = Some(v.to_string()),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let fresh = t
        .parse::<i64>()
        .is_ok_and(|t| (chrono::Utc::now().timestamp() - t).abs() < 300);
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&d.body);
    fresh && mac.verify_slice(&v1).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_conflicts_are_notified_signed_and_retried() {
    let w = World::new("notify", "manual").await;
    for who in ["ann", "bob"] {
        w.add_notion("Original", &format!("{who}@example.com"), "Todo", 1.0);
    }
    let hook = receiver(2).await;
    let data = w.dir.join("daemon");
    let id = "sync-notify";
    let job = w.job.clone();
    let url = hook.url.clone();
    let d = {
        let data = data.clone();
        blocking(move || {
            let d = Daemon::start_with(
                &data,
                &[
                    "--notify-url",
                    &url,
                    "--public-url",
                    "https://sync.example.com/",
                ],
                &[],
            );
            assert_eq!(d.post("/jobs", &job).0, 201);
            assert_eq!(d.post(&format!("/jobs/{id}/trigger"), &json!({})).0, 202);
            d.wait_for_run(id, &["success"], Duration::from_secs(20));
            d
        })
        .await
    };
    assert!(
        hook.got.lock().unwrap().is_empty(),
        "a successful run is not notified"
    );
    // Both sides change Name on both records: two conflicts, parked.
    w.tick();
    for who in ["ann", "bob"] {
        let email = format!("{who}@example.com");
        w.notion
            .update_page(
                &w.notion_id(&email),
                json!({"Name": {"title": [{"text": {"content": "From Notion"}}]}}),
            )
            .unwrap();
        w.airtable
            .update(
                &w.base,
                "Tasks",
                &w.airtable_id(&email),
                json!({"Name": "From Airtable"}),
            )
            .unwrap();
    }
    let d = blocking(move || {
        assert_eq!(d.post(&format!("/jobs/{id}/trigger"), &json!({})).0, 202);
        d.wait_for_run(id, &["partial"], Duration::from_secs(20));
        d
    })
    .await;
    // Three notices (two conflicts, the run turned partial); the first
    // answered 500 twice, then 204.
    let started = Instant::now();
    while hook.got.lock().unwrap().len() < 5 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            hook.got.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = hook.got.lock().unwrap().clone();
    assert_eq!(got.len(), 5, "no more than that: {got:?}");
    assert_eq!(*hook.fail.lock().unwrap(), 0);
    let secret = std::fs::read_to_string(data.join("notify-secret")).unwrap();
    for d in &got {
        assert!(verified(secret.trim(), d), "signature: {d:?}");
        let mut tampered = d.clone();
        tampered.body.push(b' ');
        assert!(!verified(secret.trim(), &tampered));
    }
    // The retries are the same delivery.
    assert_eq!(got[0].delivery, got[1].delivery);
    assert_eq!(got[1].delivery, got[2].delivery);
    let mut deliveries: Vec<&str> = got.iter().map(|d| d.delivery.as_str()).collect();
    deliveries.dedup();
    assert_eq!(deliveries.len(), 3, "{deliveries:?}");
    let bodies: Vec<Value> = got[2..]
        .iter()
        .map(|d| serde_json::from_slice(&d.body).unwrap())
        .collect();
    let parked: Vec<&Value> = bodies
        .iter()
        .filter(|b| b["kind"] == "conflict_parked")
        .collect();
    assert_eq!(parked.len(), 2, "one per parked conflict: {bodies:?}");
    assert!(got[2..].iter().any(|d| d.event == "run_partial"));
    let conflicts = blocking({
        let data = data.clone();
        move || {
            let (code, out, err) = common::synchost(&[
                "conflicts",
                "list",
                "--json",
                "--data",
                data.to_str().unwrap(),
            ]);
            assert_eq!(code, 0, "{err}");
            out.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        }
    })
    .await;
    for notice in &parked {
        assert_eq!(notice["job"], id);
        let cid = notice["conflict"]["id"].as_str().unwrap();
        assert!(conflicts.iter().any(|c| c["id"] == cid), "{cid}");
        assert_eq!(
            notice["link"],
            format!("https://sync.example.com/ui/conflicts/{cid}")
        );
        assert_eq!(notice["conflict"]["fields"][0]["field"], "Name");
        assert_eq!(
            notice["conflict"]["fields"][0]["source"]["value"],
            "From Notion"
        );
        assert_eq!(
            notice["conflict"]["fields"][0]["target"]["value"],
            "From Airtable"
        );
    }

    // Decided with `synchost conflicts resolve` (one of the two ways back).
    let d = blocking({
        let data = data.clone();
        let ids: Vec<String> = conflicts
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect();
        move || {
            for cid in ids {
                let (code, _, err) = common::synchost(&[
                    "conflicts",
                    "resolve",
                    &cid,
                    "--take",
                    "target",
                    "--data",
                    data.to_str().unwrap(),
                ]);
                assert_eq!(code, 0, "{err}");
            }
            assert_eq!(d.post(&format!("/jobs/{id}/trigger"), &json!({})).0, 202);
            let started = Instant::now();
            while d.runs(id)[0]["report"]["status"] != "success" {
                assert!(started.elapsed() < Duration::from_secs(20));
                std::thread::sleep(Duration::from_millis(100));
            }
            let audit = d.get("/audit?limit=1000");
            let sent: Vec<&Value> = audit
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["kind"] == "notify_sent")
                .collect();
            assert_eq!(sent.len(), 3, "{sent:?}");
            assert!(
                sent.iter().any(|e| e["detail"]["attempts"] == 3),
                "{sent:?}"
            );
            d
        }
    })
    .await;
    drop(d);
    let rows = w.notion_rows();
    assert_eq!(rows, w.airtable_rows());
    assert!(rows.values().all(|r| r.0 == "From Airtable"), "{rows:?}");
}

/// Notices are kept until the receiver takes them: one that a daemon could
/// not deliver before it was killed is delivered by the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_not_yet_delivered_survives_a_kill() {
    let w = World::new("notify-kill", "manual").await;
    w.add_notion("Original", "kim@example.com", "Todo", 1.0);
    let hook = receiver(1_000_000).await;
    let data = w.dir.join("daemon");
    let id = "sync-notify-kill";
    let (job, url) = (w.job.clone(), hook.url.clone());
    let args = move || vec!["--notify-url".to_string(), url.clone()];
    let d = {
        let (data, args) = (data.clone(), args.clone());
        blocking(move || {
            let args = args();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let d = Daemon::start_with(&data, &args, &[]);
            assert_eq!(d.post("/jobs", &job).0, 201);
            assert_eq!(d.post(&format!("/jobs/{id}/trigger"), &json!({})).0, 202);
            d.wait_for_run(id, &["success"], Duration::from_secs(20));
            d
        })
        .await
    };
    w.tick();
    let email = "kim@example.com";
    w.notion
        .update_page(
            &w.notion_id(email),
            json!({"Name": {"title": [{"text": {"content": "From Notion"}}]}}),
        )
        .unwrap();
    w.airtable
        .update(
            &w.base,
            "Tasks",
            &w.airtable_id(email),
            json!({"Name": "From Airtable"}),
        )
        .unwrap();
    let mut d = blocking(move || {
        assert_eq!(d.post(&format!("/jobs/{id}/trigger"), &json!({})).0, 202);
        d.wait_for_run(id, &["partial"], Duration::from_secs(20));
        d
    })
    .await;
    // Refused at least once, then the daemon is killed.
    let started = Instant::now();
    while hook.got.lock().unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d.kill();
    let refused = hook.got.lock().unwrap()[0].delivery.clone();
    *hook.fail.lock().unwrap() = 0;
    let d = blocking(move || {
        let args = args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Daemon::start_with(&data, &args, &[])
    })
    .await;
    let started = Instant::now();
    loop {
        let got = hook.got.lock().unwrap().clone();
        if let Some(taken) = got.iter().skip(1).find(|d| d.event == "conflict_parked") {
            assert_eq!(taken.delivery, refused, "the same notice, sent again");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{got:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(d);
}
