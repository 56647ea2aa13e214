//! `synchost demo`: a real two-way sync between the Notion and Airtable
//! simulators on loopback, through the connectors built from this source
//! tree and run in the sandbox, with state in a fresh sled folder. No
//! account, no credential, nothing else to install.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde_json::{json, Value};

use crate::job::Job;
use crate::runtime::Runtime;
use crate::state::State;
use crate::sync::{self, ConnectorSource, Report, RunOptions};
use synchost_sim::airtable::{AirtableOptions, AirtableRateLimit, AirtableSim};
use synchost_sim::notion::{NotionOptions, NotionSim};

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Tasks to seed on each platform (a third of them on both)
    #[arg(long, default_value_t = 12)]
    pub records: usize,
    /// A folder holding notion.wasm and airtable.wasm; default: build them from source
    #[arg(long)]
    pub connectors: Option<std::path::PathBuf>,
}

/// Demo tokens: the simulators accept these and nothing else. The job names
/// them through environment variables, as a real job names real ones.
const NOTION_TOKEN: &str = "secret_demo_notion";
const AIRTABLE_TOKEN: &str = "pat_demo_airtable";

type Rows = BTreeMap<String, (String, String, f64)>;

pub async fn run(args: DemoArgs, runtime: &Runtime) -> anyhow::Result<ExitCode> {
    // The platforms' documented rate limits stay on: 3 requests/s for Notion,
    // 5/s per base for Airtable (with its 30 s penalty).
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
        "Notion simulator at {}, Airtable simulator at {}",
        notion.base_url(),
        airtable.base_url()
    );
    let db = notion.create_tasks_database("Tasks");
    let base = airtable.create_base();
    airtable.create_tasks_table(&base, "Tasks");

    // Overlapping data: a third of the tasks exist on both sides already.
    let n = args.records.max(6);
    let overlap = n / 3;
    for i in 0..n {
        notion.insert_page(
            &db,
            json!({
                "Name": {"title": [{"text": {"content": format!("Task {i}")}}]},
                "Email": {"email": format!("owner{i}@example.com")},
                "Status": {"select": {"name": "Todo"}},
                "Points": {"number": i},
            }),
        )?;
    }
    for i in (n - overlap)..(2 * n - overlap) {
        airtable.insert(&base, "Tasks", json!({"Name": format!("Task {i}"), "Email": format!("owner{i}@example.com"), "Status": "Todo", "Points": i}))?;
    }

    // SAFETY: set before the runtime reads them, on this thread.
    unsafe {
        std::env::set_var("SYNCHOST_DEMO_NOTION_TOKEN", NOTION_TOKEN);
        std::env::set_var("SYNCHOST_DEMO_AIRTABLE_TOKEN", AIRTABLE_TOKEN);
    }
    let job = Job::from_value(json!({
        "sync_id": "demo-tasks",
        "project_id": "pf-demo",
        "mode": "bidirectional",
        "schedule": "every_15_minutes",
        "source": {
            "platform": "Notion", "connector": "notion", "entity": "tasks",
            "connection": {
                "settings": {"database.tasks": db},
                "secrets": {"notion_token": "env:SYNCHOST_DEMO_NOTION_TOKEN"},
                "endpoint_overrides": {"https://api.notion.com": notion.base_url()},
                "allow_private_networks": true
            }
        },
        "target": {
            "platform": "Airtable", "connector": "airtable", "entity": "tasks",
            "connection": {
                "settings": {"base_id": base, "table.tasks": "Tasks"},
                "secrets": {"airtable_token": "env:SYNCHOST_DEMO_AIRTABLE_TOKEN"},
                "endpoint_overrides": {"https://api.airtable.com": airtable.base_url()},
                "allow_private_networks": true
            }
        },
        "match_key": "Email",
        "conflict": {"policy": "newest_wins"}
    }))?;
    let data = std::env::temp_dir().join(format!("synchost-demo-{}", std::process::id()));
    let state = State::open(&super::data::state_dir(&data))?;
    let options = RunOptions {
        full: false,
        connectors: ConnectorSource {
            dir: args.connectors.clone(),
            loaded: None,
        },
        progress: false,
        details: true,
        batch: None,
        daemon: None,
    };

    eprintln!(
        "first sync: {} tasks on Notion, {} on Airtable, {overlap} on both (matched by email)…",
        n, n
    );
    let first = sync::run(&job, runtime, &state, &options).await?;
    println!("first sync:  {}", summary(&first));

    // Edits on both sides: different fields of one task (merged), the same
    // field of another (a conflict: the later edit wins), a delete, a new task.
    notion.clock().advance(chrono::Duration::minutes(2));
    airtable.clock().advance(chrono::Duration::minutes(2));
    let both = format!("owner{}@example.com", n - 1);
    let contested = format!("owner{}@example.com", n - 2);
    let gone = format!("owner{}@example.com", n);
    notion.update_page(
        &page_id(&notion, &db, &both),
        json!({"Status": {"select": {"name": "Doing"}}}),
    )?;
    notion.update_page(
        &page_id(&notion, &db, &contested),
        json!({"Name": {"title": [{"text": {"content": "Renamed in Notion"}}]}}),
    )?;
    notion.insert_page(&db, json!({"Name": {"title": [{"text": {"content": "New in Notion"}}]}, "Email": {"email": "new@example.com"}, "Status": {"select": {"name": "Todo"}}, "Points": {"number": 1}}))?;
    notion.clock().advance(chrono::Duration::minutes(1));
    airtable.clock().advance(chrono::Duration::minutes(1));
    airtable.update(
        &base,
        "Tasks",
        &record_id(&airtable, &base, &both),
        json!({"Points": 42}),
    )?;
    airtable.update(
        &base,
        "Tasks",
        &record_id(&airtable, &base, &contested),
        json!({"Name": "Renamed in Airtable"}),
    )?;
    airtable.delete(&base, "Tasks", &record_id(&airtable, &base, &gone))?;

    // A full read, so that the delete on Airtable is seen (incremental reads
    // of these platforms do not report deletes).
    let second = sync::run(
        &job,
        runtime,
        &state,
        &RunOptions {
            full: true,
            ..options.clone()
        },
    )
    .await?;
    println!("second sync: {}", summary(&second));
    println!("\nreport of the second sync (the spec's shape):");
    println!(
        "{}",
        serde_json::to_string(&Report {
            details: None,
            ..second.clone()
        })?
    );

    let (n_rows, a_rows) = (notion_rows(&notion, &db), airtable_rows(&airtable, &base));
    println!(
        "\n{:<22} {:<34} {:<34}",
        "task (email)", "Notion", "Airtable"
    );
    for email in [&both, &contested, &gone, &"new@example.com".to_string()] {
        println!(
            "{:<22} {:<34} {:<34}",
            email,
            show(n_rows.get(email)),
            show(a_rows.get(email))
        );
    }
    for c in &second
        .details
        .as_ref()
        .map(|d| d.conflicts.clone())
        .unwrap_or_default()
    {
        println!(
            "\nconflict on `{}`: Notion {} vs Airtable {}; {:?} → {} won",
            c.field,
            value(&c.source),
            value(&c.target),
            c.policy,
            c.winner
                .map_or("nobody", |w| if w == crate::core::merge::Side::Source {
                    "Notion"
                } else {
                    "Airtable"
                })
        );
    }
    println!(
        "\nNotion holds {} tasks, Airtable {}; identical: {}",
        n_rows.len(),
        a_rows.len(),
        if n_rows == a_rows { "yes" } else { "NO" }
    );
    println!(
        "state: {} (`synchost runs --data {}` lists the runs)",
        data.display(),
        data.display()
    );
    Ok(if n_rows == a_rows {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn summary(r: &Report) -> String {
    let d = r.details.as_ref().expect("details");
    format!(
        "{:?}, {} writes (Notion: {} created, {} updated, {} deleted; Airtable: {} created, {} updated, {} deleted), {} conflicts",
        r.status, r.synced_items, d.source.written.created, d.source.written.updated, d.source.written.deleted,
        d.target.written.created, d.target.written.updated, d.target.written.deleted, r.conflicts_detected
    )
    .to_lowercase()
}

fn value(v: &Option<crate::core::value::Value>) -> String {
    v.as_ref().map_or("(none)".into(), |v| {
        serde_json::to_value(v)
            .map(|j| j["value"].to_string())
            .unwrap_or_default()
    })
}

fn show(row: Option<&(String, String, f64)>) -> String {
    row.map_or("(deleted)".into(), |(name, status, points)| {
        format!("{name} · {status} · {points}")
    })
}

fn page_id(sim: &NotionSim, db: &str, email: &str) -> String {
    sim.pages(db)
        .into_iter()
        .find(|p| p["properties"]["Email"]["email"] == email && p["in_trash"] != true)
        .map(|p| p["id"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

fn record_id(sim: &AirtableSim, base: &str, email: &str) -> String {
    sim.records(base, "Tasks")
        .into_iter()
        .find(|r| r["fields"]["Email"] == email)
        .map(|r| r["id"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

fn notion_rows(sim: &NotionSim, db: &str) -> Rows {
    sim.pages(db)
        .into_iter()
        .filter(|p| p["in_trash"] != true)
        .map(|p| {
            let props = &p["properties"];
            let name: String = props["Name"]["title"]
                .as_array()
                .map(|a| a.iter().filter_map(|t| t["plain_text"].as_str()).collect())
                .unwrap_or_default();
            (
                str_of(&props["Email"]["email"]),
                (
                    name,
                    str_of(&props["Status"]["select"]["name"]),
                    props["Points"]["number"].as_f64().unwrap_or(0.0),
                ),
            )
        })
        .collect()
}

fn airtable_rows(sim: &AirtableSim, base: &str) -> Rows {
    sim.records(base, "Tasks")
        .into_iter()
        .map(|r| {
            let f = &r["fields"];
            (
                str_of(&f["Email"]),
                (
                    str_of(&f["Name"]),
                    str_of(&f["Status"]),
                    f["Points"].as_f64().unwrap_or(0.0),
                ),
            )
        })
        .collect()
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}
