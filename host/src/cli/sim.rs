//! `synchost sim NAME`: one platform simulator served on loopback until
//! stopped, seeded with sample records, with a connection file a job (or
//! `connector test`) can use as it is. For trying synchost, the daemon or a
//! connector without an account on the platform.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::{json, Map, Value};

use crate::acceptance::{Fixture, SimOptions};

#[derive(Args, Debug)]
pub struct SimArgs {
    /// The platform: notion, airtable, hubspot, salesforce, or items (the
    /// API the connector template reads)
    pub name: String,
    /// The loopback port to listen on; 0 picks a free one
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Sample records seeded before it starts serving
    #[arg(long, default_value_t = 12)]
    pub seed: usize,
    /// The platform's documented rate limits (429 with Retry-After), or none
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    pub rate_limits: OnOff,
    /// Where the connection file is written (default: the current folder)
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

/// The environment variable every secret of a simulator's connection names.
const TOKEN_VAR: &str = "SYNCHOST_SIM_TOKEN";

/// What a job needs to know of each simulated platform: the origin its
/// connector declares (sent to the simulator by an endpoint override), the
/// connector, the platform's name and the secret its auth scheme uses.
struct Known {
    name: &'static str,
    platform: &'static str,
    origin: &'static str,
    secret: &'static str,
}

const KNOWN: &[Known] = &[
    Known {
        name: "notion",
        platform: "Notion",
        origin: "https://api.notion.com",
        secret: "notion_token",
    },
    Known {
        name: "airtable",
        platform: "Airtable",
        origin: "https://api.airtable.com",
        secret: "airtable_token",
    },
    Known {
        name: "hubspot",
        platform: "HubSpot",
        origin: "https://api.hubapi.com",
        secret: "hubspot_token",
    },
    Known {
        name: "salesforce",
        platform: "Salesforce",
        origin: "https://login.salesforce.com",
        secret: "salesforce_token",
    },
    Known {
        name: "items",
        platform: "Items",
        origin: "https://items.example.com",
        secret: "items_token",
    },
];

pub async fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    let Some(known) = KNOWN.iter().find(|k| k.name == args.name) else {
        let names: Vec<&str> = KNOWN.iter().map(|k| k.name).collect();
        anyhow::bail!(
            "no simulator `{}`; there are: {}",
            args.name,
            names.join(", ")
        );
    };
    let opts = SimOptions {
        port: args.port,
        rate_limits: args.rate_limits == OnOff::On,
    };
    let fixture = Fixture::start_with(known.name, args.seed, &opts).await?;
    let url = fixture.base_url();
    let connection = connection(&fixture, known, &url);
    let path = args.out.join(format!("{}.connection.json", known.name));
    let text = serde_json::to_string_pretty(&connection)? + "\n";
    crate::runtime::write_atomically(&args.out, &path, text.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;

    println!(
        "{} simulator at {url} ({} {} seeded, rate limits {})",
        known.platform,
        args.seed,
        fixture.entity(),
        if opts.rate_limits { "on" } else { "off" },
    );
    println!("connection: {}", path.display());
    println!("its secrets are read from the environment:");
    for (var, value) in exports(&fixture) {
        println!("  export {var}={value}");
    }
    let side = json!({
        "platform": known.platform,
        "connector": known.name,
        "entity": fixture.entity(),
        "connection": connection,
    });
    println!("a job's side:\n{}", serde_json::to_string_pretty(&side)?);
    let stop = crate::daemon::shutdown_signal();
    println!("serving until Ctrl-C or SIGTERM");
    stop.await;
    drop(fixture);
    Ok(ExitCode::SUCCESS)
}

/// The connection file: the fixture's settings and endpoint override, with
/// every secret the connector needs bound to `env:SYNCHOST_SIM_TOKEN`.
fn connection(fixture: &Fixture, known: &Known, url: &str) -> Value {
    let conn = fixture.connection(known.origin);
    let mut settings: Map<String, Value> = conn
        .settings
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    // A connector that takes its base URL from a setting (as on-premises
    // platforms' do) finds the simulator there too.
    if let Fixture::Items { .. } = fixture {
        settings.insert("url".into(), json!(url));
    }
    let env = format!("env:{TOKEN_VAR}");
    let mut secrets = Map::from_iter([(known.secret.to_string(), json!(env))]);
    let mut overrides: Map<String, Value> = conn
        .endpoint_overrides
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let mut out = Map::new();
    if let Fixture::Salesforce { .. } = fixture {
        // Salesforce's access tokens expire (two hours by default): the
        // host refreshes them at the simulator's token endpoint.
        let [refresh, client_id, client_secret] = SALESFORCE_OAUTH;
        for name in SALESFORCE_OAUTH {
            secrets.insert(
                name.into(),
                json!(format!("env:{TOKEN_VAR}_{}", suffix(name))),
            );
        }
        overrides.insert(known.origin.into(), json!(url));
        out.insert(
            "oauth2".into(),
            json!({
                "token_url": format!("{}/services/oauth2/token", known.origin),
                "access_token": known.secret,
                "refresh_token": refresh,
                "client_id": client_id,
                "client_secret": client_secret,
            }),
        );
    }
    out.insert("settings".into(), Value::Object(settings));
    out.insert("secrets".into(), Value::Object(secrets));
    out.insert("endpoint_overrides".into(), Value::Object(overrides));
    out.insert("allow_private_networks".into(), json!(true));
    Value::Object(out)
}

/// The secrets of Salesforce's refresh flow, besides the access token: the
/// refresh token, the connected app's client id and its client secret.
const SALESFORCE_OAUTH: [&str; 3] = [
    "salesforce_refresh",
    "salesforce_client_id",
    "salesforce_client_secret",
];

fn suffix(secret: &str) -> String {
    secret
        .trim_start_matches("salesforce_")
        .to_ascii_uppercase()
}

/// The values of the variables the connection file names: the simulator's
/// own tokens, which are not secret.
fn exports(fixture: &Fixture) -> Vec<(String, String)> {
    let names = ["t".to_string()];
    let token = fixture
        .secrets(&names)
        .get("t")
        .unwrap_or_default()
        .to_string();
    let mut out = vec![(TOKEN_VAR.to_string(), token)];
    if let Fixture::Salesforce { .. } = fixture {
        let d = synchost_sim::salesforce::SalesforceOptions::default();
        let values = [d.refresh_token, d.client_id, d.client_secret];
        for (name, value) in SALESFORCE_OAUTH.into_iter().zip(values) {
            out.push((format!("{TOKEN_VAR}_{}", suffix(name)), value));
        }
    }
    out
}
