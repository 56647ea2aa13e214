//! What a run stores besides its writes: its report (a failed run's too),
//! the conflicts a plan parks and the audit of its decisions.

use std::time::Instant;

use crate::job::Job;
use crate::state::{AuditEntry, RunRecord, State};

use super::report::{self, Report, Status};
use super::{now, plan, RunOptions};

#[allow(clippy::too_many_arguments)]
pub fn failed(
    job: &Job,
    state: &State,
    started_at: &str,
    started: Instant,
    options: &RunOptions,
    (source, target): (&str, &str),
    error: String,
    retry: bool,
) -> anyhow::Result<Report> {
    tracing::error!(job = %job.sync_id, "run failed: {error}");
    let empty = |platform: &str, entity: &Option<String>| report::SideDetails {
        platform: platform.into(),
        connector: String::new(),
        connector_sha256: String::new(),
        entity: entity.clone().unwrap_or_default(),
        read: "failed".into(),
        pages: 0,
        records_read: 0,
        changes: Default::default(),
        written: Default::default(),
    };
    // A platform that is down or throttling: the run waits for a retry.
    let report = Report {
        status: if retry {
            Status::Queued
        } else {
            Status::Failed
        },
        synced_items: 0,
        conflicts_detected: 0,
        conflict_resolution: "none".into(),
        last_sync: now(),
        details: Some(report::Details {
            job: job.sync_id.clone(),
            started_at: started_at.into(),
            seconds: started.elapsed().as_secs_f64(),
            source: empty(source, &job.source.entity),
            target: empty(target, &job.target.entity),
            conflicts: Vec::new(),
            parked: Vec::new(),
            skipped: Vec::new(),
            error: Some(error),
        }),
    };
    finish(job, state, started_at, report, options)
}

/// Records `report` and makes it durable; gives it back, with its details
/// if they were asked for.
pub fn finish(
    job: &Job,
    state: &State,
    started_at: &str,
    report: Report,
    options: &RunOptions,
) -> anyhow::Result<Report> {
    record(job, state, started_at, &report, options.daemon.as_deref())?;
    state.flush()?;
    Ok(if options.details {
        report
    } else {
        Report {
            details: None,
            ..report
        }
    })
}

/// Stores what a batch's plan parks for a person, audits its conflict
/// decisions, and logs what it skips.
pub fn record_plan(job: &Job, state: &State, plan: &plan::Plan) -> anyhow::Result<()> {
    for parked in &plan.parked {
        state.put_conflict(parked)?;
    }
    for conflict in &plan.conflicts {
        state.audit(&AuditEntry {
            at: now(),
            job: job.sync_id.clone(),
            kind: "conflict".into(),
            detail: serde_json::to_value(conflict)?,
        })?;
    }
    for skipped in &plan.skipped {
        tracing::warn!(job = %job.sync_id, side = skipped.side.as_str(), id = %skipped.id, "record skipped: {}", skipped.reason);
    }
    Ok(())
}

fn record(
    job: &Job,
    state: &State,
    started_at: &str,
    report: &Report,
    daemon: Option<&str>,
) -> anyhow::Result<()> {
    let mut value = serde_json::to_value(report)?;
    if let Some(daemon) = daemon {
        value["daemon"] = daemon.into();
    }
    state.put_run(&RunRecord {
        id: state.next_run_id()?,
        job: job.sync_id.clone(),
        started_at: started_at.into(),
        report: value.clone(),
    })?;
    state.audit(&AuditEntry {
        at: now(),
        job: job.sync_id.clone(),
        kind: "run".into(),
        detail: value,
    })?;
    tracing::info!(job = %job.sync_id, status = ?report.status, synced = report.synced_items, conflicts = report.conflicts_detected, "run finished");
    Ok(())
}
