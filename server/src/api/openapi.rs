//! The OpenAPI 3.1 document of the REST API, served at `GET /api/v1/openapi.json`. Paths, bodies and
//! responses come from the handlers' `#[utoipa::path]` annotations and the protocol crate's types, and
//! the router is built from the same annotations ([`super::routes`]), so the document cannot list a
//! route the server does not serve, nor miss one it does. This module adds what no handler states: the
//! two security schemes, the shared error responses and the room-ended webhook.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use handoff_protocol::api::ErrorBody;
use handoff_protocol::export::RoomEndedEvent;
use serde_json::{Value, json};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToResponse};

/// Where the API is mounted; the document's paths are absolute, so a client needs no server prefix.
pub(crate) const API_BASE: &str = "/api/v1";

/// Security scheme names, as the handlers' `security(...)` cite them.
pub(crate) const API_KEY: &str = "api_key";
pub(crate) const ROOM_TOKEN: &str = "room_token";
pub(crate) const ROOM_TOKEN_QUERY: &str = "room_token_query";

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "handoff",
        description = "Live follow-up rooms for async coding interviews. Integrators call with the API \
            key; the room page calls the room-scoped routes with the room token of its link. Every error \
            is `{\"error\": {\"code\", \"message\"}}` (schema `ErrorBody`).",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&SecuritySchemes),
    components(
        schemas(ErrorBody, RoomEndedEvent),
        responses(BadRequest, Unauthorized, Forbidden, NotFound, Conflict, TooLarge, Internal, Unavailable),
    ),
    tags(
        (name = "submissions", description = "The async work a platform posts, and promoting it to a room"),
        (name = "rooms", description = "Live rooms: the integrator's view and the room page's calls"),
        (name = "record", description = "The session record: timeline, replay, export, report, recordings"),
        (name = "meta", description = "This document"),
    ),
)]
pub(crate) struct ApiDoc;

#[derive(Debug)]
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            API_KEY,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`Authorization: Bearer <api key>` (`--api-key`), or the dashboard token of the \
                         signed link `handoff serve` prints. Opens every route.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            ROOM_TOKEN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "`Authorization: Bearer <room token>`: the token promote mints per role (the \
                         `#token=` of a room link). It opens one room in one role until it expires; what \
                         each role may see is decided by the server (README \"Rooms, roles and tokens\").",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            ROOM_TOKEN_QUERY,
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "token",
                "The interviewer's room token as `?token=`, where no header can be set (`<audio src>`).",
            ))),
        );
    }
}

/// The error responses the handlers cite (`response = NotFound`): each is the one [`ErrorBody`] shape
/// (`crate::error::AppError` writes it) with the status's description and an example `code`. They are
/// types without values: only their [`ToResponse`] impls are used.
macro_rules! error_response {
    ($(#[$doc:meta])* $name:ident, $description:literal, $code:literal, $message:literal) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub(crate) enum $name {}

        impl<'s> ToResponse<'s> for $name {
            fn response() -> (&'s str, RefOr<Response>) {
                (stringify!($name), error_response($description, $code, $message))
            }
        }
    };
}

error_response!(
    /// `400`: a malformed request (invalid JSON, a missing field or query parameter, a bad file path).
    BadRequest, "Malformed request", "invalid_body", "missing field `candidate`"
);
error_response!(
    /// `401`: no credential, or one that is wrong, forged or expired.
    Unauthorized, "Missing or invalid credential", "unauthorized", "invalid API key"
);
error_response!(
    /// `403`: a token for another room, a role not allowed this call, or (`room_ended`) a candidate or
    /// observer of an ended room.
    Forbidden, "Not allowed to this caller", "forbidden", "only the interviewer may see or change this"
);
error_response!(
    /// `404`: no such submission, room or recording.
    NotFound, "Unknown id", "not_found", "room not found"
);
error_response!(
    /// `409`: the resource's state does not allow the call; `code` says why.
    Conflict, "Conflicts with the resource's state", "room_not_live", "this room has ended"
);
error_response!(
    /// `413`: over a limit; the message names it.
    TooLarge, "Over a limit", "request_too_large", "request body is over the limit of 25165824 bytes"
);
error_response!(
    /// `500`: the server's own failure; details are logged, never sent.
    Internal, "Server failure (no internals)", "internal", "internal error"
);
error_response!(
    /// `503`: the store cannot be reached for now (PostgreSQL down); try again shortly.
    Unavailable, "The store is unavailable", "unavailable", "the store is unavailable, try again shortly"
);

fn error_response(description: &str, code: &str, message: &str) -> RefOr<Response> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .example(Some(json!({"error": {"code": code, "message": message}})))
        .build();
    ResponseBuilder::new().description(description).content("application/json", content).build().into()
}

/// The whole document as JSON: the routes' annotations nested under [`API_BASE`], plus the webhook.
pub(crate) fn document() -> Value {
    let spec = ApiDoc::openapi().nest(API_BASE, super::routes().into_openapi());
    let mut value = serde_json::to_value(spec).unwrap_or_else(|_| json!({}));
    // utoipa 5 has no `webhooks` field (OpenAPI 3.1 §4.8.1); it is added to the serialized document.
    if let Some(root) = value.as_object_mut() {
        root.insert("webhooks".into(), webhooks());
    }
    add_unavailable(&mut value);
    value
}

/// Every operation that reads or writes the store (all that list a 500) may answer 503 while the
/// store is unreachable: listed once here rather than on each route.
fn add_unavailable(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for operation in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|p| p.values_mut()) {
        if let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut)
            && responses.contains_key("500")
        {
            responses.insert("503".into(), json!({"$ref": "#/components/responses/Unavailable"}));
        }
    }
}

/// The room-ended webhook: what the server POSTs and how a receiver checks it came from this server.
fn webhooks() -> Value {
    json!({
        "room.ended": {
            "post": {
                "summary": "A room ended",
                "description": "POSTed to `--webhook-url` when a room ends: a summary of the session \
                    record, which the receiver fetches in full from `export_url` with its API key. \
                    Verify `X-Handoff-Signature` before trusting the body: it is `sha256=` and the \
                    lowercase hex HMAC-SHA256 of the raw request body, keyed by `--webhook-secret`; \
                    compute it over the bytes as received (before any JSON parsing) and compare in \
                    constant time. A non-2xx answer or a timeout is retried with doubling delays \
                    (capped at 10 minutes, 15 attempts), so receivers dedupe on `X-Handoff-Delivery`.",
                "parameters": [
                    {"name": "X-Handoff-Signature", "in": "header", "required": true,
                     "description": "`sha256=<hex HMAC-SHA256 of the raw body, keyed by the webhook secret>`",
                     "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"}},
                    {"name": "X-Handoff-Delivery", "in": "header", "required": true,
                     "description": "The delivery's id: the same on every retry of one delivery.",
                     "schema": {"type": "string"}}
                ],
                "requestBody": {"required": true, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/RoomEndedEvent"},
                    "example": {
                        "event": "room.ended", "room": {"id": "room_5f2c", "status": "ended"},
                        "submission_id": "sub_9a1e", "candidate": {"name": "Ada Lovelace"},
                        "exercise": {"title": "LRU cache", "language": "python"}, "interviewer": "Grace",
                        "started_at_ms": 1764840000000u64, "ended_at_ms": 1764842700000u64,
                        "files": [{"path": "lru_cache.py", "change": "modified"}], "edits": 42,
                        "export_url": "https://handoff.example.com/api/v1/rooms/room_5f2c/export"
                    }
                }}},
                "responses": {"2XX": {"description": "Received; the delivery is not retried."}}
            }
        }
    })
}

/// `GET /api/v1/openapi.json`: this document (built once; it never changes while the server runs).
#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub(super) async fn serve() -> impl IntoResponse {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let body = DOCUMENT.get_or_init(|| document().to_string());
    ([(header::CONTENT_TYPE, "application/json")], body.as_str())
}
