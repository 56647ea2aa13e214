//! The mapper as a job uses it: configuration checks, the canonical views and
//! the writes, and a property test that every lossless pair of kinds survives
//! a trip to the target and back.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::json;

use super::field::parse_timezone;
use super::*;
use crate::core::value::content_hash;
use FieldKind as K;

fn schema(fields: &[(&str, FieldKind)]) -> Schema {
    fields
        .iter()
        .map(|(name, kind)| (*name, FieldInfo::new(*kind)))
        .collect()
}

fn spec(value: serde_json::Value) -> MappingSpec {
    serde_json::from_value(value).expect("spec parses")
}

fn fields(pairs: &[(&str, Value)]) -> Fields {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

fn select(s: &str) -> Value {
    Value::Select(s.into())
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn no_links(_: &str) -> Option<String> {
    None
}

fn same_id(id: &str) -> Option<String> {
    Some(id.to_string())
}

fn tasks() -> (Schema, Schema) {
    let source = schema(&[
        ("Name", K::Text),
        ("Status", K::Select),
        ("Tags", K::MultiSelect),
        ("Due", K::Date),
        ("Estimate", K::Number),
        ("Internal notes", K::Text),
    ]);
    let target = schema(&[
        ("Name", K::Text),
        ("State", K::Text),
        ("Labels", K::Text),
        ("Due", K::Datetime),
        ("Estimate", K::Text),
        ("Internal notes", K::Text),
        ("Only here", K::Text),
    ]);
    (source, target)
}

fn tasks_mapper() -> Mapper {
    let (source, target) = tasks();
    let spec = spec(json!({
        "fields": [
            {"source": "Status", "target": "State", "values": {"Done": "Complete", "Doing": "In progress"}},
            {"source": "Tags", "target": "Labels", "values": {"urgent": "P1"}, "separator": "; "},
            {"source": "Due", "timezone": "+02:00"}
        ],
        "exclude": ["Internal notes"]
    }));
    Mapper::new(&spec, &source, &target).unwrap()
}

#[test]
fn doc_example_holds() {
    let spec: MappingSpec = serde_json::from_str(
        r#"{"fields": [{"source": "Status", "target": "State", "values": {"Done": "Complete"}}]}"#,
    )
    .unwrap();
    let source: Schema = [("Status", FieldInfo::new(FieldKind::Select))]
        .into_iter()
        .collect();
    let target: Schema = [("State", FieldInfo::new(FieldKind::Text))]
        .into_iter()
        .collect();
    let mapper = Mapper::new(&spec, &source, &target).unwrap();
    let no_links = |_: &str| -> Option<String> { None };
    let from_target: Fields = [("State".to_string(), Value::Text("Complete".into()))].into();
    let canonical = mapper
        .canonical_from_target(&from_target, &no_links)
        .unwrap()
        .fields;
    assert_eq!(canonical["Status"], Value::Select("Done".into()));
    let write = mapper.to_target(&canonical, &no_links).unwrap().fields;
    assert_eq!(write["State"], Value::Text("Complete".into()));
}

#[test]
fn resolves_listed_same_named_and_excluded_fields() {
    let mapper = tasks_mapper();
    assert_eq!(
        mapper.canonical_fields(),
        ["Due", "Estimate", "Name", "Status", "Tags"]
    );
    assert_eq!(mapper.target_name("Status"), Some("State"));
    assert_eq!(mapper.target_name("Due"), Some("Due"));
    assert_eq!(mapper.target_name("Internal notes"), None);
    assert_eq!(mapper.source_name("Labels"), Some("Tags"));
    assert_eq!(mapper.source_name("Only here"), None);
    assert!(mapper.writes_to_target("Estimate") && mapper.writes_to_source("Estimate"));
    assert!(!mapper.writes_to_target("Internal notes"));
}

#[test]
fn a_match_key_that_cannot_match_names_the_side_and_the_reason() {
    let (source, target) = tasks();
    let mapper = tasks_mapper();
    assert_eq!(mapper.match_key_problem("Status", &source, &target), None);
    let not_there = mapper.match_key_problem("email", &source, &target).unwrap();
    assert!(
        not_there.contains("`email` is not a field of the source (its fields: Due, Estimate"),
        "{not_there}"
    );
    let excluded = mapper
        .match_key_problem("Internal notes", &source, &target)
        .unwrap();
    assert!(excluded.contains("that `mapping` leaves out"), "{excluded}");
    let extra: Schema = schema(&[("Name", K::Text), ("Email", K::Text)]);
    let unmapped = Mapper::new(&spec(json!({})), &extra, &target)
        .unwrap()
        .match_key_problem("Email", &extra, &target)
        .unwrap();
    assert!(
        unmapped.contains("the target has no field of that name"),
        "{unmapped}"
    );
    // Nothing in common: say so, with both sides' fields.
    let other: Schema = schema(&[("Title", K::Text)]);
    let none = Mapper::new(&spec(json!({})), &extra, &other)
        .unwrap()
        .match_key_problem("Email", &extra, &other)
        .unwrap();
    assert!(
        none.contains("no field is: the source's fields (Email, Name) and the target's (Title)"),
        "{none}"
    );
}

#[test]
fn same_names_off_maps_only_listed_fields() {
    let (source, target) = tasks();
    let mapper = Mapper::new(
        &spec(json!({"same_names": false, "fields": [{"source": "Status", "target": "State"}]})),
        &source,
        &target,
    )
    .unwrap();
    assert_eq!(mapper.canonical_fields(), ["Status"]);
}

#[test]
fn equal_meanings_are_equal_in_the_canonical_space() {
    let mapper = tasks_mapper();
    let source = fields(&[
        ("Name", text(" Write report ")),
        ("Status", select("Done")),
        ("Tags", Value::MultiSelect(strings(&["urgent", "home"]))),
        ("Due", Value::Date("2024-05-01".into())),
        ("Estimate", Value::Number(2.5)),
        ("Internal notes", text("never leaves the source")),
    ]);
    let target = fields(&[
        ("Name", text("Write report")),
        ("State", text("Complete")),
        ("Labels", text("home;P1")),
        ("Due", Value::Datetime("2024-04-30T22:00:00Z".into())),
        ("Estimate", text("2.50")),
        ("Internal notes", text("nor this")),
        ("Only here", text("ignored")),
    ]);
    let from_source = mapper.canonical_from_source(&source);
    let from_target = mapper.canonical_from_target(&target, &no_links).unwrap();
    assert!(from_target.warnings.is_empty());
    assert_eq!(from_source, from_target.fields);
    assert_eq!(
        content_hash(&from_source),
        content_hash(&from_target.fields)
    );
    assert_eq!(from_source["Status"], select("Done"));
    assert!(!from_source.contains_key("Internal notes"));

    let written = mapper.to_target(&from_source, &no_links).unwrap();
    assert_eq!(
        written.fields,
        fields(&[
            ("Name", text("Write report")),
            ("State", text("Complete")),
            ("Labels", text("home; P1")),
            ("Due", Value::Datetime("2024-04-30T22:00:00Z".into())),
            ("Estimate", text("2.5")),
        ])
    );
}

#[test]
fn value_maps_work_both_ways_and_pass_unlisted_values() {
    let mapper = tasks_mapper();
    let cases = [
        ("Done", "Complete"),
        ("Doing", "In progress"),
        ("Blocked", "Blocked"),
    ];
    for (source_value, target_value) in cases {
        let canonical = fields(&[("Status", select(source_value))]);
        let written = mapper.to_target(&canonical, &no_links).unwrap().fields;
        assert_eq!(written["State"], text(target_value));
        let back = mapper
            .canonical_from_target(&written, &no_links)
            .unwrap()
            .fields;
        assert_eq!(back["Status"], select(source_value));
    }
}

#[test]
fn ambiguous_value_maps_are_refused_unless_never_read_back() {
    let source = schema(&[("Status", K::Select)]);
    let target = schema(&[("Status", K::Select)]);
    let many = json!({"Done": "Complete", "Closed": "Complete"});
    let err = Mapper::new(
        &spec(json!({"fields": [{"source": "Status", "values": many}]})),
        &source,
        &target,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("`Closed`, `Done` to the same value `Complete`"),
        "{err}"
    );
    let one_way =
        spec(json!({"fields": [{"source": "Status", "values": many, "direction": "to_target"}]}));
    let mapper = Mapper::new(&one_way, &source, &target).unwrap();
    let written = mapper
        .to_target(&fields(&[("Status", select("Closed"))]), &no_links)
        .unwrap();
    assert_eq!(written.fields["Status"], select("Complete"));
}

#[test]
fn defaults_fill_empty_writes_only() {
    let source = schema(&[
        ("Status", K::Select),
        ("Priority", K::Number),
        ("Done", K::Bool),
    ]);
    let target = schema(&[
        ("Status", K::Text),
        ("Priority", K::Text),
        ("Done", K::Bool),
    ]);
    let mapper = Mapper::new(
        &spec(json!({"fields": [
            {"source": "Status", "default": "Open"},
            {"source": "Priority", "default": 3},
            {"source": "Done", "default": false}
        ]})),
        &source,
        &target,
    )
    .unwrap();
    let empty = Fields::new();
    let to_target = mapper.to_target(&empty, &no_links).unwrap().fields;
    assert_eq!(
        to_target,
        fields(&[
            ("Status", text("Open")),
            ("Priority", text("3")),
            ("Done", Value::Bool(false))
        ])
    );
    let to_source = mapper
        .to_source(&fields(&[("Status", select("  "))]))
        .unwrap();
    assert_eq!(
        to_source,
        fields(&[
            ("Status", select("Open")),
            ("Priority", Value::Number(3.0)),
            ("Done", Value::Bool(false))
        ])
    );
    // a value present is written as it is, and the canonical views never invent one
    let to_target = mapper
        .to_target(&fields(&[("Priority", Value::Number(1.0))]), &no_links)
        .unwrap()
        .fields;
    assert_eq!(to_target["Priority"], text("1"));
    assert_eq!(
        mapper
            .canonical_from_target(&empty, &no_links)
            .unwrap()
            .fields,
        Fields::new()
    );
}

#[test]
fn writes_clear_fields_without_a_value_or_default() {
    let mapper = tasks_mapper();
    let written = mapper.to_target(&Fields::new(), &no_links).unwrap().fields;
    assert_eq!(written.len(), 5);
    assert!(written.values().all(|v| *v == Value::Null));
}

#[test]
fn a_default_that_does_not_fit_the_kind_is_refused() {
    let source = schema(&[("Priority", K::Number)]);
    let target = schema(&[("Priority", K::Number)]);
    let err = Mapper::new(
        &spec(json!({"fields": [{"source": "Priority", "default": "high"}]})),
        &source,
        &target,
    )
    .unwrap_err();
    assert!(matches!(err, MappingError::BadDefault { .. }), "{err:?}");
    assert!(
        err.to_string().contains("`\"high\"`") && err.to_string().contains("plain decimal"),
        "{err}"
    );
}

#[test]
fn direction_decides_what_is_written_where() {
    let source = schema(&[("A", K::Text), ("B", K::Text), ("C", K::Text)]);
    let target = schema(&[("A", K::Text), ("B", K::Text), ("C", K::Text)]);
    let mapper = Mapper::new(
        &spec(json!({"fields": [{"source": "A", "direction": "to_target"}, {"source": "B", "direction": "to_source"}]})),
        &source,
        &target,
    )
    .unwrap();
    let record = fields(&[("A", text("a")), ("B", text("b")), ("C", text("c"))]);
    let to_target = mapper.to_target(&record, &no_links).unwrap().fields;
    assert_eq!(to_target, fields(&[("A", text("a")), ("C", text("c"))]));
    let to_source = mapper.to_source(&record).unwrap();
    assert_eq!(to_source, fields(&[("B", text("b")), ("C", text("c"))]));
    // both canonical views still carry every field
    assert_eq!(
        mapper
            .canonical_from_target(&record, &no_links)
            .unwrap()
            .fields,
        record
    );
    assert_eq!(
        [
            mapper.writes_to_target("A"),
            mapper.writes_to_source("A"),
            mapper.writes_to_target("B")
        ],
        [true, false, false]
    );
}

#[test]
fn read_only_fields_narrow_the_direction() {
    let source = schema(&[
        ("Title", K::Text),
        ("Created", K::Datetime),
        ("Score", K::Number),
        ("Id", K::Text),
    ]);
    let target: Schema = [
        ("Title", FieldInfo::new(K::Text)),
        ("Created", FieldInfo::new(K::Datetime)),
        ("Score", FieldInfo::read_only(K::Number)),
        ("Id", FieldInfo::read_only(K::Text)),
    ]
    .into_iter()
    .collect();
    let mut source = source;
    source.fields.get_mut("Created").unwrap().read_only = true;
    source.fields.get_mut("Id").unwrap().read_only = true;
    let mapper = Mapper::new(&MappingSpec::default(), &source, &target).unwrap();
    // read-only on both sides: silently not mapped when matched by name
    assert_eq!(mapper.canonical_fields(), ["Created", "Score", "Title"]);
    assert!(mapper.writes_to_source("Score") && !mapper.writes_to_target("Score"));
    assert!(mapper.writes_to_target("Created") && !mapper.writes_to_source("Created"));
    let written = mapper
        .to_target(&fields(&[("Score", Value::Number(1.0))]), &no_links)
        .unwrap()
        .fields;
    assert!(!written.contains_key("Score"));

    let explicit = spec(json!({"fields": [{"source": "Score", "direction": "to_target"}]}));
    let err = Mapper::new(&explicit, &source, &target).unwrap_err();
    assert_eq!(
        err,
        MappingError::ReadOnly {
            side: Side::Target,
            field: "Score".into(),
            direction: Direction::ToTarget
        }
    );
    assert!(
        err.to_string().contains("read-only on the target side"),
        "{err}"
    );
    let listed = spec(json!({"fields": [{"source": "Id"}]}));
    assert!(matches!(
        Mapper::new(&listed, &source, &target),
        Err(MappingError::BothReadOnly { .. })
    ));
}

#[test]
fn configuration_errors_name_the_side_the_field_and_the_choices() {
    let (source, target) = tasks();
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (
            json!({"fields": [{"source": "Stauts", "target": "State"}]}),
            "field `Stauts` does not exist on the source side; its fields are: `Due`, `Estimate`, `Internal notes`, `Name`, `Status`, `Tags`",
        ),
        (
            json!({"fields": [{"source": "Status", "target": "Stat"}]}),
            "field `Stat` does not exist on the target side; its fields are: `Due`, `Estimate`, `Internal notes`, `Labels`, `Name`, `Only here`, `State`",
        ),
        (json!({"exclude": ["Secret"]}), "excluded field `Secret` exists on neither side"),
        (json!({"fields": [{"source": "Name"}], "exclude": ["Name"]}), "`Name` is both listed in `fields` and excluded"),
        (
            json!({"fields": [{"source": "Name", "target": "State"}, {"source": "Status", "target": "State"}]}),
            "target field `State` is mapped more than once",
        ),
        (
            json!({"fields": [{"source": "Estimate", "target": "Due"}]}),
            "`Estimate` (number) and target field `Due` (datetime) cannot be converted",
        ),
        (json!({"fields": [{"source": "Due", "timezone": "Europe/Paris"}]}), "timezone `Europe/Paris`; expected a fixed UTC offset"),
        (json!({"fields": [{"source": "Tags", "target": "Labels", "separator": ""}]}), "empty separator"),
    ];
    for (json, needle) in cases {
        let err = Mapper::new(&spec(json.clone()), &source, &target).expect_err(&json.to_string());
        assert!(err.to_string().contains(needle), "{json}: {err}");
    }
}

#[test]
fn same_named_fields_of_incompatible_kinds_are_refused() {
    let source = schema(&[("Due", K::Date)]);
    let target = schema(&[("Due", K::Number)]);
    let err = Mapper::new(&MappingSpec::default(), &source, &target).unwrap_err();
    assert!(err.to_string().contains("or exclude it"), "{err}");
    let excluded = spec(json!({"exclude": ["Due"]}));
    assert_eq!(
        Mapper::new(&excluded, &source, &target)
            .unwrap()
            .canonical_fields(),
        Vec::<&str>::new()
    );
}

#[test]
fn conversion_errors_name_the_field_the_value_and_the_expectation() {
    let mapper = tasks_mapper();
    let target = fields(&[
        ("Estimate", text("1,5")),
        ("Due", text("soon")),
        ("Name", text("fine")),
    ]);
    let errors = mapper
        .canonical_from_target(&target, &no_links)
        .unwrap_err();
    assert_eq!(errors.len(), 2);
    assert_eq!(
        errors[0].to_string(),
        "field `Due`: cannot convert `soon`: expected a date YYYY-MM-DD (or an RFC 3339 datetime)"
    );
    assert_eq!(
        errors[1],
        ConversionError {
            field: "Estimate".into(),
            value: "1,5".into(),
            expected: "a number written as a plain decimal, such as -12.5".into()
        }
    );
}

#[test]
fn references_go_through_the_link_table_and_report_missing_links() {
    let source = schema(&[("Project", K::Reference)]);
    let target = schema(&[("Project", K::Reference)]);
    let mapper = Mapper::new(&MappingSpec::default(), &source, &target).unwrap();
    let links: BTreeMap<&str, &str> = [("s1", "t1"), ("s2", "t2")].into();
    let to_target = |id: &str| links.get(id).map(|t| t.to_string());
    let to_source = |id: &str| {
        links
            .iter()
            .find(|(_, t)| **t == id)
            .map(|(s, _)| s.to_string())
    };

    let canonical = fields(&[("Project", Value::Reference(strings(&["s2", "s1", "s9"])))]);
    let written = mapper.to_target(&canonical, &to_target).unwrap();
    assert_eq!(
        written.fields["Project"],
        Value::Reference(strings(&["t1", "t2"]))
    );
    assert_eq!(
        written.warnings,
        [MappingWarning::UnlinkedReference {
            field: "Project".into(),
            id: "s9".into(),
            towards: Side::Target
        }]
    );
    assert!(written.warnings[0]
        .to_string()
        .contains("`s9` has no linked record on the target side"));

    let read = mapper.canonical_from_target(
        &fields(&[("Project", Value::Reference(strings(&["t1", "t7"])))]),
        &to_source,
    );
    let read = read.unwrap();
    assert_eq!(read.fields["Project"], Value::Reference(strings(&["s1"])));
    assert_eq!(
        read.warnings,
        [MappingWarning::UnlinkedReference {
            field: "Project".into(),
            id: "t7".into(),
            towards: Side::Source
        }]
    );
    // no link at all: the list is empty, so the field is empty
    let none = mapper
        .to_target(
            &fields(&[("Project", Value::Reference(strings(&["s9"])))]),
            &no_links,
        )
        .unwrap();
    assert_eq!(none.fields["Project"], Value::Null);
}

#[test]
fn timezones_decide_dates_and_datetimes() {
    let source = schema(&[("Due", K::Date), ("At", K::Datetime)]);
    let target = schema(&[("Due", K::Datetime), ("At", K::Date)]);
    let cases = [
        ("Z", "2024-05-01T00:00:00Z", "2024-05-01"),
        ("+02:00", "2024-04-30T22:00:00Z", "2024-05-02"),
        ("-0500", "2024-05-01T05:00:00Z", "2024-05-01"),
    ];
    for (tz, due_written, at_written) in cases {
        let mapper = Mapper::new(
            &spec(json!({"fields": [{"source": "Due", "timezone": tz}, {"source": "At", "timezone": tz}]})),
            &source,
            &target,
        )
        .unwrap();
        let canonical = fields(&[
            ("Due", Value::Date("2024-05-01".into())),
            ("At", Value::Datetime("2024-05-01T23:30:00Z".into())),
        ]);
        let written = mapper.to_target(&canonical, &no_links).unwrap().fields;
        assert_eq!(written["Due"], Value::Datetime(due_written.into()), "{tz}");
        assert_eq!(written["At"], Value::Date(at_written.into()), "{tz}");
        // a date survives the trip through a datetime in every zone
        let back = mapper
            .canonical_from_target(&written, &no_links)
            .unwrap()
            .fields;
        assert_eq!(back["Due"], Value::Date("2024-05-01".into()), "{tz}");
    }
}

#[test]
fn parses_fixed_offsets_only() {
    let cases = [
        ("Z", Some(0)),
        ("utc", Some(0)),
        ("+02:00", Some(7200)),
        ("-0530", Some(-19800)),
        ("+09", Some(32400)),
    ];
    for (text, seconds) in cases {
        assert_eq!(
            parse_timezone(text).map(|o| o.local_minus_utc()),
            seconds,
            "{text}"
        );
    }
    for bad in [
        "Europe/Paris",
        "02:00",
        "+2:00",
        "+24:00",
        "+02:60",
        "",
        "+ü0",
    ] {
        assert_eq!(parse_timezone(bad), None, "{bad}");
    }
}

#[test]
fn source_values_of_another_kind_are_brought_to_the_declared_kind() {
    let source = schema(&[("When", K::Datetime)]);
    let mapper = Mapper::new(&MappingSpec::default(), &source, &source).unwrap();
    let canonical =
        mapper.canonical_from_source(&fields(&[("When", Value::Date("2024-05-01".into()))]));
    assert_eq!(
        canonical["When"],
        Value::Datetime("2024-05-01T00:00:00Z".into())
    );
}

/// Source kind, target kind: the pairs where a value survives a trip to the
/// target and back unchanged (for the values generated below).
const LOSSLESS: &[(FieldKind, FieldKind)] = &[
    (K::Text, K::Text),
    (K::Text, K::Select),
    (K::Text, K::Json),
    (K::Number, K::Number),
    (K::Number, K::Text),
    (K::Number, K::Select),
    (K::Number, K::Json),
    (K::Bool, K::Bool),
    (K::Bool, K::Text),
    (K::Bool, K::Number),
    (K::Bool, K::Select),
    (K::Bool, K::Json),
    (K::Date, K::Date),
    (K::Date, K::Text),
    (K::Date, K::Datetime),
    (K::Date, K::Select),
    (K::Date, K::Json),
    (K::Datetime, K::Datetime),
    (K::Datetime, K::Text),
    (K::Datetime, K::Json),
    (K::Select, K::Select),
    (K::Select, K::Text),
    (K::Select, K::MultiSelect),
    (K::Select, K::Json),
    (K::MultiSelect, K::MultiSelect),
    (K::MultiSelect, K::Text),
    (K::MultiSelect, K::Reference),
    (K::MultiSelect, K::Json),
    (K::Reference, K::Reference),
    (K::Reference, K::MultiSelect),
    (K::Reference, K::Text),
    (K::Reference, K::Json),
    (K::Json, K::Json),
    (K::Json, K::Text),
];

fn value_of(kind: FieldKind) -> BoxedStrategy<Value> {
    let word = "[A-Za-z0-9]([A-Za-z0-9 ]{0,8}[A-Za-z0-9])?";
    match kind {
        K::Text => word.prop_map(Value::Text).boxed(),
        K::Select => word.prop_map(Value::Select).boxed(),
        K::Number => prop_oneof![any::<i32>().prop_map(f64::from), proptest::num::f64::NORMAL]
            .prop_map(Value::Number)
            .boxed(),
        K::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        K::Date => (1900i32..2100, 1u32..=12, 1u32..=28)
            .prop_map(|(y, m, d)| Value::Date(format!("{y:04}-{m:02}-{d:02}")))
            .boxed(),
        K::Datetime => (-2_000_000_000i64..4_000_000_000)
            .prop_map(|s| {
                let t = chrono::DateTime::from_timestamp(s, 0).unwrap();
                Value::Datetime(t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            })
            .boxed(),
        K::MultiSelect => proptest::collection::vec(word, 1..5)
            .prop_map(Value::MultiSelect)
            .boxed(),
        K::Reference => proptest::collection::vec("[a-z0-9]{1,10}", 1..5)
            .prop_map(Value::Reference)
            .boxed(),
        K::Json => proptest::collection::btree_map(
            "[a-z]{1,5}",
            prop_oneof![
                any::<i64>().prop_map(serde_json::Value::from),
                "[ -~]{0,10}".prop_map(serde_json::Value::from),
                any::<bool>().prop_map(serde_json::Value::from),
            ],
            0..4,
        )
        .prop_map(|map| Value::Json(serde_json::Value::Object(map.into_iter().collect())))
        .boxed(),
    }
}

fn timezone() -> impl Strategy<Value = String> {
    (-48i32..=56).prop_map(|quarters| {
        let minutes = quarters * 15;
        let sign = if minutes < 0 { '-' } else { '+' };
        format!("{sign}{:02}:{:02}", minutes.abs() / 60, minutes.abs() % 60)
    })
}

proptest! {
    #[test]
    fn lossless_pairs_survive_a_trip_to_the_target_and_back(
        (pair, value, tz) in (0..LOSSLESS.len())
            .prop_flat_map(|i| (Just(LOSSLESS[i]), value_of(LOSSLESS[i].0), timezone()))
    ) {
        let (source_kind, target_kind) = pair;
        let source = schema(&[("F", source_kind)]);
        let target = schema(&[("F", target_kind)]);
        let mapper = Mapper::new(&spec(json!({"fields": [{"source": "F", "timezone": tz}]})), &source, &target).unwrap();
        let canonical = mapper.canonical_from_source(&fields(&[("F", value)]));
        let written = mapper.to_target(&canonical, &same_id).unwrap();
        let back = mapper.canonical_from_target(&written.fields, &same_id).unwrap();
        prop_assert_eq!(&back.fields, &canonical, "{} -> {} via {:?}", source_kind, target_kind, written.fields);
        prop_assert!(back.warnings.is_empty());
    }

    #[test]
    fn value_maps_round_trip(value in prop::sample::select(vec!["Done", "Doing", "Todo", "Other"]), as_list in any::<bool>()) {
        let (source_kind, target_kind) = if as_list { (K::MultiSelect, K::Text) } else { (K::Select, K::Text) };
        let mapper = Mapper::new(
            &spec(json!({"fields": [{"source": "F", "values": {"Done": "Complete", "Doing": "Todo", "Todo": "Backlog"}}]})),
            &schema(&[("F", source_kind)]),
            &schema(&[("F", target_kind)]),
        ).unwrap();
        let original = if as_list { Value::MultiSelect(vec![value.to_string(), "x".into()]) } else { select(value) };
        let canonical = mapper.canonical_from_source(&fields(&[("F", original)]));
        let written = mapper.to_target(&canonical, &no_links).unwrap();
        let back = mapper.canonical_from_target(&written.fields, &no_links).unwrap();
        prop_assert_eq!(back.fields, canonical);
    }
}
