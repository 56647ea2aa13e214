//! URLs and query strings for Airtable's Web API: percent-encoding, the list
//! request with its incremental `filterByFormula`, and the batch delete.
//!
//! Pure functions only: nothing here sends a request.

/// The origin every request goes to. The host may redirect it (to a
/// simulator, in tests); the connector never takes a base URL.
pub const ORIGIN: &str = "https://api.airtable.com";

/// The most records Airtable returns in one list page.
pub const MAX_PAGE_SIZE: u32 = 100;

/// Percent-encoding for query values (shared by every connector, in the SDK).
pub use synchost_sdk::http::encode;

/// Joins `(name, value)` pairs into a query string, both sides encoded.
pub fn query_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `GET` here lists the base's tables with their fields.
pub fn meta_url(base: &str) -> String {
    format!("{ORIGIN}/v0/meta/bases/{}/tables", encode(base))
}

/// The records of `table` (a name or an id).
pub fn records_url(base: &str, table: &str) -> String {
    format!("{ORIGIN}/v0/{}/{}", encode(base), encode(table))
}

/// One record of `table`.
pub fn record_url(base: &str, table: &str, id: &str) -> String {
    format!("{}/{}", records_url(base, table), encode(id))
}

/// The page size to ask for: the request's, at most 100; 100 when it is 0.
pub fn page_size(requested: u32) -> u32 {
    match requested {
        0 => MAX_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    }
}

/// A formula selecting the records modified at or after `since`.
///
/// `IS_AFTER` is strict, so "on or after" is written as "not before". The
/// timestamp is quoted as a formula string literal, with `\` and `'` escaped
/// so that a checkpoint can never change the formula's meaning.
pub fn since_formula(since: &str) -> String {
    format!("NOT(IS_BEFORE(LAST_MODIFIED_TIME(), {}))", literal(since))
}

/// The list request for one page of `table`.
pub fn list_url(
    base: &str,
    table: &str,
    page_size: u32,
    offset: Option<&str>,
    since: Option<&str>,
) -> String {
    let size = page_size.to_string();
    let formula = since.map(since_formula);
    let mut pairs = vec![("pageSize", size.as_str())];
    if let Some(offset) = offset {
        pairs.push(("offset", offset));
    }
    if let Some(formula) = formula.as_deref() {
        pairs.push(("filterByFormula", formula));
    }
    format!("{}?{}", records_url(base, table), query_string(pairs))
}

/// A formula string literal: `\` and `'` escaped, so that no value can
/// change the formula's meaning.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// One page of the records of `table` created at or after `since`
/// (`CREATED_TIME()`: "the date and time a given record was created").
pub fn created_since_url(base: &str, table: &str, since: &str, offset: Option<&str>) -> String {
    let formula = format!("NOT(IS_BEFORE(CREATED_TIME(), {}))", literal(since));
    let size = MAX_PAGE_SIZE.to_string();
    let mut pairs = vec![("pageSize", size.as_str())];
    if let Some(offset) = offset {
        pairs.push(("offset", offset));
    }
    pairs.push(("filterByFormula", formula.as_str()));
    format!("{}?{}", records_url(base, table), query_string(pairs))
}

/// `POST` here refreshes webhook `webhook` of `base`
/// (https://airtable.com/developers/web/api/refresh-a-webhook).
pub fn webhook_refresh_url(base: &str, webhook: &str) -> String {
    format!(
        "{ORIGIN}/v0/bases/{}/webhooks/{}/refresh",
        encode(base),
        encode(webhook)
    )
}

/// The batch delete of `ids` (at most 10): `records[]=..&records[]=..`.
pub fn delete_url(base: &str, table: &str, ids: &[&str]) -> String {
    let query = query_string(ids.iter().map(|id| ("records[]", *id)));
    format!("{}?{}", records_url(base, table), query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_keeps_unreserved_and_escapes_the_rest() {
        assert_eq!(encode("abc-XYZ_0.9~"), "abc-XYZ_0.9~");
        assert_eq!(encode("My Table/2"), "My%20Table%2F2");
        assert_eq!(encode("a&b=c?d#e+f"), "a%26b%3Dc%3Fd%23e%2Bf");
        assert_eq!(encode("records[]"), "records%5B%5D");
        assert_eq!(encode("'quoted'"), "%27quoted%27");
    }

    #[test]
    fn encode_escapes_utf8_bytewise() {
        assert_eq!(encode("Tâches"), "T%C3%A2ches");
        assert_eq!(encode("✓"), "%E2%9C%93");
    }

    #[test]
    fn page_size_is_capped_at_100_and_defaults_to_100() {
        assert_eq!(page_size(0), 100);
        assert_eq!(page_size(25), 25);
        assert_eq!(page_size(100), 100);
        assert_eq!(page_size(500), 100);
    }

    #[test]
    fn since_formula_is_inclusive() {
        assert_eq!(
            since_formula("2024-05-01T10:00:00.000Z"),
            "NOT(IS_BEFORE(LAST_MODIFIED_TIME(), '2024-05-01T10:00:00.000Z'))"
        );
    }

    #[test]
    fn since_formula_escapes_quotes_and_backslashes() {
        assert_eq!(
            since_formula(r"x') & TRUE() & ('\"),
            r"NOT(IS_BEFORE(LAST_MODIFIED_TIME(), 'x\') & TRUE() & (\'\\'))"
        );
    }

    #[test]
    fn list_url_first_page_of_a_full_scan() {
        assert_eq!(
            list_url("appBASE", "Tasks", 100, None, None),
            "https://api.airtable.com/v0/appBASE/Tasks?pageSize=100"
        );
    }

    #[test]
    fn list_url_encodes_table_offset_and_formula() {
        let url = list_url(
            "appBASE",
            "My Tasks",
            20,
            Some("itrABC/recXYZ"),
            Some("2024-05-01T10:00:00.000Z"),
        );
        assert_eq!(
            url,
            "https://api.airtable.com/v0/appBASE/My%20Tasks?pageSize=20\
             &offset=itrABC%2FrecXYZ\
             &filterByFormula=NOT%28IS_BEFORE%28LAST_MODIFIED_TIME%28%29%2C%20\
             %272024-05-01T10%3A00%3A00.000Z%27%29%29"
        );
    }

    #[test]
    fn created_since_url_filters_on_creation_time() {
        assert_eq!(
            created_since_url("appB", "Tasks", "2024-05-01T00:09:00Z", Some("itr1/rec2")),
            "https://api.airtable.com/v0/appB/Tasks?pageSize=100&offset=itr1%2Frec2\
             &filterByFormula=NOT%28IS_BEFORE%28CREATED_TIME%28%29%2C%20%272024-05-01T00%3A09%3A00Z%27%29%29"
        );
    }

    #[test]
    fn webhook_refresh_url_names_base_and_webhook() {
        assert_eq!(
            webhook_refresh_url("appB", "achW"),
            "https://api.airtable.com/v0/bases/appB/webhooks/achW/refresh"
        );
    }

    #[test]
    fn delete_url_repeats_records_param() {
        assert_eq!(
            delete_url("appB", "tblT", &["rec1", "rec2"]),
            "https://api.airtable.com/v0/appB/tblT?records%5B%5D=rec1&records%5B%5D=rec2"
        );
    }

    #[test]
    fn meta_and_record_urls() {
        assert_eq!(
            meta_url("appB"),
            "https://api.airtable.com/v0/meta/bases/appB/tables"
        );
        assert_eq!(
            record_url("appB", "Tasks", "rec1"),
            "https://api.airtable.com/v0/appB/Tasks/rec1"
        );
    }
}
