//! One Yjs client over a real WebSocket: yrs for the document and awareness, tokio-tungstenite for the
//! socket, speaking y-sync like a y-websocket provider. The read and write halves are split so a scenario
//! can wait on its timetable and on incoming frames in one `select!` without sharing the document
//! between tasks. A [`Dialect`] adapts the framing to Hocuspocus (document-name prefix, auth first).

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use handoff_protocol::frame::{self, MessageKind};
use handoff_protocol::schema;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use yrs::ClientID;
use yrs::sync::Awareness;
use yrs::{Doc, ReadTxn, Transact};

use yrs::Update;
use yrs::encoding::read::{Cursor, Read};
use yrs::encoding::write::Write;
use yrs::updates::decoder::Decode;

use crate::limits::{CLIENT_READ_BUFFER, CLOSE_TIMEOUT, JOIN_TIMEOUT, JOINER_READ_BUFFER};
use crate::target::Dialect;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What one incoming frame taught us about the client we watch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Learned {
    /// Clocks of the watched client's items that this frame made known (state vector before → after).
    pub clocks: Range<u32>,
    /// Awareness entries of the watched client in this frame.
    pub awareness: u32,
}

pub struct YClient {
    sink: SplitSink<Ws, Message>,
    stream: SplitStream<Ws>,
    pub awareness: Awareness,
    /// Sync step 2 from the server arrived.
    pub synced: bool,
    dialect: Dialect,
    /// Updates received but not applied (see [`YClient::join_holding`]).
    held: Option<Vec<Bytes>>,
    /// The `user` field of our awareness state: a browser shows the name and role its token carries,
    /// and handoff relays such a state as sent (any other it rewrites), so load clients do the same.
    pub user: serde_json::Value,
}

/// How a join went: the WebSocket handshake, then the first sync (our step 1 sent → the server's step 2
/// received, before it is applied), and the whole of it (connect → step 2 applied).
#[derive(Debug, Clone, Copy, Default)]
pub struct JoinTimes {
    pub handshake: Duration,
    pub first_sync: Duration,
    pub total: Duration,
}

/// Hocuspocus message types beyond y-sync's 0–3 (its `MessageType`): an auth answer, and messages a
/// load client has no use for (sync status acknowledgements, stateless, ping/pong).
const HOCUSPOCUS_AUTH: u64 = 2;
const HOCUSPOCUS_AUTHENTICATED: u64 = 2;
const HOCUSPOCUS_PERMISSION_DENIED: u64 = 1;
const HOCUSPOCUS_FIRST_OWN_TYPE: u64 = 4;

impl YClient {
    /// Connects, announces our state vector and pumps frames until the server's sync step 2 arrived.
    /// Returns the client and the join time (connect → synced).
    /// `seed`, when given, is applied before connecting (a peer room's files, see `target`).
    pub async fn join(
        url: &str,
        dialect: &Dialect,
        seed: Option<&[u8]>,
    ) -> anyhow::Result<(YClient, JoinTimes)> {
        let doc = Doc::new();
        if let Some(seed) = seed {
            doc.transact_mut().apply_update(Update::decode_v1(seed).context("seed")?).context("seed")?;
        }
        Self::join_doc(url, dialect, doc).await
    }

    /// Joins empty and keeps the updates it receives instead of applying them (see
    /// [`YClient::take_held`]): a hundred joiners in one generator process would otherwise delay each
    /// other's reads with the yrs work that real clients do on their own machines.
    pub async fn join_holding(url: &str, dialect: &Dialect) -> anyhow::Result<(YClient, JoinTimes)> {
        Self::join_with(url, dialect, Doc::new(), true).await
    }

    /// Joins with a document that already holds state (a reconnecting client).
    pub async fn join_doc(url: &str, dialect: &Dialect, doc: Doc) -> anyhow::Result<(YClient, JoinTimes)> {
        Self::join_with(url, dialect, doc, false).await
    }

    async fn join_with(
        url: &str,
        dialect: &Dialect,
        doc: Doc,
        hold: bool,
    ) -> anyhow::Result<(YClient, JoinTimes)> {
        let started = Instant::now();
        let mut times = JoinTimes::default();
        let joined = tokio::time::timeout(JOIN_TIMEOUT, async {
            // TCP_NODELAY as browsers set it, and a small read buffer: tungstenite's default (128 KiB)
            // is zeroed on every read, which made memset the generator's largest cost.
            let read_buffer = if hold { JOINER_READ_BUFFER } else { CLIENT_READ_BUFFER };
            let config = WebSocketConfig::default().read_buffer_size(read_buffer);
            let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
                .await
                .context("websocket connect")?;
            times.handshake = started.elapsed();
            let (sink, stream) = ws.split();
            let mut c = YClient {
                sink,
                stream,
                awareness: Awareness::new(doc),
                synced: false,
                dialect: dialect.clone(),
                held: hold.then(Vec::new),
                user: user_of(url),
            };
            if let Dialect::Hocuspocus { .. } = c.dialect {
                // A Hocuspocus provider authenticates first (an empty token: no auth hook is configured).
                let mut auth = Vec::new();
                auth.write_var(HOCUSPOCUS_AUTH);
                auth.write_var(0u8);
                auth.write_string("");
                c.send(auth).await?;
            }
            let sv = c.doc().transact().state_vector();
            let asked = Instant::now();
            c.send(frame::encode_sync_step1(&sv)).await?;
            while !c.synced {
                let bytes = c.next_frame().await?.ok_or_else(|| anyhow!("closed before sync"))?;
                let arrived = Instant::now();
                c.handle(&bytes, None).await?;
                if c.synced {
                    times.first_sync = arrived - asked;
                }
            }
            anyhow::Ok(c)
        })
        .await
        .map_err(|_| anyhow!("not synced within {JOIN_TIMEOUT:?}"))??;
        times.total = started.elapsed();
        Ok((joined, times))
    }

    /// The updates a [`YClient::join_holding`] client received, unapplied, in order.
    pub fn take_held(&mut self) -> Vec<Bytes> {
        self.held.take().unwrap_or_default()
    }

    pub fn doc(&self) -> &Doc {
        self.awareness.doc()
    }

    pub fn dialect(&self) -> &Dialect {
        &self.dialect
    }

    pub fn client_id(&self) -> ClientID {
        self.doc().client_id()
    }

    pub fn files(&self) -> BTreeMap<String, String> {
        schema::read_files(self.doc())
    }

    /// Takes the document back (to rejoin with it after a drop).
    pub fn into_doc(self) -> Doc {
        self.awareness.doc().clone()
    }

    /// Sends one binary frame (prefixed with the document name for Hocuspocus).
    pub async fn send(&mut self, bytes: Vec<u8>) -> anyhow::Result<()> {
        self.feed(bytes).await?;
        self.flush().await
    }

    /// Queues one frame without flushing, so several frames leave in one write (as a browser's do when
    /// its provider sends an update and the cursor in the same tick).
    pub async fn feed(&mut self, bytes: Vec<u8>) -> anyhow::Result<()> {
        let bytes = match &self.dialect {
            Dialect::YSync => bytes,
            Dialect::Hocuspocus { document } => {
                let mut framed = Vec::with_capacity(document.len() + 2 + bytes.len());
                framed.write_string(document);
                framed.extend_from_slice(&bytes);
                framed
            }
        };
        self.sink.feed(Message::Binary(Bytes::from(bytes))).await.context("websocket send")
    }

    pub async fn flush(&mut self) -> anyhow::Result<()> {
        self.sink.flush().await.context("websocket flush")
    }

    /// Sets our awareness state and sends it.
    pub async fn send_awareness(&mut self, state: serde_json::Value) -> anyhow::Result<()> {
        self.feed_awareness(state).await?;
        self.flush().await
    }

    /// Sets our awareness state and queues it (see [`YClient::feed`]).
    pub async fn feed_awareness(&mut self, state: serde_json::Value) -> anyhow::Result<()> {
        self.awareness.set_local_state(state).context("awareness state")?;
        let update = self.awareness.update_with_clients([self.client_id()]).context("awareness update")?;
        self.feed(frame::encode_awareness(&update)).await
    }

    /// The next y-sync frame; `None` once the connection is closed. Pings, pongs and text are skipped
    /// (tungstenite answers pings itself), and so are a Hocuspocus server's own messages.
    pub async fn next_frame(&mut self) -> anyhow::Result<Option<Bytes>> {
        loop {
            match self.stream.next().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(anyhow!("websocket read: {e}")),
                Some(Ok(Message::Binary(bytes))) => {
                    if let Some(frame) = self.unwrap_dialect(bytes)? {
                        return Ok(Some(frame));
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let why = frame.map(|f| format!("{} {}", u16::from(f.code), f.reason));
                    bail!("closed by server: {}", why.unwrap_or_else(|| "no close frame".into()))
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// The y-sync message inside a frame as the dialect wraps it; `None` for messages to skip.
    fn unwrap_dialect(&self, bytes: Bytes) -> anyhow::Result<Option<Bytes>> {
        let Dialect::Hocuspocus { document } = &self.dialect else { return Ok(Some(bytes)) };
        let mut cur = Cursor::new(&bytes);
        let name = cur.read_string().map_err(|e| anyhow!("hocuspocus frame without a document name: {e}"))?;
        if name != document {
            bail!("hocuspocus message for {name:?}, expected {document:?}");
        }
        let body = bytes.slice(cur.next..);
        let mut cur = Cursor::new(&body);
        let kind: u64 = cur.read_var().map_err(|e| anyhow!("hocuspocus message type: {e}"))?;
        match kind {
            HOCUSPOCUS_AUTH => match cur.read_var::<u64>().map_err(|e| anyhow!("auth message: {e}"))? {
                HOCUSPOCUS_AUTHENTICATED => Ok(None),
                HOCUSPOCUS_PERMISSION_DENIED => bail!("hocuspocus refused the connection"),
                other => bail!("unknown hocuspocus auth message {other}"),
            },
            k if k >= HOCUSPOCUS_FIRST_OWN_TYPE => Ok(None),
            _ => Ok(Some(body)),
        }
    }

    /// Handles one frame like a provider does (answers sync step 1, applies updates and awareness) and
    /// reports what it taught us about `watch`'s items.
    pub async fn handle(&mut self, bytes: &Bytes, watch: Option<ClientID>) -> anyhow::Result<Learned> {
        let mut learned = Learned::default();
        for part in frame::split_frame(bytes).map_err(|e| anyhow!("bad frame from server: {e}"))? {
            match part.kind {
                MessageKind::SyncStep1 { state_vector } => {
                    let sv = frame::decode_state_vector(&bytes[state_vector])?;
                    let update = self.doc().transact().encode_state_as_update_v1(&sv);
                    self.send(frame::encode_sync_step2(&update)).await?;
                }
                MessageKind::SyncStep2 { update: ref range } | MessageKind::Update { update: ref range } => {
                    if matches!(part.kind, MessageKind::SyncStep2 { .. }) {
                        self.synced = true;
                    }
                    if let Some(held) = &mut self.held {
                        // A slice of the frame, not a copy: the joiner holds the 200 KiB it was sent.
                        held.push(bytes.slice(range.clone()));
                        continue;
                    }
                    let update = frame::decode_update(&bytes[range.clone()])?;
                    let clocks = self.apply(update, watch)?;
                    if learned.clocks.is_empty() {
                        learned.clocks = clocks;
                    } else if !clocks.is_empty() {
                        learned.clocks =
                            learned.clocks.start.min(clocks.start)..learned.clocks.end.max(clocks.end);
                    }
                }
                MessageKind::Awareness { update } => {
                    // Decoded (a malformed one is an error) but not applied: a load client draws no
                    // cursors, and parsing every peer's JSON state would make the generator, not the
                    // server, the bottleneck.
                    let update = frame::decode_awareness(&bytes[update])?;
                    if let Some(w) = watch {
                        learned.awareness += u32::from(update.clients.contains_key(&w));
                    }
                }
                // Permission denied (an observer's step 2 is refused once), queries and extensions.
                MessageKind::Auth | MessageKind::QueryAwareness | MessageKind::Extension { .. } => {}
            }
        }
        Ok(learned)
    }

    /// Applies an update; returns the clocks of `watch` it made known.
    fn apply(&self, update: yrs::Update, watch: Option<ClientID>) -> anyhow::Result<Range<u32>> {
        let doc = self.doc();
        let mut txn = doc.transact_mut();
        let before = watch.map(|w| txn.state_vector().get(&w));
        txn.apply_update(update).context("apply update")?;
        Ok(match (watch, before) {
            (Some(w), Some(before)) => before..txn.state_vector().get(&w),
            _ => 0..0,
        })
    }

    /// Closes the connection politely, bounded by [`CLOSE_TIMEOUT`].
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.sink.close()).await;
    }
}

/// The awareness `user` a browser sends with the room token in `url` (`token=` query parameter): its
/// name and role. Servers without handoff's tokens get a plain name.
fn user_of(url: &str) -> serde_json::Value {
    use base64::Engine;
    let claims = url
        .split_once("token=")
        .and_then(|(_, rest)| rest.split('&').next()?.split('.').nth(1))
        .and_then(|payload| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|json| serde_json::from_slice::<handoff_protocol::Claims>(&json).ok());
    match claims {
        Some(c) => serde_json::json!({"name": c.name, "role": c.role.as_str()}),
        None => serde_json::json!({"name": "typist"}),
    }
}
