//! The job's connection settings for Salesforce: the org's instance URL,
//! the sObject behind each entity and, optionally, the fields to read.

use std::collections::BTreeMap;

use synchost_sdk::{ConnectorError, Settings};

/// Origins this connector may call. Every org's REST API lives on its My
/// Domain, `https://<MyDomainName>.my.salesforce.com`; sandboxes and
/// Developer Edition orgs too (`<MyDomainName>--<Sandbox>.sandbox.my.salesforce.com`,
/// `<MyDomainName>-dev-ed.develop.my.salesforce.com`): "Enhanced domains
/// were enforced in Winter '24" (Salesforce Help, "Prepare for and Schedule
/// a My Domain Change").
///
/// The connector declares the job's own org, `{{setting:instance_url}}`,
/// not the wildcard `https://*.my.salesforce.com`: the host sends the bearer
/// token only to origins named exactly, so the token reaches this org and no
/// other customer's. `configure` still checks that the setting is a My
/// Domain URL. `https://login.salesforce.com` is the OAuth token endpoint's
/// origin (the host refreshes tokens there). See README.md.
pub const HOSTS: [&str; 2] = ["{{setting:instance_url}}", "https://login.salesforce.com"];

/// The REST API version used unless the job sets `api_version`.
pub const DEFAULT_API_VERSION: &str = "59.0";
/// sObject Collections, which writes use, exist from version 42.0.
const MIN_API_VERSION: u32 = 42;

pub const OBJECT_PREFIX: &str = "object.";
pub const FIELDS_PREFIX: &str = "fields.";

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `https://acme.my.salesforce.com`, without a trailing slash
    pub instance_url: String,
    /// `59.0`
    pub api_version: String,
    /// entity -> sObject API name, in the order the settings gave them
    pub objects: Vec<(String, String)>,
    /// entity -> the fields to read; absent: every field the describe lists
    pub fields: BTreeMap<String, Vec<String>>,
}

fn invalid(message: String) -> ConnectorError {
    ConnectorError::InvalidInput(message)
}

/// An API name: a letter, then letters, digits and underscores (custom
/// objects and fields end in `__c`).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 80
}

/// Whether `host` is a My Domain host (or the login host, which tests use).
fn declared_host(host: &str) -> bool {
    host == "login.salesforce.com"
        || host
            .strip_suffix(".my.salesforce.com")
            .is_some_and(|sub| !sub.is_empty() && sub.split('.').all(|l| !l.is_empty()))
}

/// `https://acme.my.salesforce.com` as given (a trailing slash allowed), or
/// an `invalid-input` error that says what is expected.
pub fn instance_url(raw: &str) -> Result<String, ConnectorError> {
    let trimmed = raw.trim().trim_end_matches('/');
    let host = trimmed
        .strip_prefix("https://")
        .map(str::to_ascii_lowercase);
    let ok = host.as_deref().is_some_and(|h| {
        h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && declared_host(h)
    });
    match host {
        Some(h) if ok => Ok(format!("https://{h}")),
        _ => Err(invalid(format!(
            "setting `instance_url` must be your org's My Domain URL, \
             `https://<MyDomainName>.my.salesforce.com` (the `instance_url` of its OAuth \
             token response), with no path or port; got `{}`",
            raw.trim()
        ))),
    }
}

impl Config {
    pub fn from_settings(settings: &Settings) -> Result<Self, ConnectorError> {
        let instance_url = instance_url(&settings.require("instance_url")?)?;
        let api_version = match settings.get("api_version").map(str::trim) {
            None | Some("") => DEFAULT_API_VERSION.to_string(),
            Some(v) => {
                let v = v.trim_start_matches('v');
                let major = v.strip_suffix(".0").and_then(|m| m.parse::<u32>().ok());
                match major {
                    Some(m) if m >= MIN_API_VERSION => v.to_string(),
                    _ => {
                        return Err(invalid(format!(
                            "setting `api_version` must be a REST API version such as \
                             `{DEFAULT_API_VERSION}`, at least {MIN_API_VERSION}.0; got `{v}`"
                        )))
                    }
                }
            }
        };
        let mut objects: Vec<(String, String)> = Vec::new();
        for (entity, object) in settings.with_prefix(OBJECT_PREFIX) {
            let (entity, object) = (entity.trim(), object.trim());
            if entity.is_empty() || !valid_name(object) {
                return Err(invalid(format!(
                    "setting `{OBJECT_PREFIX}{entity}` needs an entity name after `{OBJECT_PREFIX}` \
                     and an sObject API name as its value (`Contact`, `Account`, `Invoice__c`); \
                     got `{object}`"
                )));
            }
            if !objects.iter().any(|(e, _)| e == entity) {
                objects.push((entity.to_string(), object.to_string()));
            }
        }
        if objects.is_empty() {
            return Err(invalid(format!(
                "missing setting `{OBJECT_PREFIX}<entity>`: name at least one sObject, \
                 e.g. `{OBJECT_PREFIX}contacts = Contact`"
            )));
        }
        let mut fields = BTreeMap::new();
        for (entity, list) in settings.with_prefix(FIELDS_PREFIX) {
            let entity = entity.trim();
            if !objects.iter().any(|(e, _)| e == entity) {
                return Err(invalid(format!(
                    "setting `{FIELDS_PREFIX}{entity}` names no entity: there is no \
                     `{OBJECT_PREFIX}{entity}` setting"
                )));
            }
            let names: Vec<String> = list
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(String::from)
                .collect();
            if names.is_empty() || !names.iter().all(|n| valid_name(n)) {
                return Err(invalid(format!(
                    "setting `{FIELDS_PREFIX}{entity}` must be a comma-separated list of field \
                     API names, e.g. `FirstName, LastName, Email`; got `{list}`"
                )));
            }
            fields.insert(entity.to_string(), names);
        }
        Ok(Config {
            instance_url,
            api_version,
            objects,
            fields,
        })
    }

    /// The sObject of `entity`; an entity without a setting is `not-found`.
    pub fn object(&self, entity: &str) -> Result<&str, ConnectorError> {
        self.objects
            .iter()
            .find(|(e, _)| e == entity)
            .map(|(_, o)| o.as_str())
            .ok_or_else(|| {
                let known: Vec<&str> = self.objects.iter().map(|(e, _)| e.as_str()).collect();
                ConnectorError::NotFound(format!(
                    "unknown entity `{entity}`: no setting `{OBJECT_PREFIX}{entity}` (configured: {})",
                    known.join(", ")
                ))
            })
    }

    /// `https://acme.my.salesforce.com/services/data/v59.0`
    pub fn data_url(&self) -> String {
        format!("{}/services/data/v{}", self.instance_url, self.api_version)
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
    fn reads_instance_objects_and_fields() {
        let c = Config::from_settings(&settings(&[
            ("instance_url", " https://Acme.my.salesforce.com/ "),
            ("object.contacts", "Contact"),
            ("object.orgs", " Account "),
            ("fields.contacts", "FirstName, LastName,Email"),
        ]))
        .unwrap();
        assert_eq!(c.instance_url, "https://acme.my.salesforce.com");
        assert_eq!(c.api_version, "59.0");
        assert_eq!(
            c.data_url(),
            "https://acme.my.salesforce.com/services/data/v59.0"
        );
        assert_eq!(c.object("orgs").unwrap(), "Account");
        assert_eq!(c.fields["contacts"], ["FirstName", "LastName", "Email"]);
        assert!(!c.fields.contains_key("orgs"));
        assert!(
            matches!(c.object("nope"), Err(ConnectorError::NotFound(m)) if m.contains("`object.nope`"))
        );
    }

    #[test]
    fn instance_urls_must_be_under_a_declared_origin() {
        for good in [
            "https://acme.my.salesforce.com",
            "https://acme--uat.sandbox.my.salesforce.com",
            "https://acme-dev-ed.develop.my.salesforce.com",
            "https://login.salesforce.com",
        ] {
            assert!(instance_url(good).is_ok(), "{good}");
        }
        for bad in [
            "http://acme.my.salesforce.com",
            "https://acme.my.salesforce.com/services",
            "https://acme.my.salesforce.com:8443",
            "https://my.salesforce.com",
            "https://evil.example.com",
            "https://acme.my.salesforce.com.evil.example",
            "acme",
        ] {
            assert!(
                matches!(instance_url(bad), Err(ConnectorError::InvalidInput(m)) if m.contains("`instance_url`")),
                "{bad}"
            );
        }
    }

    #[test]
    fn errors_name_the_setting() {
        let base = ("instance_url", "https://acme.my.salesforce.com");
        let err = |pairs: &[(&str, &str)]| match Config::from_settings(&settings(pairs)) {
            Err(ConnectorError::InvalidInput(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(err(&[("object.c", "Contact")]).contains("`instance_url`"));
        assert!(err(&[base]).contains("`object.<entity>`"));
        assert!(err(&[base, ("object.c", "Contact; DROP")]).contains("`object.c`"));
        assert!(err(&[base, ("object.c", "Contact"), ("fields.x", "Id")]).contains("`fields.x`"));
        assert!(
            err(&[base, ("object.c", "Contact"), ("fields.c", "Id, Na me")]).contains("`fields.c`")
        );
        assert!(
            err(&[base, ("object.c", "Contact"), ("api_version", "30.0")])
                .contains("`api_version`")
        );
        let v = Config::from_settings(&settings(&[
            base,
            ("object.c", "Contact"),
            ("api_version", "v61.0"),
        ]));
        assert_eq!(v.unwrap().api_version, "61.0");
    }
}
