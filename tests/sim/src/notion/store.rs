//! The simulator's state: databases, their data sources, pages and issued
//! cursors, and the page lifecycle (create, update, trash, restore) shared by
//! the HTTP API and the Rust handle.

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;

use super::model::{normalize_id, ApiError, ApiVersion, DataSource, Database, Page};
use super::objects::multiple_data_sources;
use super::query::CursorMark;
use super::write::write_properties;

#[derive(Default)]
pub(crate) struct Store {
    pub dbs: HashMap<String, Database>,
    pub sources: HashMap<String, DataSource>,
    pub pages: HashMap<String, Page>,
    /// Cursors handed out by queries, so an unknown one can be refused.
    pub cursors: HashMap<String, CursorMark>,
}

/// What a `PATCH /v1/pages/{id}` (or the Rust handle) asks for.
#[derive(Default)]
pub(crate) struct PageUpdate<'a> {
    pub properties: Option<&'a Value>,
    pub in_trash: Option<bool>,
    pub icon: Option<&'a Value>,
    pub cover: Option<&'a Value>,
}

impl Store {
    /// A database with one data source of the same title; returns the database id.
    pub fn add_database(
        &mut self,
        title: &str,
        props: &[(&str, &str)],
        now: DateTime<Utc>,
    ) -> String {
        let id = super::model::new_id();
        self.dbs.insert(
            id.clone(),
            Database {
                id: id.clone(),
                title: title.into(),
                created: now,
                sources: Vec::new(),
            },
        );
        self.add_data_source(&id, title, props, now);
        id
    }

    /// Adds a data source to database `db`; returns its id.
    pub fn add_data_source(
        &mut self,
        db: &str,
        title: &str,
        props: &[(&str, &str)],
        now: DateTime<Utc>,
    ) -> Option<String> {
        let db = self.dbs.get_mut(&normalize_id(db)?)?;
        let ds = DataSource::new(&db.id, title, props, now);
        let id = ds.id.clone();
        db.sources.push(id.clone());
        self.sources.insert(id.clone(), ds);
        Some(id)
    }

    /// The data source `id` names: a data source, or a database's first one.
    pub fn source_of(&self, id: &str) -> Option<String> {
        let key = normalize_id(id)?;
        if self.sources.contains_key(&key) {
            return Some(key);
        }
        self.dbs.get(&key)?.sources.first().cloned()
    }

    /// The one data source of database `id`, as versions before 2025-09-03
    /// address it; refused when the database holds several.
    pub fn legacy_source(&self, id: &str) -> Result<&DataSource, ApiError> {
        let db = self
            .dbs
            .get(id)
            .ok_or_else(|| ApiError::not_found("database", id))?;
        match db.sources.as_slice() {
            [one] => Ok(&self.sources[one]),
            _ => Err(multiple_data_sources(db)),
        }
    }

    /// Whether writing `properties` into data source `ds` sets a relation
    /// that points at a database of several data sources, which versions
    /// before 2025-09-03 cannot do (upgrade guide: "the following API actions
    /// will fail: [...] Writing relation properties that point to that
    /// database").
    pub fn legacy_relation_check(&self, ds: &str, properties: &Value) -> Result<(), ApiError> {
        let Some(ds) = self.sources.get(ds) else {
            return Ok(());
        };
        let db = &self.dbs[&ds.db];
        let writes_relation = properties
            .as_object()
            .into_iter()
            .flatten()
            .any(|(key, _)| ds.prop(key).is_some_and(|p| p.kind == "relation"));
        if writes_relation && db.sources.len() > 1 {
            return Err(multiple_data_sources(db));
        }
        Ok(())
    }

    pub fn create_page(
        &mut self,
        ds_id: &str,
        properties: &Value,
        icon: Value,
        cover: Value,
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<String, ApiError> {
        let key = normalize_id(ds_id).unwrap_or_else(|| ds_id.to_string());
        let db = self
            .sources
            .get_mut(&key)
            .ok_or_else(|| ApiError::not_found("data source", ds_id))?;
        let values = write_properties(db, properties)?;
        let page = Page {
            id: super::model::new_id(),
            ds: db.id.clone(),
            created: now,
            last_edited: now,
            created_by: user.into(),
            last_edited_by: user.into(),
            in_trash: false,
            icon,
            cover,
            values: values.into_iter().collect(),
        };
        db.by_created.insert((page.created, page.id.clone()));
        db.by_edited.insert((page.last_edited, page.id.clone()));
        let id = page.id.clone();
        self.pages.insert(id.clone(), page);
        Ok(id)
    }

    /// Applies an update. Order: a restore (`in_trash: false`) first, then the
    /// properties, then a trash (`in_trash: true`). Properties of a page in the
    /// trash cannot be edited: the API answers 400 validation_error "Can't update
    /// a page that is archived. You must unarchive the page before updating."
    /// (the reference does not list it; integrations meet it, e.g.
    /// github.com/dvanoni/notero/issues/377, and handle it as a validation_error
    /// whose message mentions "archive").
    pub fn update_page(
        &mut self,
        page_id: &str,
        upd: PageUpdate<'_>,
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let key = normalize_id(page_id).unwrap_or_else(|| page_id.to_string());
        let page = self
            .pages
            .get_mut(&key)
            .ok_or_else(|| ApiError::not_found("page", page_id))?;
        let db = self
            .sources
            .get_mut(&page.ds)
            .expect("page's data source exists");
        let mut trashed = page.in_trash;
        if upd.in_trash == Some(false) {
            trashed = false;
        }
        let mut values = Vec::new();
        if let Some(props) = upd.properties {
            if trashed {
                return Err(ApiError::validation(
                    "Can't update a page that is archived. You must unarchive the page before updating.",
                ));
            }
            values = write_properties(db, props)?;
        }
        if upd.in_trash == Some(true) {
            trashed = true;
        }
        let changed = upd.properties.is_some()
            || trashed != page.in_trash
            || upd.icon.is_some()
            || upd.cover.is_some();
        if !changed {
            return Ok(());
        }
        page.values.extend(values);
        page.in_trash = trashed;
        if let Some(icon) = upd.icon {
            page.icon = icon.clone();
        }
        if let Some(cover) = upd.cover {
            page.cover = cover.clone();
        }
        // Trashing and restoring are edits too: they move last_edited_time.
        db.by_edited.remove(&(page.last_edited, page.id.clone()));
        page.last_edited = now.max(page.last_edited);
        page.last_edited_by = user.into();
        db.by_edited.insert((page.last_edited, page.id.clone()));
        Ok(())
    }

    /// A page as the API shows it in version `v` (references cut, see
    /// `PAGE_REFERENCES`).
    pub fn page_json(&self, page_id: &str, v: ApiVersion) -> Option<Value> {
        let page = self.pages.get(&normalize_id(page_id)?)?;
        Some(page.to_json(&self.sources[&page.ds], v, true))
    }

    /// A page with every value whole, as the platform holds it.
    pub fn page_held(&self, page_id: &str) -> Option<Value> {
        let page = self.pages.get(&normalize_id(page_id)?)?;
        Some(page.to_json(&self.sources[&page.ds], ApiVersion::Legacy, false))
    }

    /// All pages of a database (of each of its data sources in turn) or of one
    /// data source, trashed too, in the default query order, with every value
    /// whole.
    pub fn all_pages(&self, id: &str) -> Vec<Value> {
        let Some(key) = normalize_id(id) else {
            return vec![];
        };
        let sources = match self.dbs.get(&key) {
            Some(db) => db.sources.clone(),
            None if self.sources.contains_key(&key) => vec![key],
            None => vec![],
        };
        sources
            .iter()
            .flat_map(|ds| {
                let ds = &self.sources[ds];
                ds.by_created
                    .iter()
                    .map(|(_, id)| self.pages[id].to_json(ds, ApiVersion::Legacy, false))
            })
            .collect()
    }
}
