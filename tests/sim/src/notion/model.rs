//! Databases, pages and property values of the Notion simulator: how values
//! are written (validated, normalised) and read back (rendered as the API's
//! objects). Shapes follow Notion-Version 2022-06-28.

use chrono::{DateTime, Duration, DurationRound, NaiveDate, NaiveDateTime, Utc};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub(crate) use super::objects::{ApiVersion, Database};

/// The integration's bot user: author of everything written through the HTTP API.
pub(crate) const BOT_USER: &str = "5f2b6c1e-0d7a-4c33-9a51-7e1d2b9c4a10";
/// A person in the workspace: author of edits made through `NotionSim`'s
/// methods (they stand for someone editing in the Notion app).
pub(crate) const PERSON_USER: &str = "c2f20311-9e54-4d11-8c79-7398424ae41e";

/// An error as the API reports it (https://developers.notion.com/reference/status-codes).
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// `additional_data` of the error body, where the API adds one
    pub additional_data: Option<Value>,
}

impl ApiError {
    pub fn validation(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            code: "validation_error",
            message: message.into(),
            additional_data: None,
        }
    }
    /// "invalid_request_url: The request URL is not valid." (Status codes)
    pub fn invalid_url() -> Self {
        Self {
            status: 400,
            code: "invalid_request_url",
            message: "Invalid request URL.".into(),
            additional_data: None,
        }
    }
    pub fn not_found(kind: &str, id: &str) -> Self {
        // "Given the bearer token used, the resource does not exist" (Status codes, 404 object_not_found).
        Self {
            status: 404,
            code: "object_not_found",
            message: format!(
                "Could not find {kind} with ID: {id}. Make sure the relevant pages and databases are shared with your integration."
            ),
            additional_data: None,
        }
    }
}

/// A fresh UUIDv4 ("Top-level resources are addressable by a UUIDv4 id", API reference: Conventions).
pub(crate) fn new_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// "You may omit dashes from the ID when making requests to the API" (API
/// reference: Conventions). Returns the dashed lowercase form.
pub(crate) fn normalize_id(s: &str) -> Option<String> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let h = hex.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

/// "the last_edited_time and created_time properties will be rounded down to the
/// closest minute for page, database, and block objects" (changelog: Last edited
/// and created time properties are now rounded to the nearest minute).
pub(crate) fn minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::minutes(1)).unwrap_or(t)
}

pub(crate) fn fmt_minute(t: DateTime<Utc>) -> String {
    minute(t).format("%Y-%m-%dT%H:%M:00.000Z").to_string()
}

/// Parses an ISO 8601 date or date-time; a date-time without an offset is UTC
/// (changelog: Dates with times and timezones are now supported on Database Date
/// Filters). Returns the instant and whether only a date was given.
pub(crate) fn parse_iso(s: &str) -> Option<(DateTime<Utc>, bool)> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some((t.with_timezone(&Utc), false));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some((t.and_utc(), false));
        }
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some((d.and_hms_opt(0, 0, 0)?.and_utc(), true))
}

/// Property types a database can declare (Database properties / Property schema object).
const KINDS: [&str; 17] = [
    "title",
    "rich_text",
    "number",
    "checkbox",
    "select",
    "multi_select",
    "status",
    "date",
    "email",
    "url",
    "phone_number",
    "relation",
    "people",
    "created_time",
    "last_edited_time",
    "created_by",
    "last_edited_by",
];

#[derive(Clone, Debug)]
pub(crate) struct SelectOption {
    pub id: String,
    pub name: String,
    pub color: String,
}

impl SelectOption {
    pub fn json(&self) -> Value {
        json!({"id": self.id, "name": self.name, "color": self.color})
    }
}

#[derive(Clone, Debug)]
pub(crate) struct PropSchema {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub options: Vec<SelectOption>,
}

/// A data source: one table of pages with its own property schema. A
/// database is a container of one or more (see `objects`).
pub(crate) struct DataSource {
    pub id: String,
    /// the database (container) holding it
    pub db: String,
    pub title: String,
    pub created: DateTime<Utc>,
    pub props: Vec<PropSchema>,
    /// Ordered indexes of all pages (trashed too): (exact time, page id).
    pub by_created: BTreeSet<(DateTime<Utc>, String)>,
    pub by_edited: BTreeSet<(DateTime<Utc>, String)>,
}

pub(crate) struct Page {
    pub id: String,
    /// its data source
    pub ds: String,
    pub created: DateTime<Utc>,
    pub last_edited: DateTime<Utc>,
    pub created_by: String,
    pub last_edited_by: String,
    pub in_trash: bool,
    pub icon: Value,
    pub cover: Value,
    /// Stored values by property id, already in the API's read shape.
    pub values: HashMap<String, Value>,
}

/// Short random property id. "Some automatically generated property types have
/// special human-readable IDs. For example, all Title properties have an id of
/// "title"" (Database properties).
fn short_prop_id() -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let b: [u8; 4] = rand::random();
    b.iter().map(|x| A[*x as usize % A.len()] as char).collect()
}

fn opt(name: &str, color: &str) -> SelectOption {
    SelectOption {
        id: new_id(),
        name: name.into(),
        color: color.into(),
    }
}

impl DataSource {
    /// "Each database must have exactly one database property schema object of
    /// type "title"" (Property schema object): one is added if none is given.
    pub fn new(db: &str, title: &str, props: &[(&str, &str)], now: DateTime<Utc>) -> DataSource {
        let mut schema = Vec::new();
        if !props.iter().any(|(_, k)| *k == "title") {
            schema.push(PropSchema {
                id: "title".into(),
                name: "Name".into(),
                kind: "title".into(),
                options: vec![],
            });
        }
        for (name, kind) in props {
            assert!(
                KINDS.contains(kind),
                "notion sim: unsupported property type {kind:?}"
            );
            assert!(
                *kind != "title" || !schema.iter().any(|p: &PropSchema| p.kind == "title"),
                "only one title property"
            );
            let id = if *kind == "title" {
                "title".to_string()
            } else {
                short_prop_id()
            };
            // A new status property starts with Notion's default options (Not started / In progress / Done).
            let options = if *kind == "status" {
                vec![
                    opt("Not started", "default"),
                    opt("In progress", "blue"),
                    opt("Done", "green"),
                ]
            } else {
                vec![]
            };
            schema.push(PropSchema {
                id,
                name: name.to_string(),
                kind: kind.to_string(),
                options,
            });
        }
        DataSource {
            id: new_id(),
            db: db.into(),
            title: title.into(),
            created: now,
            props: schema,
            by_created: BTreeSet::new(),
            by_edited: BTreeSet::new(),
        }
    }

    /// Properties are addressed by name or by id (Page properties: "The id may be
    /// used in place of name when creating or updating pages").
    pub fn prop(&self, key: &str) -> Option<&PropSchema> {
        self.props
            .iter()
            .find(|p| p.name == key)
            .or_else(|| self.props.iter().find(|p| p.id == key))
    }
}

/// How many references a page object shows per property. Retrieve a page,
/// Limits (https://developers.notion.com/reference/retrieve-a-page): "The
/// endpoint returns a maximum of 25 page or person references per page
/// property. If a page property includes more than 25 references, then the 26th
/// reference and beyond might be returned as Untitled, Anonymous, or not be
/// returned at all." — "people: response object can't be guaranteed to return
/// more than 25 people." — "relation: the has_more value of the relation in the
/// response object is true if a relation contains more than 25 related pages.
/// Otherwise, has_more is false." Query results are page objects too (Page
/// properties: "Property values in the page object have a 25 page reference
/// limit"). The simulator drops the 26th and beyond; people get no `has_more`.
pub(crate) const PAGE_REFERENCES: usize = 25;

/// Property types whose values are lists of references to pages or people.
pub(crate) fn is_reference_list(kind: &str) -> bool {
    matches!(kind, "relation" | "people")
}

impl Page {
    pub fn title(&self, db: &DataSource) -> String {
        let id = db
            .props
            .iter()
            .find(|p| p.kind == "title")
            .map(|p| p.id.as_str())
            .unwrap_or("title");
        plain_text(self.values.get(id).unwrap_or(&Value::Null))
    }

    /// The value of one property in read shape (Property values).
    pub fn value(&self, p: &PropSchema) -> Value {
        let user = |id: &str| json!({"object": "user", "id": id});
        match p.kind.as_str() {
            "created_time" => json!(fmt_minute(self.created)),
            "last_edited_time" => json!(fmt_minute(self.last_edited)),
            "created_by" => user(&self.created_by),
            "last_edited_by" => user(&self.last_edited_by),
            k => self.values.get(&p.id).cloned().unwrap_or_else(|| match k {
                "title" | "rich_text" | "multi_select" | "relation" | "people" => json!([]),
                "checkbox" => json!(false),
                _ => Value::Null,
            }),
        }
    }

    /// The page object (Page; `in_trash` alongside `archived`) in the shape of
    /// API version `v`. `cut`: as the API shows it, references cut at
    /// [`PAGE_REFERENCES`]; otherwise whole, as the page holds them.
    pub fn to_json(&self, db: &DataSource, v: ApiVersion, cut: bool) -> Value {
        serde_json::to_value(self.view(db, v, cut)).expect("a page object serializes")
    }

    /// The page object as [`Page::to_json`] shows it, written out without
    /// building a `Value`: a query of 100 pages otherwise spent most of its
    /// time building and dropping maps.
    pub fn view<'a>(&'a self, db: &'a DataSource, v: ApiVersion, cut: bool) -> PageView<'a> {
        PageView {
            page: self,
            db,
            v,
            cut,
        }
    }

    fn url(&self, db: &DataSource) -> String {
        let slug: Vec<String> = self
            .title(db)
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect();
        let nodash = self.id.replace('-', "");
        let url = if slug.is_empty() {
            nodash
        } else {
            format!("{}-{nodash}", slug.join("-"))
        };
        format!("https://www.notion.so/{url}")
    }
}

/// See [`Page::view`]. Keys are written in sorted order, as a `Value`'s map
/// writes them, so both forms are the same text.
pub(crate) struct PageView<'a> {
    page: &'a Page,
    db: &'a DataSource,
    v: ApiVersion,
    cut: bool,
}

struct User<'a>(&'a str);

impl Serialize for User<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("id", self.0)?;
        m.serialize_entry("object", "user")?;
        m.end()
    }
}

/// One property value object: `{"id", "type", <type>: value}`, with
/// `has_more` for a relation.
struct PropView<'a> {
    schema: &'a PropSchema,
    page: &'a Page,
    cut: bool,
}

impl Serialize for PropView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.schema;
        let value = self.page.value(p);
        let (shown, more) = match value.as_array() {
            Some(list) if self.cut && is_reference_list(&p.kind) => (
                Entry::List(&list[..list.len().min(PAGE_REFERENCES)]),
                list.len() > PAGE_REFERENCES,
            ),
            _ => (Entry::Value(&value), false),
        };
        // as a `Value`'s map: sorted, and a later key of the same name wins
        let mut entries =
            BTreeMap::from([("id", Entry::Text(&p.id)), ("type", Entry::Text(&p.kind))]);
        entries.insert(p.kind.as_str(), shown);
        if p.kind == "relation" {
            entries.insert("has_more", Entry::Bool(more));
        }
        s.collect_map(entries)
    }
}

enum Entry<'a> {
    Text(&'a str),
    Bool(bool),
    List(&'a [Value]),
    Value(&'a Value),
}

impl Serialize for Entry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Entry::Text(t) => s.serialize_str(t),
            Entry::Bool(b) => s.serialize_bool(*b),
            Entry::List(l) => l.serialize(s),
            Entry::Value(v) => v.serialize(s),
        }
    }
}

struct PropsView<'a>(&'a PageView<'a>);

impl Serialize for PropsView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let view = self.0;
        // by name, the last of a name winning, as a `Value`'s map keeps them
        let props: BTreeMap<&str, &PropSchema> =
            view.db.props.iter().map(|p| (p.name.as_str(), p)).collect();
        s.collect_map(props.into_iter().map(|(name, schema)| {
            let prop = PropView {
                schema,
                page: view.page,
                cut: view.cut,
            };
            (name, prop)
        }))
    }
}

impl Serialize for PageView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let page = self.page;
        let mut m = s.serialize_map(Some(14))?;
        m.serialize_entry("archived", &page.in_trash)?;
        m.serialize_entry("cover", &page.cover)?;
        m.serialize_entry("created_by", &User(&page.created_by))?;
        m.serialize_entry("created_time", &fmt_minute(page.created))?;
        m.serialize_entry("icon", &page.icon)?;
        m.serialize_entry("id", &page.id)?;
        m.serialize_entry("in_trash", &page.in_trash)?;
        m.serialize_entry("last_edited_by", &User(&page.last_edited_by))?;
        m.serialize_entry("last_edited_time", &fmt_minute(page.last_edited))?;
        m.serialize_entry("object", "page")?;
        m.serialize_entry("parent", &page_parent(self.db, self.v))?;
        m.serialize_entry("properties", &PropsView(self))?;
        m.serialize_entry("public_url", &())?;
        m.serialize_entry("url", &page.url(self.db))?;
        m.end()
    }
}

/// A page's parent: its database up to 2022-06-28; from 2025-09-03 its data
/// source, with the database beside it ("type": "data_source_id",
/// "data_source_id", "database_id": the parent object of the
/// notion-sdk-js 2025-09-03 types, DataSourceParentResponse).
fn page_parent(ds: &DataSource, v: ApiVersion) -> Value {
    match v {
        ApiVersion::Legacy => json!({"type": "database_id", "database_id": ds.db}),
        ApiVersion::DataSources => {
            json!({"type": "data_source_id", "data_source_id": ds.id, "database_id": ds.db})
        }
    }
}

pub(crate) fn plain_text(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t["plain_text"].as_str())
                .collect::<String>()
        })
        .unwrap_or_default()
}

/// A rich text object of type text (Rich text object).
pub(crate) fn text_object(
    content: &str,
    link: Value,
    annotations: Option<&Map<String, Value>>,
) -> Value {
    let mut ann = json!({"bold": false, "italic": false, "strikethrough": false, "underline": false, "code": false, "color": "default"});
    if let Some(a) = annotations {
        for (k, v) in a {
            if ann.get(k).is_some() && (v.is_boolean() || (k == "color" && v.is_string())) {
                ann[k.as_str()] = v.clone();
            }
        }
    }
    let href = link.get("url").cloned().unwrap_or(Value::Null);
    json!({"type": "text", "text": {"content": content, "link": link}, "annotations": ann, "plain_text": content, "href": href})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page object as the reference shows one (Page; Page properties;
    /// the 25-reference cut of Retrieve a page), built as a `Value` here and
    /// compared as text with what the simulator writes.
    #[test]
    fn a_page_object_is_written_as_the_reference_shapes_it() {
        let now = "2026-12-06T10:20:30Z".parse::<DateTime<Utc>>().unwrap();
        let db = DataSource::new(
            "db1",
            "Tasks",
            &[
                ("Links", "relation"),
                ("Owners", "people"),
                ("Done", "checkbox"),
                ("Tags", "multi_select"),
            ],
            now,
        );
        let refs: Vec<Value> = (0..30).map(|n| json!({ "id": format!("r{n}") })).collect();
        let id = |name: &str| db.props.iter().find(|p| p.name == name).unwrap().id.clone();
        let page = Page {
            id: "a1b2".into(),
            ds: db.id.clone(),
            created: now,
            last_edited: now,
            created_by: "u1".into(),
            last_edited_by: "u2".into(),
            in_trash: false,
            icon: Value::Null,
            cover: Value::Null,
            values: [
                (
                    id("Name"),
                    json!([text_object("Fix it", Value::Null, None)]),
                ),
                (id("Links"), json!(refs)),
                (id("Owners"), json!(refs)),
            ]
            .into_iter()
            .collect(),
        };
        let prop = |name: &str, kind: &str, value: Value| json!({ "id": id(name), "type": kind, kind: value });
        let mut links = prop("Links", "relation", json!(refs[..25]));
        links["has_more"] = json!(true);
        let expected = json!({
            "object": "page", "id": "a1b2",
            "created_time": "2026-12-06T10:20:00.000Z",
            "last_edited_time": "2026-12-06T10:20:00.000Z",
            "created_by": { "object": "user", "id": "u1" },
            "last_edited_by": { "object": "user", "id": "u2" },
            "cover": null, "icon": null,
            "parent": { "type": "data_source_id", "data_source_id": db.id, "database_id": "db1" },
            "archived": false, "in_trash": false,
            "properties": {
                "Name": prop("Name", "title", json!([text_object("Fix it", Value::Null, None)])),
                "Links": links,
                "Owners": prop("Owners", "people", json!(refs[..25])),
                "Done": prop("Done", "checkbox", json!(false)),
                "Tags": prop("Tags", "multi_select", json!([])),
            },
            "url": "https://www.notion.so/Fix-it-a1b2",
            "public_url": null,
        });
        let written =
            serde_json::to_string(&page.view(&db, ApiVersion::DataSources, true)).unwrap();
        assert_eq!(written, expected.to_string());
        let whole = page.to_json(&db, ApiVersion::DataSources, false);
        assert_eq!(whole["properties"]["Links"]["relation"], json!(refs));
        assert_eq!(whole["properties"]["Links"]["has_more"], json!(false));
    }
}
