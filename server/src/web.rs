//! Serves the built web client: files from the web dir, and `index.html` for every other path so the
//! client-side routes (`/`, `/room/{id}`) load the app. When the client has not been built, a page says
//! how to build it instead of answering with a blank 404.

use std::path::Path;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::Html;
use tower_http::services::{ServeDir, ServeFile};

const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>handoff</title>\
<h1>handoff is running</h1><p>The web client is not built. Build it with \
<code>npm --prefix web-client ci &amp;&amp; npm --prefix web-client run build</code>, or point \
<code>--web-dir</code> at a built copy. The API is at <code>/api/v1</code>.</p>";

/// Adds the web client as the router's fallback, whatever the router's state.
pub(crate) fn serve<S: Clone + Send + Sync + 'static>(router: Router<S>, web_dir: &Path) -> Router<S> {
    let index = web_dir.join("index.html");
    if index.is_file() {
        router.fallback_service(ServeDir::new(web_dir).fallback(ServeFile::new(index)))
    } else {
        tracing::warn!(dir = %web_dir.display(), "web client not built; serving a placeholder page");
        router.fallback(|| async {
            (StatusCode::SERVICE_UNAVAILABLE, [(header::CACHE_CONTROL, "no-store")], Html(NOT_BUILT))
        })
    }
}
