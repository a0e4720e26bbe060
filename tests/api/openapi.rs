//! The committed `openapi/openapi.json` must be exactly what the code generates.
//! Regenerate with: `cargo run -- openapi > openapi/openapi.json`.

#[test]
fn committed_openapi_document_is_current() {
    let generated = officina::openapi::document_json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if std::env::var("OFFICINA_UPDATE_OPENAPI").is_ok() {
        std::fs::write(path, &generated).unwrap();
        return;
    }
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: run `cargo run -- openapi > openapi/openapi.json` \
         (or OFFICINA_UPDATE_OPENAPI=1 cargo test committed_openapi)"
    );
}

#[test]
fn every_operation_has_an_id_a_tag_and_documented_errors() {
    let doc: serde_json::Value = serde_json::from_str(&officina::openapi::document_json()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} lacks operationId"));
            assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{method} {path} lacks a tag"
            );
            let responses = op["responses"].as_object().unwrap();
            let has_error = responses
                .keys()
                .any(|k| k.starts_with('4') || k.starts_with('5'));
            assert!(
                has_error || path == "/health/live",
                "{method} {path} documents no error response"
            );
            if op.get("security").is_some() {
                assert!(
                    responses.contains_key("401"),
                    "{method} {path} is protected but documents no 401"
                );
            }
        }
    }
}
