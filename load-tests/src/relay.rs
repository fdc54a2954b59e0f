//! The no-CRDT baseline: a WebSocket relay that stands for the limit of the stack (tokio +
//! tokio-tungstenite) under the same traffic as a Yjs server. It keeps no document: a client's sync
//! step 1 is answered with an empty step 2 (so a y-sync client counts itself synced), step 2 answers are
//! dropped, and every other frame goes, as the same bytes, to every other client of the room — the
//! least work a server can do to deliver an update.
//!
//! Two ways to write, [`Writes`]: by default the connection that read a frame writes it into each other
//! client's socket itself when that socket is free (as handoff's room does), and only what a socket
//! cannot take at once waits in the client's outbox for its writer task; `Writes::Tasks` hands every
//! frame to the writer tasks, as both servers did before handoff 2026-11-23.
//!
//! And two ways to get there, [`Hop`]: by default the reading connection hands the frames on itself;
//! `Hop::Room` sends them first over a bounded channel to a task per room, which hands them on, as
//! handoff's connections send every update to the room actor that owns the document (DESIGN §3). The
//! relay keeps no document and no log either way, so the difference between the two is what the hop
//! itself costs: one more task woken per frame batch, on a tokio worker that may have to be unparked.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_util::stream::SplitSink;
use futures_util::{FutureExt, Sink, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Frames queued for one client before the relay gives up on it (a slow client is dropped, as handoff
/// does, rather than buffered without bound).
pub const RELAY_OUTBOX_FRAMES: usize = 1024;

/// tungstenite's read buffer per connection, as handoff sets it (its 128 KiB default is zeroed on every
/// read and would dominate both memory and CPU).
pub const RELAY_READ_BUFFER: usize = 4 * 1024;

/// Frame batches queued for one room's task (`Hop::Room`), as handoff's `ROOM_COMMAND_QUEUE`: a
/// connection waits when its room's task is this far behind.
pub const RELAY_ROOM_QUEUE: usize = 4096;

/// Most frames forwarded per read, like handoff's `INBOUND_BATCH_MESSAGES`: a client that floods cannot
/// keep its connection task reading forever.
const RELAY_READ_BATCH: usize = 64;

/// y-sync: message type sync (0), step 1 (0) / step 2 (1).
const SYNC_STEP1: [u8; 2] = [0, 0];
const SYNC_STEP2: [u8; 2] = [0, 1];
/// Sync step 2 carrying an empty update (no structs, empty delete set).
const EMPTY_STEP2: [u8; 5] = [0, 1, 2, 0, 0];

/// How frames reach the other clients' sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Writes {
    /// Into the socket by the connection that read them when it is free, else the outbox.
    Direct,
    /// Always through the outbox and the client's writer task.
    Tasks,
}

/// Who hands a frame to the other clients of its room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Hop {
    /// The connection that read it.
    None,
    /// The room's own task, which the reading connection sends it to (handoff's shape, no CRDT).
    Room,
}

type WsSink = SplitSink<WebSocketStream<TcpStream>, Message>;

/// A client's write half, shared so that other connections can write into it (`Writes::Direct`).
struct Shared {
    sink: tokio::sync::Mutex<WsSink>,
    /// The writer task has work: frames in the outbox, or a flush the socket did not finish.
    work: Notify,
}

/// One client as the others reach it.
#[derive(Clone)]
struct Outbox {
    queue: mpsc::Sender<Bytes>,
    shared: Arc<Shared>,
    writes: Writes,
}

impl Outbox {
    /// Writes `frames` into the socket if it is free and takes them now (one flush), else queues them
    /// for the writer task. The writer drains the queue only while holding the sink, so order is kept.
    fn send(&self, frames: &[Bytes]) {
        if self.writes == Writes::Direct
            && let Ok(mut sink) = self.shared.sink.try_lock()
            && self.queue.capacity() == self.queue.max_capacity()
        {
            let mut cx = Context::from_waker(Waker::noop());
            let mut sink = Pin::new(&mut *sink);
            let mut taken = 0;
            while taken < frames.len()
                && matches!(sink.as_mut().poll_ready(&mut cx), Poll::Ready(Ok(())))
                && sink.as_mut().start_send(Message::Binary(frames[taken].clone())).is_ok()
            {
                taken += 1;
            }
            if taken == frames.len() && matches!(sink.poll_flush(&mut cx), Poll::Ready(Ok(()))) {
                return;
            }
            self.enqueue(&frames[taken..]);
            return;
        }
        self.enqueue(frames);
    }

    fn enqueue(&self, frames: &[Bytes]) {
        // Nothing here waits (try_send, and direct writes queue what a socket would not take at once),
        // so the room's lock is held for a few pointer copies and non-blocking writes. A client whose
        // outbox is full does not read: it loses the frame (the load report shows it).
        for frame in frames {
            let _ = self.queue.try_send(frame.clone());
        }
        self.shared.work.notify_one();
    }
}

/// One room's members: connection id → outbox.
type Members = Arc<Mutex<HashMap<u64, Outbox>>>;

/// Frames one connection read, on their way to its room's task (`Hop::Room`).
struct Hopped {
    from: u64,
    frames: Vec<Bytes>,
}

/// A room as a connection reaches it: its members, and its task's queue when frames hop.
#[derive(Clone)]
struct RoomRef {
    members: Members,
    hop: Option<mpsc::Sender<Hopped>>,
}

impl RoomRef {
    fn new(hop: Hop) -> RoomRef {
        let members = Members::default();
        let hop = (hop == Hop::Room).then(|| {
            let (tx, rx) = mpsc::channel(RELAY_ROOM_QUEUE);
            // The task ends once the room is gone from the map and its last connection has left.
            tokio::spawn(room_task(members.clone(), rx));
            tx
        });
        RoomRef { members, hop }
    }
}

/// Hands `frames`, read by connection `from`, to every other member.
fn fan_out(members: &Members, from: u64, frames: &[Bytes]) {
    let m = members.lock().unwrap_or_else(|p| p.into_inner());
    for (_, o) in m.iter().filter(|(k, _)| **k != from) {
        o.send(frames);
    }
}

/// A room's own task (`Hop::Room`): takes the frames its connections read and hands them on.
async fn room_task(members: Members, mut rx: mpsc::Receiver<Hopped>) {
    while let Some(h) = rx.recv().await {
        fan_out(&members, h.from, &h.frames);
    }
}

struct Rooms {
    rooms: Mutex<HashMap<String, RoomRef>>,
    next_id: std::sync::atomic::AtomicU64,
    hop: Hop,
}

impl Rooms {
    fn join(&self, room: &str, outbox: Outbox) -> (u64, RoomRef) {
        let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let r = self
            .rooms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(room.to_owned())
            .or_insert_with(|| RoomRef::new(self.hop))
            .clone();
        r.members.lock().unwrap_or_else(|p| p.into_inner()).insert(id, outbox);
        (id, r)
    }

    fn leave(&self, room: &str, id: u64, members: &Members) {
        let empty = {
            let mut m = members.lock().unwrap_or_else(|p| p.into_inner());
            m.remove(&id);
            m.is_empty()
        };
        if empty {
            let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
            // Someone may have joined between the two locks; only drop a room that is still empty.
            if rooms.get(room).is_some_and(|r| r.members.lock().unwrap_or_else(|p| p.into_inner()).is_empty())
            {
                rooms.remove(room);
            }
        }
    }
}

/// Serves until the listener fails. Each connection's room is its URL path.
pub async fn serve(listener: TcpListener, writes: Writes, hop: Hop) -> std::io::Result<()> {
    let rooms = Arc::new(Rooms { rooms: Mutex::default(), next_id: Default::default(), hop });
    loop {
        let (stream, peer) = listener.accept().await?;
        let rooms = rooms.clone();
        tokio::spawn(async move {
            // The relay logs nothing on the hot path; a failed connection is worth one line, except a
            // readiness probe that connects and leaves before any handshake.
            if let Err(e) = connection(stream, rooms, writes).await {
                let probe = matches!(
                    e.downcast_ref::<tokio_tungstenite::tungstenite::Error>(),
                    Some(tokio_tungstenite::tungstenite::Error::Protocol(
                        tokio_tungstenite::tungstenite::error::ProtocolError::HandshakeIncomplete
                    ))
                );
                if !probe {
                    eprintln!("relay: {peer}: {e}");
                }
            }
        });
    }
}

// The handshake callback's error type (a whole HTTP response) is tungstenite's, not ours to shrink.
#[allow(clippy::result_large_err)]
async fn connection(stream: TcpStream, rooms: Arc<Rooms>, writes: Writes) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    let mut path = String::new();
    let config = WebSocketConfig::default().read_buffer_size(RELAY_READ_BUFFER);
    let ws = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        |req: &Request, resp: Response| {
            path = req.uri().path().to_owned();
            Ok(resp)
        },
        Some(config),
    )
    .await?;
    let (sink, mut stream) = ws.split();
    let (tx, rx) = mpsc::channel::<Bytes>(RELAY_OUTBOX_FRAMES);
    let shared = Arc::new(Shared { sink: tokio::sync::Mutex::new(sink), work: Notify::new() });
    let me = Outbox { queue: tx, shared: shared.clone(), writes };
    let (id, room) = rooms.join(&path, me.clone());
    let writer = tokio::spawn(write_queued(shared, rx));
    let (mut frames, mut out) = (Vec::new(), Vec::new());
    'conn: while let Some(msg) = stream.next().await {
        // Like handoff's connections: what one read delivered is forwarded together, so a typist's update
        // and cursor reach each other client back to back (one wake-up, one write).
        let mut next = Some(msg);
        while let Some(msg) = next {
            match msg {
                Ok(Message::Binary(frame)) => frames.push(frame),
                Ok(_) => {}
                Err(_) => break 'conn,
            }
            next =
                if frames.len() < RELAY_READ_BATCH { stream.next().now_or_never().flatten() } else { None };
        }
        for frame in frames.drain(..) {
            if frame.starts_with(&SYNC_STEP1) {
                me.send(&[Bytes::from_static(&EMPTY_STEP2)]);
            } else if !frame.starts_with(&SYNC_STEP2) {
                out.push(frame);
            }
        }
        if out.is_empty() {
            continue;
        }
        match &room.hop {
            Some(hop) => {
                // A fresh Vec per batch, as handoff's connection sends the room a new one per read
                // (`Command::Messages`): the hop is measured with the allocation it costs there.
                let frames = std::mem::take(&mut out);
                if hop.send(Hopped { from: id, frames }).await.is_err() {
                    break;
                }
            }
            None => {
                fan_out(&room.members, id, &out);
                out.clear();
            }
        }
    }
    rooms.leave(&path, id, &room.members);
    // The last sender: the writer sees the queue close once it is drained.
    drop(me.queue);
    me.shared.work.notify_one();
    let _ = writer.await;
    Ok(())
}

/// A client's writer task: under the sink's lock, write everything queued, then flush once.
async fn write_queued(shared: Arc<Shared>, mut rx: mpsc::Receiver<Bytes>) {
    loop {
        shared.work.notified().await;
        let mut sink = shared.sink.lock().await;
        let (mut written, mut closed) = (Ok(()), false);
        while written.is_ok() {
            match rx.try_recv() {
                Ok(frame) => written = sink.feed(Message::Binary(frame)).await,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        if written.is_err() || sink.flush().await.is_err() || closed {
            let _ = sink.close().await;
            return;
        }
    }
}
