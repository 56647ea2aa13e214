//! What the suite runs against: a live platform (a simulator or a real
//! instance), optionally recorded to a cassette, or a cassette replayed
//! offline. A cassette holds the HTTP exchanges (`runtime::tape`) and
//! `fixture.json`: what the suite needs to ask the same questions again —
//! the entity, the connection settings, the fields it writes and the ids of
//! the records it changed on the platform.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use serde_json::{json, Value};

use super::Fixture;
use crate::runtime::tape::{Cassette, Mode, Recorder, Tape};
use crate::runtime::{json as rjson, Connection, Field, Secrets};

const FIXTURE: &str = "fixture.json";
/// What replayed sessions are given as secrets: the recorded requests hold
/// placeholders, so any value replays, and none is real.
const REPLAYED_SECRET: &str = "replayed-secret";

pub enum Platform {
    Live {
        fixture: Fixture,
        recorder: Option<Arc<Recorder>>,
        edited: Mutex<Vec<String>>,
    },
    Replay {
        cassette: Arc<Cassette>,
        meta: Meta,
        edited: Mutex<VecDeque<String>>,
    },
}

/// `fixture.json` of a cassette.
pub struct Meta {
    entity: String,
    /// recorded against a connection: edits were creates through the connector
    through_connector: bool,
    read_only: bool,
    settings: BTreeMap<String, String>,
    allow_private_networks: bool,
    new_fields: Vec<Field>,
}

impl Platform {
    pub fn live(fixture: Fixture, record: Option<&Path>) -> anyhow::Result<Platform> {
        let recorder = match record {
            Some(dir) => Some(Arc::new(Recorder::create(dir).map_err(|e| {
                anyhow::anyhow!("cannot record into {}: {e}", dir.display())
            })?)),
            None => None,
        };
        Ok(Platform::Live {
            fixture,
            recorder,
            edited: Mutex::new(Vec::new()),
        })
    }

    pub fn replay(dir: &Path) -> anyhow::Result<Platform> {
        let cassette = Cassette::open(dir)?;
        let path = dir.join(FIXTURE);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", path.display()))?;
        let bad =
            |what: &str| anyhow::anyhow!("{}: `{what}` is missing or malformed", path.display());
        let strings = |key: &str| -> anyhow::Result<Vec<String>> {
            v[key]
                .as_array()
                .ok_or_else(|| bad(key))?
                .iter()
                .map(|s| s.as_str().map(String::from).ok_or_else(|| bad(key)))
                .collect()
        };
        let settings =
            serde_json::from_value(v["settings"].clone()).map_err(|_| bad("settings"))?;
        let new_fields = v["new_fields"]
            .as_object()
            .ok_or_else(|| bad("new_fields"))?
            .iter()
            .map(|(name, value)| {
                rjson::parse_value(value)
                    .map(|value| Field {
                        name: name.clone(),
                        value,
                    })
                    .ok_or_else(|| bad("new_fields"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Platform::Replay {
            cassette: Arc::new(cassette),
            edited: Mutex::new(strings("edited")?.into()),
            meta: Meta {
                entity: v["entity"].as_str().ok_or_else(|| bad("entity"))?.into(),
                through_connector: v["through_connector"].as_bool().unwrap_or(false),
                read_only: v["read_only"].as_bool().unwrap_or(false),
                settings,
                allow_private_networks: v["allow_private_networks"].as_bool().unwrap_or(false),
                new_fields,
            },
        })
    }

    /// A recorded run answered from a cassette: no platform behind it.
    pub fn is_replay(&self) -> bool {
        matches!(self, Platform::Replay { .. })
    }

    /// Whether the incremental check's change is a record created through
    /// the connector (a platform the suite cannot edit directly).
    pub fn edits_through_connector(&self) -> bool {
        match self {
            Platform::Live { fixture, .. } => fixture.edits_through_connector(),
            Platform::Replay { meta, .. } => meta.through_connector,
        }
    }

    /// No write may be made: the write checks are skipped.
    pub fn read_only(&self) -> bool {
        match self {
            Platform::Live { fixture, .. } => fixture.read_only(),
            Platform::Replay { meta, .. } => meta.read_only,
        }
    }

    /// The suite created record `id` as its change (recorded for a replay).
    pub fn note_edit(&self, id: &str) {
        if let Platform::Live { edited, .. } = self {
            edited.lock().push(id.to_string());
        }
    }

    pub fn entity(&self) -> &str {
        match self {
            Platform::Live { fixture, .. } => fixture.entity(),
            Platform::Replay { meta, .. } => &meta.entity,
        }
    }

    /// The connection of a session; `tag` names the session in a cassette.
    pub fn connection(&self, origin: &str, tag: &str) -> Connection {
        let tape = |mode| Tape {
            tag: tag.into(),
            mode,
        };
        match self {
            Platform::Live {
                fixture, recorder, ..
            } => Connection {
                tape: recorder.as_ref().map(|r| tape(Mode::Record(r.clone()))),
                ..fixture.connection(origin)
            },
            Platform::Replay { cassette, meta, .. } => Connection {
                settings: meta.settings.clone(),
                allow_private_networks: meta.allow_private_networks,
                tape: Some(tape(Mode::Replay(cassette.clone()))),
                ..Default::default()
            },
        }
    }

    pub fn secrets(&self, names: &[String]) -> Secrets {
        match self {
            Platform::Live { fixture, .. } => fixture.secrets(names),
            Platform::Replay { .. } => Secrets::from_values(
                names
                    .iter()
                    .map(|n| (n.clone(), REPLAYED_SECRET.to_string()))
                    .collect(),
            ),
        }
    }

    pub fn wrong_secrets(&self, names: &[String]) -> Secrets {
        match self {
            Platform::Live { fixture, .. } => fixture.wrong_secrets(names),
            Platform::Replay { .. } => self.secrets(names),
        }
    }

    pub fn advance(&self) {
        if let Platform::Live { fixture, .. } = self {
            fixture.advance()
        }
    }

    pub fn edit_one(&self) -> anyhow::Result<String> {
        match self {
            Platform::Live {
                fixture, edited, ..
            } => {
                let id = fixture.edit_one()?;
                edited.lock().push(id.clone());
                Ok(id)
            }
            Platform::Replay { edited, .. } => edited
                .lock()
                .pop_front()
                .ok_or_else(|| anyhow::anyhow!("the cassette recorded no further edit")),
        }
    }

    pub fn new_fields(&self) -> Vec<Field> {
        match self {
            Platform::Live { fixture, .. } => fixture.new_fields(),
            Platform::Replay { meta, .. } => meta.new_fields.clone(),
        }
    }

    /// After a recorded run: writes `fixture.json` beside the exchanges.
    /// After a replay: how many recorded exchanges the connector never asked for.
    pub fn finish(&self, origin: &str) -> anyhow::Result<Option<PathBuf>> {
        match self {
            Platform::Live {
                fixture,
                recorder: Some(recorder),
                edited,
            } => {
                let conn = fixture.connection(origin);
                let new_fields: serde_json::Map<String, Value> = fixture
                    .new_fields()
                    .iter()
                    .map(|f| (f.name.clone(), rjson::value(&f.value)))
                    .collect();
                let meta = json!({
                    "simulator": fixture.name(),
                    "entity": fixture.entity(),
                    "through_connector": fixture.edits_through_connector(),
                    "read_only": fixture.read_only(),
                    "settings": conn.settings,
                    "allow_private_networks": conn.allow_private_networks,
                    "new_fields": new_fields,
                    "edited": *edited.lock(),
                });
                let path = recorder.dir.join(FIXTURE);
                std::fs::write(&path, serde_json::to_string_pretty(&meta)?)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                Ok(Some(recorder.dir.clone()))
            }
            _ => Ok(None),
        }
    }

    pub fn unused(&self) -> usize {
        match self {
            Platform::Replay { cassette, .. } => cassette.left(),
            Platform::Live { .. } => 0,
        }
    }
}
