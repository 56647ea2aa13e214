//! The activity log (https://docs.directus.io/reference/system/activity.html):
//! "All events within Directus are tracked and stored in the activities
//! collection". Every create, update and delete of an item of a collection
//! whose `accountability` is not null is one entry: `id` (integer, in
//! order), `action`, `user`, `timestamp`, `ip`, `user_agent`, `collection`,
//! `item` ("always a string, even for integer primary keys"), `origin`.
//! A batch delete logs one entry per item. Deletes are hard deletes: this
//! log is the only trace they leave, and what the connector's deletions feed
//! reads (`GET /activity` filtered on collection, action and timestamp).
//!
//! Entries are kept compact (a write of a million items logs a million of
//! them) and indexed by (collection, action), so that the deletions of one
//! collection are found without walking its creates.

use super::filter::Filter;
use super::model::{fmt_ts, Field, Key};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::ops::Bound;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Action {
    Create,
    Update,
    Delete,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }

    fn parse(s: &str) -> Option<Action> {
        [Action::Create, Action::Update, Action::Delete]
            .into_iter()
            .find(|a| a.name() == s)
    }
}

struct Entry {
    action: Action,
    collection: u32,
    item: Box<str>,
    at: i64,
    user: u32,
    agent: u32,
}

pub(crate) struct ActivityLog {
    entries: Vec<Entry>,
    /// interned collection names, users and user agents
    names: Vec<String>,
    ids: HashMap<String, u32>,
    /// (collection, action) -> entry indexes, ascending
    postings: HashMap<(u32, Action), Vec<u32>>,
    fields: Vec<Field>,
}

/// The fields of `directus_activity`, in the order rows hold them.
const FIELDS: &[(&str, &str)] = &[
    ("id", "integer"),
    ("action", "string"),
    ("user", "uuid"),
    ("timestamp", "timestamp"),
    ("ip", "string"),
    ("user_agent", "text"),
    ("collection", "string"),
    ("item", "string"),
    ("origin", "string"),
];

impl Default for ActivityLog {
    fn default() -> Self {
        let fields = FIELDS
            .iter()
            .map(|(name, kind)| {
                let schema =
                    json!({"is_primary_key": *name == "id", "has_auto_increment": *name == "id"});
                Field::from_spec(
                    &json!({"field": name, "type": kind, "schema": schema, "meta": null}),
                )
                .expect("a field")
            })
            .collect();
        ActivityLog {
            entries: Vec::new(),
            names: Vec::new(),
            ids: HashMap::new(),
            postings: HashMap::new(),
            fields,
        }
    }
}

impl ActivityLog {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(id) = self.ids.get(s) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push(s.to_string());
        self.ids.insert(s.to_string(), id);
        id
    }

    pub fn log(
        &mut self,
        action: Action,
        collection: &str,
        item: &Key,
        at: DateTime<Utc>,
        user: &str,
        agent: &str,
    ) {
        let idx = self.entries.len() as u32;
        let collection = self.intern(collection);
        let (user, agent) = (self.intern(user), self.intern(agent));
        self.entries.push(Entry {
            action,
            collection,
            item: item.text().into_boxed_str(),
            at: at.timestamp_millis(),
            user,
            agent,
        });
        self.postings
            .entry((collection, action))
            .or_default()
            .push(idx);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// Entry `idx` as a row of `fields()`.
    pub fn row(&self, idx: usize) -> Vec<Value> {
        let e = &self.entries[idx];
        let at = DateTime::from_timestamp_millis(e.at).unwrap_or_default();
        vec![
            json!(idx + 1),
            json!(e.action.name()),
            json!(self.names[e.user as usize]),
            json!(fmt_ts(at)),
            json!("127.0.0.1"),
            json!(self.names[e.agent as usize]),
            json!(self.names[e.collection as usize]),
            json!(&*e.item),
            Value::Null,
        ]
    }

    /// The entries that can match `filter`, in id order (reversed when
    /// `rev`): those within its `id` bounds and, when it asks for one
    /// collection and action, only theirs.
    pub fn scan(&self, filter: Option<&Filter>, rev: bool) -> Box<dyn Iterator<Item = usize> + '_> {
        let n = self.entries.len();
        let (mut start, mut end, mut set) = (0, n, None);
        if let Some(f) = filter {
            let scan = f.key_scan(0, self.fields[0].kind);
            let idx = |k: &Key| match k {
                Key::Int(i) => (*i).clamp(0, n as i64) as usize,
                Key::Str(_) => 0,
            };
            start = match &scan.lo {
                Bound::Included(k) => idx(k).saturating_sub(1),
                Bound::Excluded(k) => idx(k),
                Bound::Unbounded => 0,
            };
            end = match &scan.hi {
                Bound::Included(k) => idx(k),
                Bound::Excluded(k) => idx(k).saturating_sub(1),
                Bound::Unbounded => n,
            };
            set = scan.set;
            let text = |i: usize| f.eq_hint(i).and_then(Value::as_str);
            if let (Some(c), Some(a)) = (text(6), text(1)) {
                let list = match (self.ids.get(c), Action::parse(a)) {
                    (Some(c), Some(a)) => self
                        .postings
                        .get(&(*c, a))
                        .map(Vec::as_slice)
                        .unwrap_or(&[]),
                    _ => &[],
                };
                let from = list.partition_point(|i| (*i as usize) < start);
                let to = list.partition_point(|i| (*i as usize) < end);
                let slice = if from <= to { &list[from..to] } else { &[] };
                let it = slice.iter().map(|i| *i as usize);
                return if rev {
                    Box::new(it.rev())
                } else {
                    Box::new(it)
                };
            }
        }
        if let Some(keys) = set {
            let it = keys.into_iter().filter_map(move |k| match k {
                Key::Int(i) if i >= 1 && (i as usize) <= n => Some(i as usize - 1),
                _ => None,
            });
            let v: Vec<usize> = it.collect();
            return if rev {
                Box::new(v.into_iter().rev())
            } else {
                Box::new(v.into_iter())
            };
        }
        let range = start..end.max(start);
        if rev {
            Box::new(range.rev())
        } else {
            Box::new(range)
        }
    }
}
