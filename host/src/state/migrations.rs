//! The state's format, versioned. Each change to how the state is laid out
//! is a numbered step applied once, in order, when the state is opened; the
//! number reached is kept in `meta`. A state whose number is above
//! [`FORMAT`] was written by a newer synchost and is refused: reading it
//! with this one's layout could misread or damage it.
//!
//! A state from before the number was kept holds none: every step runs (each
//! is idempotent, and finds nothing to do in a state already moved).

use super::store::{Batch, Tree};
use super::{Result, State, StateError};

const KEY: &[u8] = b"format";

/// The format this version writes and reads.
pub const FORMAT: u32 = 2;

type Step = fn(&State) -> Result<()>;

/// The steps, by the format they bring a state to.
const STEPS: [(u32, &str, Step); 2] = [
    (1, "pairs moved from sled's trees to fjall", |s| {
        s.store.migrate_legacy()
    }),
    (
        2,
        "runs kept by number, indexed by job",
        State::migrate_runs,
    ),
];

/// Brings the state to [`FORMAT`], or refuses a newer one.
pub(super) fn apply(state: &State) -> Result<()> {
    let stored = match state.store.get(Tree::Meta, KEY)? {
        Some(bytes) => Some(
            <[u8; 4]>::try_from(bytes.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|_| super::corrupt(KEY, "a format number of 4 bytes".into()))?,
        ),
        None => None,
    };
    if let Some(found) = stored.filter(|&f| f > FORMAT) {
        return Err(StateError::Newer {
            path: state.location(),
            found,
            known: FORMAT,
        });
    }
    let from = stored.unwrap_or(0);
    for (to, what, step) in STEPS {
        if to > from {
            step(state)?;
            if stored.is_some() {
                tracing::info!(format = to, "state migrated: {what}");
            }
        }
    }
    if stored != Some(FORMAT) {
        let mut batch = Batch::durable();
        batch.put(Tree::Meta, KEY, FORMAT.to_be_bytes());
        state.store.apply(batch)?;
    }
    Ok(())
}
