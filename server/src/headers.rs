//! Security headers on every answer, pages and API alike (docs/security/http.md says why each).
//!
//! Every page shows what other clients sent (file text, names, colours), so the Content-Security-Policy
//! is the second wall behind the client's escaping: scripts only from this origin, and nothing the page
//! loads or connects to may leave it, so injected markup or CSS cannot fetch an attacker's URL.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The headers added to every response, built once from the public URL.
pub(crate) struct SecurityHeaders {
    csp: HeaderValue,
}

/// Directives the page needs, and nothing more. `style-src 'unsafe-inline'`: the client sets `style`
/// attributes (a participant's swatch, a score bar) and CodeMirror injects its themes as `<style>`
/// where constructable stylesheets are missing; a style cannot exfiltrate while `img-src`, `font-src`
/// and `connect-src` keep every fetch on this origin. `data:` images are CodeMirror's inline SVG icons.
/// `media-src 'self' blob:`: the replay plays voice recordings it downloaded with the interviewer's
/// credential as `blob:` URLs (live voice plays from a `srcObject`, which no directive governs).
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; media-src 'self' blob:; font-src 'self'; manifest-src 'self'; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'";

impl SecurityHeaders {
    /// `ws_url` is the WebSocket base the API hands out (`ws[s]://host/ws`): the page connects there,
    /// which `'self'` alone does not cover in every browser, nor at all when it names another host.
    pub(crate) fn new(ws_url: &str) -> SecurityHeaders {
        let connect = match ws_origin(ws_url) {
            Some(origin) => format!("connect-src 'self' {origin}"),
            None => {
                tracing::warn!(
                    ws_url,
                    "the WebSocket URL has no plain origin; connect-src allows 'self' only"
                );
                "connect-src 'self'".to_owned()
            }
        };
        let csp = HeaderValue::from_str(&format!("{POLICY}; {connect}"))
            .unwrap_or_else(|_| HeaderValue::from_static(POLICY));
        SecurityHeaders { csp }
    }
}

/// `scheme://host[:port]` of a WebSocket URL, if it is one a CSP source can name safely.
fn ws_origin(ws_url: &str) -> Option<&str> {
    let rest = ws_url.strip_prefix("ws://").or_else(|| ws_url.strip_prefix("wss://"))?;
    let authority = rest.split('/').next()?;
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    if authority.is_empty() || !authority.chars().all(plain) {
        return None;
    }
    Some(&ws_url[..ws_url.len() - rest.len() + authority.len()])
}

/// Middleware: adds the headers. API answers (and `/metrics`) are never stored by a browser or proxy:
/// they carry candidates' data, interviewers' notes and scores.
pub(crate) async fn add(State(headers): State<Arc<SecurityHeaders>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let private = path.starts_with("/api/") || path == "/metrics";
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, headers.csp.clone());
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    if private {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_websocket_origin_is_taken_from_the_url_and_odd_ones_are_left_out() {
        assert_eq!(ws_origin("wss://h.example.com/ws"), Some("wss://h.example.com"));
        assert_eq!(ws_origin("ws://127.0.0.1:8080/ws"), Some("ws://127.0.0.1:8080"));
        assert_eq!(ws_origin("ws://[::1]:8080/ws"), Some("ws://[::1]:8080"));
        assert_eq!(ws_origin("h.example.com/ws"), None);
        assert_eq!(ws_origin("ws://evil; script-src */ws"), None);
        let csp = SecurityHeaders::new("ws://127.0.0.1:9/ws").csp;
        assert!(csp.to_str().unwrap().ends_with("; connect-src 'self' ws://127.0.0.1:9"));
    }
}
