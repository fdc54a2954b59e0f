//! A Yjs client in Rust: yrs for the document and awareness, tokio-tungstenite for the socket, speaking
//! the same y-sync protocol as a y-websocket provider. Incoming frames are processed only while the test
//! pumps the client (`wait_for`), which keeps every test deterministic.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use handoff_protocol::frame::{self, MessageKind};
use handoff_protocol::schema;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use yrs::sync::Awareness;
use yrs::{Doc, GetString, Map, MapRef, Out, ReadTxn, Text, TextPrelim, Transact, TransactionMut};

use super::PATIENCE;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct YClient {
    ws: Ws,
    pub awareness: Awareness,
    /// Sync step 2 from the server arrived.
    pub synced: bool,
    /// The close frame (code, reason) or `(0, "eof")` when the connection dropped without one.
    pub closed: Option<(u16, String)>,
    /// A permission-denied reason received from the server.
    pub denied: Option<String>,
    /// Frames received so far.
    pub frames: usize,
    /// Awareness messages received.
    pub awareness_frames: usize,
    /// Extension messages (numbers 100–119) received.
    pub extension_messages: usize,
    /// Those messages' bytes, in the order they arrived.
    pub extension_frames: Vec<Vec<u8>>,
}

impl YClient {
    /// Connects; panics if the server refuses.
    pub async fn connect(url: &str) -> YClient {
        match Self::try_connect(url).await {
            Ok(c) => c,
            Err(status) => panic!("connection to {url} refused with HTTP {status}"),
        }
    }

    /// Connects and waits for the first sync.
    pub async fn synced(url: &str) -> YClient {
        let mut c = Self::connect(url).await;
        c.wait_synced().await;
        c
    }

    /// Connects, or returns the HTTP status the server refused the upgrade with.
    pub async fn try_connect(url: &str) -> Result<YClient, u16> {
        // No size limit on what the server sends, as in a browser (a document may pass tungstenite's
        // default of 16 MiB per frame).
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(None)
            .max_frame_size(None);
        match tokio_tungstenite::connect_async_with_config(url, Some(config), false).await {
            Ok((ws, _)) => Ok(Self::start(ws).await),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
            Err(e) => panic!("websocket error: {e}"),
        }
    }

    /// Connects over a socket with a tiny receive buffer, for a client that falls behind.
    pub async fn connect_small_buffer(url: &str, addr: std::net::SocketAddr) -> YClient {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let tcp = socket.connect(addr).await.unwrap();
        let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp)).await.unwrap();
        Self::start(ws).await
    }

    async fn start(ws: Ws) -> YClient {
        let mut c = YClient {
            ws,
            awareness: Awareness::new(Doc::new()),
            synced: false,
            closed: None,
            denied: None,
            frames: 0,
            awareness_frames: 0,
            extension_messages: 0,
            extension_frames: Vec::new(),
        };
        // Like y-websocket: announce our state vector so the server answers with what we lack.
        let sv = c.doc().transact().state_vector();
        c.send_raw(frame::encode_sync_step1(&sv)).await;
        c
    }

    pub fn doc(&self) -> &Doc {
        self.awareness.doc()
    }

    pub fn files(&self) -> BTreeMap<String, String> {
        schema::read_files(self.doc())
    }

    pub async fn send_raw(&mut self, bytes: Vec<u8>) {
        // A closed connection surfaces on the next read; sending into it is not the test's concern.
        let _ = self.ws.send(Message::Binary(Bytes::from(bytes))).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        let _ = self.ws.send(Message::Text(text.into())).await;
    }

    /// Runs `f` in a transaction and sends the resulting update, as a provider does on a local change.
    pub async fn edit(&mut self, f: impl FnOnce(&mut TransactionMut, &MapRef)) {
        let update = {
            let doc = self.awareness.doc();
            let root = schema::files_root(doc);
            let before = doc.transact().state_vector();
            let mut txn = doc.transact_mut();
            f(&mut txn, &root);
            drop(txn);
            doc.transact().encode_diff_v1(&before)
        };
        self.send_raw(frame::encode_update(&update)).await;
    }

    /// Inserts `text` into file `path` at `index` (`None` = the end).
    pub async fn insert(&mut self, path: &str, index: Option<u32>, text: &str) {
        let path = path.to_owned();
        let text = text.to_owned();
        self.edit(move |txn, root| match root.get(txn, &path) {
            Some(Out::YText(t)) => {
                let at = index.unwrap_or_else(|| t.len(txn));
                t.insert(txn, at, &text);
            }
            _ => {
                root.insert(txn, path.as_str(), TextPrelim::new(text.as_str()));
            }
        })
        .await;
    }

    pub fn text(&self, path: &str) -> Option<String> {
        let doc = self.doc();
        let root = schema::files_root(doc);
        let txn = doc.transact();
        match root.get(&txn, path) {
            Some(Out::YText(t)) => Some(t.get_string(&txn)),
            _ => None,
        }
    }

    /// Sets our presence (`{"user": {"name": …}}`) and sends it.
    pub async fn set_user(&mut self, name: &str) {
        self.awareness.set_local_state(serde_json::json!({"user": {"name": name}})).unwrap();
        let id = self.doc().client_id();
        let update = self.awareness.update_with_clients([id]).unwrap();
        self.send_raw(frame::encode_awareness(&update)).await;
    }

    /// Names of the other clients present in our awareness view.
    pub fn others(&self) -> Vec<String> {
        let me = self.doc().client_id();
        let mut names: Vec<String> = self
            .awareness
            .iter()
            .filter(|(id, _)| *id != me)
            .filter_map(|(_, state)| {
                let v: serde_json::Value = serde_json::from_str(state.data.as_deref()?).ok()?;
                v["user"]["name"].as_str().map(str::to_owned)
            })
            .collect();
        names.sort();
        names
    }

    /// Reads and handles one frame; `false` if none arrived within `wait` or the connection is closed.
    pub async fn step(&mut self, wait: Duration) -> bool {
        if self.closed.is_some() {
            return false;
        }
        let msg = match tokio::time::timeout(wait, self.ws.next()).await {
            Err(_) => return false,
            Ok(None) | Ok(Some(Err(_))) => {
                self.closed.get_or_insert((0, "eof".into()));
                return false;
            }
            Ok(Some(Ok(m))) => m,
        };
        match msg {
            Message::Binary(bytes) => {
                self.frames += 1;
                self.handle(&bytes).await;
            }
            Message::Close(frame) => {
                let (code, reason) = frame
                    .map(|CloseFrame { code, reason }| (u16::from(code), reason.to_string()))
                    .unwrap_or((1005, String::new()));
                self.closed = Some((code, reason));
            }
            _ => {}
        }
        true
    }

    async fn handle(&mut self, bytes: &[u8]) {
        for part in frame::split_frame(bytes).expect("server frames are well-formed") {
            match part.kind {
                MessageKind::SyncStep1 { state_vector } => {
                    let sv = frame::decode_state_vector(&bytes[state_vector]).unwrap();
                    let update = self.doc().transact().encode_state_as_update_v1(&sv);
                    self.send_raw(frame::encode_sync_step2(&update)).await;
                }
                MessageKind::SyncStep2 { ref update } | MessageKind::Update { ref update } => {
                    if matches!(part.kind, MessageKind::SyncStep2 { .. }) {
                        self.synced = true;
                    }
                    let update = update.clone();
                    let u = frame::decode_update(&bytes[update]).unwrap();
                    self.doc().transact_mut().apply_update(u).unwrap();
                }
                MessageKind::Awareness { update } => {
                    self.awareness_frames += 1;
                    let u = frame::decode_awareness(&bytes[update]).unwrap();
                    self.awareness.apply_update(u).unwrap();
                }
                MessageKind::Auth => {
                    // Permission denied: [2, 0, reason].
                    let msg = &bytes[part.message];
                    self.denied = Some(String::from_utf8_lossy(&msg[3..]).into_owned());
                }
                MessageKind::Extension { .. } => {
                    self.extension_messages += 1;
                    self.extension_frames.push(bytes[part.message].to_vec());
                }
                MessageKind::QueryAwareness => {}
            }
        }
    }

    /// Pumps frames until `cond` holds; panics with `what` after [`PATIENCE`].
    pub async fn wait_for(&mut self, what: &str, cond: impl Fn(&YClient) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !cond(self) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(!left.is_zero(), "timed out waiting for: {what}");
            if !self.step(left).await && self.closed.is_some() && !cond(self) {
                panic!("connection closed ({:?}) while waiting for: {what}", self.closed);
            }
        }
    }

    pub async fn wait_synced(&mut self) {
        self.wait_for("initial sync", |c| c.synced).await;
    }

    /// Pumps until the server closes the connection; returns the close code and reason.
    pub async fn wait_closed(&mut self) -> (u16, String) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while self.closed.is_none() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(!left.is_zero(), "server did not close the connection");
            self.step(left).await;
        }
        self.closed.clone().unwrap()
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
