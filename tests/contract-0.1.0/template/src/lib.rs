//! A synchost connector for the "items" API (see `synchost_sim::items`):
//! the starting point `synchost connector new` copies. Replace the URLs, the
//! entity and the JSON mapping with your platform's.

// A native build (cargo test --workspace) compiles this crate without the
// wasm exports, which leaves the connector type unused there.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use synchost_sdk::prelude::*;
use synchost_sdk::FieldSchema;

/// The real origin of the platform. Tests and the demo redirect it to a
/// simulator with the job's `endpoint_overrides`; the connector never changes.
const API: &str = "https://items.example.com";

struct Items;

impl Connector for Items {
    fn describe() -> Descriptor {
        Descriptor::new("items", env!("CARGO_PKG_VERSION"))
            .entities(["items"])
            .hosts([API])
            .auth(AuthScheme::Bearer("items_token".into()))
            .capabilities(Capabilities::READ | Capabilities::INCREMENTAL)
            .rate(5.0, 5, None)
    }

    fn configure(_settings: Settings) -> Result<Self, ConnectorError> {
        Ok(Items)
    }

    fn schema(&self, entity: &str) -> Result<EntitySchema, ConnectorError> {
        known(entity)?;
        Ok(EntitySchema::new(entity)
            .field("name", FieldType::Text)
            .field("done", FieldType::Boolean)
            .push(FieldSchema::new("updated_at", FieldType::Datetime).read_only()))
    }

    fn read(&self, req: ReadRequest) -> Result<Page, ConnectorError> {
        known(&req.entity)?;
        let limit = req.page_size.clamp(1, 100);
        let mut url = format!("{API}/v1/items?limit={limit}");
        if let Some(after) = &req.cursor {
            url.push_str(&format!("&after={after}"));
        }
        if let Some(since) = &req.since {
            url.push_str(&format!("&updated_since={}", since.replace('+', "%2B")));
        }
        let body: serde_json::Value = http::get(&url).send_json()?;
        let items = body["items"]
            .as_array()
            .ok_or_else(|| errors::bad_body("GET /v1/items", "no `items` array"))?;
        let records: Vec<Record> = items.iter().map(to_record).collect::<Result<_, _>>()?;
        let next = body["next"].as_str().map(String::from);
        // The checkpoint: the newest change seen on this page, or the old one.
        let newest = records
            .iter()
            .filter_map(|r| r.updated_at.clone())
            .max()
            .or(req.since.clone());
        Ok(Page::new(records)
            .next(next.clone())
            .checkpoint(if next.is_none() { newest } else { None }))
    }
}

fn known(entity: &str) -> Result<(), ConnectorError> {
    if entity == "items" {
        Ok(())
    } else {
        Err(ConnectorError::NotFound(format!(
            "no entity `{entity}`; this connector has `items`"
        )))
    }
}

fn to_record(item: &serde_json::Value) -> Result<Record, ConnectorError> {
    let id = item["id"]
        .as_str()
        .ok_or_else(|| errors::bad_body("GET /v1/items", "an item has no id"))?;
    let updated = item["updated_at"].as_str().map(String::from);
    Ok(Record::new(id)
        .field(
            "name",
            FieldValue::Text(item["name"].as_str().unwrap_or_default().into()),
        )
        .field(
            "done",
            FieldValue::Boolean(item["done"].as_bool().unwrap_or(false)),
        )
        .field(
            "updated_at",
            updated
                .clone()
                .map_or(FieldValue::Null, FieldValue::Datetime),
        )
        .updated_at(updated))
}

synchost_sdk::export_connector!(Items);
