//! Runtime benchmark: prints figures, asserts nothing.
//!
//! `cargo bench -p synchost-e2e --bench runtime [-- RECORDS]`
//!
//! - cold compile and warm (cached) load of each connector, the Python and
//!   JavaScript Directus connectors (built here with componentize-py and
//!   componentize-js) among them;
//! - instantiate (a fresh Store, instance and `configure`);
//! - per-call overhead of `read` (a call that answers without HTTP);
//! - records/s of the Notion connector reading RECORDS (default 100,000)
//!   simulated pages with rate limiting off, beside the same parsing code
//!   (`query::parse_query_bytes`) run natively on the same responses.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use synchost::runtime::{Connection, ReadRequest, Runtime, RuntimeOptions, Secrets};
use synchost_e2e::{build_connector, simulated};
use synchost_sim::notion::{NotionOptions, NotionSim};

/// Builds `connectors/NAME` (Python or JavaScript) with `synchost connector
/// build`, with the pinned tools.
async fn build_other_language(name: &str) -> std::path::PathBuf {
    let root = synchost_e2e::root();
    let source = root.join("connectors").join(name);
    // The Python project names the contract and SDK by relative paths and
    // builds in place (its .wasm is ignored by git); the JavaScript one is
    // copied, as its test does.
    let dir = if name.ends_with("-py") {
        source
    } else {
        let dir = root
            .join("target/tmp/bench")
            .join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        synchost_e2e::js::copy_project(&source, &dir).unwrap();
        dir
    };
    // SAFETY: set before any build reads them, once, on this thread.
    unsafe {
        if name.ends_with("-py") {
            std::env::set_var(
                "SYNCHOST_COMPONENTIZE_PY",
                synchost_e2e::python::componentize_py(),
            );
        } else {
            std::env::set_var(
                "SYNCHOST_COMPONENTIZE_JS",
                synchost_e2e::js::componentize_js(),
            );
        }
    }
    synchost_e2e::guest::build(&dir, name).await
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn runtime_with_cache(dir: &Path) -> Runtime {
    Runtime::new(RuntimeOptions {
        cache_dir: Some(dir.to_path_buf()),
        ..Default::default()
    })
    .unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let records: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let cache = std::env::temp_dir().join(format!("synchost-bench-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);

    println!("## load and call overhead\n");
    println!("| connector | wasm size | cold compile | warm load (median of 20) | instantiate + configure (median of 50) |");
    println!("|---|---|---|---|---|");
    let mut components: Vec<std::path::PathBuf> = [
        "synchost-connector-notion",
        "synchost-connector-airtable",
        "synchost-connector-template",
    ]
    .into_iter()
    .map(build_connector)
    .collect();
    components.push(build_other_language("directus-py").await);
    components.push(build_other_language("directus-js").await);
    for wasm in components {
        let size = std::fs::metadata(&wasm).unwrap().len();
        let rt = runtime_with_cache(&cache);
        let started = Instant::now();
        let connector = rt.load(&wasm).await.unwrap();
        let cold = started.elapsed();
        let mut warm = Vec::new();
        for _ in 0..20 {
            let rt = runtime_with_cache(&cache);
            let started = Instant::now();
            rt.load(&wasm).await.unwrap();
            warm.push(started.elapsed());
        }
        let conn = Connection {
            settings: [
                ("database.tasks".to_string(), "0".repeat(32)),
                ("base_id".into(), "app0".into()),
                ("table.tasks".into(), "Tasks".into()),
                ("url".into(), "http://127.0.0.1:8055".into()),
            ]
            .into(),
            ..Default::default()
        };
        let mut inst = Vec::new();
        for _ in 0..50 {
            let started = Instant::now();
            rt.session(&connector, &conn).await.unwrap();
            inst.push(started.elapsed());
        }
        println!(
            "| {} | {} KiB | {:.0} ms | {:.2} ms | {:.0} µs |",
            connector.name,
            size / 1024,
            cold.as_secs_f64() * 1e3,
            median(warm).as_secs_f64() * 1e3,
            median(inst).as_secs_f64() * 1e6
        );
    }

    // A read of an unknown entity answers at once, without HTTP: the cost of
    // crossing the boundary with a request and an error back.
    let rt = runtime_with_cache(&cache);
    let template = rt
        .load(&build_connector("synchost-connector-template"))
        .await
        .unwrap();
    let mut session = rt.session(&template, &Connection::default()).await.unwrap();
    let req = ReadRequest {
        entity: "nothing".into(),
        cursor: Some("c".repeat(64)),
        since: Some("2024-01-01T00:00:00Z".into()),
        page_size: 100,
    };
    for _ in 0..1000 {
        let _ = session.read(&req).await;
    }
    let n = 20_000;
    let started = Instant::now();
    for _ in 0..n {
        let _ = session.read(&req).await;
    }
    let per_call = started.elapsed() / n;
    println!(
        "\nper-call overhead of `read` (template connector, no HTTP, {n} calls): {:.2} µs\n",
        per_call.as_secs_f64() * 1e6
    );

    println!("## Notion connector: {records} records, rate limiting off\n");
    let sim = NotionSim::start(NotionOptions {
        token: "bench".into(),
        rate_limit: None,
        ..Default::default()
    })
    .await
    .unwrap();
    let db = sim.create_database(
        "Tasks",
        &[
            ("Name", "title"),
            ("Status", "select"),
            ("Points", "number"),
            ("Done", "checkbox"),
            ("Email", "email"),
            ("Due", "date"),
        ],
    );
    let seeding = Instant::now();
    for i in 0..records {
        let status = ["Open", "Doing", "Done"][i % 3];
        sim.insert_page(
            &db,
            json!({
                "Name": {"title": [{"text": {"content": format!("Task number {i}")}}]},
                "Status": {"select": {"name": status}},
                "Points": {"number": i},
                "Done": {"checkbox": i % 2 == 0},
                "Email": {"email": format!("owner{i}@example.com")},
                "Due": {"date": {"start": "2026-12-01"}},
            }),
        )
        .unwrap();
    }
    eprintln!(
        "seeded {records} pages in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let notion = rt
        .load(&build_connector("synchost-connector-notion"))
        .await
        .unwrap();
    let mut conn = simulated("https://api.notion.com", &sim.base_url());
    conn.settings.insert("database.tasks".into(), db.clone());
    // Rate limiting off on our side too: the connector's hint is Notion's 3/s.
    conn.rate_limit = Some(synchost::runtime::Rate {
        per_second: 1e9,
        burst: 1_000_000,
        daily_budget: None,
    });
    let secrets = Secrets::from_values([("notion_token".to_string(), "bench".to_string())].into());
    let mut session = rt
        .session_with_secrets(&notion, &conn, secrets)
        .await
        .unwrap();
    let started = Instant::now();
    let (mut cursor, mut read) = (None, 0usize);
    loop {
        let page = session
            .read(&ReadRequest {
                entity: "tasks".into(),
                cursor: cursor.take(),
                since: None,
                page_size: 100,
            })
            .await
            .unwrap();
        read += page.records.len();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let wasm_total = started.elapsed();
    assert_eq!(read, records);
    let in_http: Duration = session
        .calls()
        .iter()
        .map(|c| Duration::from_micros(c.micros))
        .sum();
    let in_sandbox = wasm_total.saturating_sub(in_http);

    // The same HTTP exchanges made natively, bodies kept, then the same parsing code.
    let client = reqwest::Client::new();
    let url = format!("{}/v1/databases/{db}/query", sim.base_url());
    let mut bodies = Vec::new();
    let mut next: Option<String> = None;
    let started = Instant::now();
    loop {
        let mut body = json!({"page_size": 100});
        if let Some(c) = &next {
            body["start_cursor"] = json!(c);
        }
        let bytes = client
            .post(&url)
            .bearer_auth("bench")
            .header("Notion-Version", "2022-06-28")
            .json(&body)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        next = v["next_cursor"].as_str().map(String::from);
        bodies.push(bytes);
        if next.is_none() {
            break;
        }
    }
    let fetch_only = started.elapsed();
    let started = Instant::now();
    let mut parsed = 0;
    for bytes in &bodies {
        parsed += synchost_connector_notion::query::parse_query_bytes(bytes, "POST")
            .unwrap()
            .records
            .len();
    }
    let native_parse = started.elapsed();
    assert_eq!(parsed, records);

    let rate = |d: Duration| records as f64 / d.as_secs_f64();
    println!("| path | time | records/s |");
    println!("|---|---|---|");
    println!(
        "| wasm connector: HTTP through the host + parse in the sandbox | {:.2} s | {:.0} |",
        wasm_total.as_secs_f64(),
        rate(wasm_total)
    );
    println!(
        "| native: the same HTTP requests, bodies only | {:.2} s | {:.0} |",
        fetch_only.as_secs_f64(),
        rate(fetch_only)
    );
    println!(
        "| native: the same parsing code on those bodies | {:.2} s | {:.0} |",
        native_parse.as_secs_f64(),
        rate(native_parse)
    );
    println!("| wasm connector: time in the sandbox (total less the host's HTTP calls) | {:.2} s | {:.0} |", in_sandbox.as_secs_f64(), rate(in_sandbox));
    println!(
        "\nratio of parsing in the sandbox to the same code run natively: {:.2}x",
        in_sandbox.as_secs_f64() / native_parse.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&cache);
}
