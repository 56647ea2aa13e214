//! The job's connection settings as the connector receives them.

use crate::ConnectorError;

/// Name/value settings from the job's connection block. Secret values are
/// never here: only secret names, which the connector turns into placeholders.
#[derive(Debug, Clone, Default)]
pub struct Settings(Vec<(String, String)>);

impl Settings {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Settings(pairs)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The setting, or an `invalid-input` error that names it.
    pub fn require(&self, name: &str) -> Result<String, ConnectorError> {
        self.get(name)
            .map(String::from)
            .ok_or_else(|| ConnectorError::InvalidInput(format!("missing setting `{name}`")))
    }

    pub fn get_or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or(default).to_string()
    }

    /// Every setting whose name starts with `prefix`, with the prefix removed:
    /// `entity.tasks=abc` under `entity.` gives `("tasks", "abc")`.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.0
            .iter()
            .filter_map(move |(k, v)| k.strip_prefix(prefix).map(|rest| (rest, v.as_str())))
    }
}
