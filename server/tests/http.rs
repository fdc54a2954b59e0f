//! The HTTP surface a browser or a script meets before any room logic: security headers on every answer,
//! JSON errors for bad queries, the bearer scheme read case-insensitively, and a configured API key too
//! short to be a secret refused at startup (issue 18, findings 5 and 10).

mod common;

use common::{TestServer, sample_files};
use handoff_protocol::limits::MIN_API_KEY_CHARS;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// The headers every answer carries, pages and API alike.
fn assert_security_headers(path: &str, headers: &HeaderMap) {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let csp = get("content-security-policy");
    let directive = |name: &str| {
        csp.split(';')
            .map(str::trim)
            .find(|d| d.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{path}: CSP has no {name} directive: {csp:?}"))
            .to_owned()
    };
    assert_eq!(directive("default-src"), "default-src 'none'", "{path}");
    assert_eq!(directive("frame-ancestors"), "frame-ancestors 'none'", "{path}");
    assert_eq!(directive("script-src"), "script-src 'self'", "{path}: no inline or foreign script");
    // Finding 4: a colour like `red; background-image:url(http://attacker/…)` in a style attribute must
    // not fetch anything, so images come from this origin (or data: URLs, which leak nothing) only.
    let img = directive("img-src");
    for source in img.split_whitespace().skip(1) {
        assert!(["'self'", "data:"].contains(&source), "{path}: img-src allows {source}: {csp:?}");
    }
    // The replay's voice recordings play from blob: URLs the page made; nothing from another origin.
    assert_eq!(directive("media-src"), "media-src 'self' blob:", "{path}");
    assert!(directive("connect-src").contains("'self'"), "{path}: {csp:?}");
    assert_eq!(get("x-frame-options"), "DENY", "{path}");
    assert_eq!(get("x-content-type-options"), "nosniff", "{path}");
    assert_eq!(get("referrer-policy"), "no-referrer", "{path}");
}

#[tokio::test]
async fn every_page_and_api_answer_carries_the_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room = server.room_with(&sample_files()).await;
    let id = &room.room.id;
    let interviewer = &room.tokens.interviewer;

    for page in ["/", &format!("/room/{id}"), "/healthz", "/no/such/page"] {
        let resp = server.http.get(server.url(page)).send().await.unwrap();
        assert_security_headers(page, resp.headers());
    }
    // The room's WebSocket URL must be allowed to connect from the page.
    let resp = server.http.get(server.url("/")).send().await.unwrap();
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let ws_origin = room.ws_url.trim_end_matches("/ws");
    assert!(csp.contains(&format!("connect-src 'self' {ws_origin}")), "{csp}");

    for api in [
        format!("/api/v1/rooms/{id}/private"),
        format!("/api/v1/rooms/{id}/session"),
        format!("/api/v1/rooms/{id}/timeline"),
        format!("/api/v1/rooms/{id}/replay?at_ms=0"),
        format!("/api/v1/rooms/{id}/export"),
        "/api/v1/submissions".to_owned(),
        "/api/v1/no-such-route".to_owned(),
    ] {
        let resp = server.http.get(server.url(&api)).bearer_auth(interviewer).send().await.unwrap();
        assert_security_headers(&api, resp.headers());
        let cache = resp.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(cache.as_deref(), Some("no-store"), "{api}: private JSON must never be cached");
    }
    // An error answer is still an answer a browser may render or cache.
    let refused = server.http.get(server.url(&format!("/api/v1/rooms/{id}/private"))).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    assert_security_headers("401", refused.headers());
    assert_eq!(refused.headers()["cache-control"], "no-store");
    server.stop().await;
}

#[tokio::test]
async fn a_bad_query_answers_the_json_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room = server.room_with(&sample_files()).await;
    let sub = server.submit(&sample_files()).await;
    for path in [
        format!("/api/v1/rooms/{}/replay?at_ms=abc", room.room.id),
        format!("/api/v1/rooms/{}/replay", room.room.id),
        format!("/api/v1/submissions/{sub}/replay?at_ms=-1"),
    ] {
        let resp = server.http.get(server.url(&path)).bearer_auth(&server.api_key).send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{path}: answered {status} with a body that is not JSON: {text:?}"));
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], "invalid_query", "{path}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("at_ms"), "{path}: {body}");
    }
    server.stop().await;
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room = server.room_with(&sample_files()).await;
    for scheme in ["bearer", "BEARER", "Bearer", "bEaReR"] {
        let resp = server
            .http
            .get(server.url("/api/v1/submissions"))
            .header("authorization", format!("{scheme} {}", server.api_key))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "scheme {scheme:?}");
        let resp = server
            .http
            .get(server.url(&format!("/api/v1/rooms/{}/session", room.room.id)))
            .header("authorization", format!("{scheme} {}", room.tokens.candidate))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "room token with scheme {scheme:?}");
    }
    // Another scheme, or the key with no scheme, is still no credential.
    for header in [format!("Basic {}", server.api_key), server.api_key.clone()] {
        let resp = server
            .http
            .get(server.url("/api/v1/submissions"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401);
    }
    server.stop().await;
}

#[tokio::test]
async fn an_api_key_shorter_than_the_minimum_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.api_key = Some("k".repeat(MIN_API_KEY_CHARS - 1));
    let error = match handoff_server::app::start(config).await {
        Ok(running) => {
            running.shutdown();
            panic!("a {}-character API key was accepted", MIN_API_KEY_CHARS - 1);
        }
        Err(e) => e.to_string(),
    };
    assert!(error.contains("--api-key"), "{error}");
    assert!(error.contains(&MIN_API_KEY_CHARS.to_string()), "{error}");

    let mut config = common::config(dir.path());
    config.api_key = Some("k".repeat(MIN_API_KEY_CHARS));
    let server = TestServer::start_with(config).await;
    let (status, _) = server.call(Method::GET, "/api/v1/submissions", None).await;
    assert_eq!(status, 200);
    server.stop().await;
}
