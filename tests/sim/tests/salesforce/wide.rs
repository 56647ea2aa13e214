//! Objects too wide for a query URI: 414, 431 and Composite.

use super::*;

fn survey_fields(sim: &SalesforceSim) -> Vec<String> {
    sim.describe("Survey__c").unwrap()["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

/// Salesforce Help 000386264: "In each REST call, the maximum length for the
/// combined URI and headers is 16,384 bytes. A request exceeding this limit
/// returns a 431 Request Header Fields Too Large error. If the URI itself
/// exceeds this limit, the request returns a 414 URI Too Long error."
#[tokio::test]
async fn a_uri_over_16384_bytes_is_414_and_uri_with_headers_over_it_is_431() {
    let sim = sim().await;
    sim.insert("Survey__c", json!({ "Name": "Onboarding" }))
        .unwrap();
    let fields = survey_fields(&sim);
    assert!(fields.len() > 400, "a few hundred fields");
    let every = format!("SELECT {} FROM Survey__c", fields.join(", "));
    let r = query(&sim, &every, None).await;
    assert_eq!(r.status, 414, "{}", r.text);
    assert_eq!(
        r.text,
        "<h1>Bad Message 414</h1><pre>reason: URI Too Long</pre>"
    );
    assert_eq!(
        sim.api_usage(),
        0,
        "the front end refuses it before the API"
    );

    // Within the limit alone, over it with the headers.
    let some = format!("SELECT {} FROM Survey__c", fields[..200].join(", "));
    let r = query(&sim, &some, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["records"][0].as_object().unwrap().len(), 201);
    let q = encode(&some);
    let uri_len = format!("{V}/query?q={q}").len();
    assert!(uri_len < 16_384, "{uri_len}");
    let padding = "x".repeat(16_384 - uri_len);
    let auth = format!("Bearer {TOKEN}");
    let r = raw(
        &sim,
        Method::GET,
        &format!("{V}/query?q={q}"),
        &[("authorization", &auth), ("x-padding", &padding)],
        None,
    )
    .await;
    assert_eq!(r.status, 431, "{}", r.text);
    assert!(
        r.text.contains("Request Header Fields Too Large"),
        "{}",
        r.text
    );
}

/// The documented way around the URI limit: the query as a subrequest of a
/// Composite request ("try to incorporate the SOQL statement into the body of
/// a Composite API request", Salesforce Help 000386264), its next batches by
/// their nextRecordsUrl.
#[tokio::test]
async fn composite_runs_a_query_of_every_field_and_its_next_batches_are_plain_gets() {
    let sim = sim().await;
    let inserted: HashSet<String> = (0..250)
        .map(|i| {
            sim.insert(
                "Survey__c",
                json!({ "Name": format!("Survey {i}"), "Q005_Respondent_Answer_Long_Label__c": "free text" }),
            )
            .unwrap()
        })
        .collect();
    let fields = survey_fields(&sim);
    let every = format!("SELECT {} FROM Survey__c ORDER BY Id", fields.join(", "));
    let body = json!({
        "allOrNone": false,
        "compositeRequest": [{
            "method": "GET",
            "url": format!("{V}/query?q={}", every.replace(' ', "+")),
            "referenceId": "page",
            "httpHeaders": { "Sforce-Query-Options": "batchSize=200" },
        }],
    });
    let r = call(&sim, Method::POST, &format!("{V}/composite"), Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(sim.api_usage(), 1, "a composite request is one API call");
    let sub = &r.body["compositeResponse"][0];
    assert_eq!(sub["referenceId"], "page");
    assert_eq!(sub["httpStatusCode"], 200, "{sub}");
    let first = &sub["body"];
    assert_eq!(first["totalSize"], 250);
    assert_eq!(first["records"].as_array().unwrap().len(), 200);
    let row = first["records"][0].as_object().unwrap();
    assert_eq!(row.len(), fields.len() + 1, "every field and attributes");
    assert_eq!(row["Q005_Respondent_Answer_Long_Label__c"], "free text");
    let next = first["nextRecordsUrl"].as_str().unwrap();
    let more = call(&sim, Method::GET, next, None).await;
    assert_eq!(more.status, 200, "{}", more.text);
    let mut seen: HashSet<String> = ids(&more).into_iter().collect();
    seen.extend(
        first["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["Id"].as_str().unwrap().to_string()),
    );
    assert_eq!(seen, inserted);

    // A subrequest's error is its own result; the composite call succeeds.
    let bad = json!({ "compositeRequest": [{
        "method": "GET", "url": format!("{V}/query?q=SELECT+Nope__c+FROM+Survey__c"), "referenceId": "bad",
    }] });
    let r = call(&sim, Method::POST, &format!("{V}/composite"), Some(bad)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let sub = &r.body["compositeResponse"][0];
    assert_eq!(sub["httpStatusCode"], 400);
    assert_eq!(sub["body"][0]["errorCode"], "INVALID_FIELD", "{sub}");
    // Accept, Authorization and Content-Type are inherited, never named.
    let named = json!({ "compositeRequest": [{
        "method": "GET", "url": format!("{V}/query?q=SELECT+Id+FROM+Survey__c"), "referenceId": "a",
        "httpHeaders": { "Authorization": "Bearer other" },
    }] });
    let r = call(&sim, Method::POST, &format!("{V}/composite"), Some(named)).await;
    assert_eq!(r.status, 400, "{}", r.text);
}
