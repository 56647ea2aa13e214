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

/// What one side holds now, relative to the base.
#[derive(Debug, Clone, PartialEq)]
pub enum Now {
    /// not changed since the base (or not read: an incremental read skipped it)
    Same,
    Changed {
        fields: Fields,
        updated_at: Option<String>,
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
    /// `None` when the policy is manual
    pub winner: Option<Side>,
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
        (Deleted { at }, Changed { fields, updated_at }) => {
            update_against_delete(Side::Source, at, fields, updated_at, flow, policies)
        }
        (Changed { fields, updated_at }, Deleted { at }) => {
            update_against_delete(Side::Target, at, fields, updated_at, flow, policies)
        }
        (
            Changed {
                fields: s,
                updated_at: su,
            },
            Same,
        ) => fields_merge(
            base_source,
            base_target,
            Some((s, su)),
            None,
            flow,
            policies,
        ),
        (
            Same,
            Changed {
                fields: t,
                updated_at: tu,
            },
        ) => fields_merge(
            base_source,
            base_target,
            None,
            Some((t, tu)),
            flow,
            policies,
        ),
        (
            Changed {
                fields: s,
                updated_at: su,
            },
            Changed {
                fields: t,
                updated_at: tu,
            },
        ) => fields_merge(
            base_source,
            base_target,
            Some((s, su)),
            Some((t, tu)),
            flow,
            policies,
        ),
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

/// Decides between two sides by policy; `None` for manual.
fn decide(policy: Policy, source_at: Option<&String>, target_at: Option<&String>) -> Option<Side> {
    match policy {
        Policy::SourceWins => Some(Side::Source),
        Policy::TargetWins => Some(Side::Target),
        Policy::Manual => None,
        // RFC 3339 in UTC compares as text; parse to be safe with offsets.
        Policy::NewestWins => Some(match (parse(source_at), parse(target_at)) {
            (Some(s), Some(t)) if t > s => Side::Target,
            (None, Some(_)) => Side::Target,
            _ => Side::Source,
        }),
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
        other => decide(other, None, None),
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
    source: Option<(&Fields, &Option<String>)>,
    target: Option<(&Fields, &Option<String>)>,
    flow: Flow,
    policies: &dyn Policies,
) -> Outcome {
    let mut out = Outcome::nothing();
    let mut to_source = Fields::new();
    let mut to_target = Fields::new();
    let mut names: Vec<&String> = base_source.keys().chain(base_target.keys()).collect();
    if let Some((s, _)) = source {
        names.extend(s.keys());
    }
    if let Some((t, _)) = target {
        names.extend(t.keys());
    }
    names.sort();
    names.dedup();
    for name in names {
        let old_s = base_source.get(name);
        let old_t = base_target.get(name);
        // A side that was not read still holds its base.
        let new_s = source.map_or(old_s, |(s, _)| s.get(name));
        let new_t = target.map_or(old_t, |(t, _)| t.get(name));
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
                let winner = decide(
                    policy,
                    source.and_then(|s| s.1.as_ref()),
                    target.and_then(|t| t.1.as_ref()),
                );
                out.conflicts.push(FieldConflict {
                    field: name.clone(),
                    base: old_s.cloned(),
                    source: new_s.cloned(),
                    target: new_t.cloned(),
                    policy,
                    winner,
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
        }
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
