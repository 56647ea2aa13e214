//! Three-way merge of one linked record.
//!
//! The base is the shadow: what each side held, in canonical form, when the
//! pair was last synced. A field changed on one side flows to the other; a
//! field changed on both sides to different values is a conflict, decided by
//! the field's policy. Changes to different fields merge without a conflict.
//! An update on one side against a delete on the other is a conflict too.

use serde::{Deserialize, Serialize};

use super::value::{Fields, Value};

/// Which side of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Source,
    Target,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Source => Side::Target,
            Side::Target => Side::Source,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Target => "target",
        }
    }
}

/// How a conflict is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    SourceWins,
    TargetWins,
    /// the side whose platform modified the record last
    NewestWins,
    /// neither side changes; a person decides
    Manual,
}

impl Policy {
    /// As a job names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::SourceWins => "source_wins",
            Policy::TargetWins => "target_wins",
            Policy::NewestWins => "newest_wins",
            Policy::Manual => "manual",
        }
    }
}

/// What one side holds now, relative to the base.
#[derive(Debug, Clone, PartialEq)]
pub enum Now {
    /// not changed since the base (or not read: an incremental read skipped it)
    Same,
    Changed {
        fields: Fields,
        /// the platform's modification time, where it keeps one
        updated_at: Option<String>,
        /// when the host first saw this change: what `newest_wins` compares
        /// when a platform keeps no modification time
        observed_at: Option<String>,
    },
    Deleted {
        at: Option<String>,
    },
}

/// One field both sides changed differently, and who won.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldConflict {
    /// the canonical field name, or `*` for update against delete
    pub field: String,
    pub base: Option<Value>,
    pub source: Option<Value>,
    pub target: Option<Value>,
    pub policy: Policy,
    /// `None` when the policy is manual, or could not be decided (see `note`)
    pub winner: Option<Side>,
    /// how the policy was decided when it could not be as written
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What to do to one side.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    None,
    /// write these canonical field values
    Update(Fields),
    Delete,
    /// the record is gone on this side but the other side's update won: create it again
    Recreate(Fields),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub source: Action,
    pub target: Action,
    pub conflicts: Vec<FieldConflict>,
    /// a manual conflict: nothing is written and the pair is parked
    pub parked: bool,
    /// both sides deleted: forget the link
    pub forget: bool,
}

impl Outcome {
    fn nothing() -> Outcome {
        Outcome {
            source: Action::None,
            target: Action::None,
            conflicts: Vec::new(),
            parked: false,
            forget: false,
        }
    }

    pub fn action(&self, side: Side) -> &Action {
        match side {
            Side::Source => &self.source,
            Side::Target => &self.target,
        }
    }
}

/// What a job allows to flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub to_target: bool,
    pub to_source: bool,
}

/// The policy for a field, and the job's default.
pub trait Policies: Sync {
    fn for_field(&self, field: &str) -> Policy;
    fn for_record(&self) -> Policy;
}

/// Merges one pair. `base_source` and `base_target` are the shadow's
/// canonical copies of each side; `now_*` what each side holds now.
pub fn merge(
    base_source: &Fields,
    base_target: &Fields,
    now_source: &Now,
    now_target: &Now,
    flow: Flow,
    policies: &dyn Policies,
) -> Outcome {
    use Now::*;
    match (now_source, now_target) {
        (Same, Same) => Outcome::nothing(),
        (Deleted { .. }, Deleted { .. }) => Outcome {
            forget: true,
            ..Outcome::nothing()
        },
        (Deleted { .. }, Same) => deleted_on(Side::Source, flow),
        (Same, Deleted { .. }) => deleted_on(Side::Target, flow),
        (
            Deleted { at },
            Changed {
                fields, updated_at, ..
            },
        ) => update_against_delete(Side::Source, at, fields, updated_at, flow, policies),
        (
            Changed {
                fields, updated_at, ..
            },
            Deleted { at },
        ) => update_against_delete(Side::Target, at, fields, updated_at, flow, policies),
        (Changed { .. }, Same) => fields_merge(
            base_source,
            base_target,
            Some(now_source),
            None,
            flow,
            policies,
        ),
        (Same, Changed { .. }) => fields_merge(
            base_source,
            base_target,
            None,
            Some(now_target),
            flow,
            policies,
        ),
        (Changed { .. }, Changed { .. }) => fields_merge(
            base_source,
            base_target,
            Some(now_source),
            Some(now_target),
            flow,
            policies,
        ),
    }
}

/// A changed side's fields, platform time and observation time.
struct Change<'a> {
    fields: &'a Fields,
    updated_at: Option<&'a String>,
    observed_at: Option<&'a String>,
}

fn change(now: &Now) -> Option<Change<'_>> {
    match now {
        Now::Changed {
            fields,
            updated_at,
            observed_at,
        } => Some(Change {
            fields,
            updated_at: updated_at.as_ref(),
            observed_at: observed_at.as_ref(),
        }),
        _ => None,
    }
}

fn allowed(flow: Flow, to: Side) -> bool {
    match to {
        Side::Target => flow.to_target,
        Side::Source => flow.to_source,
    }
}

fn deleted_on(side: Side, flow: Flow) -> Outcome {
    let mut out = Outcome::nothing();
    if allowed(flow, side.other()) {
        set(&mut out, side.other(), Action::Delete);
        out.forget = true;
    }
    out
}

fn set(out: &mut Outcome, side: Side, action: Action) {
    match side {
        Side::Source => out.source = action,
        Side::Target => out.target = action,
    }
}

/// Decides between two changed sides by policy; `None` to park the pair
/// for a person, with a note when the policy could not be decided as written.
fn decide(policy: Policy, source: &Change, target: &Change) -> (Option<Side>, Option<String>) {
    match policy {
        Policy::SourceWins => (Some(Side::Source), None),
        Policy::TargetWins => (Some(Side::Target), None),
        Policy::Manual => (None, None),
        Policy::NewestWins => newest(source, target),
    }
}

/// `newest_wins`: by the platforms' own modification times; where either
/// keeps none, by when the host first saw each change (said in the note);
/// where that does not tell them apart either, nobody is chosen silently:
/// the pair is parked for a person, with the reason.
fn newest(source: &Change, target: &Change) -> (Option<Side>, Option<String>) {
    // RFC 3339 in UTC compares as text; parse to be safe with offsets.
    if let (Some(s), Some(t)) = (parse(source.updated_at), parse(target.updated_at)) {
        return (Some(if t > s { Side::Target } else { Side::Source }), None);
    }
    let without: Vec<&str> = [("source", source), ("target", target)]
        .iter()
        .filter(|(_, c)| parse(c.updated_at).is_none())
        .map(|(n, _)| *n)
        .collect();
    let why = format!(
        "the {} keeps no modification time",
        without.join(" and the ")
    );
    match (parse(source.observed_at), parse(target.observed_at)) {
        (Some(s), Some(t)) if s != t => (
            Some(if t > s { Side::Target } else { Side::Source }),
            Some(format!(
                "{why}: decided by when the host first saw each change"
            )),
        ),
        _ => (
            None,
            Some(format!(
                "newest_wins cannot be decided: {why}, and both changes were first seen in the same run; parked for a person"
            )),
        ),
    }
}

fn parse(at: Option<&String>) -> Option<chrono::DateTime<chrono::Utc>> {
    at.and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// `deleted` was deleted while the other side updated the record.
/// `newest_wins` compares the update's time with the tombstone's; when the
/// deletion time is unknown (a delete inferred from a full scan), the update
/// wins: restoring a record loses nothing, deleting an edit would.
fn update_against_delete(
    deleted: Side,
    deleted_at: &Option<String>,
    fields: &Fields,
    updated_at: &Option<String>,
    flow: Flow,
    policies: &dyn Policies,
) -> Outcome {
    let updated = deleted.other();
    let policy = policies.for_record();
    let winner = match policy {
        Policy::NewestWins => match (parse(deleted_at.as_ref()), parse(updated_at.as_ref())) {
            (Some(d), Some(u)) if d > u => Some(deleted),
            _ => Some(updated),
        },
        Policy::SourceWins => Some(Side::Source),
        Policy::TargetWins => Some(Side::Target),
        Policy::Manual => None,
    };
    let (source, target) = match deleted {
        Side::Source => (None, Some(Value::Json(serde_json::json!("updated")))),
        Side::Target => (Some(Value::Json(serde_json::json!("updated"))), None),
    };
    let conflict = FieldConflict {
        field: "*".into(),
        base: None,
        source,
        target,
        policy,
        winner,
        note: None,
    };
    let mut out = Outcome {
        conflicts: vec![conflict],
        ..Outcome::nothing()
    };
    match winner {
        None => out.parked = true,
        Some(w) if w == deleted => {
            if allowed(flow, updated) {
                set(&mut out, updated, Action::Delete);
                out.forget = true;
            }
        }
        Some(_) => {
            if allowed(flow, deleted) {
                set(&mut out, deleted, Action::Recreate(fields.clone()));
            }
        }
    }
    out
}

fn fields_merge(
    base_source: &Fields,
    base_target: &Fields,
    source: Option<&Now>,
    target: Option<&Now>,
    flow: Flow,
    policies: &dyn Policies,
) -> Outcome {
    let source = source.and_then(change);
    let target = target.and_then(change);
    let mut out = Outcome::nothing();
    let mut to_source = Fields::new();
    let mut to_target = Fields::new();
    let mut names: Vec<&String> = base_source.keys().chain(base_target.keys()).collect();
    if let Some(s) = &source {
        names.extend(s.fields.keys());
    }
    if let Some(t) = &target {
        names.extend(t.fields.keys());
    }
    names.sort();
    names.dedup();
    for name in names {
        let old_s = base_source.get(name);
        let old_t = base_target.get(name);
        // A side that was not read still holds its base.
        let new_s = source.as_ref().map_or(old_s, |s| s.fields.get(name));
        let new_t = target.as_ref().map_or(old_t, |t| t.fields.get(name));
        let changed_s = new_s != old_s;
        let changed_t = new_t != old_t;
        if new_s == new_t {
            continue;
        }
        let winner = match (changed_s, changed_t) {
            (false, false) => continue,
            (true, false) => Some(Side::Source),
            (false, true) => Some(Side::Target),
            (true, true) => {
                let policy = policies.for_field(name);
                let (winner, note) = match (&source, &target) {
                    (Some(s), Some(t)) => decide(policy, s, t),
                    _ => unreachable!("a field changed on both sides has both changes"),
                };
                out.conflicts.push(FieldConflict {
                    field: name.clone(),
                    base: old_s.cloned(),
                    source: new_s.cloned(),
                    target: new_t.cloned(),
                    policy,
                    winner,
                    note,
                });
                winner
            }
        };
        match winner {
            None => out.parked = true,
            Some(Side::Source) => {
                to_target.insert(name.clone(), new_s.cloned().unwrap_or(Value::Null));
            }
            Some(Side::Target) => {
                to_source.insert(name.clone(), new_t.cloned().unwrap_or(Value::Null));
            }
        }
    }
    if out.parked {
        return Outcome {
            source: Action::None,
            target: Action::None,
            ..out
        };
    }
    if !to_target.is_empty() && flow.to_target {
        out.target = Action::Update(to_target);
    }
    if !to_source.is_empty() && flow.to_source {
        out.source = Action::Update(to_source);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct P(Policy);
    impl Policies for P {
        fn for_field(&self, _: &str) -> Policy {
            self.0
        }
        fn for_record(&self) -> Policy {
            self.0
        }
    }

    const BOTH: Flow = Flow {
        to_target: true,
        to_source: true,
    };

    fn f(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::Text(v.to_string())))
            .collect()
    }

    fn changed(pairs: &[(&str, &str)], at: &str) -> Now {
        Now::Changed {
            fields: f(pairs),
            updated_at: Some(at.into()),
            observed_at: Some("2030-01-01T00:00:00Z".into()),
        }
    }

    /// A change on a platform that keeps no modification time, first seen at `seen`.
    fn untimed(pairs: &[(&str, &str)], seen: &str) -> Now {
        Now::Changed {
            fields: f(pairs),
            updated_at: None,
            observed_at: Some(seen.into()),
        }
    }

    #[test]
    fn newest_wins_without_platform_times_uses_first_sight_or_parks() {
        let base = f(&[("name", "Ada")]);
        let s = changed(&[("name", "From source")], "2024-01-02T00:00:00Z");
        // Seen in different runs: the later sight wins, and the record says so.
        let t = untimed(&[("name", "From target")], "2030-01-02T00:00:00Z");
        let out = merge(&base, &base, &s, &t, BOTH, &P(Policy::NewestWins));
        assert_eq!(out.source, Action::Update(f(&[("name", "From target")])));
        let note = out.conflicts[0].note.clone().unwrap();
        assert!(
            note.contains("target keeps no modification time") && note.contains("first saw"),
            "{note}"
        );
        // Both first seen in the same run: nobody is chosen silently.
        let t = untimed(&[("name", "From target")], "2030-01-01T00:00:00Z");
        let out = merge(&base, &base, &s, &t, BOTH, &P(Policy::NewestWins));
        assert!(out.parked, "{out:?}");
        assert_eq!(out.conflicts[0].winner, None);
        assert!(out.conflicts[0]
            .note
            .as_ref()
            .unwrap()
            .contains("cannot be decided"));
    }

    #[test]
    fn different_fields_merge_without_conflict() {
        let base = f(&[("name", "Ada"), ("city", "London")]);
        let out = merge(
            &base,
            &base,
            &changed(
                &[("name", "Ada L."), ("city", "London")],
                "2024-01-01T00:00:00Z",
            ),
            &changed(
                &[("name", "Ada"), ("city", "Paris")],
                "2024-01-02T00:00:00Z",
            ),
            BOTH,
            &P(Policy::Manual),
        );
        assert!(out.conflicts.is_empty() && !out.parked);
        assert_eq!(out.target, Action::Update(f(&[("name", "Ada L.")])));
        assert_eq!(out.source, Action::Update(f(&[("city", "Paris")])));
    }

    #[test]
    fn the_same_field_is_decided_by_each_policy() {
        let base = f(&[("name", "Ada")]);
        let s = changed(&[("name", "From source")], "2024-01-02T00:00:00Z");
        let t = changed(&[("name", "From target")], "2024-01-01T00:00:00Z");
        let run = |p| merge(&base, &base, &s, &t, BOTH, &P(p));
        assert_eq!(
            run(Policy::SourceWins).target,
            Action::Update(f(&[("name", "From source")]))
        );
        assert_eq!(
            run(Policy::TargetWins).source,
            Action::Update(f(&[("name", "From target")]))
        );
        assert_eq!(
            run(Policy::NewestWins).target,
            Action::Update(f(&[("name", "From source")])),
            "source is newer"
        );
        let manual = run(Policy::Manual);
        assert!(manual.parked && manual.source == Action::None && manual.target == Action::None);
        assert_eq!(manual.conflicts.len(), 1);
    }

    #[test]
    fn equal_changes_on_both_sides_are_not_a_conflict() {
        let base = f(&[("name", "Ada")]);
        let same = changed(&[("name", "Ada L.")], "2024-01-01T00:00:00Z");
        let out = merge(&base, &base, &same, &same, BOTH, &P(Policy::Manual));
        assert_eq!(out, Outcome::nothing());
    }

    #[test]
    fn update_against_delete_is_a_conflict() {
        let base = f(&[("name", "Ada")]);
        let upd = changed(&[("name", "Ada L.")], "2024-01-01T00:00:00Z");
        let del = Now::Deleted { at: None };
        let out = merge(&base, &base, &upd, &del, BOTH, &P(Policy::TargetWins));
        assert_eq!(out.source, Action::Delete);
        assert_eq!(out.conflicts[0].field, "*");
        let out = merge(&base, &base, &upd, &del, BOTH, &P(Policy::SourceWins));
        assert_eq!(out.target, Action::Recreate(f(&[("name", "Ada L.")])));
        let out = merge(&base, &base, &upd, &del, BOTH, &P(Policy::NewestWins));
        assert!(
            matches!(out.target, Action::Recreate(_)),
            "an unknown deletion time loses to the update"
        );
        assert!(merge(&base, &base, &upd, &del, BOTH, &P(Policy::Manual)).parked);
    }

    #[test]
    fn a_one_way_job_never_writes_back() {
        let base = f(&[("name", "Ada")]);
        let flow = Flow {
            to_target: true,
            to_source: false,
        };
        let out = merge(
            &base,
            &base,
            &Now::Same,
            &changed(&[("name", "X")], "2024-01-01T00:00:00Z"),
            flow,
            &P(Policy::NewestWins),
        );
        assert_eq!(out.source, Action::None);
        assert_eq!(deleted_on(Side::Target, flow).source, Action::None);
    }
}
