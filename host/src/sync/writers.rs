//! The instances a side's write calls go through, and a side's calls in
//! order: what lets several calls be in flight while creates still come
//! before updates, and updates before deletes.

use std::collections::VecDeque;

use crate::core::merge::Side;
use crate::runtime::{RuntimeError, Session, WriteOp, WriteOutcome};

use super::plan::OpKind;

/// An instance a write call goes through: the side's own session, written
/// through in the pushing task, or a spare, moved into a task of its own.
pub(super) enum Writer<'s> {
    Own(&'s mut Session),
    Spare(Box<Session>),
}

pub(super) type Answered<'s> = (Option<Writer<'s>>, Result<Vec<WriteOutcome>, RuntimeError>);

impl<'s> Writer<'s> {
    /// Sends one call; the future gives the writer back with the answer
    /// (none when the spare's task died, taking the instance with it).
    pub(super) fn write(
        self,
        connector: &str,
        entity: &str,
        ops: Vec<WriteOp>,
    ) -> futures_util::future::BoxFuture<'s, Answered<'s>> {
        let entity = entity.to_string();
        match self {
            Writer::Own(session) => Box::pin(async move {
                let answer = session.write(&entity, &ops).await;
                (Some(Writer::Own(session)), answer)
            }),
            Writer::Spare(mut session) => {
                let connector = connector.to_string();
                let task = tokio::spawn(async move {
                    let answer = session.write(&entity, &ops).await;
                    (session, answer)
                });
                Box::pin(async move {
                    match task.await {
                        Ok((session, answer)) => (Some(Writer::Spare(session)), answer),
                        Err(e) => (
                            None,
                            Err(RuntimeError::Trap {
                                connector,
                                call: "write".into(),
                                detail: format!("the call's task ended: {e}"),
                            }),
                        ),
                    }
                })
            }
        }
    }
}

/// One side's calls: those still to send (creates, then updates, then
/// deletes), its idle instances, and how many calls of which kind are out.
pub(super) struct Lane<'s> {
    pub side: Side,
    pub connector: String,
    pub entity: String,
    pub queue: VecDeque<(OpKind, Vec<usize>)>,
    pub idle: Vec<Writer<'s>>,
    pub out: usize,
    pub kind: OpKind,
}
