//! The OpenAPI document against the router that serves it (issue 23): every route the server answers
//! under `/api/v1` is in the document and every documented operation is served, each with its
//! security, its error responses and the one error body. Routes outside the API are listed here, each
//! with why it is not in the document; a new `.route(` in `app.rs` fails until it is listed.

mod common;

use std::collections::BTreeSet;

use common::TestServer;
use reqwest::Method;
use serde_json::Value;

/// Routes of `server/src/app.rs` left out of the document, and why.
const OUT_OF_SPEC: &[(&str, &str)] = &[
    ("/healthz", "an operator's liveness probe, not an integrator's call"),
    ("/readyz", "an operator's readiness probe, not an integrator's call"),
    ("/metrics", "Prometheus text for the operator's scraper (README, deploy/)"),
    (
        "/ws/{room_id}",
        "the y-websocket endpoint: a WebSocket upgrade, described in README \"Rooms, roles and tokens\"",
    ),
];

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

async fn document(server: &TestServer) -> Value {
    let resp = server.http.get(server.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200, "the document is served without credentials");
    let kind = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("application/json"), "served as JSON, not {kind}");
    resp.json().await.unwrap()
}

/// Every (method, path) the document lists.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((method.to_owned(), path.clone(), op.clone()));
            }
        }
    }
    out
}

/// A path with every `{param}` filled with a value no store holds.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => in_param = true,
            '}' => {
                in_param = false;
                out.push_str("no-such-id");
            }
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

/// The required query parameters of an operation, with their documented examples.
fn query_examples(op: &Value) -> Vec<(String, String)> {
    let params = op["parameters"].as_array().cloned().unwrap_or_default();
    params
        .iter()
        .filter(|p| p["in"] == "query" && p["required"] == true)
        .map(|p| {
            let name = p["name"].as_str().unwrap_or_default().to_owned();
            let example = p.get("example").unwrap_or_else(|| panic!("query parameter {name} has an example"));
            (name, example.to_string().trim_matches('"').to_owned())
        })
        .collect()
}

fn source(path: &str) -> String {
    let full = format!("{}/src/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The quoted first argument of every `.route("…"` in a source file.
fn literal_routes(src: &str) -> BTreeSet<String> {
    src.match_indices(".route(\"")
        .filter_map(|(i, m)| src[i + m.len()..].split('"').next().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn every_documented_operation_is_served_and_refuses_a_caller_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let doc = document(&server).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "OpenAPI 3.1: {}", doc["openapi"]);

    let ops = operations(&doc);
    for (method, path, op) in &ops {
        assert!(path.starts_with("/api/v1/"), "{path} is under the API base");
        // The documented examples fill the query and the body, so the request reaches the credential
        // check; a missing example would fail here with a 400.
        let mut req = server
            .http
            .request(method.to_uppercase().parse().unwrap(), server.url(&concrete(path)))
            .query(&query_examples(op));
        if let Some(example) = op.pointer("/requestBody/content/application~1json/example") {
            req = req.json(example);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if path == "/api/v1/openapi.json" {
            assert_eq!(status, 200);
            continue;
        }
        // 401 comes before any lookup: a routing 404 or 405 would be something else.
        assert_eq!(status, 401, "{method} {path} without credentials: {body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{method} {path}: the error body");
        let security = op["security"].as_array().map_or(0, Vec::len);
        assert!(security > 0, "{method} {path} names its security schemes");
        for status in ["401", "500"] {
            let mut response = &op["responses"][status];
            if let Some(name) =
                response["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/responses/"))
            {
                response = &doc["components"]["responses"][name];
            }
            assert!(response.is_object(), "{method} {path} documents {status}");
            let schema = &response["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(
                schema, "#/components/schemas/ErrorBody",
                "{method} {path} {status} is the error body"
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_documented_path_answers_no_undocumented_method_and_unknown_paths_are_json_404s() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let doc = document(&server).await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS.iter().filter(|m| item.get(**m).is_none()) {
            let resp = server
                .http
                .request(method.to_uppercase().parse::<Method>().unwrap(), server.url(&concrete(path)))
                .bearer_auth(&server.api_key)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 405, "{method} {path} is not served: it is not documented");
        }
    }
    let (status, body) = server.call(Method::GET, "/api/v1/no-such-route", None).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    server.stop().await;
}

#[tokio::test]
async fn the_api_routes_come_from_the_documented_handlers_only() {
    // Every API route is registered with `routes!(handler, …)`, which documents it; a plain axum
    // `.route(` there would serve a path the document does not list.
    let api_sources =
        ["api/mod.rs", "api/submissions.rs", "api/rooms.rs", "api/interview.rs", "api/record.rs"];
    for file in api_sources.iter().chain(&["api/recordings.rs", "api/openapi.rs", "api/extract.rs"]) {
        assert!(literal_routes(&source(file)).is_empty(), "{file} registers a route outside `routes!`");
    }
    let handlers: Vec<String> = source("api/mod.rs")
        .split("routes!(")
        .skip(1)
        .flat_map(|rest| {
            let list = rest.split(')').next().unwrap_or_default();
            list.split(',').map(|h| h.trim().to_owned()).filter(|h| !h.is_empty()).collect::<Vec<_>>()
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let doc = document(&server).await;
    let ops = operations(&doc);
    assert_eq!(handlers.len(), ops.len(), "one documented operation per handler: {handlers:?}");
    let ids: BTreeSet<&str> = ops.iter().filter_map(|(_, _, op)| op["operationId"].as_str()).collect();
    assert_eq!(ids.len(), ops.len(), "every operation has its own operationId (client generators need it)");

    // The routes outside the API: each one is served, and listed above with why it is left out.
    let app_routes = literal_routes(&source("app.rs"));
    let listed: BTreeSet<String> = OUT_OF_SPEC.iter().map(|(p, _)| (*p).to_owned()).collect();
    assert_eq!(app_routes, listed, "app.rs serves these routes; each is documented or listed in OUT_OF_SPEC");
    for (path, _) in OUT_OF_SPEC {
        assert!(doc["paths"].get(*path).is_none(), "{path} is listed as out of the document");
        let resp = server.http.get(server.url(&concrete(path))).send().await.unwrap();
        assert_ne!(resp.status().as_u16(), 405, "{path} is served");
        assert!(
            resp.headers().get("content-type").is_none_or(|t| t != "text/html"),
            "{path} is not the web page"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn the_document_describes_both_credentials_the_error_body_and_the_signed_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let doc = document(&server).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["api_key"]["scheme"], "bearer");
    assert_eq!(schemes["room_token"]["scheme"], "bearer");
    assert_eq!(schemes["room_token_query"]["in"], "query");
    assert_eq!(schemes["room_token_query"]["name"], "token");
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], serde_json::json!(["error"]));

    let hook = &doc["webhooks"]["room.ended"]["post"];
    let body = &hook["requestBody"]["content"]["application/json"];
    assert_eq!(body["schema"]["$ref"], "#/components/schemas/RoomEndedEvent");
    assert!(doc["components"]["schemas"]["RoomEndedEvent"].is_object(), "the webhook body's schema is there");
    let example: handoff_protocol::export::RoomEndedEvent =
        serde_json::from_value(body["example"].clone()).expect("the webhook example is a RoomEndedEvent");
    assert_eq!(example.event, "room.ended");
    let headers: Vec<&str> =
        hook["parameters"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(headers, ["X-Handoff-Signature", "X-Handoff-Delivery"]);
    assert!(
        hook["description"].as_str().unwrap().contains("HMAC-SHA256"),
        "says how to verify the signature"
    );
    server.stop().await;
}

#[test]
fn the_readme_webhook_check_accepts_the_servers_signature_and_refuses_a_changed_body() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme.split("\n## Webhook").nth(1).expect("README has a Webhook section");
    let snippet =
        section.split("```python\n").nth(1).and_then(|s| s.split("```").next()).expect("a Python example");
    let secret = "whsec-test-0123456789";
    let body = br#"{"event":"room.ended","room":{"id":"room_1","status":"ended"}}"#;
    let header = handoff_server::test_support::signature(secret.as_bytes(), body);
    let program = format!(
        "{snippet}\nimport sys\nsecret, body, header = (a.encode() for a in sys.argv[1:4])\n\
         print(verified(secret, body, header.decode()), verified(secret, body + b' ', header.decode()))\n"
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &program, secret, std::str::from_utf8(body).unwrap(), &header])
        .output()
        .expect("python3 runs (.ci/run installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "True False");
}
