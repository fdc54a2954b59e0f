//! The router and starting/stopping the server. `router(state)` builds the whole HTTP surface so tests
//! can run it in-process; [`start`] builds the [`AppState`] and the services under it, binds a listener
//! and runs it until shutdown. Nothing imports this module: it is the top of the server.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::routing::get;
use handoff_protocol::limits::{
    DASHBOARD_TOKEN_TTL_SECS, MAX_GROUP_COMMIT_WINDOW_MS, MAX_REQUEST_BYTES, MIN_API_KEY_CHARS,
};
use tokio::task::JoinHandle;
use tower_http::trace::TraceLayer;

use crate::auth::{TokenKeys, api_key_matches};
use crate::bus::{Bus, LocalBus};
use crate::cluster::RedisBus;
use crate::config::Config;
use crate::dir_lock::{self, DirLock, Hold};
use crate::error::AppError;
use crate::headers::SecurityHeaders;
use crate::lifecycle::Lifecycle;
use crate::metrics::{METRICS, Sampled};
use crate::recording::RecordingService;
use crate::room::{Registry, RoomSettings};
use crate::shutdown::{self, Trigger};
use crate::state::{AppState, Urls};
use crate::store;
use crate::voice::{Voice, VoiceSettings};
use crate::webhook::Webhooks;
use crate::{metrics, private_fs, secrets};

pub fn router(state: AppState, web_dir: &Path) -> Router {
    let routes = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(scrape))
        .route("/ws/{room_id}", get(crate::ws::upgrade))
        .nest(crate::api::API_BASE, crate::api::router());
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

/// `GET /metrics` in the Prometheus text format. With `--metrics-token` set, only a request bearing that
/// token gets it (401 otherwise); the API key does not open it, so a scraper never holds the key.
async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Result<impl IntoResponse, AppError> {
    if let Some(expected) = &state.metrics_token {
        let presented = crate::api::bearer(&headers);
        if !presented.is_some_and(|p| api_key_matches(p, expected)) {
            return Err(AppError::Unauthorized(
                "missing or invalid metrics token (Authorization: Bearer <token>)".into(),
            ));
        }
    }
    let rooms_loaded = state.rooms.loaded();
    // A store that cannot answer leaves the last count: the scrape itself should not fail for it.
    let rooms_live = match state.store.count_live_rooms().await {
        Ok(live) => Some(live),
        Err(error) => {
            tracing::warn!(%error, "cannot count live rooms for /metrics");
            None
        }
    };
    let body = METRICS.gather(Sampled { rooms_loaded, rooms_live });
    Ok(([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body))
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
    let data_dir_lock = dir_lock::try_lock(&data_dir, Hold::Shared)?.ok_or_else(|| {
        anyhow::anyhow!(
            "{} is being restored (`handoff restore` holds it); start the server when it has finished",
            data_dir.display()
        )
    })?;
    let (api_key, api_key_generated) = {
        let dir = data_dir.clone();
        let configured = config.api_key.clone();
        tokio::task::spawn_blocking(move || {
            secrets::load_or_create(configured.as_deref(), &dir, secrets::API_KEY_FILE)
        })
        .await??
    };
    let (secret, _) = {
        let dir = data_dir.clone();
        let configured = config.token_secret.clone();
        tokio::task::spawn_blocking(move || {
            secrets::load_or_create(configured.as_deref(), &dir, secrets::TOKEN_SECRET_FILE)
        })
        .await??
    };
    let store_url = config.store_url();
    let bus = bus(config.redis_url.as_deref(), &store_url)?;
    let store = store::open(&store_url).await?;
    let bus: Arc<dyn Bus> = match bus {
        Some(url) => {
            RedisBus::start(url, store.clone(), config.snapshot_every, config.redis_queue_bytes).await?
        }
        None => Arc::new(LocalBus),
    };
    let recordings = RecordingService::spawn(&data_dir, store.clone())?;
    let webhook_secret = match &config.webhook_url {
        Some(_) => {
            let dir = data_dir.clone();
            let configured = config.webhook_secret.clone();
            tokio::task::spawn_blocking(move || {
                secrets::load_or_create(configured.as_deref(), &dir, secrets::WEBHOOK_SECRET_FILE)
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
        bus.clone(),
        RoomSettings {
            idle_evict: Duration::from_secs(config.room_idle_evict_s),
            commit_window: Duration::from_millis(config.commit_window_ms.min(MAX_GROUP_COMMIT_WINDOW_MS)),
            snapshot_every: config.snapshot_every,
        },
    );
    let listener = listen(config.listen).map_err(|e| listen_error(config.listen, e))?;
    let addr = listener.local_addr()?;
    let configured_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let urls = Arc::new(Urls::from_public(&configured_url));
    let voice = Voice::new(
        VoiceSettings {
            enabled: config.voice,
            bind_ip: config.voice_bind_ip,
            public_ip: config.voice_public_ip,
            udp_ports: config.voice_udp_ports,
            ice_servers: VoiceSettings::parse_ice_servers(&config.ice_servers),
        },
        store.clone(),
        recordings.clone(),
        bus,
    );
    let lifecycle = Arc::new(Lifecycle {
        store: store.clone(),
        rooms: rooms.clone(),
        webhooks: webhooks.clone(),
        voice: voice.clone(),
        public_url: Arc::from(urls.public.as_str()),
        reopen_window: Duration::from_secs(config.reopen_window_s),
        recordings: recordings.clone(),
    });
    let state = AppState {
        store,
        rooms: rooms.clone(),
        tokens: Arc::new(TokenKeys::new(secret.as_bytes())),
        api_key: Arc::from(api_key.as_str()),
        urls,
        outbox_frames: config.client_outbox_frames.max(1),
        lifecycle: lifecycle.clone(),
        voice: voice.clone(),
        metrics_token: config.metrics_token.as_deref().filter(|t| !t.is_empty()).map(Arc::from),
        recordings: recordings.clone(),
    };
    let trigger = Trigger::new();
    let stop = trigger.clone();
    tokio::spawn(webhooks.run(trigger.clone()));
    if config.retention_s > 0 {
        tokio::spawn(
            lifecycle.clone().sweep_retention(Duration::from_secs(config.retention_s), trigger.clone()),
        );
    }
    tokio::spawn(lifecycle.sweep_idle(Duration::from_secs(config.room_idle_end_s), trigger.clone()));
    if api_key_generated {
        crate::sample::seed_if_empty(state.store.as_ref()).await?;
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
            // Close every client and flush every room before the listener goes away; voice first, so
            // its members are told before their connections close.
            voice.shutdown().await;
            rooms.shutdown().await;
            // The rooms closed their voice connections, which finished their recorders; finish any
            // recording still open, so every file ends with its last page and its row is saved.
            recordings.stop().await;
            tracing::info!("rooms flushed, recordings finished");
        };
        crate::accept::serve(listener, app, settings, stop).await;
        // Held until the rooms are flushed: a restore must not replace the store under them.
        drop::<DirLock>(data_dir_lock);
        Ok(())
    });
    // The normalised base (no trailing slash), the same every link is built from.
    let public_url = state.urls.public.clone();
    Ok(Running { addr, public_url, api_key, api_key_generated, state, dashboard_link, trigger, task })
}

/// The Redis URL when cluster mode is on. A cluster needs the shared PostgreSQL store: nodes on their
/// own SQLite files (or in memory) would each keep a different log of the same room.
fn bus<'a>(redis_url: Option<&'a str>, store_url: &str) -> anyhow::Result<Option<&'a str>> {
    let Some(url) = redis_url.filter(|u| !u.is_empty()) else { return Ok(None) };
    if !(store_url.starts_with("postgres://") || store_url.starts_with("postgresql://")) {
        anyhow::bail!(
            "--redis-url (HANDOFF_REDIS_URL) turns cluster mode on, which needs every node on one PostgreSQL \
             store: set --store postgres://USER@HOST/DATABASE (HANDOFF_STORE)"
        );
    }
    Ok(Some(url))
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

/// A failed bind as the operator reads it: the address, why, and the flag that picks another.
fn listen_error(addr: std::net::SocketAddr, e: std::io::Error) -> anyhow::Error {
    let hint = match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            "another process is listening there; stop it, or choose another address"
        }
        std::io::ErrorKind::PermissionDenied => "ports below 1024 need privileges; choose another address",
        _ => "choose another address",
    };
    anyhow::anyhow!("cannot listen on {addr}: {e} ({hint} with --listen ADDR:PORT or HANDOFF_LISTEN)")
}

fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket =
        if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

impl std::fmt::Debug for Running {
    /// Opaque: a listener, a task and a stop trigger.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::bus;

    #[test]
    fn cluster_mode_needs_the_postgresql_store() {
        let refused = bus(Some("redis://127.0.0.1:6379"), "sqlite://data/handoff.db").unwrap_err();
        assert!(refused.to_string().contains("--store postgres://"), "{refused}");
        assert!(bus(Some("redis://127.0.0.1:6379"), "memory://").is_err());
        assert_eq!(bus(Some("redis://r:6379"), "postgres://u@db/h").unwrap(), Some("redis://r:6379"));
        assert_eq!(bus(None, "sqlite://x").unwrap(), None, "no Redis: a single node, whatever the store");
    }
}
