//! Keeping the job's webhook alive. Create a webhook
//! (https://airtable.com/developers/web/api/create-a-webhook): "Each webhook
//! created with OAuth or personal access token will expire and be disabled
//! after 7 days. The webhook life can be extended while it is still active by
//! calling refresh webhook or list webhook payloads." Refresh a webhook
//! (https://airtable.com/developers/web/api/refresh-a-webhook):
//! `POST /v0/bases/{baseId}/webhooks/{webhookId}/refresh` answers
//! `{"expirationTime": ..}`, "7 days after the refresh time".
//!
//! The connector refreshes the webhook named by `webhook_id` at the first
//! read of a run (a session): runs come far more often than once a week. A
//! refresh that fails never fails the read (polling goes on whatever the
//! webhook does); it is logged, and the next run tries again.

use serde_json::Value;
use synchost_sdk::ConnectorError;

use crate::api::Call;
use crate::query;

/// The setting naming the webhook to keep alive.
pub const WEBHOOK_SETTING: &str = "webhook_id";

/// Refreshes webhook `webhook` of `base`; the log line saying what happened,
/// `Err` when it is a warning.
pub fn refresh(
    base: &str,
    webhook: &str,
    send: &mut dyn FnMut(Call) -> Result<Value, ConnectorError>,
) -> Result<String, String> {
    let call = Call {
        method: "POST",
        url: query::webhook_refresh_url(base, webhook),
        body: None,
    };
    match send(call) {
        Ok(body) => Ok(match body.get("expirationTime").and_then(Value::as_str) {
            Some(at) => format!("Airtable webhook {webhook} refreshed: it now expires at {at}"),
            None => format!("Airtable webhook {webhook} refreshed: it has no expiration time"),
        }),
        Err(err) => Err(format!(
            "Airtable webhook {webhook} of base {base} could not be refreshed ({err}). A webhook \
             expires and is disabled 7 days after its creation or last refresh, and cannot be \
             refreshed then: if it has, create another (POST /v0/bases/{base}/webhooks) and set \
             `{WEBHOOK_SETTING}` to its id. The token needs the scope `webhook:manage` and \
             creator access to the base. Changes are still read on schedule."
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refresh_posts_to_the_webhook_and_reports_the_new_expiration() {
        let mut calls = Vec::new();
        let line = refresh("appB", "achW", &mut |call: Call| {
            calls.push(call);
            Ok(json!({"expirationTime": "2024-05-08T00:00:00.000Z"}))
        });
        assert_eq!(
            line.unwrap(),
            "Airtable webhook achW refreshed: it now expires at 2024-05-08T00:00:00.000Z"
        );
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].method, "POST");
        assert_eq!(
            calls[0].url,
            "https://api.airtable.com/v0/bases/appB/webhooks/achW/refresh"
        );
    }

    #[test]
    fn a_failed_refresh_is_a_warning_saying_what_to_do() {
        let line = refresh("appB", "achW", &mut |_| {
            Err(ConnectorError::InvalidInput(
                "Airtable HTTP 422: not active".into(),
            ))
        })
        .unwrap_err();
        assert!(
            line.contains("achW") && line.contains("not active"),
            "{line}"
        );
        assert!(
            line.contains("`webhook_id`") && line.contains("webhook:manage"),
            "{line}"
        );
    }
}
