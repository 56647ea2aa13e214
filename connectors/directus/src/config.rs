//! The job's connection settings: the instance's URL and which collection
//! backs each entity.

use synchost_sdk::{ConnectorError, Settings};

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// the instance's base URL without a trailing slash, path kept (an
    /// instance may be served under a path, `https://example.com/cms`)
    pub base: String,
    /// entity -> collection, from `collection.<entity>` settings
    pub collections: Vec<(String, String)>,
}

impl Config {
    pub fn from_settings(settings: &Settings) -> Result<Config, ConnectorError> {
        let url = settings.require("url")?;
        let base = url.trim().trim_end_matches('/').to_string();
        let scheme_ok = base.starts_with("http://") || base.starts_with("https://");
        let host = base.split_once("://").map(|(_, rest)| rest).unwrap_or("");
        if !scheme_ok || host.is_empty() || host.starts_with('/') {
            return Err(ConnectorError::InvalidInput(format!(
                "setting `url` = `{url}` is not an http(s) URL of a Directus instance, \
                 e.g. `https://cms.example.com`"
            )));
        }
        if base.contains('?') || base.contains('#') {
            return Err(ConnectorError::InvalidInput(format!(
                "setting `url` = `{url}` must not have a query or fragment"
            )));
        }
        let mut collections = Vec::new();
        for (entity, collection) in settings.with_prefix("collection.") {
            let collection = collection.trim();
            if entity.is_empty() || collection.is_empty() {
                return Err(ConnectorError::InvalidInput(format!(
                    "setting `collection.{entity}` = `{collection}`: both the entity and the \
                     collection must be named"
                )));
            }
            collections.push((entity.to_string(), collection.to_string()));
        }
        Ok(Config { base, collections })
    }

    /// The collection that backs `entity`: the one its `collection.<entity>`
    /// setting names, else the collection called like the entity.
    pub fn collection<'a>(&'a self, entity: &'a str) -> &'a str {
        self.collections
            .iter()
            .find(|(e, _)| e == entity)
            .map(|(_, c)| c.as_str())
            .unwrap_or(entity)
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

    #[test]
    fn reads_url_and_collections() {
        let c = Config::from_settings(&settings(&[
            ("url", "http://127.0.0.1:8055/"),
            ("collection.tasks", "project_tasks"),
        ]))
        .unwrap();
        assert_eq!(c.base, "http://127.0.0.1:8055");
        assert_eq!(c.collection("tasks"), "project_tasks");
        assert_eq!(c.collection("contacts"), "contacts");
    }

    #[test]
    fn keeps_a_path_prefix() {
        let c = Config::from_settings(&settings(&[("url", "https://example.com/cms")])).unwrap();
        assert_eq!(c.base, "https://example.com/cms");
    }

    #[test]
    fn refuses_a_missing_or_bad_url() {
        for bad in [
            vec![],
            vec![("url", "cms.example.com")],
            vec![("url", "https://")],
        ] {
            match Config::from_settings(&settings(&bad)) {
                Err(ConnectorError::InvalidInput(m)) => assert!(m.contains("url"), "{m}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        assert!(Config::from_settings(&settings(&[
            ("url", "https://cms.example.com"),
            ("collection.tasks", " "),
        ]))
        .is_err());
    }
}
