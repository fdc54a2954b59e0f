//! Application state, the router, and starting/stopping the server. `router(state)` builds the whole
//! HTTP surface so tests can run it in-process; [`start`] binds a listener and runs it until shutdown.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::get;
use handoff_protocol::limits::{
    DASHBOARD_TOKEN_TTL_SECS, MAX_GROUP_COMMIT_WINDOW_MS, MAX_REQUEST_BYTES, MIN_API_KEY_CHARS,
};
use tokio::task::JoinHandle;
use tower_http::trace::TraceLayer;

use crate::auth::TokenKeys;
use crate::bus::LocalBus;
use crate::config::Config;
use crate::error::AppError;
use crate::headers::SecurityHeaders;
use crate::room::{Registry, RoomSettings};
use crate::shutdown::{self, Trigger};
use crate::store::{self, Store};
use crate::webhook::Webhooks;
use crate::{private_fs, secrets};

/// The URLs clients are given, derived from the public base URL.
pub struct Urls {
    /// Base for browser links, e.g. `https://handoff.example.com`.
    pub public: String,
    /// Base for WebSocket clients, e.g. `wss://handoff.example.com/ws`.
    pub ws: String,
}

impl Urls {
    pub fn from_public(public: &str) -> Urls {
        let public = public.trim_end_matches('/').to_owned();
        let ws_base = if let Some(rest) = public.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = public.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            public.clone()
        };
        Urls { ws: format!("{ws_base}/ws"), public }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub rooms: Arc<Registry>,
    pub tokens: Arc<TokenKeys>,
    pub api_key: Arc<str>,
    pub urls: Arc<Urls>,
    /// Frames queued per client before it counts as a slow consumer.
    pub outbox_frames: usize,
    pub webhooks: Arc<Webhooks>,
    /// How long after it ended a room may be reopened.
    pub reopen_window: Duration,
    /// The bearer token `/metrics` requires; open when `None`.
    pub metrics_token: Option<Arc<str>>,
}

pub fn router(state: AppState, web_dir: &Path) -> Router {
    let routes = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(crate::metrics::scrape))
        .route("/ws/{room_id}", get(crate::ws::upgrade))
        .nest("/api/v1", crate::api::router());
    let headers = Arc::new(SecurityHeaders::new(&state.urls.ws));
    crate::web::serve(routes, web_dir)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .layer(axum::middleware::from_fn_with_state(headers, crate::headers::add))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The span of one HTTP request: method and path only. The query is left out because the WebSocket
/// upgrade carries the room token there (`/ws/{room}?token=…`), and tokens must never reach a log.
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
}

async fn ready(State(state): State<AppState>) -> Result<&'static str, AppError> {
    // The store's own error (SQL text, a file path) is for the log, not for whoever polls /readyz.
    state.store.ping().await.map_err(|e| {
        tracing::error!(error = %e, "store unreachable");
        AppError::Unavailable("store unreachable".into())
    })?;
    Ok("ready")
}

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub public_url: String,
    pub api_key: String,
    /// Whether the API key was generated (a development key) rather than configured.
    pub api_key_generated: bool,
    pub state: AppState,
    /// A signed link that opens the dashboard without typing the API key.
    pub dashboard_link: String,
    trigger: Trigger,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Asks the server to stop: clients are closed, rooms flushed, then the listener stops.
    pub fn shutdown(&self) {
        self.trigger.fire();
    }

    /// Waits until the server has stopped.
    pub async fn stopped(self) -> std::io::Result<()> {
        self.task.await.unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

/// Opens the store, binds the listener and serves until SIGINT/SIGTERM or [`Running::shutdown`].
pub async fn start(config: Config) -> anyhow::Result<Running> {
    check_api_key(config.api_key.as_deref())?;
    let data_dir = config.data_dir.clone();
    {
        let dir = data_dir.clone();
        tokio::task::spawn_blocking(move || private_fs::prepare_data_dir(&dir)).await??;
    }
    let (api_key, api_key_generated) = {
        let dir = data_dir.clone();
        let configured = config.api_key.clone();
        tokio::task::spawn_blocking(move || {
            secrets::load_or_create(configured.as_deref(), &dir, "dev-api-key")
        })
        .await??
    };
    let (secret, _) = {
        let dir = data_dir.clone();
        let configured = config.token_secret.clone();
        tokio::task::spawn_blocking(move || {
            secrets::load_or_create(configured.as_deref(), &dir, "token-secret")
        })
        .await??
    };
    let store = store::open(&config.store_url()).await?;
    let webhook_secret = match &config.webhook_url {
        Some(_) => {
            let dir = data_dir.clone();
            let configured = config.webhook_secret.clone();
            tokio::task::spawn_blocking(move || {
                secrets::load_or_create(configured.as_deref(), &dir, "webhook-secret")
            })
            .await??
            .0
        }
        None => String::new(),
    };
    let webhooks = Arc::new(Webhooks::new(
        store.clone(),
        config.webhook_url.clone(),
        webhook_secret.into_bytes(),
        Duration::from_millis(config.webhook_retry_ms),
    ));
    let rooms = Registry::new(
        store.clone(),
        Arc::new(LocalBus),
        RoomSettings {
            idle_evict: Duration::from_secs(config.room_idle_evict_s),
            commit_window: Duration::from_millis(config.commit_window_ms.min(MAX_GROUP_COMMIT_WINDOW_MS)),
        },
    );
    let listener = listen(config.listen)?;
    let addr = listener.local_addr()?;
    let configured_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let state = AppState {
        store,
        rooms: rooms.clone(),
        tokens: Arc::new(TokenKeys::new(secret.as_bytes())),
        api_key: Arc::from(api_key.as_str()),
        urls: Arc::new(Urls::from_public(&configured_url)),
        outbox_frames: config.client_outbox_frames.max(1),
        webhooks: webhooks.clone(),
        reopen_window: Duration::from_secs(config.reopen_window_s),
        metrics_token: config.metrics_token.as_deref().filter(|t| !t.is_empty()).map(Arc::from),
    };
    let trigger = Trigger::new();
    let stop = trigger.clone();
    tokio::spawn(webhooks.run(trigger.clone()));
    if config.retention_s > 0 {
        tokio::spawn(crate::lifecycle::sweep_retention(
            state.clone(),
            Duration::from_secs(config.retention_s),
            trigger.clone(),
        ));
    }
    tokio::spawn(crate::lifecycle::sweep_idle(
        state.clone(),
        Duration::from_secs(config.room_idle_end_s),
        trigger.clone(),
    ));
    if api_key_generated {
        crate::sample::seed_if_empty(&state).await?;
    }
    let dashboard_link =
        format!("{}/#dashboard={}", state.urls.public, state.tokens.mint_dashboard(DASHBOARD_TOKEN_TTL_SECS));
    let app = router(state.clone(), &config.web_dir());
    let settings = crate::accept::Settings::new(
        Duration::from_millis(config.header_read_timeout_ms),
        config.max_http_connections_per_addr,
    );
    let task = tokio::spawn(async move {
        let stop = async move {
            tokio::select! {
                _ = shutdown::os_signal() => tracing::info!("signal received, shutting down"),
                _ = stop.fired() => tracing::info!("shutdown requested"),
            }
            // Close every client and flush every room before the listener goes away.
            rooms.shutdown().await;
            tracing::info!("rooms flushed");
        };
        crate::accept::serve(listener, app, settings, stop).await;
        Ok(())
    });
    // The normalised base (no trailing slash), the same every link is built from.
    let public_url = state.urls.public.clone();
    Ok(Running { addr, public_url, api_key, api_key_generated, state, dashboard_link, trigger, task })
}

/// Refuses a configured API key too short to be a secret (an empty one means "unset": development mode).
fn check_api_key(configured: Option<&str>) -> anyhow::Result<()> {
    let chars = configured.map_or(0, |k| k.chars().count());
    if chars > 0 && chars < MIN_API_KEY_CHARS {
        anyhow::bail!(
            "--api-key (HANDOFF_API_KEY) has {chars} characters; it must have at least {MIN_API_KEY_CHARS}, \
             because it reads every candidate's data (e.g. `openssl rand -hex 32`)"
        );
    }
    Ok(())
}

/// Connections the kernel queues for `accept` (capped by `net.core.somaxconn`). tokio's default of 1024
/// overflowed when every client of a reconnect storm came back at once: the kernel dropped the SYNs and
/// those clients waited a whole retransmission timeout (1 s) before their second try.
const LISTEN_BACKLOG: u32 = 4096;

fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket =
        if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

#[cfg(test)]
mod tests {
    use super::Urls;

    #[test]
    fn ws_url_follows_the_public_scheme() {
        assert_eq!(Urls::from_public("https://h.example.com/").ws, "wss://h.example.com/ws");
        assert_eq!(Urls::from_public("http://127.0.0.1:8080").ws, "ws://127.0.0.1:8080/ws");
        assert_eq!(Urls::from_public("http://127.0.0.1:8080/").public, "http://127.0.0.1:8080");
    }
}
