//! Directus' error answers.
//!
//! Errors (https://docs.directus.io/reference/introduction.html#errors, and
//! "Error Codes", https://directus.io/docs/guides/connect/errors): the body is
//! `{"errors":[{"message":..,"extensions":{"code":..}}]}`, the code one of
//! the global codes (FAILED_VALIDATION 400, FORBIDDEN 403, INVALID_TOKEN 403,
//! TOKEN_EXPIRED 401, INVALID_CREDENTIALS 401, INVALID_PAYLOAD 400,
//! INVALID_QUERY 400, REQUESTS_EXCEEDED 429, ROUTE_NOT_FOUND 404,
//! SERVICE_UNAVAILABLE 503, ...). "To prevent revealing which items exist,
//! all actions for non-existing items will return a FORBIDDEN error." The
//! messages are the ones `@directus/errors` builds; any extra extensions
//! (`reason`, `field`, `limit`, ...) sit next to `code`, as Directus' error
//! handler spreads them there.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

/// An error answer: its status, one or more entries of `errors`, and the
/// `Retry-After` of a 429.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub errors: Vec<Value>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// One error with `extensions` (an object) next to its code.
    pub fn with(status: u16, code: &str, message: impl Into<String>, extensions: Value) -> Self {
        let mut ext = Map::new();
        ext.insert("code".into(), json!(code));
        if let Value::Object(more) = extensions {
            ext.extend(more);
        }
        ApiError {
            status,
            errors: vec![json!({"message": message.into(), "extensions": ext})],
            retry_after: None,
        }
    }

    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self::with(status, code, message, Value::Null)
    }

    /// The code of the first error.
    pub fn code(&self) -> &str {
        self.errors[0]["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
    }

    pub fn message(&self) -> &str {
        self.errors[0]["message"].as_str().unwrap_or_default()
    }

    /// `ForbiddenError()`: "You don't have permission to access this." It is
    /// also the answer for a collection or item that does not exist.
    pub fn forbidden() -> Self {
        Self::new(
            403,
            "FORBIDDEN",
            "You don't have permission to access this.",
        )
    }

    /// `ForbiddenError({reason})`: the reason is the message.
    pub fn forbidden_because(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self::with(
            403,
            "FORBIDDEN",
            reason.clone(),
            json!({ "reason": reason }),
        )
    }

    /// What reading a field that does not exist answers (the permissions
    /// module's `validatePathExistence`, admins included).
    pub fn no_such_field(collection: &str, field: &str) -> Self {
        Self::forbidden_because(format!(
            "You don't have permission to access field \"{field}\" in collection \"{collection}\" \
             or it does not exist. Queried in root."
        ))
    }

    /// `InvalidPayloadError({reason})`: "Invalid payload. {reason}."
    pub fn invalid_payload(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        let message = format!("Invalid payload. {reason}.");
        Self::with(400, "INVALID_PAYLOAD", message, json!({ "reason": reason }))
    }

    /// `InvalidQueryError({reason})`: "Invalid query. {reason}."
    pub fn invalid_query(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        let message = format!("Invalid query. {reason}.");
        Self::with(400, "INVALID_QUERY", message, json!({ "reason": reason }))
    }

    /// A static token no user has.
    pub fn invalid_credentials() -> Self {
        Self::new(401, "INVALID_CREDENTIALS", "Invalid user credentials.")
    }

    /// A Directus JWT whose `exp` has passed.
    pub fn token_expired() -> Self {
        Self::new(401, "TOKEN_EXPIRED", "Token expired.")
    }

    /// A Directus JWT whose signature does not verify.
    pub fn invalid_token() -> Self {
        Self::new(403, "INVALID_TOKEN", "Invalid token.")
    }

    pub fn route_not_found(path: &str) -> Self {
        let message = format!("Route {path} doesn't exist.");
        Self::with(404, "ROUTE_NOT_FOUND", message, json!({ "path": path }))
    }

    /// `RecordNotUniqueError`: 'Value "v" for field "f" in collection "c" has to be unique.'
    pub fn not_unique(collection: &str, field: &str, value: &str, primary_key: bool) -> Self {
        let message =
            format!("Value \"{value}\" for field \"{field}\" in collection \"{collection}\" has to be unique.");
        let mut ext = json!({"collection": collection, "field": field, "value": value});
        if primary_key {
            ext["primaryKey"] = json!(true);
        }
        Self::with(400, "RECORD_NOT_UNIQUE", message, ext)
    }

    /// `FailedValidationError`: `type` is `required` or `nnull` here.
    pub fn failed_validation(field: &str, kind: &str) -> Self {
        let what = match kind {
            "required" => " Value is required.",
            "nnull" => " Value can't be null.",
            _ => "",
        };
        let message = format!("Validation failed for field \"{field}\".{what}");
        let ext = json!({"field": field, "type": kind, "path": []});
        Self::with(400, "FAILED_VALIDATION", message, ext)
    }

    /// The rate limiter's answer (`HitRateLimitError`): "Too many requests,
    /// retry after {ms(msBeforeNext)}.", with `Retry-After` set to
    /// `Math.round(msBeforeNext / 1000)` seconds, as the limiter middleware
    /// sets it (which can be 0).
    pub fn requests_exceeded(limit: u32, ms_before_next: u64, reset: &str) -> Self {
        let message = format!(
            "Too many requests, retry after {}.",
            ms_text(ms_before_next)
        );
        let mut e = Self::with(
            429,
            "REQUESTS_EXCEEDED",
            message,
            json!({"limit": limit, "reset": reset}),
        );
        e.retry_after = Some((ms_before_next + 500) / 1000);
        e
    }

    /// What a non-Directus failure is answered with.
    pub fn internal() -> Self {
        Self::new(
            500,
            "INTERNAL_SERVER_ERROR",
            "An unexpected error occurred.",
        )
    }

    /// Several errors in one answer (Directus reports every failed
    /// validation of a payload at once).
    pub fn merge(errors: Vec<ApiError>) -> Self {
        let status = errors.first().map_or(500, |e| e.status);
        ApiError {
            status,
            errors: errors.into_iter().flat_map(|e| e.errors).collect(),
            retry_after: None,
        }
    }

    pub fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, axum::Json(json!({ "errors": self.errors }))).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// A duration as the `ms` package prints it in short form: "500ms", "2s",
/// "3m", "1h", "2d" (rounded to the largest unit that fits).
pub fn ms_text(ms: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    for (size, unit) in UNITS {
        if ms >= size {
            return format!("{}{unit}", (ms + size / 2) / size);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_carry_the_code_next_to_the_extensions() {
        let e = ApiError::invalid_payload("Field \"x\" doesn't exist");
        assert_eq!(e.status, 400);
        assert_eq!(e.code(), "INVALID_PAYLOAD");
        assert_eq!(e.message(), "Invalid payload. Field \"x\" doesn't exist.");
        assert_eq!(
            e.errors[0]["extensions"]["reason"],
            "Field \"x\" doesn't exist"
        );
        let e = ApiError::not_unique("tasks", "id", "3", true);
        assert_eq!(
            e.message(),
            "Value \"3\" for field \"id\" in collection \"tasks\" has to be unique."
        );
    }

    #[test]
    fn rate_limit_message_and_retry_after_round_as_directus_does() {
        assert_eq!(ms_text(400), "400ms");
        assert_eq!(ms_text(1500), "2s");
        assert_eq!(ms_text(90_000), "2m");
        let e = ApiError::requests_exceeded(5, 400, "2024-01-01T00:00:00.000Z");
        assert_eq!(e.retry_after, Some(0));
        assert_eq!(e.message(), "Too many requests, retry after 400ms.");
        assert_eq!(
            ApiError::requests_exceeded(5, 1600, "").retry_after,
            Some(2)
        );
    }
}
