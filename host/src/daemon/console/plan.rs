//! A [`Preview`] as the console shows it: per side, each create, each
//! update as old -> new, each delete; each conflict with its decision.

use crate::core::value::{Fields, Value};
use crate::sync::preview::{plain, Preview};

pub struct PlanView {
    pub summary: String,
    pub sides: Vec<SideView>,
    pub conflicts: Vec<ConflictRow>,
    pub waiting: usize,
    pub skipped: Vec<String>,
    /// the plan as `synchost run --plan` prints it
    pub text: String,
}

pub struct SideView {
    pub name: &'static str,
    pub heading: String,
    pub creates: Vec<String>,
    pub updates: Vec<UpdateView>,
    pub deletes: Vec<String>,
}

pub struct UpdateView {
    pub id: String,
    /// field, old, new
    pub changes: Vec<(String, String, String)>,
}

pub struct ConflictRow {
    pub pair: String,
    pub field: String,
    pub base: String,
    pub source: String,
    pub target: String,
    pub decision: String,
}

/// A value that may be absent, as a person reads it.
pub fn shown(v: Option<&Value>) -> String {
    v.map_or_else(|| "(none)".into(), plain)
}

pub fn fields_line(fields: &Fields) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k} = {}", plain(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl PlanView {
    pub fn of(p: &Preview) -> PlanView {
        let sides = [("source", &p.source), ("target", &p.target)]
            .into_iter()
            .map(|(name, s)| SideView {
                name,
                heading: format!(
                    "{} {} ({} read, {} record(s)): {} create(s), {} update(s), {} delete(s)",
                    s.platform,
                    s.entity,
                    s.read,
                    s.records_read,
                    s.counts.creates,
                    s.counts.updates,
                    s.counts.deletes
                ) + &more(
                    s.counts.creates + s.counts.updates + s.counts.deletes,
                    s.creates.len() + s.updates.len() + s.deletes.len(),
                ),
                creates: s
                    .creates
                    .iter()
                    .map(|c| {
                        format!(
                            "from {}: {}",
                            c.from.as_deref().unwrap_or("?"),
                            fields_line(&c.fields)
                        )
                    })
                    .collect(),
                updates: s
                    .updates
                    .iter()
                    .map(|u| UpdateView {
                        id: u.id.clone(),
                        changes: u
                            .changes
                            .iter()
                            .map(|c| (c.field.clone(), shown(c.old.as_ref()), plain(&c.new)))
                            .collect(),
                    })
                    .collect(),
                deletes: s.deletes.iter().map(|d| d.id.clone()).collect(),
            })
            .collect();
        let conflicts = p
            .conflicts
            .iter()
            .map(|c| ConflictRow {
                pair: format!("{} / {}", c.source_id, c.target_id),
                field: c.conflict.field.clone(),
                base: shown(c.conflict.base.as_ref()),
                source: shown(c.conflict.source.as_ref()),
                target: shown(c.conflict.target.as_ref()),
                decision: match &c.conflict.note {
                    Some(note) => {
                        format!("{} ({}; {note})", c.decision, c.conflict.policy.as_str())
                    }
                    None => format!("{} ({})", c.decision, c.conflict.policy.as_str()),
                },
            })
            .collect();
        PlanView {
            summary: format!(
                "Job {} ({}): {} write(s), {} conflict(s). Nothing was written.",
                p.job,
                p.mode,
                p.writes(),
                p.conflict_count
            ) + &more(p.conflict_count, p.conflicts.len()),
            sides,
            conflicts,
            waiting: p.waiting,
            skipped: p
                .skipped
                .iter()
                .map(|s| format!("{} {}: {}", s.side.as_str(), s.id, s.reason))
                .collect(),
            text: p.text(),
        }
    }
}

/// What a bounded list leaves out, said after its count.
fn more(all: usize, listed: usize) -> String {
    if listed < all {
        format!(" (the first {listed} listed)")
    } else {
        String::new()
    }
}
