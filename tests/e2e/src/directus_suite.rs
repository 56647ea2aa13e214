//! What every Directus connector (Rust, Python, JavaScript) is held to
//! against a real Directus: its `entities()` list, and the acceptance suite
//! run as `connector test --connection` runs it, through a connection file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use synchost::acceptance::{self, Fixture};
use synchost::runtime::{Connection, LoadedConnector, Runtime};

use crate::directus::Directus;

/// `entities()` after `configure` with the fixture's connection
/// (`collection.tasks` = the fixture's collection) and with only `url`: the
/// collection is listed under the entity a setting maps it to, else under
/// its own name; Directus' own collections are not.
pub async fn assert_lists_the_collection(
    runtime: &Runtime,
    connector: &Arc<LoadedConnector>,
    fixture: &Fixture,
) {
    let Fixture::Directus { target } = fixture else {
        unreachable!("a Directus fixture")
    };
    let secrets = || fixture.secrets(&["directus_token".to_string()]);
    let mapped = fixture.connection("{{setting:url}}");
    let mut unmapped = mapped.clone();
    unmapped.settings.retain(|k, _| k == "url");
    for (conn, listed, unlisted) in [
        (mapped, "tasks", target.collection.as_str()),
        (unmapped, target.collection.as_str(), "tasks"),
    ] {
        let mut session = runtime
            .session_with_secrets(connector, &conn, secrets())
            .await
            .expect("a configured session");
        let entities = session.entities().await.expect("entities()");
        let names: Vec<&str> = entities.iter().map(|e| e.name.as_str()).collect();
        assert!(names.contains(&listed), "no `{listed}` in {names:?}");
        assert!(!names.contains(&unlisted), "`{unlisted}` in {names:?}");
        assert!(
            !names.iter().any(|n| n.starts_with("directus_")),
            "{names:?}"
        );
    }
}

/// `connector test WASM --connection FILE --entity tasks`: the suite against
/// the instance named only by a connection file, as an author tests against
/// their own account. The collection holds 10 items, so the suite tops it up
/// past a page; when it ends, the collection holds those same 10 again.
pub async fn assert_suite_passes_through_a_connection_file(
    runtime: &Runtime,
    wasm: &Path,
    directus: &Directus,
    scratch: &Path,
) {
    let Fixture::Directus { target } = Fixture::directus(directus.url(), directus.token(), 10)
        .await
        .expect("seed a Directus collection")
    else {
        unreachable!()
    };
    let mut conn = Connection {
        settings: BTreeMap::from([
            ("url".to_string(), directus.url().to_string()),
            ("collection.tasks".to_string(), target.collection.clone()),
        ]),
        allow_private_networks: true,
        ..Default::default()
    };
    crate::bind_secret(&mut conn, "directus_token", directus.token());
    std::fs::create_dir_all(scratch).unwrap();
    let file = scratch.join("directus.json");
    std::fs::write(&file, serde_json::to_string(&conn).unwrap()).unwrap();
    let ids = || async {
        let connector = runtime.load(wasm).await.unwrap();
        let mut session = runtime.session(&connector, &conn).await.unwrap();
        let (records, _) = crate::read_all(&mut session, "tasks", None).await.unwrap();
        records.into_iter().map(|r| r.id).collect::<BTreeSet<_>>()
    };
    let before = ids().await;
    assert_eq!(before.len(), 10);
    let checks = acceptance::run_opts(
        runtime,
        wasm,
        &acceptance::Options {
            connection: Some(file),
            entity: Some("tasks".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", directus.log()));
    let report: Vec<String> = checks
        .iter()
        .map(|c| format!("{}: {:?} {:?}", c.name, c.failure, c.skip_reason))
        .collect();
    assert_eq!(checks.len(), 10, "{report:#?}");
    assert!(checks.iter().all(|c| c.passed()), "{report:#?}");
    assert_eq!(
        ids().await,
        before,
        "only the suite's own records came and went"
    );
}
