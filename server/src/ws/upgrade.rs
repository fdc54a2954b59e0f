//! The WebSocket handshake (RFC 6455 §4.2), done here rather than by axum's `WebSocketUpgrade` so the
//! connection is a tokio-tungstenite stream over our own [`Transport`], which writes large messages
//! without tungstenite's buffer (see `transport`), which axum's `WebSocket` cannot give us.

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::transport::Transport;

/// The server side of an upgraded connection.
pub(super) type Socket = WebSocketStream<Transport<TokioIo<Upgraded>>>;

/// A valid WebSocket upgrade request, not yet answered.
pub(crate) struct Upgrade {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
}

/// Why a request to a WebSocket route is not a WebSocket handshake.
#[derive(Debug)]
pub(crate) enum NotAnUpgrade {
    /// A version other than 13: 426 naming the one spoken (RFC 6455 §4.4).
    Version,
    /// Anything else wrong with the request: 400 with the reason.
    Malformed(&'static str),
}

impl IntoResponse for NotAnUpgrade {
    fn into_response(self) -> Response {
        match self {
            NotAnUpgrade::Version => (
                StatusCode::UPGRADE_REQUIRED,
                [(header::SEC_WEBSOCKET_VERSION, "13")],
                "unsupported WebSocket version: only 13 is spoken",
            )
                .into_response(),
            NotAnUpgrade::Malformed(reason) => (StatusCode::BAD_REQUEST, reason).into_response(),
        }
    }
}

fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = NotAnUpgrade;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // HTTP/1.1 only: the server does not offer HTTP/2's extended CONNECT.
        if parts.version != Version::HTTP_11 {
            return Err(NotAnUpgrade::Malformed("a WebSocket handshake needs HTTP/1.1"));
        }
        if parts.method != Method::GET {
            return Err(NotAnUpgrade::Malformed("a WebSocket handshake is a GET"));
        }
        if !header_has_token(&parts.headers, header::CONNECTION, "upgrade")
            || !header_has_token(&parts.headers, header::UPGRADE, "websocket")
        {
            return Err(NotAnUpgrade::Malformed("expected Connection: upgrade and Upgrade: websocket"));
        }
        if parts.headers.get(header::SEC_WEBSOCKET_VERSION).is_none_or(|v| v != "13") {
            return Err(NotAnUpgrade::Version);
        }
        let key = parts
            .headers
            .get(header::SEC_WEBSOCKET_KEY)
            .cloned()
            .ok_or(NotAnUpgrade::Malformed("Sec-WebSocket-Key missing"))?;
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or(NotAnUpgrade::Malformed("this connection cannot be upgraded"))?;
        Ok(Upgrade { key, on_upgrade })
    }
}

impl Upgrade {
    /// Answers 101 and runs `serve` on the socket once the client has it (in a task of its own).
    pub(crate) fn on_upgrade<F, Fut>(self, config: WebSocketConfig, serve: F) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let accept = derive_accept_key(self.key.as_bytes());
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let socket = WebSocketStream::from_raw_socket(
                        Transport::new(TokioIo::new(upgraded)),
                        Role::Server,
                        Some(config),
                    )
                    .await;
                    serve(socket).await;
                }
                Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
            }
        });
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_ACCEPT, accept)
            .body(Body::empty())
            .expect("static headers are valid")
    }
}
