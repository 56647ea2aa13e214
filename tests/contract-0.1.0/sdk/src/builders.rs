//! Builders and accessors for the contract's records, so that connector code
//! reads as what it means rather than as struct literals.

use crate::{
    AuthScheme, Capabilities, Descriptor, EntitySchema, Field, FieldSchema, FieldType, FieldValue,
    Page, RateHint, Record, SettingSpec, CONTRACT_VERSION,
};

impl Descriptor {
    /// A descriptor for `name` at `version`, built against this SDK's contract.
    pub fn new(name: &str, version: &str) -> Self {
        Descriptor {
            name: name.into(),
            version: version.into(),
            contract: CONTRACT_VERSION.into(),
            entities: Vec::new(),
            capabilities: Capabilities::READ,
            hosts: Vec::new(),
            auth: AuthScheme::None,
            rate: None,
            settings: Vec::new(),
        }
    }

    pub fn entities<I: IntoIterator<Item = S>, S: Into<String>>(mut self, entities: I) -> Self {
        self.entities = entities.into_iter().map(Into::into).collect();
        self
    }

    /// Origins the connector calls, such as `https://api.notion.com`.
    pub fn hosts<I: IntoIterator<Item = S>, S: Into<String>>(mut self, hosts: I) -> Self {
        self.hosts = hosts.into_iter().map(Into::into).collect();
        self
    }

    pub fn capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    pub fn auth(mut self, auth: AuthScheme) -> Self {
        self.auth = auth;
        self
    }

    /// The platform's documented rate: `per_second` sustained, `burst` at once.
    pub fn rate(mut self, per_second: f64, burst: u32, daily_budget: Option<u64>) -> Self {
        self.rate = Some(RateHint {
            per_second,
            burst,
            daily_budget,
        });
        self
    }

    pub fn setting(mut self, name: &str, description: &str, required: bool) -> Self {
        self.settings.push(SettingSpec {
            name: name.into(),
            description: description.into(),
            required,
        });
        self
    }
}

impl EntitySchema {
    pub fn new(entity: &str) -> Self {
        EntitySchema {
            entity: entity.into(),
            fields: Vec::new(),
        }
    }

    pub fn field(mut self, name: &str, kind: FieldType) -> Self {
        self.fields.push(FieldSchema::new(name, kind));
        self
    }

    pub fn push(mut self, field: FieldSchema) -> Self {
        self.fields.push(field);
        self
    }
}

impl FieldSchema {
    pub fn new(name: &str, kind: FieldType) -> Self {
        FieldSchema {
            name: name.into(),
            kind,
            read_only: false,
            options: Vec::new(),
        }
    }

    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    pub fn options(mut self, options: Vec<String>) -> Self {
        self.options = options;
        self
    }
}

impl Record {
    pub fn new(id: &str) -> Self {
        Record {
            id: id.into(),
            version: None,
            updated_at: None,
            deleted: false,
            fields: Vec::new(),
        }
    }

    pub fn field(mut self, name: &str, value: FieldValue) -> Self {
        self.fields.push(Field {
            name: name.into(),
            value,
        });
        self
    }

    pub fn updated_at(mut self, at: Option<String>) -> Self {
        self.updated_at = at;
        self
    }

    pub fn version(mut self, version: Option<String>) -> Self {
        self.version = version;
        self
    }

    pub fn deleted(mut self, deleted: bool) -> Self {
        self.deleted = deleted;
        self
    }

    /// The value of field `name`, if the record has it.
    pub fn get(&self, name: &str) -> Option<&FieldValue> {
        find(&self.fields, name)
    }
}

/// The value of field `name` in `fields`.
pub fn find<'a>(fields: &'a [Field], name: &str) -> Option<&'a FieldValue> {
    fields.iter().find(|f| f.name == name).map(|f| &f.value)
}

impl Page {
    pub fn new(records: Vec<Record>) -> Self {
        Page {
            records,
            next_cursor: None,
            checkpoint: None,
        }
    }

    /// Where the next page starts; `None` on the last page.
    pub fn next(mut self, cursor: Option<String>) -> Self {
        self.next_cursor = cursor;
        self
    }

    /// The checkpoint to pass as `since` next time (set it on the last page).
    pub fn checkpoint(mut self, checkpoint: Option<String>) -> Self {
        self.checkpoint = checkpoint;
        self
    }
}

impl FieldValue {
    /// The text inside text-like values (text, select, date, datetime).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            FieldValue::Text(s)
            | FieldValue::Select(s)
            | FieldValue::Date(s)
            | FieldValue::Datetime(s)
            | FieldValue::Json(s) => Some(s),
            _ => None,
        }
    }
}
