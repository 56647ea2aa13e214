//! Queries, their batches and locators, SOQL filters and errors, describe.

use super::*;

#[tokio::test]
async fn queries_return_every_record_once_in_batches_followed_by_next_records_url() {
    let sim = sim().await;
    let inserted: HashSet<String> = (0..2500)
        .map(|i| sim.insert("Contact", contact(i)).unwrap())
        .collect();
    let soql = "SELECT Id, LastName FROM Contact";
    let (mut seen, mut sizes) = (Vec::new(), Vec::new());
    let mut r = query(&sim, soql, None).await;
    loop {
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["totalSize"], 2500);
        sizes.push(ids(&r).len());
        seen.extend(ids(&r));
        let row = &r.body["records"][0];
        assert_eq!(row["attributes"]["type"], "Contact");
        assert_eq!(
            row["attributes"]["url"],
            format!("{V}/sobjects/Contact/{}", row["Id"].as_str().unwrap())
        );
        assert_eq!(
            row.as_object().unwrap().len(),
            3,
            "only the selected fields: {row}"
        );
        if r.body["done"] == true {
            assert!(r.body.get("nextRecordsUrl").is_none());
            break;
        }
        let next = r.body["nextRecordsUrl"].as_str().unwrap().to_string();
        assert!(next.starts_with(&format!("{V}/query/01g")), "{next}");
        r = call(&sim, Method::GET, &next, None).await;
    }
    assert_eq!(sizes, [2000, 500], "2,000 records a batch by default");
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), inserted);
    assert_eq!(seen.len(), 2500);

    // Sforce-Query-Options: batchSize=N, within 200..=2000.
    let r = query(&sim, soql, Some(1000)).await;
    assert_eq!(ids(&r).len(), 1000);
    let r = query(&sim, soql, Some(50)).await;
    assert_eq!(ids(&r).len(), 200, "the minimum batch is 200");
    // A locator can be read again from where it points: a resumed read gets the rest.
    let next = r.body["nextRecordsUrl"].as_str().unwrap().to_string();
    let a = call(&sim, Method::GET, &next, None).await;
    let b = call(&sim, Method::GET, &next, None).await;
    assert_eq!(ids(&a), ids(&b));
    assert!(next.ends_with("-200"));
}

#[tokio::test]
async fn query_locators_are_fixed_and_expire_after_two_days() {
    let clock = Clock::default();
    let sim = sim_with(None, clock.clone()).await;
    let first: Vec<String> = (0..450)
        .map(|i| sim.insert("Contact", contact(i)).unwrap())
        .collect();
    let r = query(&sim, "SELECT Id FROM Contact", Some(200)).await;
    let next = r.body["nextRecordsUrl"].as_str().unwrap().to_string();
    // Records created or deleted after the query do not move its batches.
    sim.insert("Contact", contact(999)).unwrap();
    sim.delete(&first[300]).unwrap();
    let more = call(&sim, Method::GET, &next, None).await;
    assert_eq!(more.body["totalSize"], 450);
    assert!(ids(&more).contains(&first[300]));
    let bogus = call(
        &sim,
        Method::GET,
        &format!("{V}/query/01gNOTALOCATOR00-200"),
        None,
    )
    .await;
    assert_error(&bogus, 400, "INVALID_QUERY_LOCATOR");
    clock.advance(Duration::days(2) + Duration::seconds(1));
    let expired = call(&sim, Method::GET, &next, None).await;
    assert_error(&expired, 400, "INVALID_QUERY_LOCATOR");
}

#[tokio::test]
async fn soql_filters_by_system_modstamp_and_sorts() {
    let clock = Clock::default();
    let sim = sim_with(None, clock.clone()).await;
    let all: Vec<String> = (0..10)
        .map(|i| sim.insert("Contact", contact(i)).unwrap())
        .collect();
    clock.advance(Duration::minutes(5));
    let cut = clock.now();
    clock.advance(Duration::seconds(2));
    sim.update(&all[3], json!({ "Title": "CEO" })).unwrap();
    clock.advance(Duration::seconds(2));
    sim.update(&all[7], json!({ "Title": "CTO" })).unwrap();
    let literal = cut.format("%Y-%m-%dT%H:%M:%SZ");
    let r = query(&sim, &format!("SELECT Id, Title, SystemModstamp FROM Contact WHERE SystemModstamp >= {literal} ORDER BY SystemModstamp DESC"), None).await;
    assert_eq!(ids(&r), [all[7].clone(), all[3].clone()]);
    assert_eq!(r.body["records"][0]["Title"], "CTO");
    let modstamp = r.body["records"][0]["SystemModstamp"].as_str().unwrap();
    assert!(
        modstamp.ends_with("+0000") && modstamp.len() == 28,
        "{modstamp}"
    );
    // Offsets are honoured, and both bounds combine with AND.
    let plus_one = (cut + Duration::hours(1)).format("%Y-%m-%dT%H:%M:%S+01:00");
    let upper = (cut + Duration::seconds(3)).format("%Y-%m-%dT%H:%M:%SZ");
    let r = query(&sim, &format!("select id from CONTACT where systemmodstamp >= {plus_one} and SystemModstamp < {upper}"), None).await;
    assert_eq!(ids(&r), [all[3].clone()]);
    let r = query(
        &sim,
        "SELECT Id FROM Contact WHERE Title = 'ceo' LIMIT 5",
        None,
    )
    .await;
    assert_eq!(
        ids(&r),
        [all[3].clone()],
        "text compares case-insensitively"
    );
    let r = query(
        &sim,
        "SELECT Id FROM Contact ORDER BY Title DESC NULLS LAST LIMIT 2 OFFSET 1",
        None,
    )
    .await;
    assert_eq!(ids(&r)[0], all[3]);
    assert_eq!(r.body["totalSize"], 2);
    // An unencoded `+` is a space in a query string: the dateTime breaks.
    let auth = format!("Bearer {TOKEN}");
    let path = format!(
        "{V}/query/?q=SELECT+Id+FROM+Contact+WHERE+SystemModstamp+>=+2024-01-01T00:00:00+01:00"
    );
    let r = raw(&sim, Method::GET, &path, &[("authorization", &auth)], None).await;
    assert_error(&r, 400, "MALFORMED_QUERY");
}

#[tokio::test]
async fn bad_queries_answer_malformed_query_invalid_field_or_invalid_type() {
    let sim = sim().await;
    let r = query(&sim, "SELECT Id FROM Contact WHERE", None).await;
    assert_error(&r, 400, "MALFORMED_QUERY");
    assert!(r.body[0]["message"]
        .as_str()
        .unwrap()
        .contains("ERROR at Row:1:Column:29"));
    let r = query(&sim, "SELECT Id, Shoe_Size__c FROM Contact", None).await;
    assert_error(&r, 400, "INVALID_FIELD");
    assert!(r.body[0]["message"]
        .as_str()
        .unwrap()
        .contains("No such column 'Shoe_Size__c' on entity 'Contact'"));
    let r = query(
        &sim,
        "SELECT Id FROM Contact WHERE SystemModstamp > '2024-01-01T00:00:00Z'",
        None,
    )
    .await;
    assert_error(&r, 400, "INVALID_FIELD");
    let r = query(&sim, "SELECT Id FROM Opportunity", None).await;
    assert_error(&r, 400, "INVALID_TYPE");
    let r = call(&sim, Method::GET, &format!("{V}/query"), None).await;
    assert_error(&r, 400, "MALFORMED_QUERY");
    let r = call(
        &sim,
        Method::GET,
        "/services/data/v12.0/query?q=SELECT+Id+FROM+Contact",
        None,
    )
    .await;
    assert_error(&r, 404, "NOT_FOUND");
}

#[tokio::test]
async fn describe_lists_fields_with_types_and_permissions() {
    let sim = sim().await;
    let mut types = HashSet::new();
    for object in ["Contact", "Account"] {
        let r = call(
            &sim,
            Method::GET,
            &format!("{V}/sobjects/{object}/describe"),
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["name"], object);
        for f in r.body["fields"].as_array().unwrap() {
            types.insert(f["type"].as_str().unwrap().to_string());
        }
    }
    for t in [
        "id",
        "string",
        "email",
        "phone",
        "url",
        "textarea",
        "double",
        "int",
        "currency",
        "boolean",
        "date",
        "datetime",
        "picklist",
        "multipicklist",
        "reference",
    ] {
        assert!(types.contains(t), "no field of type {t}");
    }
    let d = call(
        &sim,
        Method::GET,
        &format!("{V}/sobjects/contact/describe/"),
        None,
    )
    .await
    .body;
    let field = |n: &str| {
        d["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(field("LastName")["nillable"], false);
    assert_eq!(
        (
            field("SystemModstamp")["createable"].clone(),
            field("SystemModstamp")["updateable"].clone()
        ),
        (json!(false), json!(false))
    );
    assert_eq!(field("AccountId")["referenceTo"], json!(["Account"]));
    let level = field("Level__c");
    let levels: Vec<&str> = level["picklistValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["Primary", "Secondary", "Tertiary"]);
    assert_eq!(field("Level__c")["restrictedPicklist"], true);
    let r = call(
        &sim,
        Method::GET,
        &format!("{V}/sobjects/Widget__c/describe"),
        None,
    )
    .await;
    assert_error(&r, 404, "NOT_FOUND");
}
