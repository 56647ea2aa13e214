//! `Survey__c`, a custom object with a few hundred fields, as orgs that
//! model questionnaires or wide imports have them: selecting every field
//! makes a query whose URI is longer than the 16,384 bytes Salesforce
//! accepts (see `edge.rs`).
//!
//! References: "Custom Fields Allowed Per Object" (Salesforce Help: up to
//! 500 custom fields in Enterprise Edition, 800 in Unlimited and
//! Performance); "Custom Field Names" ("up to 40 characters", plus the
//! `__c` suffix).

use std::sync::OnceLock;

use super::model::{system_fields, FieldDef, Kind, ObjectDef};

/// Custom fields of `Survey__c`.
pub(crate) const SURVEY_FIELDS: usize = 450;

const ANSWERS: &[&str] = &["Yes", "No", "Maybe"];

/// The custom fields, built once: field and label names are `&'static`
/// throughout the simulator.
fn custom_fields() -> &'static [FieldDef] {
    static FIELDS: OnceLock<Vec<FieldDef>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        (1..=SURVEY_FIELDS)
            .map(|i| {
                // 36 characters: long, as descriptive field names are.
                let name: &'static str =
                    Box::leak(format!("Q{i:03}_Respondent_Answer_Long_Label__c").into_boxed_str());
                let label: &'static str =
                    Box::leak(format!("Question {i} answer").into_boxed_str());
                let field = match i % 6 {
                    0 => FieldDef::rw(name, label, Kind::Double, 0),
                    1 => FieldDef::rw(name, label, Kind::Boolean, 0),
                    2 => FieldDef::rw(name, label, Kind::Date, 0),
                    3 => FieldDef::rw(name, label, Kind::Picklist, 255).picklist(ANSWERS, false),
                    4 => FieldDef::rw(name, label, Kind::Datetime, 0),
                    _ => FieldDef::rw(name, label, Kind::Str, 255),
                };
                field.custom()
            })
            .collect()
    })
}

/// `Survey__c`: the system fields, a `Name`, and [`SURVEY_FIELDS`] custom fields.
pub(crate) fn survey() -> ObjectDef {
    let mut fields = system_fields();
    fields.push(FieldDef::rw("Name", "Survey Name", Kind::Str, 80));
    fields.extend(custom_fields().iter().cloned());
    ObjectDef {
        name: "Survey__c",
        label: "Survey",
        plural: "Surveys",
        // Custom objects' key prefixes begin with `a`.
        prefix: "a05",
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_of_a_survey_makes_a_query_longer_than_the_uri_limit() {
        let obj = survey();
        assert_eq!(obj.fields.len(), SURVEY_FIELDS + 6);
        let names: Vec<&str> = obj.fields.iter().map(|f| f.name).collect();
        // Each name percent-encoded with its `, ` separator (`%2C%20`).
        let encoded: usize = names.iter().map(|n| n.len() + 6).sum();
        assert!(
            encoded > super::super::edge::MAX_URI_AND_HEADERS,
            "{encoded}"
        );
    }
}
