//! What one request may hold, as Notion documents it (Request limits: Size
//! limits, https://developers.notion.com/reference/request-limits), checked
//! before anything is sent: a value the platform cannot hold is refused with
//! `invalid-input` naming the property and the limit, never cut short.
//!
//! Lengths are counted as Notion counts them: in UTF-16 code units (the API
//! validates a string's JavaScript `length`; its refusal reads "text.content.
//! length should be ≤ `2000`, instead was `2001`"), so a character outside
//! the Basic Multilingual Plane, most emoji, counts twice.

/// "Rich text object | text.content | 2000 characters"
pub const TEXT_CONTENT_MAX: usize = 2000;
/// "Any array of rich text objects | 100 elements"
pub const RICH_TEXT_ITEMS_MAX: usize = 100;
/// "Any URL | 2000 characters"
pub const URL_MAX: usize = 2000;
/// "Any email | 200 characters"
pub const EMAIL_MAX: usize = 200;
/// "Any phone number | 200 characters"
pub const PHONE_MAX: usize = 200;
/// "Any multi-select | 100 options"
pub const MULTI_SELECT_MAX: usize = 100;
/// "Any relation | 100 related pages"
pub const RELATION_MAX: usize = 100;
/// "Any people | 100 users"
pub const PEOPLE_MAX: usize = 100;

/// A string's length as Notion counts it: UTF-16 code units.
pub fn js_length(s: &str) -> usize {
    s.encode_utf16().count()
}

/// `text` cut into pieces of at most [`TEXT_CONTENT_MAX`] UTF-16 code units,
/// each cut between two characters (never inside a surrogate pair).
pub fn text_chunks(text: &str) -> Vec<&str> {
    let mut chunks = Vec::new();
    let (mut start, mut units) = (0, 0);
    for (at, c) in text.char_indices() {
        if units + c.len_utf16() > TEXT_CONTENT_MAX {
            chunks.push(&text[start..at]);
            (start, units) = (at, 0);
        }
        units += c.len_utf16();
    }
    if start < text.len() {
        chunks.push(&text[start..]);
    }
    chunks
}

/// The text objects `text` needs, or why Notion cannot hold it.
pub fn checked_text_chunks(text: &str) -> Result<Vec<&str>, String> {
    let chunks = text_chunks(text);
    if chunks.len() > RICH_TEXT_ITEMS_MAX {
        return Err(format!(
            "Notion holds at most {RICH_TEXT_ITEMS_MAX} text objects of {TEXT_CONTENT_MAX} \
             UTF-16 code units in one rich text value ({} units); this text has {} units \
             (Request limits: Size limits)",
            RICH_TEXT_ITEMS_MAX * TEXT_CONTENT_MAX,
            js_length(text)
        ));
    }
    Ok(chunks)
}

/// Refuses a string longer than `max` UTF-16 code units.
pub fn check_length(what: &str, s: &str, max: usize) -> Result<(), String> {
    let n = js_length(s);
    if n > max {
        return Err(format!(
            "Notion holds at most {max} characters (UTF-16 code units) in {what}; this one \
             has {n} (Request limits: Size limits)"
        ));
    }
    Ok(())
}

/// Refuses a list of more than `max` items (`items` names them: "related
/// pages", "users", "options").
pub fn check_count(items: &str, n: usize, max: usize) -> Result<(), String> {
    if n > max {
        return Err(format!(
            "Notion sets at most {max} {items} in one request; this value has {n}, and \
             writing part of it would drop the rest (Request limits: Size limits)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::properties::rich_text;

    fn utf16(s: &str) -> usize {
        s.encode_utf16().count()
    }

    #[test]
    fn chunks_hold_at_most_2000_utf16_units_and_never_split_a_character() {
        for text in [
            format!("{}😀{}", "x".repeat(1999), "y".repeat(2500)),
            "😀".repeat(2500),
            format!("x{}", "👍🏽".repeat(1500)),
        ] {
            let value = rich_text(&text);
            let chunks: Vec<&str> = value
                .as_array()
                .unwrap()
                .iter()
                .map(|item| item["text"]["content"].as_str().unwrap())
                .collect();
            for chunk in &chunks {
                assert!(utf16(chunk) <= 2000, "a chunk of {} units", utf16(chunk));
            }
            assert_eq!(chunks.concat(), text);
        }
    }

    #[test]
    fn values_notion_cannot_hold_are_refused_naming_the_limit() {
        use crate::properties::property_value;
        use crate::schema::tests::schema;
        use synchost_sdk::FieldValue;
        let s = schema();
        let write = |name: &str, value: FieldValue| property_value(&s.properties[name], &value);
        let ids = |n: usize| (0..n).map(|i| format!("p{i}")).collect::<Vec<_>>();
        assert!(write("Parent", FieldValue::Reference(ids(100))).is_ok());
        let err = write("Parent", FieldValue::Reference(ids(101))).unwrap_err();
        assert!(
            err.contains("at most 100 related pages") && err.contains("101"),
            "{err}"
        );
        let err = write("Owner", FieldValue::Reference(ids(101))).unwrap_err();
        assert!(err.contains("at most 100 users"), "{err}");
        let users = serde_json::to_string(&vec![serde_json::json!({ "id": "u" }); 101]).unwrap();
        let err = write("Owner", FieldValue::Json(users)).unwrap_err();
        assert!(err.contains("at most 100 users"), "{err}");
        let err = write("Tags", FieldValue::MultiSelect(ids(101))).unwrap_err();
        assert!(err.contains("at most 100 options"), "{err}");
        let err = write("Email", FieldValue::Text(format!("{}@x", "é".repeat(199)))).unwrap_err();
        assert!(err.contains("at most 200"), "{err}");
        let url = format!("https://x/{}", "😀".repeat(996));
        assert!(write("Link", FieldValue::Text(url))
            .unwrap_err()
            .contains("at most 2000"));
        assert!(write("Notes", FieldValue::Text("x".repeat(200_000))).is_ok());
        let err = write("Notes", FieldValue::Text("x".repeat(200_001))).unwrap_err();
        assert!(err.contains("at most 100 text objects"), "{err}");
    }
}
