//! The host reads the contract version from a component's exports and
//! refuses what it cannot load, with an error that says why.

use synchost::runtime::{Runtime, RuntimeError, RuntimeOptions};

fn runtime() -> Runtime {
    Runtime::new(RuntimeOptions::default()).unwrap()
}

/// A component exporting a `describe` function in an interface named `export`.
fn component_exporting(export: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(component
            (core module $m (func (export "describe")))
            (core instance $i (instantiate $m))
            (func $describe (canon lift (core func $i "describe")))
            (instance $api (export "describe" (func $describe)))
            (export "{export}" (instance $api)))"#
    ))
    .unwrap()
}

#[tokio::test]
async fn an_unknown_contract_version_is_refused_by_name() {
    let err = runtime()
        .load_bytes(
            "future.wasm",
            component_exporting("synchost:connector/api@0.9.0"),
        )
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, RuntimeError::UnsupportedContract { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("0.9.0") && text.contains("0.1.0") && text.contains("future.wasm"),
        "{text}"
    );
}

#[tokio::test]
async fn a_component_without_the_api_is_not_a_connector() {
    let err = runtime()
        .load_bytes("other.wasm", component_exporting("example:other/api@1.0.0"))
        .await
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(text.contains("is it a synchost connector"), "{text}");
}

#[tokio::test]
async fn a_known_version_with_the_wrong_shape_is_refused() {
    let err = runtime()
        .load_bytes(
            "bad.wasm",
            component_exporting("synchost:connector/api@0.1.0"),
        )
        .await
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(text.contains("do not match contract 0.1.0"), "{text}");
}

#[tokio::test]
async fn bytes_that_are_not_wasm_are_refused() {
    let err = runtime()
        .load_bytes("junk.wasm", b"not wasm at all".to_vec())
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("not a WebAssembly file"), "{err}");
}
