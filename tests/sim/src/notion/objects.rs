//! The database and data source objects, and the API versions that show them
//! (https://developers.notion.com/docs/upgrade-guide-2025-09-03).
//!
//! "The database becomes a container for one or more data sources." Up to
//! 2022-06-28 a database and its one data source are one object: "The
//! `2022-06-28` API versions (and older) will continue to work with existing
//! databases in Notion that have a single data source. [...] if any Notion users
//! create a second data source for a database [...] Notion responds to requests
//! involving a database ID with multiple data sources with validation errors"
//! (see [`multiple_data_sources`]). From 2025-09-03, "The `/v1/databases`
//! family of endpoints now refers to the database (container) [...] the
//! database object includes a `data_sources` array, each having an `id` and a
//! `name`", and a data source's schema is served by `/v1/data_sources/{id}`.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::model::{fmt_minute, text_object, ApiError, DataSource, SelectOption, PERSON_USER};

/// The data model a request's `Notion-Version` selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ApiVersion {
    /// 2022-06-28 and older: a database is its one data source.
    Legacy,
    /// 2025-09-03 and later: databases contain data sources.
    DataSources,
}

impl ApiVersion {
    /// Versions are dates (YYYY-MM-DD, checked by the gate), so text order is
    /// time order.
    pub fn from_header(v: &str) -> ApiVersion {
        if v >= "2025-09-03" {
            ApiVersion::DataSources
        } else {
            ApiVersion::Legacy
        }
    }
}

/// A database: a container of data sources, in the order they were added.
pub(crate) struct Database {
    pub id: String,
    pub title: String,
    pub created: DateTime<Utc>,
    pub sources: Vec<String>,
}

fn url(id: &str) -> String {
    format!("https://www.notion.so/{}", id.replace('-', ""))
}

impl Database {
    /// The database object from 2025-09-03 (Retrieve a database: "the
    /// database object includes a `data_sources` array").
    pub fn to_json(&self, sources: &[&DataSource]) -> Value {
        let refs: Vec<Value> = sources
            .iter()
            .map(|ds| json!({"id": ds.id, "name": ds.title}))
            .collect();
        json!({
            "object": "database",
            "id": self.id,
            "title": [text_object(&self.title, Value::Null, None)],
            "description": [],
            "parent": {"type": "workspace", "workspace": true},
            "is_inline": false,
            "in_trash": false,
            "archived": false,
            "is_locked": false,
            "created_time": fmt_minute(self.created),
            "last_edited_time": fmt_minute(self.created),
            "data_sources": refs,
            "icon": null,
            "cover": null,
            "url": url(&self.id),
            "public_url": null,
        })
    }
}

/// The refusal of a request that names a database holding several data
/// sources under a version older than 2025-09-03, as the upgrade guide quotes
/// it: "validation_error", "Databases with multiple data sources are not
/// supported in this API version.", with `additional_data` {"error_type":
/// "multiple_data_sources_for_database", "database_id", "child_data_source_ids",
/// "minimum_api_version": "2025-09-03"}.
pub(crate) fn multiple_data_sources(db: &Database) -> ApiError {
    let mut e = ApiError::validation(
        "Databases with multiple data sources are not supported in this API version.",
    );
    e.additional_data = Some(json!({
        "error_type": "multiple_data_sources_for_database",
        "database_id": db.id,
        "child_data_source_ids": db.sources,
        "minimum_api_version": "2025-09-03",
    }));
    e
}

impl DataSource {
    /// The property schema (Property object). A relation names its target's
    /// database, and from 2025-09-03 its data source too: "the API will include
    /// both a `database_id` and `data_source_id` fields in the read path".
    /// (The simulator's relations point at their own data source.)
    pub fn properties_json(&self, v: ApiVersion) -> Value {
        let mut props = Map::new();
        for p in &self.props {
            let config = match p.kind.as_str() {
                "select" | "multi_select" => {
                    json!({"options": p.options.iter().map(SelectOption::json).collect::<Vec<_>>()})
                }
                "status" => {
                    let ids = |n: &[&str]| -> Vec<String> {
                        p.options
                            .iter()
                            .filter(|o| n.contains(&o.name.as_str()))
                            .map(|o| o.id.clone())
                            .collect()
                    };
                    let known = ["Not started", "In progress", "Done"];
                    let mut todo = ids(&["Not started"]);
                    todo.extend(
                        p.options
                            .iter()
                            .filter(|o| !known.contains(&o.name.as_str()))
                            .map(|o| o.id.clone()),
                    );
                    json!({
                        "options": p.options.iter().map(SelectOption::json).collect::<Vec<_>>(),
                        "groups": [
                            {"id": format!("{}-g1", p.id), "name": "To-do", "color": "gray", "option_ids": todo},
                            {"id": format!("{}-g2", p.id), "name": "In progress", "color": "blue", "option_ids": ids(&["In progress"])},
                            {"id": format!("{}-g3", p.id), "name": "Complete", "color": "green", "option_ids": ids(&["Done"])},
                        ]
                    })
                }
                "number" => json!({"format": "number"}),
                "relation" => match v {
                    ApiVersion::Legacy => {
                        json!({"database_id": self.db, "type": "single_property", "single_property": {}})
                    }
                    ApiVersion::DataSources => json!({
                        "database_id": self.db, "data_source_id": self.id,
                        "type": "single_property", "single_property": {}
                    }),
                },
                _ => json!({}),
            };
            let mut o = json!({"id": p.id, "name": p.name, "type": p.kind});
            o[p.kind.as_str()] = config;
            props.insert(p.name.clone(), o);
        }
        Value::Object(props)
    }

    fn common_json(&self, v: ApiVersion) -> Value {
        let user = json!({"object": "user", "id": PERSON_USER});
        json!({
            "cover": null,
            "icon": null,
            "created_time": fmt_minute(self.created),
            "created_by": user,
            "last_edited_by": user,
            "last_edited_time": fmt_minute(self.created),
            "title": [text_object(&self.title, Value::Null, None)],
            "description": [],
            "is_inline": false,
            "properties": self.properties_json(v),
            "public_url": null,
            "archived": false,
            "in_trash": false,
        })
    }

    /// The database object up to 2022-06-28: the database's id, its one data
    /// source's schema.
    pub fn legacy_database_json(&self) -> Value {
        let mut o = self.common_json(ApiVersion::Legacy);
        o["object"] = json!("database");
        o["id"] = json!(self.db);
        o["parent"] = json!({"type": "workspace", "workspace": true});
        o["url"] = json!(url(&self.db));
        o
    }

    /// The data source object from 2025-09-03 (Data source: "object": "data_source",
    /// "parent": {"type": "database_id", "database_id"}, "database_parent", ...).
    pub fn to_json(&self) -> Value {
        let mut o = self.common_json(ApiVersion::DataSources);
        o["object"] = json!("data_source");
        o["id"] = json!(self.id);
        o["parent"] = json!({"type": "database_id", "database_id": self.db});
        o["database_parent"] = json!({"type": "workspace", "workspace": true});
        o["url"] = json!(url(&self.id));
        o
    }
}
