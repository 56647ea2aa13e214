//! Telling a record read from one that needs planning: one that holds
//! exactly what its pair's shadow holds does not.

use crate::core::mapping::Mapper;
use crate::core::merge::Side;
use crate::core::value::{Fields, Record};
use crate::state::{State, StateError};

/// Whether `side`'s `record` holds exactly what its pair's shadow holds
/// (fields and version) in `job`: such a record needs no planning. Apart
/// from a [`Planner`], for a read that runs in a task of its own.
pub fn unchanged(
    state: &State,
    job: &str,
    mapper: &Mapper,
    side: Side,
    record: &Record,
) -> Result<bool, StateError> {
    if record.deleted {
        return Ok(false);
    }
    let Some(other) = state.linked(job, side, &record.id)? else {
        return Ok(false);
    };
    let sid = match side {
        Side::Source => &record.id,
        Side::Target => &other,
    };
    let Some(shadow) = state.shadow(job, sid)? else {
        return Ok(false);
    };
    let (fields, version) = match side {
        Side::Source => (&shadow.source, &shadow.source_version),
        Side::Target => (&shadow.target, &shadow.target_version),
    };
    if &record.version != version {
        return Ok(false);
    }
    Ok(match side {
        Side::Source => &mapper.canonical_from_source(&record.fields) == fields,
        Side::Target => canonical_target(state, job, mapper, record).ok().as_ref() == Some(fields),
    })
}

pub(super) fn canonical_target(
    state: &State,
    job: &str,
    mapper: &Mapper,
    record: &Record,
) -> Result<Fields, String> {
    let resolve = |tid: &str| state.linked(job, Side::Target, tid).ok().flatten();
    mapper
        .canonical_from_target(&record.fields, &resolve)
        .map(|mapped| mapped.fields)
        .map_err(|errs| {
            errs.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })
}
