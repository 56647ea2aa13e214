//! What the suite does differently on a real platform named by a connection:
//! it counts what is there instead of seeding, tops the entity up to more
//! than one page with records of its own so that resuming can be tested,
//! changes records only by creating them through the connector, and removes
//! every record it wrote when it ends, whatever the checks found.

use super::batches::variant;
use super::fixture::WHO;
use super::{Ctx, PAGE};
use crate::runtime::{DeleteOp, FieldValue, Record, Session, WriteOp};

/// Creates go out in calls of this many (the connector batches further).
const CALL: usize = 10;

/// The records a full read must find from now on: what is there, topped up
/// (unless read-only) to one more than a page.
pub(super) async fn baseline(ctx: &Ctx) -> anyhow::Result<usize> {
    let mut session = ctx.session().await?;
    let (records, _) = ctx
        .read_records(&mut session, None, None)
        .await
        .map_err(|e| anyhow::anyhow!("the first full read of `{}`: {e}", ctx.platform.entity()))?;
    let have = records.len();
    let want = PAGE as usize + 1;
    if ctx.platform.read_only() || have >= want {
        return Ok(have);
    }
    let fields = ctx.platform.new_fields();
    let missing: Vec<usize> = (have..want).collect();
    for chunk in missing.chunks(CALL) {
        let ops: Vec<WriteOp> = chunk
            .iter()
            .map(|n| WriteOp::Create(variant(&fields, 1000 + n)))
            .collect();
        let outcomes = session
            .write_results(ctx.platform.entity(), &ops)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "topping `{}` up to {want} records: {e}",
                    ctx.platform.entity()
                )
            })?;
        if let Some(Err(e)) = outcomes.iter().find(|o| o.is_err()) {
            anyhow::bail!(
                "topping `{}` up to {want} records: a create was refused: {}",
                ctx.platform.entity(),
                crate::runtime::describe_error(e)
            );
        }
    }
    tracing::info!(
        created = want - have,
        "the entity topped up with the suite's records"
    );
    Ok(want)
}

/// The incremental check's change: a record created through the connector.
pub(super) async fn change_one(ctx: &Ctx, session: &mut Session) -> Result<String, String> {
    let fields = variant(&ctx.platform.new_fields(), 2000);
    let outcomes = session
        .write_results(ctx.platform.entity(), &[WriteOp::Create(fields)])
        .await
        .map_err(|e| format!("creating the record the incremental read must find: {e}"))?;
    match outcomes.into_iter().next() {
        Some(Ok(w)) => {
            ctx.platform.note_edit(&w.id);
            Ok(w.id)
        }
        Some(Err(e)) => Err(format!(
            "creating the record the incremental read must find: {}",
            crate::runtime::describe_error(&e)
        )),
        None => Err("a create gave no outcome".into()),
    }
}

fn written_by_the_suite(record: &Record) -> bool {
    record
        .fields
        .iter()
        .any(|f| matches!(&f.value, FieldValue::Text(t) if t.starts_with(WHO)))
}

/// Deletes every record whose text says the suite wrote it: those the checks
/// made, those a fault left behind, and any an earlier run could not remove.
pub(super) async fn clean_up(ctx: &Ctx, live: bool) {
    let result: Result<usize, String> = async {
        let mut session = ctx.session().await.map_err(|e| e.to_string())?;
        let (records, _) = ctx.read_records(&mut session, None, None).await?;
        let ours: Vec<String> = records
            .iter()
            .filter(|r| written_by_the_suite(r))
            .map(|r| r.id.clone())
            .collect();
        let mut left = Vec::new();
        for chunk in ours.chunks(CALL) {
            let ops: Vec<WriteOp> = chunk
                .iter()
                .map(|id| {
                    WriteOp::Delete(DeleteOp {
                        id: id.clone(),
                        expected_version: None,
                    })
                })
                .collect();
            let outcomes = session
                .write_results(ctx.platform.entity(), &ops)
                .await
                .map_err(|e| e.to_string())?;
            for (id, outcome) in chunk.iter().zip(&outcomes) {
                if outcome.is_err() {
                    left.push(id.clone());
                }
            }
        }
        if !left.is_empty() {
            return Err(format!("these were not deleted: {}", left.join(", ")));
        }
        Ok(ours.len())
    }
    .await;
    match result {
        Ok(_) if !live => {}
        Ok(n) => eprintln!("removed the {n} records the suite wrote"),
        Err(e) => eprintln!(
            "warning: the records the suite wrote (text beginning \"{WHO}\") could not all be removed: {e}"
        ),
    }
}
