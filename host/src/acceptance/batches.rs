//! The check that each op of a write batch gets its own true outcome. A
//! platform may accept or refuse a batch as a whole (Airtable's batches of
//! 10 do); a connector that hands the batch's error to every op in it tells
//! the host that records were deleted that were not, or refuses good writes
//! for the sake of one bad one. A platform may also answer a batch of creates
//! in any order and without naming which input each result is for (HubSpot's
//! echo of `objectWriteTraceId` is optional): a connector that pairs results
//! with ops by position reports a create that landed as failed, or pairs a
//! record with the wrong op. So: each create's id must hold what that create
//! wrote; a create the platform refuses must not take down the one beside it;
//! a batch mixing an op on a record that is gone with ops on live records must
//! leave the live ones done and say so.

use super::{writes_allowed, Ctx, Verdict};
use crate::runtime::{ConnectorError, DeleteOp, Field, FieldValue, UpdateOp, WriteOp, Written};

/// `fields` made distinct for record `n`: a text value gets ` n`, an
/// e-mail address a `+n` tag (platforms keep e-mails unique).
pub(super) fn variant(fields: &[Field], n: usize) -> Vec<Field> {
    fields
        .iter()
        .map(|f| Field {
            name: f.name.clone(),
            value: match &f.value {
                FieldValue::Text(t) => FieldValue::Text(match t.split_once('@') {
                    Some((user, domain)) => format!("{user}+{n}@{domain}"),
                    None => format!("{t} {n}"),
                }),
                other => other.clone(),
            },
        })
        .collect()
}

fn outcome_text(o: &Result<Written, ConnectorError>) -> String {
    match o {
        Ok(w) => format!("confirmed ({})", w.id),
        Err(e) => crate::runtime::describe_error(e),
    }
}

pub(super) async fn each_op_its_own_outcome(ctx: &Ctx) -> Result<Verdict, String> {
    if let Some(skip) = writes_allowed(ctx) {
        return skip;
    }
    let mut session = ctx.session().await.map_err(|e| e.to_string())?;
    let entity = ctx.platform.entity().to_string();
    let fields = ctx.platform.new_fields();
    macro_rules! write {
        ($ops:expr) => {
            session
                .write_results(&entity, &$ops)
                .await
                .map_err(|e| e.to_string())
        };
    }

    // Three creates in one call: three confirmations, three records.
    let ops: Vec<WriteOp> = (1..=3)
        .map(|n| WriteOp::Create(variant(&fields, n)))
        .collect();
    let created = write!(ops)?;
    let mut ids = Vec::new();
    for (n, outcome) in created.iter().enumerate() {
        match outcome {
            Ok(w) if !w.id.is_empty() && !ids.contains(&w.id) => ids.push(w.id.clone()),
            other => {
                return Err(format!(
                    "create {} of a batch of 3: {}",
                    n + 1,
                    outcome_text(other)
                ))
            }
        }
    }
    let (records, _) = ctx.read_records(&mut session, None, None).await?;
    for (n, id) in ids.iter().enumerate() {
        let wrote = variant(&fields, n + 1);
        let Some(record) = records.iter().find(|r| &r.id == id) else {
            return Err(format!(
                "create {} answered id {id}, which is not read back",
                n + 1
            ));
        };
        for f in wrote
            .iter()
            .filter(|f| matches!(f.value, FieldValue::Text(_)))
        {
            let held = record.fields.iter().find(|g| g.name == f.name);
            if held.map(|g| &g.value) != Some(&f.value) {
                return Err(format!(
                    "create {} of a batch of 3 answered id {id}, but that record holds {} = {:?}, not the {:?} that create wrote: results were paired with the wrong ops",
                    n + 1,
                    f.name,
                    held.map(|g| &g.value),
                    f.value
                ));
            }
        }
    }

    // A create the platform refuses (a field the entity does not have) beside
    // a good one: the good one lands and is confirmed.
    let mut bad = variant(&fields, 7);
    bad.push(Field {
        name: "No such field (acceptance)".into(),
        value: FieldValue::Text("x".into()),
    });
    let mixed = write!([WriteOp::Create(variant(&fields, 6)), WriteOp::Create(bad)])?;
    let good = match &mixed[0] {
        Ok(w) if !w.id.is_empty() => w.id.clone(),
        other => {
            return Err(format!(
                "a good create, in a batch with one the platform refuses, got `{}`: each op must get its own outcome",
                outcome_text(other)
            ))
        }
    };
    let mut cleanup = vec![good];
    // A platform that ignores unknown fields takes the second one too.
    if let Ok(w) = &mixed[1] {
        cleanup.push(w.id.clone());
    }
    let ops = cleanup
        .iter()
        .map(|id| {
            WriteOp::Delete(DeleteOp {
                id: id.clone(),
                expected_version: None,
            })
        })
        .collect::<Vec<_>>();
    for (id, outcome) in cleanup.iter().zip(write!(ops)?) {
        if let Err(e) = outcome {
            return Err(format!(
                "delete of {id}: {}",
                crate::runtime::describe_error(&e)
            ));
        }
    }

    let (gone, live_b, live_c) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    if let Err(e) = &write!([WriteOp::Delete(DeleteOp {
        id: gone.clone(),
        expected_version: None,
    })])?[0]
    {
        return Err(format!("delete: {}", crate::runtime::describe_error(e)));
    }

    // An update of a record that is gone, beside one of a live record.
    let updated = write!([
        WriteOp::Update(UpdateOp {
            id: gone.clone(),
            expected_version: None,
            fields: variant(&fields, 4),
        }),
        WriteOp::Update(UpdateOp {
            id: live_c.clone(),
            expected_version: None,
            fields: variant(&fields, 5),
        }),
    ])?;
    if updated[0].is_ok() {
        return Err(format!(
            "an update of record {gone}, deleted before, was confirmed"
        ));
    }
    if let Err(e) = &updated[1] {
        return Err(format!(
            "an update of live record {live_c}, in a batch with one of a deleted record, got `{}`: each op must get its own outcome",
            crate::runtime::describe_error(e)
        ));
    }

    // A delete of the record that is gone, beside deletes of live ones.
    let ops: Vec<WriteOp> = [&gone, &live_b, &live_c]
        .iter()
        .map(|id| {
            WriteOp::Delete(DeleteOp {
                id: id.to_string(),
                expected_version: None,
            })
        })
        .collect();
    let deleted = write!(ops)?;
    let (ids_now, _) = ctx.read_all(&mut session, None, None).await?;
    for (id, outcome) in [(&live_b, &deleted[1]), (&live_c, &deleted[2])] {
        let still_there = ids_now.contains(id);
        // `not-found` counts as done for a delete: it must be true.
        let says_done = matches!(outcome, Ok(_) | Err(ConnectorError::NotFound(_)));
        if says_done && still_there {
            return Err(format!(
                "a delete batch holding a record already gone answered `{}` for live record {id}, which is still there: the host would record a delete that did not happen",
                outcome_text(outcome)
            ));
        }
        if !says_done {
            return Err(format!(
                "a delete of live record {id}, in a batch with one of a deleted record, got `{}`: each op must get its own outcome",
                outcome_text(outcome)
            ));
        }
    }
    Ok(Verdict::Tested)
}
