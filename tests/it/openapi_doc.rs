//! `/openapi.json` documents every route the routers declare, with its method.
//!
//! The routes are read from the routers' source (`src/http/*.rs`), so adding a route without
//! a `#[utoipa::path]` (or an alias entry) fails here.

use std::collections::BTreeSet;

use regex::Regex;

use crate::support::TestServer;

/// `(method, path)` of every `.route("/path", method(…))` in src/http.
fn declared_routes() -> BTreeSet<(String, String)> {
    let route = Regex::new(r#"\.route\(\s*"([^"]+)"\s*,\s*(get|post|put|patch|delete)\("#)
        .expect("valid regex");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http");
    let mut routes = BTreeSet::new();
    for entry in std::fs::read_dir(dir).expect("src/http exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let source = std::fs::read_to_string(&path).expect("readable source");
            for found in route.captures_iter(&source) {
                routes.insert((found[2].to_owned(), found[1].to_owned()));
            }
        }
    }
    routes
}

#[tokio::test]
async fn every_route_is_in_the_openapi_document() {
    let server = TestServer::start().await;
    let (status, document) = server.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths = document["paths"].as_object().expect("paths");
    let declared = declared_routes();
    assert!(
        declared.len() >= 25,
        "the scan found the routers: {declared:?}"
    );
    for (method, path) in &declared {
        let operation = &paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not documented"))[method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        assert!(
            operation["responses"]
                .as_object()
                .is_some_and(|r| !r.is_empty()),
            "{method} {path} documents its responses"
        );
    }
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flat_map(|ops| ops.keys())
                .filter(|m| matches!(m.as_str(), "get" | "post" | "put" | "patch" | "delete"))
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    let extra: Vec<_> = documented.difference(&declared).collect();
    assert!(extra.is_empty(), "documented but not routed: {extra:?}");
    // Generators name functions after operationIds, which OpenAPI requires to be unique.
    let mut ids = BTreeSet::new();
    for item in paths.values() {
        for operation in item.as_object().into_iter().flat_map(|ops| ops.values()) {
            if let Some(id) = operation["operationId"].as_str() {
                assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
            }
        }
    }
    // The error body every failure shares is a named schema.
    assert!(document["components"]["schemas"]["ErrorBody"].is_object());
}

/// The SDKs generate their types from `clients/openapi.json`; it must be the document the
/// server serves, so an API change cannot leave the SDKs' types behind unnoticed.
#[tokio::test]
async fn the_sdks_copy_of_the_document_is_current() {
    let server = TestServer::start().await;
    let (status, served) = server.get("/openapi.json").await;
    assert_eq!(status, 200);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/clients/openapi.json");
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("clients/openapi.json"))
            .expect("clients/openapi.json is JSON");
    assert!(
        committed == served,
        "clients/openapi.json is stale: run `cargo run -- openapi > clients/openapi.json`, \
         then regenerate the SDKs' types (clients/typescript: `npm run generate`; \
         clients/python: see its README)"
    );
}

/// `klaxon openapi` prints the served document without starting a server: the command that
/// refreshes `clients/openapi.json`.
#[tokio::test]
async fn the_openapi_command_prints_the_served_document() {
    let server = TestServer::start().await;
    let (_, served) = server.get("/openapi.json").await;
    let output = crate::support::binary::command()
        .arg("openapi")
        .output()
        .expect("run klaxon openapi");
    assert!(output.status.success(), "exit status {}", output.status);
    let printed: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("klaxon openapi prints JSON");
    assert_eq!(printed, served);
    assert!(output.stdout.ends_with(b"}\n"), "one final newline");
}

/// What the SDKs read is typed, not `Object`: a page of events names its fields.
#[tokio::test]
async fn the_read_endpoints_document_their_shapes() {
    let server = TestServer::start().await;
    let (_, document) = server.get("/openapi.json").await;
    let schemas = &document["components"]["schemas"];
    for (schema, field) in [
        ("Accepted", "duplicate"),
        ("EventPage", "next_cursor"),
        ("Event", "idempotency_key"),
        ("Delivery", "attempt_log"),
        ("Escalation", "timeline"),
        ("EventEnvelope", "type"),
    ] {
        assert!(
            schemas[schema]["properties"][field].is_object(),
            "{schema}.{field} is documented: {}",
            schemas[schema]
        );
    }
    let ok = &document["paths"]["/v1/events"]["get"]["responses"]["200"];
    assert_eq!(
        ok["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/EventPage"
    );
}
