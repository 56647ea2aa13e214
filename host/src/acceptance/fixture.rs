//! The simulated platforms the acceptance suite runs a connector against,
//! seeded, with the connection that points the connector at them.

use std::collections::BTreeMap;

use serde_json::json;

use crate::runtime::{Connection, Field, FieldValue, Secrets};
use synchost_sim::airtable::{AirtableOptions, AirtableSim};
use synchost_sim::hubspot::{BatchResults, HubSpotOptions, HubSpotSim};
use synchost_sim::items::ItemsSim;
use synchost_sim::notion::{NotionOptions, NotionSim};
use synchost_sim::salesforce::{SalesforceOptions, SalesforceSim};

mod connection;
mod directus;
pub use connection::ConnectionTarget;
pub use directus::DirectusTarget;

/// How the text of every record the suite writes begins.
pub const WHO: &str = "Written by the acceptance suite";

/// The simulators `connector test --simulator` knows.
pub const SIMULATORS: &[&str] = &["notion", "airtable", "hubspot", "salesforce", "items"];

/// The Salesforce instance the suite's connection names; its origin is
/// covered by the connector's declared `https://*.my.salesforce.com`.
const SALESFORCE_INSTANCE: &str = "https://acme.my.salesforce.com";

const TOKEN: &str = "acceptance-token";

/// How `synchost sim` starts a simulator; the suite takes the defaults.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// 0 picks a free port
    pub port: u16,
    /// the platform's documented rate limits, or none (benchmarks, demos)
    pub rate_limits: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            port: 0,
            rate_limits: true,
        }
    }
}

/// A simulator, or (`Directus`) a fresh collection on a real instance.
pub enum Fixture {
    Notion {
        sim: NotionSim,
        db: String,
    },
    Airtable {
        sim: AirtableSim,
        base: String,
    },
    Items {
        sim: ItemsSim,
    },
    HubSpot {
        sim: HubSpotSim,
    },
    Salesforce {
        sim: SalesforceSim,
    },
    Directus {
        target: DirectusTarget,
    },
    /// any platform, named by a connection file
    Connection {
        target: Box<ConnectionTarget>,
    },
}

impl Fixture {
    /// Starts simulator `name` on loopback with `records` records, its
    /// documented rate limits on.
    pub async fn start(name: &str, records: usize) -> anyhow::Result<Fixture> {
        Self::start_with(name, records, &SimOptions::default()).await
    }

    /// As `start`, on a chosen port and with rate limits on or off.
    pub async fn start_with(
        name: &str,
        records: usize,
        opts: &SimOptions,
    ) -> anyhow::Result<Fixture> {
        let port = opts.port;
        let limits = opts.rate_limits;
        Ok(match name {
            "notion" => {
                let sim = NotionSim::start(NotionOptions {
                    token: TOKEN.into(),
                    port,
                    rate_limit: limits.then(Default::default),
                    ..Default::default()
                })
                .await?;
                let db = sim.create_database(
                    "Tasks",
                    &[
                        ("Name", "title"),
                        ("Status", "select"),
                        ("Points", "number"),
                    ],
                );
                for i in 0..records {
                    sim.insert_page(&db, json!({"Name": {"title": [{"text": {"content": format!("Task {i}")}}]}, "Status": {"select": {"name": "Todo"}}, "Points": {"number": i}}))?;
                }
                Fixture::Notion { sim, db }
            }
            "airtable" => {
                let sim = AirtableSim::start(AirtableOptions {
                    token: TOKEN.into(),
                    port,
                    rate_limit: limits.then_some(synchost_sim::airtable::AirtableRateLimit {
                        per_second: 5,
                        penalty: std::time::Duration::from_secs(30),
                    }),
                    ..Default::default()
                })
                .await?;
                let base = sim.create_base();
                sim.create_table(
                    &base,
                    "Tasks",
                    &[
                        ("Name", "singleLineText"),
                        ("Status", "singleSelect"),
                        ("Points", "number"),
                        ("Last Modified", "lastModifiedTime"),
                    ],
                );
                sim.set_choices(&base, "Tasks", "Status", &["Todo", "Done"]);
                for i in 0..records {
                    sim.insert(
                        &base,
                        "Tasks",
                        json!({"Name": format!("Task {i}"), "Status": "Todo", "Points": i}),
                    )?;
                }
                Fixture::Airtable { sim, base }
            }
            "items" => {
                let sim = ItemsSim::start_on(TOKEN, limits.then_some(20), port).await?;
                for i in 0..records {
                    sim.insert(&format!("Item {i}"), i % 2 == 0);
                }
                Fixture::Items { sim }
            }
            "hubspot" => {
                let d = HubSpotOptions::default();
                let sim = HubSpotSim::start(HubSpotOptions {
                    token: TOKEN.into(),
                    port,
                    rate_limit: d.rate_limit.filter(|_| limits),
                    search_per_second: d.search_per_second.filter(|_| limits),
                    daily_budget: d.daily_budget.filter(|_| limits),
                    // The strictest reading HubSpot's docs allow: batch
                    // results in any order, without the optional echo of
                    // each input's `objectWriteTraceId`.
                    batch_results: BatchResults {
                        echo_write_trace_ids: false,
                        shuffle: true,
                    },
                    ..Default::default()
                })
                .await?;
                for i in 0..records {
                    sim.insert("contacts", json!({"email": format!("person{i}@example.com"), "firstname": format!("Person {i}"), "lastname": "Seeded"}))?;
                }
                Fixture::HubSpot { sim }
            }
            "salesforce" => {
                let sim = SalesforceSim::start(SalesforceOptions {
                    access_token: TOKEN.into(),
                    port,
                    daily_limit: SalesforceOptions::default().daily_limit.filter(|_| limits),
                    ..Default::default()
                })
                .await?;
                for i in 0..records {
                    sim.insert("Contact", json!({"FirstName": "Ada", "LastName": format!("Contact {i}"), "Email": format!("contact{i}@example.com")}))?;
                }
                Fixture::Salesforce { sim }
            }
            "directus" => {
                let var = |name: &str| {
                    std::env::var(name).map_err(|_| {
                        anyhow::anyhow!(
                            "`directus` runs against a real Directus instance named by DIRECTUS_URL \
                             and DIRECTUS_TOKEN (an admin's static token), and {name} is not set; \
                             start one with `tests/directus/setup.sh start DIR PORT`, which prints both"
                        )
                    })
                };
                Fixture::directus(&var("DIRECTUS_URL")?, &var("DIRECTUS_TOKEN")?, records).await?
            }
            other => anyhow::bail!(
                "no simulator `{other}`; there are: {}, and `directus` (a real instance \
                 named by DIRECTUS_URL and DIRECTUS_TOKEN)",
                SIMULATORS.join(", ")
            ),
        })
    }

    /// A fresh collection with a unique name on the Directus instance at
    /// `url`, seeded with `records` items, backing entity `tasks`.
    pub async fn directus(url: &str, token: &str, records: usize) -> anyhow::Result<Fixture> {
        Ok(Fixture::Directus {
            target: DirectusTarget::create(url, token, records).await?,
        })
    }

    /// The name `--simulator` gives this platform.
    pub fn name(&self) -> &'static str {
        match self {
            Fixture::Notion { .. } => "notion",
            Fixture::Airtable { .. } => "airtable",
            Fixture::Items { .. } => "items",
            Fixture::HubSpot { .. } => "hubspot",
            Fixture::Salesforce { .. } => "salesforce",
            Fixture::Directus { .. } => "directus",
            Fixture::Connection { .. } => "connection",
        }
    }

    pub fn entity(&self) -> &str {
        match self {
            Fixture::Items { .. } => "items",
            Fixture::Connection { target } => &target.entity,
            _ => "tasks",
        }
    }

    /// A platform the suite cannot change behind the connector's back: its
    /// edits are records it creates through the connector.
    pub fn edits_through_connector(&self) -> bool {
        matches!(self, Fixture::Connection { .. })
    }

    pub fn read_only(&self) -> bool {
        matches!(self, Fixture::Connection { target } if target.read_only)
    }

    /// Where the simulator (or instance) listens.
    pub fn base_url(&self) -> String {
        match self {
            Fixture::Notion { sim, .. } => sim.base_url(),
            Fixture::Airtable { sim, .. } => sim.base_url(),
            Fixture::Items { sim } => sim.base_url(),
            Fixture::HubSpot { sim } => sim.base_url(),
            Fixture::Salesforce { sim } => sim.base_url(),
            Fixture::Directus { target } => target.url.clone(),
            Fixture::Connection { target } => target
                .conn
                .endpoint_overrides
                .values()
                .next()
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// A connection that sends the connector's origin (its first declared
    /// one, or the instance the settings name) to the simulator, which
    /// listens on loopback, so private networks are allowed.
    pub fn connection(&self, declared: &str) -> Connection {
        let origin = match self {
            Fixture::Salesforce { .. } => SALESFORCE_INSTANCE,
            _ => declared,
        };
        let settings: BTreeMap<String, String> = match self {
            Fixture::HubSpot { .. } => {
                [("object.tasks".to_string(), "contacts".to_string())].into()
            }
            Fixture::Salesforce { .. } => [
                ("object.tasks".to_string(), "Contact".to_string()),
                ("instance_url".to_string(), SALESFORCE_INSTANCE.to_string()),
            ]
            .into(),
            Fixture::Notion { db, .. } => [("database.tasks".to_string(), db.clone())].into(),
            Fixture::Airtable { base, .. } => [
                ("base_id".to_string(), base.clone()),
                ("table.tasks".to_string(), "Tasks".to_string()),
            ]
            .into(),
            Fixture::Items { .. } => BTreeMap::new(),
            // The file says it all, overrides included.
            Fixture::Connection { target } => return target.conn.clone(),
            // The connector declares `{{setting:url}}`: the instance itself
            // is the declared origin, nothing to redirect.
            Fixture::Directus { target } => {
                return Connection {
                    settings: [
                        ("url".to_string(), target.url.clone()),
                        ("collection.tasks".to_string(), target.collection.clone()),
                    ]
                    .into(),
                    allow_private_networks: true,
                    ..Default::default()
                };
            }
        };
        Connection {
            settings,
            endpoint_overrides: [(origin.to_string(), self.base_url())].into(),
            allow_private_networks: true,
            ..Default::default()
        }
    }

    /// The simulator's token, under every secret name a connector might use.
    pub fn secrets(&self, names: &[String]) -> Secrets {
        if let Fixture::Connection { target } = self {
            return target.secrets.clone();
        }
        let token = match self {
            Fixture::Directus { target } => target.token.as_str(),
            _ => TOKEN,
        };
        Secrets::from_values(
            names
                .iter()
                .map(|n| (n.clone(), token.to_string()))
                .collect(),
        )
    }

    pub fn wrong_secrets(&self, names: &[String]) -> Secrets {
        Secrets::from_values(
            names
                .iter()
                .map(|n| (n.clone(), "not-the-token".to_string()))
                .collect(),
        )
    }

    /// Moves the platform's clock past any timestamp rounding.
    pub fn advance(&self) {
        let by = chrono::Duration::minutes(3);
        match self {
            // Any platform: some keep modification times to the minute
            // (Notion's `last_edited_time`), so wait into the next one.
            Fixture::Connection { .. } => {
                let into_minute = chrono::Utc::now().timestamp() % 60;
                let wait = (61 - into_minute) as u64;
                eprintln!(
                    "waiting {wait} s for the platform's clock to pass a minute (the incremental check)"
                );
                std::thread::sleep(std::time::Duration::from_secs(wait));
            }
            // A real clock cannot be moved: wait until Directus' clock is
            // past the second of anything written so far, since checkpoints
            // come from its `Date` header, which has whole seconds.
            Fixture::Directus { .. } => {
                let into_second = chrono::Utc::now().timestamp_subsec_millis() as u64;
                let wait = 1050 - into_second.min(999);
                std::thread::sleep(std::time::Duration::from_millis(wait));
            }
            Fixture::Notion { sim, .. } => sim.clock().advance(by),
            Fixture::Airtable { sim, .. } => sim.clock().advance(by),
            Fixture::Items { sim } => sim.clock().advance(by),
            Fixture::HubSpot { sim } => sim.clock().advance(by),
            Fixture::Salesforce { sim } => sim.clock().advance(by),
        }
    }

    /// Changes one record on the platform; returns its id.
    pub fn edit_one(&self) -> anyhow::Result<String> {
        match self {
            Fixture::Notion { sim, db } => {
                let id = sim
                    .pages(db)
                    .first()
                    .and_then(|p| p["id"].as_str().map(String::from))
                    .ok_or_else(|| anyhow::anyhow!("no page"))?;
                sim.update_page(&id, json!({"Points": {"number": 1000}}))?;
                Ok(id)
            }
            Fixture::Airtable { sim, base } => {
                let id = sim
                    .records(base, "Tasks")
                    .first()
                    .and_then(|r| r["id"].as_str().map(String::from))
                    .ok_or_else(|| anyhow::anyhow!("no record"))?;
                sim.update(base, "Tasks", &id, json!({"Points": 1000}))?;
                Ok(id)
            }
            Fixture::Items { sim } => Ok(sim.insert("Edited item", true)),
            Fixture::HubSpot { sim } => {
                let id = sim
                    .records("contacts")
                    .first()
                    .and_then(|r| r["id"].as_str().map(String::from))
                    .ok_or_else(|| anyhow::anyhow!("no contact"))?;
                sim.update("contacts", &id, json!({"lastname": "Edited"}))?;
                Ok(id)
            }
            Fixture::Salesforce { sim } => {
                let id = sim
                    .records("Contact")
                    .first()
                    .and_then(|r| r["Id"].as_str().map(String::from))
                    .ok_or_else(|| anyhow::anyhow!("no contact"))?;
                sim.update(&id, json!({"LastName": "Edited"}))?;
                Ok(id)
            }
            Fixture::Directus { target } => target.edit_one(),
            Fixture::Connection { .. } => {
                anyhow::bail!("a platform named by a connection is changed through the connector")
            }
        }
    }

    /// Fields for a record the connector creates.
    pub fn new_fields(&self) -> Vec<Field> {
        let text = |name: &str, value: &str| Field {
            name: name.into(),
            value: FieldValue::Text(value.into()),
        };
        match self {
            Fixture::Connection { target } => target.fields.clone(),
            Fixture::Items { .. } => vec![text("name", WHO)],
            Fixture::HubSpot { .. } => vec![
                text("email", "acceptance@example.com"),
                text("lastname", WHO),
            ],
            Fixture::Salesforce { .. } => vec![
                text("LastName", WHO),
                text("Email", "acceptance@example.com"),
            ],
            Fixture::Directus { .. } => vec![
                text("name", WHO),
                Field {
                    name: "points".into(),
                    value: FieldValue::Number(7.0),
                },
            ],
            Fixture::Notion { .. } | Fixture::Airtable { .. } => {
                vec![
                    text("Name", WHO),
                    Field {
                        name: "Points".into(),
                        value: FieldValue::Number(7.0),
                    },
                ]
            }
        }
    }
}
