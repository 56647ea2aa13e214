//! The check that a connector does not mistake an answer that proves
//! nothing for one that does. A fault proxy stands between the connector and
//! the platform and mangles one answer at a time:
//!
//! - a read answered in the wrong shape, or cut short, must be an error:
//!   read as an empty page it would make a full scan infer every record
//!   deleted, read as nulls it would sync nulls;
//! - a create the platform did, whose answer is cut short or of the wrong
//!   shape, must be `transient` (unknown outcome), never a confirmation and
//!   never a refusal: a refusal makes the host drop a write that landed, and
//!   the next run creates it again.

use synchost_sim::fault::{Fault, FaultProxy, Rule};

use super::{Ctx, Verdict};
use crate::runtime::{Capabilities, ConnectorError, RuntimeError, Session, WriteOp};

pub(super) async fn answers_that_prove_nothing(ctx: &Ctx) -> Result<Verdict, String> {
    if ctx.platform.is_replay() {
        return Ok(Verdict::Skipped(
            "a cassette has no platform to put faults in front of".into(),
        ));
    }
    let mut conn = ctx.platform.connection(&ctx.origin(), "faults");
    // The platform the connector reaches: where an override sends it, else
    // the origin it declares (a self-hosted one named by a setting).
    let declared =
        crate::runtime::policy::resolve_declared(&ctx.connector.descriptor.hosts, &conn.settings)?;
    let Some((origin, upstream)) = conn
        .endpoint_overrides
        .iter()
        .next()
        .map(|(o, u)| (o.clone(), u.clone()))
        .or_else(|| declared.first().map(|o| (o.clone(), o.clone())))
    else {
        return Ok(Verdict::Skipped(
            "the connector declares no host to reach".into(),
        ));
    };
    let proxy = FaultProxy::start(&upstream)
        .await
        .map_err(|e| e.to_string())?;
    conn.endpoint_overrides.insert(origin, proxy.base_url());
    conn.tape = None;
    let session = || async {
        ctx.runtime
            .session_with_secrets(
                &ctx.connector,
                &conn,
                ctx.platform.secrets(&ctx.secret_names),
            )
            .await
            .map_err(|e| e.to_string())
    };
    for (what, fault) in [
        ("in the wrong shape", Fault::WrongShape),
        ("cut short", Fault::Truncate),
    ] {
        proxy.clear();
        let mut s: Session = session().await?;
        proxy.add(Rule::new(None, "/", fault).times(1000));
        let outcome = s.read(&ctx.req(None, None)).await;
        if proxy.fired().is_empty() {
            return Ok(Verdict::Skipped(
                "no read request reached the platform".into(),
            ));
        }
        match outcome {
            Ok(page) => {
                return Err(format!(
                    "a read answered {what} gave a page of {} records, not an error",
                    page.records.len()
                ))
            }
            Err(RuntimeError::Connector { .. }) => {}
            Err(other) => return Err(format!("a read answered {what}: {other}")),
        }
    }
    if ctx.platform.read_only()
        || !ctx
            .connector
            .descriptor
            .capabilities
            .contains(Capabilities::WRITE)
    {
        return Ok(Verdict::Tested);
    }
    let entity = ctx.platform.entity().to_string();
    for (what, fault) in [
        ("cut short", Fault::Truncate),
        ("in the wrong shape", Fault::WrongShape),
    ] {
        proxy.clear();
        let mut s = session().await?;
        for method in ["POST", "PUT", "PATCH"] {
            proxy.add(Rule::new(Some(method), "/", fault.clone()).times(1000));
        }
        let outcome = s
            .write_results(&entity, &[WriteOp::Create(ctx.platform.new_fields())])
            .await;
        let error = match outcome {
            Ok(mut outcomes) => match outcomes.pop() {
                Some(Err(e)) => e,
                Some(Ok(w)) => {
                    return Err(format!(
                        "a create answered {what} was confirmed (id `{}`)",
                        w.id
                    ))
                }
                None => return Err("a create gave no outcome".into()),
            },
            Err(RuntimeError::Connector { error, .. }) => error,
            Err(other) => return Err(format!("a create answered {what}: {other}")),
        };
        if !matches!(
            error,
            ConnectorError::Transient(_) | ConnectorError::RateLimited(_)
        ) {
            return Err(format!(
                "a create answered {what} gave `{}`: an answer that proves nothing must be \
                 `transient` (the outcome is unknown), or the host drops a write that landed",
                crate::runtime::describe_error(&error)
            ));
        }
    }
    Ok(Verdict::Tested)
}
