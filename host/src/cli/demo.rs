//! `synchost demo`: the Notion and Airtable simulators on loopback, their
//! connectors built from this source tree and run in the sandbox, with no
//! account, no credential and nothing else to install.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::json;

use crate::runtime::{
    Connection, Field, FieldValue, LoadedConnector, ReadRequest, Runtime, Secrets, WriteOp,
};
use synchost_sim::airtable::{AirtableOptions, AirtableRateLimit, AirtableSim};
use synchost_sim::notion::{NotionOptions, NotionSim};

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Records to seed on each platform
    #[arg(long, default_value_t = 250)]
    pub records: usize,
    /// A folder holding notion.wasm and airtable.wasm; default: build them from source
    #[arg(long)]
    pub connectors: Option<PathBuf>,
}

/// Demo tokens: the simulators accept these and nothing else.
const NOTION_TOKEN: &str = "secret_demo_notion";
const AIRTABLE_TOKEN: &str = "pat_demo_airtable";

struct Side {
    platform: &'static str,
    connector: Arc<LoadedConnector>,
    conn: Connection,
    load: Duration,
}

pub async fn run(args: DemoArgs, runtime: &Runtime) -> anyhow::Result<ExitCode> {
    let notion = NotionSim::start(NotionOptions {
        token: NOTION_TOKEN.into(),
        ..Default::default()
    })
    .await?;
    let airtable = AirtableSim::start(AirtableOptions {
        token: AIRTABLE_TOKEN.into(),
        rate_limit: Some(AirtableRateLimit {
            per_second: 5,
            penalty: Duration::from_secs(30),
        }),
        ..Default::default()
    })
    .await?;
    eprintln!(
        "simulators: Notion at {}, Airtable at {}",
        notion.base_url(),
        airtable.base_url()
    );

    let db = notion.create_database(
        "Tasks",
        &[("Name", "title"), ("Email", "email"), ("Status", "select")],
    );
    let base = airtable.create_base();
    airtable.create_table(
        &base,
        "Tasks",
        &[
            ("Name", "singleLineText"),
            ("Email", "email"),
            ("Status", "singleSelect"),
            ("Last Modified", "lastModifiedTime"),
        ],
    );
    for i in 0..args.records {
        let status = ["Todo", "Doing", "Done"][i % 3];
        notion.insert_page(
            &db,
            json!({
                "Name": {"title": [{"text": {"content": format!("Task {i}")}}]},
                "Email": {"email": format!("owner{i}@example.com")},
                "Status": {"select": {"name": status}},
            }),
        )?;
        airtable.insert(&base, "Tasks", json!({"Name": format!("Task {i}"), "Email": format!("owner{i}@example.com"), "Status": status}))?;
    }

    // The tokens live on the host side only: the connectors see placeholders.
    let secrets = Secrets::from_values(BTreeMap::from([
        ("notion_token".to_string(), NOTION_TOKEN.to_string()),
        ("airtable_token".to_string(), AIRTABLE_TOKEN.to_string()),
    ]));
    let mut sides = Vec::new();
    for (platform, package, origin, url, settings) in [
        (
            "Notion",
            "synchost-connector-notion",
            "https://api.notion.com",
            notion.base_url(),
            vec![("database.tasks", db.clone())],
        ),
        (
            "Airtable",
            "synchost-connector-airtable",
            "https://api.airtable.com",
            airtable.base_url(),
            vec![
                ("base_id", base.clone()),
                ("table.tasks", "Tasks".to_string()),
            ],
        ),
    ] {
        let path = match &args.connectors {
            Some(dir) => dir.join(format!("{}.wasm", platform.to_lowercase())),
            None => {
                eprintln!("building the {platform} connector from source (wasm32-wasip2)…");
                crate::dev::build_connector(package)?
            }
        };
        let started = Instant::now();
        let connector = runtime.load(&path).await?;
        let conn = Connection {
            settings: settings
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            endpoint_overrides: BTreeMap::from([(origin.to_string(), url)]),
            // The simulators listen on 127.0.0.1: the demo allows that explicitly.
            allow_private_networks: true,
            ..Default::default()
        };
        sides.push(Side {
            platform,
            connector,
            conn,
            load: started.elapsed(),
        });
    }

    println!(
        "{:<9} {:>8} {:>6} {:>8} {:>6} {:>5} {:>9}  {}",
        "platform", "records", "pages", "calls", "429s", "write", "seconds", "connector"
    );
    for side in &sides {
        let started = Instant::now();
        let mut session = runtime
            .session_with_secrets(&side.connector, &side.conn, secrets.clone())
            .await?;
        let (mut cursor, mut pages, mut records) = (None, 0, 0);
        loop {
            let page = session
                .read(&ReadRequest {
                    entity: "tasks".into(),
                    cursor: cursor.take(),
                    since: None,
                    page_size: 100,
                })
                .await?;
            pages += 1;
            records += page.records.len();
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let created = session
            .write(
                "tasks",
                &[WriteOp::Create(vec![
                    Field {
                        name: "Name".into(),
                        value: FieldValue::Text("Written through the sandbox".into()),
                    },
                    Field {
                        name: "Status".into(),
                        value: FieldValue::Select("Todo".into()),
                    },
                ])],
            )
            .await?;
        let wrote = if created.iter().all(|r| r.is_ok()) {
            "ok"
        } else {
            "fail"
        };
        let calls = session.calls();
        let throttled = calls.iter().filter(|c| c.status == 429).count();
        println!(
            "{:<9} {:>8} {:>6} {:>8} {:>6} {:>5} {:>9.2}  {} {} (contract {}, {:?} in {} ms)",
            side.platform,
            records,
            pages,
            calls.len(),
            throttled,
            wrote,
            started.elapsed().as_secs_f64(),
            side.connector.name,
            side.connector.descriptor.version,
            side.connector.contract,
            side.connector.source,
            side.load.as_millis()
        );
    }
    println!(
        "\nNotion now holds {} pages, Airtable {} records.",
        notion.pages(&db).len(),
        airtable.records(&base, "Tasks").len()
    );
    Ok(ExitCode::SUCCESS)
}
