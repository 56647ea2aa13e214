//! The job's connection settings for Airtable: which base, which table
//! backs each entity, and which field holds the modification time.

use synchost_sdk::{ConnectorError, Settings};

/// The modification-time field used when the job does not name one.
pub const DEFAULT_MODIFIED_FIELD: &str = "Last Modified";

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `appXXXXXXXXXXXXXX`
    pub base_id: String,
    /// entity -> table name or id, in the order the settings gave them
    pub tables: Vec<(String, String)>,
    /// a "Last modified time" field; records' `updated-at` and `version`
    /// come from it when the table has it
    pub modified_field: String,
    /// the secret holding the webhook's MAC secret (bound as `<source>#base64`)
    pub webhook_secret: String,
    /// the webhook (`achXXXXXXXXXXXXXX`) to keep alive: refreshed once a run
    pub webhook_id: Option<String>,
}

impl Config {
    /// Reads `base_id`, every `table.<entity>`, `modified_field`,
    /// `webhook_secret` and `webhook_id`.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConnectorError> {
        let base_id = settings.require("base_id")?.trim().to_string();
        if base_id.is_empty() {
            return Err(ConnectorError::InvalidInput(
                "setting `base_id` is empty: expected an Airtable base id such as `appXXXXXXXXXXXXXX`".into(),
            ));
        }
        let mut tables: Vec<(String, String)> = Vec::new();
        for (entity, table) in settings.with_prefix("table.") {
            let (entity, table) = (entity.trim(), table.trim());
            if entity.is_empty() || table.is_empty() {
                return Err(ConnectorError::InvalidInput(format!(
                    "setting `table.{entity}` needs an entity name after `table.` and a table name or id as its value"
                )));
            }
            if !tables.iter().any(|(e, _)| e == entity) {
                tables.push((entity.to_string(), table.to_string()));
            }
        }
        if tables.is_empty() {
            return Err(ConnectorError::InvalidInput(
                "no table configured: add a setting `table.<entity>` whose value is a table name or id, e.g. `table.tasks = Tasks`".into(),
            ));
        }
        let modified_field = match settings.get("modified_field").map(str::trim) {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => DEFAULT_MODIFIED_FIELD.to_string(),
        };
        let webhook_secret = match settings.get(crate::webhook::SECRET_SETTING).map(str::trim) {
            None => crate::webhook::DEFAULT_SECRET.to_string(),
            Some("") => {
                return Err(ConnectorError::InvalidInput(format!(
                    "setting `{}` is empty: name the secret holding the webhook's MAC secret, \
                     or leave the setting out for `{}`",
                    crate::webhook::SECRET_SETTING,
                    crate::webhook::DEFAULT_SECRET
                )))
            }
            Some(name) => name.to_string(),
        };
        let webhook_id = match settings.get(crate::refresh::WEBHOOK_SETTING).map(str::trim) {
            None => None,
            Some("") => {
                return Err(ConnectorError::InvalidInput(format!(
                    "setting `{}` is empty: name the webhook to keep alive \
                     (`achXXXXXXXXXXXXXX`, from \"Create a webhook\"), or leave the setting out",
                    crate::refresh::WEBHOOK_SETTING
                )))
            }
            Some(id) => Some(id.to_string()),
        };
        Ok(Config {
            base_id,
            tables,
            modified_field,
            webhook_secret,
            webhook_id,
        })
    }

    /// The table name or id configured for `entity`.
    pub fn table(&self, entity: &str) -> Result<&str, ConnectorError> {
        self.tables
            .iter()
            .find(|(e, _)| e == entity)
            .map(|(_, t)| t.as_str())
            .ok_or_else(|| {
                let known: Vec<&str> = self.tables.iter().map(|(e, _)| e.as_str()).collect();
                ConnectorError::InvalidInput(format!(
                    "unknown entity `{entity}`: this job configures {} (settings `table.<entity>`)",
                    known.join(", ")
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn invalid(result: Result<Config, ConnectorError>) -> String {
        match result {
            Err(ConnectorError::InvalidInput(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_base_tables_and_default_modified_field() {
        let config = Config::from_settings(&settings(&[
            ("base_id", "appB"),
            ("table.tasks", "Tasks"),
            ("table.people", "tblPeople"),
        ]))
        .unwrap();
        assert_eq!(config.base_id, "appB");
        assert_eq!(config.table("tasks").unwrap(), "Tasks");
        assert_eq!(config.table("people").unwrap(), "tblPeople");
        assert_eq!(config.modified_field, "Last Modified");
        assert_eq!(config.webhook_secret, "airtable_webhook_mac");
    }

    #[test]
    fn webhook_secret_can_be_renamed_but_not_emptied() {
        let base = [("base_id", "appB"), ("table.tasks", "Tasks")];
        let with = |v: &'static str| {
            let mut pairs = base.to_vec();
            pairs.push(("webhook_secret", v));
            Config::from_settings(&settings(&pairs))
        };
        assert_eq!(with(" hook_mac ").unwrap().webhook_secret, "hook_mac");
        assert!(invalid(with("")).contains("`webhook_secret`"));
    }

    #[test]
    fn webhook_id_is_optional_but_not_empty() {
        let base = [("base_id", "appB"), ("table.tasks", "Tasks")];
        assert_eq!(
            Config::from_settings(&settings(&base)).unwrap().webhook_id,
            None
        );
        let with = |v: &'static str| {
            let mut pairs = base.to_vec();
            pairs.push(("webhook_id", v));
            Config::from_settings(&settings(&pairs))
        };
        assert_eq!(with(" achW ").unwrap().webhook_id.as_deref(), Some("achW"));
        assert!(invalid(with(" ")).contains("`webhook_id`"));
    }

    #[test]
    fn modified_field_can_be_renamed() {
        let config = Config::from_settings(&settings(&[
            ("base_id", "appB"),
            ("table.tasks", "Tasks"),
            ("modified_field", "Edited"),
        ]))
        .unwrap();
        assert_eq!(config.modified_field, "Edited");
    }

    #[test]
    fn missing_settings_are_named() {
        assert!(invalid(Config::from_settings(&settings(&[("table.t", "T")]))).contains("base_id"));
        assert!(invalid(Config::from_settings(&settings(&[("base_id", " ")]))).contains("base_id"));
        assert!(
            invalid(Config::from_settings(&settings(&[("base_id", "appB")])))
                .contains("table.<entity>")
        );
        assert!(invalid(Config::from_settings(&settings(&[
            ("base_id", "appB"),
            ("table.", "T")
        ])))
        .contains("table."));
    }

    #[test]
    fn unknown_entity_lists_the_configured_ones() {
        let config =
            Config::from_settings(&settings(&[("base_id", "appB"), ("table.tasks", "Tasks")]))
                .unwrap();
        match config.table("people") {
            Err(ConnectorError::InvalidInput(m)) => {
                assert!(m.contains("`people`") && m.contains("tasks"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }
}
