//! What every HTTP and WebSocket handler shares: [`AppState`], built once by `app::start`. It sits
//! below the handlers (`api/`, `ws`) and the router that mounts them (`app`), so neither side imports
//! the other through it.

use std::sync::Arc;

use crate::auth::TokenKeys;
use crate::lifecycle::Lifecycle;
use crate::recording::RecordingService;
use crate::room::Registry;
use crate::store::Store;
use crate::voice::Voice;

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
    /// Opening, ending, reopening and purging rooms.
    pub lifecycle: Arc<Lifecycle>,
    /// The voice SFU.
    pub voice: Arc<Voice>,
    /// The bearer token `/metrics` requires; open when `None`.
    pub metrics_token: Option<Arc<str>>,
    /// The voice recordings: the SFU's recorders, and where the download finds their files.
    pub recordings: Arc<RecordingService>,
}

impl std::fmt::Debug for Urls {
    /// Opaque: derived from the configured base URL.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Urls").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for AppState {
    /// Opaque: shared handles to the store, rooms and secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
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
