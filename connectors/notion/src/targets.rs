//! Which table each entity syncs: the job names a Notion database
//! (`database.<entity>`) or one of its data sources (`data_source.<entity>`).
//!
//! Since API version 2025-09-03 "The database becomes a container for one or
//! more data sources", and rows live in a data source: "Most API operations
//! that used `database_id` now require a `data_source_id`"
//! (https://developers.notion.com/docs/upgrade-guide-2025-09-03). A database id
//! is resolved to its data source once per run through `GET
//! /v1/databases/{id}`, whose "database object includes a `data_sources` array,
//! each having an `id` and a `name`"; a database of several data sources does
//! not say which one to sync, and the setting `data_source.<entity>` picks one.

use std::collections::BTreeMap;

use serde_json::Value;
use synchost_sdk::{errors, ConnectorError, Settings};

use crate::api;

/// Settings naming a database start with this: `database.tasks = 1c2f...`.
pub const DATABASE_PREFIX: &str = "database.";

/// Settings naming a data source start with this: `data_source.tasks = 2f26...`.
pub const DATA_SOURCE_PREFIX: &str = "data_source.";

/// What the job names for one entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Database(String),
    DataSource(String),
}

impl Target {
    /// The id as configured.
    pub fn id(&self) -> &str {
        match self {
            Target::Database(id) | Target::DataSource(id) => id,
        }
    }
}

/// The entity -> target map from the job's settings. At least one
/// `database.<entity>` or `data_source.<entity>` is required; each needs an
/// entity name and an id, and an entity is named by one setting only.
pub fn targets_from_settings(
    settings: &Settings,
) -> Result<BTreeMap<String, Target>, ConnectorError> {
    let mut targets = BTreeMap::new();
    for (prefix, what) in [
        (DATABASE_PREFIX, "a Notion database id"),
        (DATA_SOURCE_PREFIX, "a Notion data source id"),
    ] {
        for (entity, id) in settings.with_prefix(prefix) {
            let (entity, id) = (entity.trim(), id.trim());
            if entity.is_empty() {
                return Err(ConnectorError::InvalidInput(format!(
                    "setting `{prefix}` needs an entity name: `{prefix}<entity>`"
                )));
            }
            if !api::valid_id(id) {
                return Err(ConnectorError::InvalidInput(format!(
                    "setting `{prefix}{entity}` must be {what} (32 hex digits, dashes \
                     allowed), got `{id}`"
                )));
            }
            let target = if prefix == DATABASE_PREFIX {
                Target::Database(id.to_string())
            } else {
                Target::DataSource(id.to_string())
            };
            if targets.insert(entity.to_string(), target).is_some() {
                return Err(ConnectorError::InvalidInput(format!(
                    "entity `{entity}` is named twice, by `{DATABASE_PREFIX}{entity}` and \
                     `{DATA_SOURCE_PREFIX}{entity}`: keep one (`{DATA_SOURCE_PREFIX}{entity}` \
                     when the database has several data sources)"
                )));
            }
        }
    }
    if targets.is_empty() {
        return Err(ConnectorError::InvalidInput(format!(
            "missing setting `{DATABASE_PREFIX}<entity>` (or `{DATA_SOURCE_PREFIX}<entity>`): \
             name at least one Notion database, e.g. `{DATABASE_PREFIX}tasks = <database id>`"
        )));
    }
    Ok(targets)
}

/// The data source of database `db_id` (entity `entity`), from its database
/// object: the one it has, or `invalid-input` naming the setting that picks
/// one of several.
pub fn data_source_of(entity: &str, db_id: &str, db: &Value) -> Result<String, ConnectorError> {
    let sources = db["data_sources"].as_array().ok_or_else(|| {
        errors::bad_body(
            &format!("GET /v1/databases/{db_id}"),
            "a database without a `data_sources` array",
        )
    })?;
    let listed: Vec<(&str, &str)> = sources
        .iter()
        .filter_map(|s| Some((s["id"].as_str()?, s["name"].as_str().unwrap_or(""))))
        .collect();
    match listed.as_slice() {
        [(id, _)] => Ok(id.to_string()),
        [] => Err(ConnectorError::NotFound(format!(
            "the Notion database {db_id} of entity `{entity}` has no data source the \
             integration can see"
        ))),
        several => Err(ConnectorError::InvalidInput(format!(
            "the Notion database {db_id} of entity `{entity}` has {} data sources ({}): \
             name the one to sync with the setting `{DATA_SOURCE_PREFIX}{entity} = <data \
             source id>` in place of `{DATABASE_PREFIX}{entity}`",
            several.len(),
            several
                .iter()
                .map(|(id, name)| format!("`{name}` = {id}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn settings_map_entities_to_databases_or_data_sources() {
        let map = targets_from_settings(&settings(&[
            ("database.tasks", "1c2f0e2a7d3b4c5e9f000123456789ab"),
            ("data_source.bugs", " 1c2f0e2a-7d3b-4c5e-9f00-0123456789ac "),
            ("other", "x"),
        ]))
        .unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(
            map["tasks"],
            Target::Database("1c2f0e2a7d3b4c5e9f000123456789ab".into())
        );
        assert_eq!(
            map["bugs"],
            Target::DataSource("1c2f0e2a-7d3b-4c5e-9f00-0123456789ac".into())
        );
    }

    #[test]
    fn settings_errors_name_the_setting() {
        let missing = targets_from_settings(&settings(&[("other", "x")])).unwrap_err();
        assert!(
            matches!(&missing, ConnectorError::InvalidInput(m) if m.contains("`database.<entity>`"))
        );
        let bad =
            targets_from_settings(&settings(&[("database.tasks", "../../v1/users")])).unwrap_err();
        assert!(matches!(&bad, ConnectorError::InvalidInput(m) if m.contains("`database.tasks`")));
        let bad = targets_from_settings(&settings(&[("data_source.tasks", "a/b")])).unwrap_err();
        assert!(
            matches!(&bad, ConnectorError::InvalidInput(m) if m.contains("`data_source.tasks`"))
        );
        let nameless = targets_from_settings(&settings(&[("database.", "abc")])).unwrap_err();
        assert!(matches!(nameless, ConnectorError::InvalidInput(_)));
        let twice = targets_from_settings(&settings(&[
            ("database.tasks", "abc"),
            ("data_source.tasks", "def"),
        ]))
        .unwrap_err();
        assert!(matches!(&twice, ConnectorError::InvalidInput(m) if m.contains("named twice")));
    }

    #[test]
    fn a_database_resolves_to_its_one_data_source_and_not_to_one_of_several() {
        let one =
            json!({ "object": "database", "data_sources": [{ "id": "ds1", "name": "Tasks" }] });
        assert_eq!(data_source_of("tasks", "db1", &one).unwrap(), "ds1");
        let two = json!({ "object": "database", "data_sources": [
            { "id": "ds1", "name": "Tasks" }, { "id": "ds2", "name": "Bugs" } ] });
        let err = data_source_of("tasks", "db1", &two).unwrap_err();
        assert!(
            matches!(&err, ConnectorError::InvalidInput(m)
                if m.contains("`data_source.tasks = <data source id>`")
                    && m.contains("`Tasks` = ds1") && m.contains("`Bugs` = ds2")),
            "{err:?}"
        );
        let none = json!({ "object": "database", "data_sources": [] });
        assert!(matches!(
            data_source_of("tasks", "db1", &none),
            Err(ConnectorError::NotFound(_))
        ));
        // The 2022-06-28 shape (no data_sources) proves nothing.
        assert!(matches!(
            data_source_of(
                "tasks",
                "db1",
                &json!({ "object": "database", "properties": {} })
            ),
            Err(ConnectorError::Transient(_))
        ));
    }
}
