//! The simulator's state: databases, pages and issued cursors, and the page
//! lifecycle (create, update, trash, restore) shared by the HTTP API and the
//! Rust handle.

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;

use super::model::{normalize_id, ApiError, Database, Page};
use super::query::CursorMark;
use super::write::write_properties;

#[derive(Default)]
pub(crate) struct Store {
    pub dbs: HashMap<String, Database>,
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
    pub fn add_database(&mut self, db: Database) -> String {
        let id = db.id.clone();
        self.dbs.insert(id.clone(), db);
        id
    }

    pub fn create_page(
        &mut self,
        db_id: &str,
        properties: &Value,
        icon: Value,
        cover: Value,
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<String, ApiError> {
        let key = normalize_id(db_id).unwrap_or_else(|| db_id.to_string());
        let db = self
            .dbs
            .get_mut(&key)
            .ok_or_else(|| ApiError::not_found("database", db_id))?;
        let values = write_properties(db, properties)?;
        let page = Page {
            id: super::model::new_id(),
            db: db.id.clone(),
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
        let db = self.dbs.get_mut(&page.db).expect("page's database exists");
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

    pub fn page_json(&self, page_id: &str) -> Option<Value> {
        let page = self.pages.get(&normalize_id(page_id)?)?;
        Some(page.to_json(&self.dbs[&page.db]))
    }

    /// All pages of a database, trashed too, in the default query order.
    pub fn all_pages(&self, db_id: &str) -> Vec<Value> {
        let Some(db) = normalize_id(db_id).and_then(|k| self.dbs.get(&k)) else {
            return vec![];
        };
        db.by_created
            .iter()
            .map(|(_, id)| self.pages[id].to_json(db))
            .collect()
    }
}
