//! Records new on one side: matched to the other side's new records by the
//! job's key (or, when recovering from a crash, by their whole content)
//! before anything is created, so a first sync of two filled tables pairs
//! what both hold instead of duplicating it.

use std::collections::{BTreeMap, BTreeSet};

use crate::core::merge::{self, Action, Now, Side};
use crate::core::value::{content_hash, Fields, Value};
use crate::state::Shadow;

use super::{New, Plan, Planner};

impl Planner<'_> {
    /// Plans records new on either side: each new source record matched to
    /// an untaken new target record by key, or created on the target; with
    /// `create_unmatched`, each new target record left unmatched is created
    /// on the source (else it waits for a later batch). Returns the target
    /// records matched.
    pub(super) fn plan_new(
        &self,
        plan: &mut Plan,
        new_source: Vec<New>,
        new_target: Vec<New>,
        create_unmatched: bool,
    ) -> Vec<String> {
        let empty = Shadow {
            target_id: String::new(),
            source: Fields::new(),
            target: Fields::new(),
            source_hash: String::new(),
            target_hash: String::new(),
            synced_at: String::new(),
            source_version: None,
            target_version: None,
        };
        let mut unmatched_target: BTreeMap<String, (Fields, Option<String>, Option<String>)> =
            new_target
                .into_iter()
                .map(|(id, fields, version, at)| (id, (fields, version, at)))
                .collect();
        let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (tid, (fields, _, _)) in &unmatched_target {
            for k in self.keys(fields) {
                by_key.entry(k).or_default().push(tid.clone());
            }
        }
        let mut taken = BTreeSet::new();
        for (sid, fields, source_version, source_at) in new_source {
            plan.source_changes.added += 1;
            let found = self.keys(&fields).into_iter().find_map(|k| {
                by_key
                    .get(&k)
                    .and_then(|ids| ids.iter().find(|t| !taken.contains(*t)).cloned())
            });
            match found {
                Some(tid) => {
                    taken.insert(tid.clone());
                    let (tfields, target_version, target_at) =
                        unmatched_target.remove(&tid).unwrap_or_default();
                    plan.target_changes.added += 1;
                    // First sight of an existing pair: no base, so every
                    // difference is a conflict decided by policy.
                    let outcome = merge::merge(
                        &Fields::new(),
                        &Fields::new(),
                        &Now::Changed {
                            fields: fields.clone(),
                            updated_at: source_at,
                            observed_at: Some(self.observed_at(Side::Source, &sid)),
                        },
                        &Now::Changed {
                            fields: tfields.clone(),
                            updated_at: target_at,
                            observed_at: Some(self.observed_at(Side::Target, &tid)),
                        },
                        self.flow,
                        self.policies,
                    );
                    plan.add_conflicts(&sid, &tid, &outcome.conflicts);
                    let (on_s, on_t) = if outcome.parked {
                        (Action::None, Action::None)
                    } else {
                        (outcome.source, outcome.target)
                    };
                    self.apply(
                        plan,
                        Some(sid),
                        Some(tid),
                        fields,
                        tfields,
                        on_s,
                        on_t,
                        false,
                        None,
                        &empty,
                        (source_version, target_version),
                    );
                }
                None if self.flow.to_target => self.apply(
                    plan,
                    Some(sid),
                    None,
                    fields.clone(),
                    Fields::new(),
                    Action::None,
                    Action::Recreate(fields),
                    false,
                    None,
                    &empty,
                    (source_version, None),
                ),
                None => {}
            }
        }
        if !create_unmatched {
            return taken.into_iter().collect();
        }
        for (tid, (fields, target_version, _)) in unmatched_target {
            plan.target_changes.added += 1;
            if self.flow.to_source {
                self.apply(
                    plan,
                    None,
                    Some(tid),
                    Fields::new(),
                    fields.clone(),
                    Action::Recreate(fields),
                    Action::None,
                    false,
                    None,
                    &empty,
                    (None, target_version),
                );
            }
        }
        taken.into_iter().collect()
    }

    /// What a new record is matched by: the job's key, and after a crash its whole content.
    pub(super) fn keys(&self, fields: &Fields) -> Vec<String> {
        let mut keys = Vec::new();
        if let Some(name) = &self.match_key {
            if let Some(v) = fields.get(name) {
                let text = match v.normalized() {
                    Value::Text(s) | Value::Select(s) => s.to_lowercase(),
                    Value::Null => String::new(),
                    other => serde_json::to_string(&other).unwrap_or_default(),
                };
                if !text.is_empty() {
                    keys.push(format!("key:{text}"));
                }
            }
        }
        if self.recovering {
            keys.push(format!("hash:{}", content_hash(fields)));
        }
        keys
    }
}
