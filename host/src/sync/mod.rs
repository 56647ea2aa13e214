//! # One sync run
//!
//! Ties the parts together for one job: open both sides (connector, session,
//! schema), read each (incrementally from its checkpoint when the connector
//! can, with an overlap window; a full scan otherwise), plan (canonical form,
//! delta against the shadows, three-way merge, matching of new records),
//! store the plan in the outbox, push it, and record checkpoints, the run and
//! its audit entries. Policy lives in `core`; this module only moves data.

mod batches;
mod convert;
mod dirty;
pub mod plan;
pub mod preview;
pub mod push;
mod recorded;
mod replan;
pub mod report;
pub mod side;
mod staged;
mod stream;
mod totals;
mod writers;

use std::time::Instant;

use anyhow::Context;
use futures_util::future::Either;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::core::mapping::Mapper;
use crate::core::merge::{Flow, Policies, Policy, Side};
use crate::core::value::Record;
use crate::job::{self, Job};
use crate::runtime::{Capabilities, CheckpointKind, Runtime};
use crate::state::{Checkpoint, State};

pub use report::{Report, Status};
pub use side::{ConnectorLookup, ConnectorSource};

/// How a run reads and writes.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// read both sides in full, whatever the checkpoints say
    pub full: bool,
    pub connectors: ConnectorSource,
    /// draw progress bars (on a terminal)
    pub progress: bool,
    /// include per-side details in the report
    pub details: bool,
    /// records planned and written at a time (default [`BATCH`]); tests set
    /// a few, so that a run of a dozen records crosses batches
    pub batch: Option<usize>,
    /// the daemon that runs it, named in its record (several daemons may
    /// share a state)
    pub daemon: Option<String>,
}

/// Seconds subtracted from a checkpoint before an incremental read: platform
/// timestamps are coarse (Notion's are rounded to the minute), so a read must
/// overlap the last one; records seen again are recognised by their content.
const OVERLAP_SECS: i64 = 120;

struct JobPolicies<'a>(&'a job::ConflictSpec);

fn core_policy(p: job::Policy) -> Policy {
    match p {
        job::Policy::SourceWins => Policy::SourceWins,
        job::Policy::TargetWins => Policy::TargetWins,
        job::Policy::NewestWins => Policy::NewestWins,
        job::Policy::Manual => Policy::Manual,
    }
}

impl Policies for JobPolicies<'_> {
    fn for_field(&self, field: &str) -> Policy {
        core_policy(self.0.policy_for(field))
    }
    fn for_record(&self) -> Policy {
        core_policy(self.0.policy)
    }
}

fn bar(multi: &MultiProgress, show: bool, len: Option<u64>) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = match len {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}").expect("template"),
        ),
        None => ProgressBar::new_spinner()
            .with_style(ProgressStyle::with_template("{spinner} {msg}").expect("template")),
    };
    multi.add(bar)
}

/// Runs `job` once and records it. Every run that starts ends with a
/// recorded report: one that fails (a platform down, a schema that cannot be
/// read, a mapping that does not fit) is a `failed` or `queued` report with
/// the error in its details. Only a job that cannot run at all is an error.
pub async fn run(
    job: &Job,
    runtime: &Runtime,
    state: &State,
    options: &RunOptions,
) -> anyhow::Result<Report> {
    job.ensure_runnable()?;
    let started = Instant::now();
    let started_at = now();
    match run_once(job, runtime, state, options, &started_at, started).await {
        Ok(report) => Ok(report),
        Err(e) => {
            // A platform that is down or throttling: the run waits for a retry.
            let retry = e
                .chain()
                .filter_map(|c| c.downcast_ref::<crate::runtime::RuntimeError>())
                .any(|e| e.is_retryable());
            recorded::failed(
                job,
                state,
                &started_at,
                started,
                options,
                (&job.source.platform, &job.target.platform),
                format!("{e:#}"),
                retry,
            )
        }
    }
}

/// Times a pair refused as stale is re-read and re-planned in one run.
const MAX_REPLANS: usize = 3;
/// Records planned, written and committed at a time: a run's memory is a
/// function of this, not of the table's size.
pub const BATCH: usize = 1000;

async fn run_once(
    job: &Job,
    runtime: &Runtime,
    state: &State,
    options: &RunOptions,
    started_at: &str,
    started: Instant,
) -> anyhow::Result<Report> {
    let multi = MultiProgress::with_draw_target(if options.progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });

    let (mut source, mut target, mapper) = open_sides(job, runtime, options).await?;

    // Left-over ops from a run that died, or whose outcome was unknown:
    // re-plan from a full read, which first settles the writes that landed.
    let leftover = state.outbox(&job.sync_id)?;
    let recovering = !leftover.is_empty();
    if recovering {
        tracing::warn!(job = %job.sync_id, ops = leftover.len(), "the last run did not finish all its writes: recovering with a full read");
    }

    let flow = Flow {
        to_target: job.mode.writes_target(),
        to_source: job.mode.writes_source(),
    };
    let planner = plan::Planner {
        job: &job.sync_id,
        mapper: &mapper,
        flow,
        policies: &JobPolicies(&job.conflict),
        match_key: job.match_key.as_ref().map(|k| k.source.clone()),
        state,
        recovering,
        now: started_at.to_string(),
        observed: Default::default(),
        preview: false,
    };

    // Both sides are read at once, each into the run's scratch database.
    let scratch = state.scratch_dir();
    let mut checkpoints = Vec::new();
    let mut reads = Vec::new();
    for open in [&source, &target] {
        let checkpoint = state.checkpoint(&job.sync_id, open.side)?;
        let since = read_since(job, open, checkpoint.as_ref(), options.full || recovering);
        reads.push((since, staged::Records::new(scratch)?));
        checkpoints.push(checkpoint);
    }
    let target_cp = checkpoints.pop().expect("two sides");
    let source_cp = checkpoints.pop().expect("two sides");
    let ((target_since, target_records), (source_since, source_records)) = (
        reads.pop().expect("two sides"),
        reads.pop().expect("two sides"),
    );
    // A job that writes the target only may write while the source is still
    // read (see `stream`), unless this run must first settle what an earlier
    // one left: a crash, refused changes, or decisions of a person.
    let mut parked = planner.parked_conflicts()?;
    let streams = !recovering
        && !flow.to_source
        && state.dirty(&job.sync_id)?.is_empty()
        && !parked.values().any(|p| p.resolution.is_some());
    let tail = source_records.tail()?;
    // After a crash every record is kept whole: settling what landed
    // compares records with what was planned, not with their shadows.
    let unchanged_target = |r: &Record| Ok(!recovering && planner.unchanged(Side::Target, r)?);
    let (source_bar, target_bar) = (
        bar(&multi, options.progress, None),
        bar(&multi, options.progress, None),
    );
    let (kept_tx, kept_rx) = tokio::sync::watch::channel(stream::ReadSoFar::default());
    // The source is read in a task of its own, on another core than the
    // target's read and, for a pull, the writes: the connector's work on
    // each page (parsing its JSON) is a good part of a run.
    let mut reading_source = {
        let (state, job_id, mapper) = (state.clone(), job.sync_id.clone(), mapper.clone());
        let (bar, page_size, mut open) = (source_bar.clone(), job.page_size, source);
        tokio::spawn(async move {
            let unchanged = |r: &Record| {
                Ok(!recovering && plan::unchanged(&state, &job_id, &mapper, Side::Source, r)?)
            };
            let kept = |end| {
                kept_tx.send_modify(|k| k.end = end);
            };
            let read = side::read(
                &mut open,
                source_since,
                page_size,
                &bar,
                source_records,
                &unchanged,
                &kept,
            )
            .await;
            kept_tx.send_modify(|k| k.over = true);
            tracing::debug!(job = %job_id, "the source is read");
            (open, read.context("reading the source"))
        })
    };
    // A run that ends early (an error) does not leave the read going on.
    let _stop_reading = AbortOnDrop(reading_source.abort_handle());

    let progress = bar(&multi, options.progress, Some(0));
    progress.set_message("writes");
    let mut pusher = push::Pusher {
        job: &job.sync_id,
        in_flight: job.write_concurrency as usize,
        committing: None,
        state,
        now: started_at.to_string(),
        fault_after: push::fault_limit(),
        confirmed: 0,
    };
    let mut totals = totals::Totals::default();
    let mut writes = batches::Writes {
        job,
        state,
        pusher: &mut pusher,
        progress: &progress,
        totals: &mut totals,
        batch: options.batch.unwrap_or(BATCH).max(1),
    };

    let target_read = side::read(
        &mut target,
        target_since,
        job.page_size,
        &target_bar,
        target_records,
        &unchanged_target,
        &|_| {},
    );
    let first = match futures_util::future::select(&mut reading_source, Box::pin(target_read)).await
    {
        Either::Left((source_read, target_read)) => (Some(source_read), target_read.await),
        Either::Right((target_read, _)) => (None, target_read),
    };
    let (mut source_read, mut target_read, streamed) = match first {
        (Some(task), target_read) => {
            let read;
            (source, read) = joined(task)?;
            (read, target_read.context("reading the target")?, None)
        }
        (None, target_read) if !streams => {
            let read;
            (source, read) = joined(reading_source.await)?;
            (read, target_read.context("reading the target")?, None)
        }
        // The target is read, the source not yet: its records are planned
        // and written as they come.
        (None, target_read) => {
            let target_read = target_read.context("reading the target")?;
            target_bar.finish_and_clear();
            tracing::info!(job = %job.sync_id, "the target is read: the source's records are written as they are read");
            let mut sweep =
                plan::sweep::Sweep::streaming(&planner, &target_read, std::mem::take(&mut parked))?;
            let mut feed = stream::Feed::new(tail, kept_rx);
            let mut streamed = stream::Streamed {
                sweep: &mut sweep,
                feed: &mut feed,
            };
            // Both run to their end: a read that fails lets the writes
            // of what it kept settle (the run then fails on the read).
            let (task, written) =
                tokio::join!(reading_source, writes.all(&mut streamed, None, &mut target));
            let read;
            (source, read) = joined(task)?;
            written?;
            let again = feed.again(state, &job.sync_id, &read, writes.totals)?;
            let carry = sweep.into_carry();
            (read, target_read, Some((carry, again)))
        }
    };
    source_bar.finish_and_clear();
    target_bar.finish_and_clear();
    let mut sweep = match streamed {
        Some((carry, again)) => {
            plan::sweep::Sweep::resume(&planner, &source_read, &target_read, carry, again)?
        }
        None => {
            // Pairs whose change a platform refused last time are planned
            // again from what was read then (or fresher), whatever the
            // checkpoints say.
            let observed = dirty::restore(state, &job.sync_id, &mut source_read, &mut target_read)?;
            planner.observed.set(observed).expect("set once");
            if recovering {
                planner.settle_landed(&leftover, &source_read, &target_read)?;
                state
                    .outbox_remove(&leftover.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>())?;
            }
            plan::sweep::Sweep::new(&planner, &source_read, &target_read, parked)?
        }
    };
    // Planned, written and committed a batch at a time.
    writes
        .all(&mut sweep, Some(&mut source), &mut target)
        .await?;
    drop(sweep);
    let mut given_up = Vec::new();
    // Records that changed between our read and our write: read again,
    // merged again with the job's policy, written again, in this run.
    for _ in 0..MAX_REPLANS {
        if totals.stale.is_empty() {
            break;
        }
        let mut replan = plan::Plan::default();
        let mut stale = std::mem::take(&mut totals.stale);
        let (replaces, unknown) = replan::replan(
            &planner,
            &mut replan,
            &mut stale,
            [(&mut source, &source_read), (&mut target, &target_read)],
            job.page_size,
            scratch,
        )
        .await?;
        given_up.extend(unknown);
        recorded::record_plan(job, state, &replan)?;
        totals.add_plan(&replan);
        progress.inc_length(replan.ops.len() as u64);
        let result = pusher
            .push(
                &mut replan,
                Some(&mut source),
                &mut target,
                &progress,
                &replaces,
            )
            .await?;
        totals.add_push(result);
    }
    // Still stale: left in the outbox, reconciled by the next run's read.
    for s in totals.stale.iter().chain(&given_up) {
        for side in &s.sides {
            totals.pushed.entry(*side).or_default().pending += 1;
        }
    }
    progress.finish_and_clear();
    dirty::keep(state, &planner, &totals.refused, &source_read, &target_read)?;

    // Checkpoints move only after the run's writes are planned and stored,
    // and a change refused by a platform is kept as dirty.
    for (side, read, old) in [
        (Side::Source, &source_read, &source_cp),
        (Side::Target, &target_read, &target_cp),
    ] {
        let runs = old.as_ref().map_or(0, |c| c.runs_since_full_scan);
        let checkpoint = Checkpoint {
            since: read
                .checkpoint
                .clone()
                .or_else(|| old.as_ref().and_then(|c| c.since.clone())),
            full_scan_at: if read.complete {
                Some(started_at.to_string())
            } else {
                old.as_ref().and_then(|c| c.full_scan_at.clone())
            },
            runs_since_full_scan: if read.complete { 0 } else { runs + 1 },
        };
        state.set_checkpoint(&job.sync_id, side, &checkpoint)?;
    }

    let pushed = &totals.pushed;
    let written: u64 = pushed.values().map(|p| p.written()).sum();
    let status = report::status(
        pushed,
        totals.skipped_count as usize,
        state.conflicts_waiting(&job.sync_id)?,
    );
    let side_details = |open: &side::OpenSide,
                        read: &side::ReadOutcome,
                        changes,
                        pushed: Option<&push::Pushed>| report::SideDetails {
        platform: open.platform.clone(),
        connector: format!(
            "{} {}",
            open.connector.name, open.connector.descriptor.version
        ),
        connector_sha256: open.connector.hash.clone(),
        entity: open.entity.clone(),
        read: if read.complete {
            "full".into()
        } else {
            "incremental".into()
        },
        pages: read.pages,
        records_read: read.records.len(),
        changes,
        written: pushed.cloned().unwrap_or_default(),
    };
    let details = report::Details {
        job: job.sync_id.clone(),
        started_at: started_at.to_string(),
        seconds: started.elapsed().as_secs_f64(),
        source: side_details(
            &source,
            &source_read,
            totals.source_changes,
            pushed.get(&Side::Source),
        ),
        target: side_details(
            &target,
            &target_read,
            totals.target_changes,
            pushed.get(&Side::Target),
        ),
        conflicts: totals.conflicts.clone(),
        parked: totals.parked.clone(),
        skipped: totals.skipped.clone(),
        error: None,
    };
    let report = Report {
        status,
        synced_items: written,
        conflicts_detected: totals.conflict_count,
        conflict_resolution: report::resolution_name(&totals.conflicts),
        last_sync: now(),
        details: Some(details),
    };
    recorded::finish(job, state, started_at, report, options)
}

/// Opens both sides of `job` and checks that its mapping fits their schemas.
async fn open_sides(
    job: &Job,
    runtime: &Runtime,
    options: &RunOptions,
) -> anyhow::Result<(side::OpenSide, side::OpenSide, std::sync::Arc<Mapper>)> {
    let mut opened = Vec::new();
    for (side, spec) in [(Side::Source, &job.source), (Side::Target, &job.target)] {
        let open = side::open(side, spec, runtime, &options.connectors)
            .await
            .with_context(|| format!("opening the {}", side.as_str()))?;
        opened.push(open);
    }
    let target = opened.pop().expect("two sides");
    let source = opened.pop().expect("two sides");
    for open in [&source, &target] {
        anyhow::ensure!(
            !open.schema.fields.is_empty(),
            "the {}'s schema has no field: {} `{}` is empty or not shared with the connection's \
             credential; fields are mapped and matched by name, so nothing can sync until it has some",
            open.side.as_str(),
            open.platform,
            open.entity
        );
    }
    let mapper = std::sync::Arc::new(
        Mapper::new(&job.mapping, &source.schema, &target.schema)
            .context("the job's mapping does not fit the schemas")?,
    );
    if let Some(key) = &job.match_key {
        if let Some(problem) = mapper.match_key_problem(&key.source, &source.schema, &target.schema)
        {
            anyhow::bail!(problem);
        }
    }

    Ok((source, target, mapper))
}

/// Where `open`'s read starts: `None` for a full scan (asked for, needed
/// after a crash, not offered by the connector, or due by `full_scan_every`),
/// else its checkpoint less the overlap window.
fn read_since(
    job: &Job,
    open: &side::OpenSide,
    checkpoint: Option<&Checkpoint>,
    full: bool,
) -> Option<String> {
    let full = full
        || !open.capable(Capabilities::INCREMENTAL)
        || checkpoint
            .is_none_or(|c| c.since.is_none() || c.runs_since_full_scan + 1 >= job.full_scan_every);
    let kind = open.session.connector.descriptor.checkpoint;
    if full {
        return None;
    }
    checkpoint
        .and_then(|c| c.since.as_deref())
        .map(|since| overlap(kind, since))
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A side read in a task of its own: the side back, and what was read.
fn joined(
    task: Result<(side::OpenSide, anyhow::Result<side::ReadOutcome>), tokio::task::JoinError>,
) -> anyhow::Result<(side::OpenSide, side::ReadOutcome)> {
    let (open, read) = task.context("reading the source: the task stopped")?;
    Ok((open, read?))
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// What the connector is given back as `since`: an opaque checkpoint as it
/// was; a timestamp less the overlap window (one that is not an RFC 3339
/// date-time is kept as is, the rule contract 0.1.0 connectors were built on).
fn overlap(kind: CheckpointKind, checkpoint: &str) -> String {
    if kind == CheckpointKind::Opaque {
        return checkpoint.to_string();
    }
    match chrono::DateTime::parse_from_rfc3339(checkpoint) {
        Ok(t) => (t.with_timezone(&chrono::Utc) - chrono::Duration::seconds(OVERLAP_SECS))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        Err(_) => checkpoint.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::runtime::CheckpointKind::{Opaque, Timestamp};

    /// What sdk/README.md promises connector authors about checkpoints.
    #[test]
    fn a_time_checkpoint_comes_back_two_minutes_early_and_any_other_unchanged() {
        assert_eq!(
            super::overlap(Timestamp, "2026-12-06T01:23:00.000Z"),
            "2026-12-06T01:21:00.000Z"
        );
        assert_eq!(
            super::overlap(Timestamp, "2026-12-06T03:23:00+02:00"),
            "2026-12-06T01:21:00.000Z"
        );
        for opaque in ["1234567", "cursor:abc", "2026-12-06", "2026-12-06 01:23:00"] {
            assert_eq!(super::overlap(Timestamp, opaque), opaque);
        }
    }

    /// Contract 0.2.0: a checkpoint declared opaque is never moved, even one
    /// that reads as a date-time.
    #[test]
    fn an_opaque_checkpoint_comes_back_exactly() {
        for opaque in ["2026-12-06T01:23:00.000Z", "1234567", "cursor:abc"] {
            assert_eq!(super::overlap(Opaque, opaque), opaque);
        }
    }
}
