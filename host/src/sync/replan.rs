//! A write refused as stale (`conflict`: the record changed between our read
//! and our write) is not dropped and not forced: the side is read again, the
//! pair merged again against its shadow with the job's policy (a concurrent
//! edit to another field merges; to the same field, the policy decides or a
//! person does), and the writes that result carry the fresh version.

use indicatif::ProgressBar;

use crate::core::merge::Side;

use super::plan::{Plan, Planner, Seen};
use super::push::Stale;
use super::side::{self, OpenSide, ReadOutcome};
use super::staged::Records;
use crate::core::value::Record;
use crate::state::StateError;

/// Re-plans the stale pairs into `plan`. Returns the outbox keys the new plan
/// replaces, and the pairs that could not be re-planned (the fresh read did
/// not show the record): those stay in the outbox for the next run.
pub async fn replan(
    planner: &Planner<'_>,
    plan: &mut Plan,
    stale: &mut Vec<Stale>,
    sides: [(&mut OpenSide, &ReadOutcome); 2],
    page_size: u32,
    scratch: &std::path::Path,
) -> anyhow::Result<(Vec<Vec<u8>>, Vec<Stale>)> {
    let [(source, source_read), (target, target_read)] = sides;
    let fresh_source = if stale.iter().any(|s| s.sides.contains(&Side::Source)) {
        Some(reread(planner, source, source_read, page_size, scratch).await?)
    } else {
        None
    };
    let fresh_target = if stale.iter().any(|s| s.sides.contains(&Side::Target)) {
        Some(reread(planner, target, target_read, page_size, scratch).await?)
    } else {
        None
    };
    let parked = planner.parked_conflicts()?;
    let mut replaces = Vec::new();
    let mut given_up = Vec::new();
    for s in stale.drain(..) {
        let (Some(sid), Some(tid)) = (s.pair.source_id.clone(), s.pair.target_id.clone()) else {
            given_up.push(s);
            continue;
        };
        // What `side` holds now: `Some(None)` unchanged, `None` not known.
        let now = |side: Side| -> Result<Option<Option<Seen>>, StateError> {
            let (id, read, fresh) = match side {
                Side::Source => (&sid, source_read, &fresh_source),
                Side::Target => (&tid, target_read, &fresh_target),
            };
            let seen = |record: &Record| match side {
                Side::Source => Some(planner.seen_source(record)),
                Side::Target => planner.seen_target(record).ok(),
            };
            if s.sides.contains(&side) {
                let Some(fresh) = fresh.as_ref() else {
                    return Ok(None);
                };
                return Ok(match fresh.records.get(id)? {
                    Some(record) => seen(&record).map(Some),
                    None if fresh.records.contains(id) => Some(None),
                    None if fresh.complete => Some(Some(Seen::Deleted(None))),
                    None => None,
                });
            }
            if s.landed.contains(&side) {
                let (fields, version) = match side {
                    Side::Source => (&s.pair.shadow_source, &s.pair.source_version),
                    Side::Target => (&s.pair.shadow_target, &s.pair.target_version),
                };
                return Ok(Some(Some(Seen::Fields(
                    fields.clone(),
                    None,
                    version.clone(),
                ))));
            }
            Ok(match read.records.get(id)? {
                Some(record) => seen(&record).map(Some),
                None => Some(None),
            })
        };
        match (now(Side::Source)?, now(Side::Target)?) {
            (Some(s_now), Some(t_now)) => {
                planner.plan_pair(plan, &parked, sid, tid, s_now, t_now)?;
                replaces.extend(s.keys);
            }
            _ => given_up.push(s),
        }
    }
    Ok((replaces, given_up))
}

/// Reads a side again: where the connector reads incrementally, from its
/// checkpoint of this run's read (the platform's time when that read began),
/// less the overlap; else in full.
async fn reread(
    planner: &Planner<'_>,
    open: &mut OpenSide,
    first: &ReadOutcome,
    page_size: u32,
    scratch: &std::path::Path,
) -> anyhow::Result<ReadOutcome> {
    let since = if open.capable(crate::runtime::Capabilities::INCREMENTAL) {
        let kind = open.session.connector.descriptor.checkpoint;
        first
            .checkpoint
            .as_deref()
            .map(|since| super::overlap(kind, since))
    } else {
        None
    };
    tracing::info!(
        side = open.side.as_str(),
        incremental = since.is_some(),
        "reading again the records refused as stale"
    );
    let side = open.side;
    let records = Records::new(scratch)?;
    let unchanged = |r: &Record| planner.unchanged(side, r);
    side::read(
        open,
        since,
        page_size,
        &ProgressBar::hidden(),
        records,
        &unchanged,
        &|_| {},
    )
    .await
}
