//! Cluster mode (DESIGN §3): the [`Bus`] over Redis Streams, with PostgreSQL as the shared store.
//!
//! - Order: each room's log is a Redis stream; the ordering script (`publisher.rs`) gives each update
//!   its seq (INCR of the room's counter, XADD `<seq>-0`), so every node applies the same order and the
//!   log stays gap-free.
//! - Reading: one task reads every attached room's stream (`reader.rs`), drops the node's own echoes,
//!   hands the rest to the room's actor, and asks a room that lost its place to rebuild.
//! - Commit: one node per room at a time (a lease) appends the stream to the store, idempotently, and
//!   trims the stream below what the store holds (`committer.rs`); any node can commit a room on demand
//!   ([`Bus::flush`], before an export reads the log). Every `--snapshot-every` committed entries that
//!   node also writes a snapshot built from the store alone (`snapshot.rs`).
//! - Presence: a node that loads a room asks the others for their members' awareness states, and each
//!   room keeps the states other nodes relay, so a joiner sees everyone at once.
//! - Room events (a pushed question) go to every node's members: the node that answered the API sends
//!   them to its own and publishes them; the others send them to theirs.
//! - Voice: a room's voice runs on one node, its voice home (`voice_home.rs`); a join on another node
//!   is refused with a reason.
//! - Counting: each node writes its count of a room's clients into the room's hash (with a deadline),
//!   and "clients connected" sums the live counts.

mod committer;
mod message;
mod publisher;
mod reader;
mod snapshot;
mod voice_home;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use dashmap::DashMap;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{mpsc, oneshot};

use crate::bus::{Attachment, Bus, VoiceHome};
use crate::clock::now_ms;
use crate::store::{LogEntry, RoomLog, StoreError, StoreResult};
use message::{K_ENDED, K_REOPENED, Keys, Outgoing};
use publisher::{Job, Publisher};
use reader::{Control, Reader};

/// How long a flush waits for this node's queued messages to reach Redis.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries of a commit on demand, and the pause between them.
const FLUSH_ATTEMPTS: u32 = 5;
const FLUSH_RETRY_PAUSE: Duration = Duration::from_millis(200);
/// How long a Redis command may take before it counts as failed (a blocking read waits less).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long connecting to Redis may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// One room attached on this node, shared by the reader, the publisher and the committer.
#[derive(Debug, Default)]
pub(crate) struct Link {
    /// The highest seq this node knows the room's log has (loaded or read): the publisher's floor if
    /// Redis holds no counter for the room.
    known: AtomicU64,
    /// New updates were read since the committer last looked.
    dirty: AtomicBool,
    /// The seq the store holds to, as this node last committed it (0: unknown, read the store).
    committed: AtomicU64,
    /// Attachments of the room's actor(s) on this node.
    attached: AtomicUsize,
    /// Clients of the room on this node, and the count last written to Redis.
    connected: AtomicUsize,
    counted: AtomicUsize,
    /// The seq the room's newest snapshot covers, as far as this node knows (0: none known), and
    /// whether this node is writing one (see `snapshot.rs`).
    snapshotted: AtomicU64,
    snapshotting: AtomicBool,
}

#[derive(Debug, Default)]
pub(crate) struct Links {
    rooms: DashMap<Arc<str>, Arc<Link>>,
    /// This node's publish numbers (see `publisher.rs`).
    published: AtomicU64,
    /// Committed entries between two snapshots of a room (see `snapshot.rs`).
    snapshot_every: u64,
}

impl Links {
    fn known(&self, room: &str) -> u64 {
        self.rooms.get(room).map_or(0, |l| l.known.load(Ordering::Acquire))
    }

    fn saw(&self, room: &str, seq: u64) {
        if let Some(link) = self.rooms.get(room) {
            link.known.fetch_max(seq, Ordering::AcqRel);
            link.dirty.store(true, Ordering::Release);
        }
    }
}

/// The Redis Streams bus.
pub(crate) struct RedisBus {
    node: Arc<str>,
    links: Arc<Links>,
    jobs: mpsc::UnboundedSender<Job>,
    control: mpsc::UnboundedSender<Control>,
    conn: ConnectionManager,
    store: Arc<dyn RoomLog>,
}

impl RedisBus {
    /// Connects to Redis at `url` and starts the node's publisher, reader and committer.
    pub(crate) async fn start(
        url: &str,
        store: Arc<dyn RoomLog>,
        snapshot_every: u64,
    ) -> anyhow::Result<Arc<RedisBus>> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("--redis-url is not a Redis URL: {:?}", e.kind()))?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECT_TIMEOUT));
        let connect = || ConnectionManager::new_with_config(client.clone(), config.clone());
        let conn = connect().await.map_err(|e| anyhow::anyhow!("cannot reach Redis: {e}"))?;
        let (reader_conn, committer_conn) = (connect().await?, connect().await?);
        let node: Arc<str> = Arc::from(uuid::Uuid::new_v4().simple().to_string());
        let links = Arc::new(Links { snapshot_every, ..Links::default() });
        let (jobs, jobs_rx) = mpsc::unbounded_channel();
        let (control, control_rx) = mpsc::unbounded_channel();
        let publisher =
            Publisher { jobs: jobs_rx, conn: conn.clone(), node: node.clone(), links: links.clone() };
        tokio::spawn(publisher.run());
        let reader = Reader {
            control: control_rx,
            conn: reader_conn,
            node: node.clone(),
            links: links.clone(),
            jobs: jobs.clone(),
        };
        tokio::spawn(reader.run());
        let committer = committer::Committer {
            conn: committer_conn,
            node: node.clone(),
            links: links.clone(),
            store: store.clone(),
        };
        tokio::spawn(committer.run());
        tracing::info!(node = %node, "cluster mode: bus on Redis");
        Ok(Arc::new(RedisBus { node, links, jobs, control, conn, store }))
    }

    fn send(&self, message: Outgoing) {
        let number = publisher::next_number(&self.links);
        // The publisher lives as long as the runtime: a send fails only while it shuts down.
        let _ = self.jobs.send(Job::Send { message, number });
    }
}

#[async_trait]
impl Bus for RedisBus {
    fn attach(&self, room: &Arc<str>, last_seq: u64) -> Option<Attachment> {
        // Counted under the map's lock, so the committer cannot forget the room meanwhile.
        let link = {
            let link = self.links.rooms.entry(room.clone()).or_default();
            link.attached.fetch_add(1, Ordering::AcqRel);
            link.clone()
        };
        link.known.fetch_max(last_seq, Ordering::AcqRel);
        link.dirty.store(true, Ordering::Release);
        let (tx, remote) = mpsc::unbounded_channel();
        let _ = self.control.send(Control::Attach { room: room.clone(), last_seq, tx });
        Some(Attachment { remote })
    }

    fn detach(&self, room: &Arc<str>) {
        if let Some(link) = self.links.rooms.get(room) {
            link.attached.fetch_sub(1, Ordering::AcqRel);
            link.connected.store(0, Ordering::Release);
        }
        // Kept until the committer has written the zero count; see `connected_everywhere`.
        self.links.rooms.remove_if(room, |_, l| {
            l.attached.load(Ordering::Acquire) == 0 && l.counted.load(Ordering::Acquire) == 0
        });
    }

    fn publish(&self, entry: LogEntry) {
        self.send(Outgoing::update(entry));
    }

    fn awareness(&self, room: &Arc<str>, frame: Bytes) {
        self.send(Outgoing::awareness(room.clone(), frame));
    }

    fn room_event(&self, room: &str, frame: Bytes) {
        self.send(Outgoing::room_event(Arc::from(room), frame));
    }

    fn ended(&self, room: &str) {
        self.send(Outgoing::signal(Arc::from(room), K_ENDED));
    }

    fn reopened(&self, room: &str) {
        self.send(Outgoing::signal(Arc::from(room), K_REOPENED));
    }

    fn connected(&self, room: &Arc<str>, count: usize) {
        if let Some(link) = self.links.rooms.get(room) {
            link.connected.store(count, Ordering::Release);
        }
    }

    async fn connected_everywhere(&self, room: &str) -> Option<usize> {
        let mut conn = self.conn.clone();
        let counts: redis::RedisResult<std::collections::HashMap<String, String>> =
            redis::cmd("HGETALL").arg(Keys::connected(room)).query_async(&mut conn).await;
        let mine = self.links.rooms.get(room).map_or(0, |l| l.connected.load(Ordering::Acquire));
        let Ok(counts) = counts else { return Some(mine) };
        let now = now_ms();
        let others: usize = counts
            .iter()
            .filter(|(node, _)| **node != *self.node)
            .filter_map(|(_, v)| v.split_once(':'))
            .filter_map(|(n, until)| Some((n.parse::<usize>().ok()?, until.parse::<u64>().ok()?)))
            .filter(|(_, until)| *until > now)
            .map(|(n, _)| n)
            .sum();
        Some(mine + others)
    }

    async fn voice_home(&self, room: &str, ttl: Duration) -> VoiceHome {
        voice_home::hold(&mut self.conn.clone(), &self.node, room, ttl).await
    }

    async fn leave_voice_home(&self, room: &str) {
        voice_home::leave(&mut self.conn.clone(), &self.node, room).await
    }

    async fn flush(&self, room: &str) -> StoreResult<()> {
        let (done, drained) = oneshot::channel();
        let _ = self.jobs.send(Job::Drained(done));
        match tokio::time::timeout(DRAIN_TIMEOUT, drained).await {
            Ok(Ok(())) => {}
            _ => return Err(StoreError::backend("the bus could not reach Redis in time")),
        }
        let mut conn = self.conn.clone();
        let room: Arc<str> = Arc::from(room);
        let mut attempt = 1;
        let upto = loop {
            // A connection Redis dropped fails its next command and reconnects: try again.
            match committer::commit(&mut conn, self.store.as_ref(), &room, None).await {
                Err(e) if attempt < FLUSH_ATTEMPTS => {
                    tracing::debug!(error = %e, attempt, "commit failed; retrying")
                }
                result => break result?,
            }
            attempt += 1;
            tokio::time::sleep(FLUSH_RETRY_PAUSE).await;
        };
        if let Some(link) = self.links.rooms.get(&room) {
            link.committed.fetch_max(upto, Ordering::AcqRel);
        }
        Ok(())
    }
}

impl std::fmt::Debug for RedisBus {
    /// The node's id only: the connections and channels say nothing useful.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus").field("node", &self.node).finish_non_exhaustive()
    }
}
