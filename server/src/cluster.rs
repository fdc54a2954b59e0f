//! Cluster mode (DESIGN §3): the [`Bus`] over Redis Streams, with PostgreSQL as the shared store.
//!
//! - Order: each room's log is a Redis stream; the ordering script (`publisher.rs`) gives each update
//!   its seq (INCR of the room's counter, XADD `<seq>-0`), so every node applies the same order and the
//!   log stays gap-free.
//! - Reading: one task reads the attached rooms' streams that have news (`reader.rs`; the ordering script
//!   notifies each entry to the other nodes that read the room, `readers.rs` and `touched.rs`), drops the node's own echoes,
//!   hands the rest to the room's actor, and asks a room that lost its place to rebuild.
//! - Commit: one node per room at a time (a lease) appends the stream to the store, idempotently, and
//!   trims the stream below what the store holds (`committer.rs`), taking the updates its publisher and
//!   reader hand over rather than reading them again (`pending.rs`); any node can commit a room from its
//!   stream on demand ([`Bus::flush`], before an export reads the log; `commit.rs`). Every `--snapshot-every` committed entries that
//!   node also writes a snapshot built from the store alone (`snapshot.rs`).
//! - Presence: a node that loads a room asks the others for their members' awareness states, and each
//!   room keeps the states other nodes relay, so a joiner sees everyone at once.
//! - Room events (a pushed question) go to every node's members: the node that answered the API sends
//!   them to its own and publishes them; the others send them to theirs.
//! - Voice: a room's voice runs on one node, its voice home (`voice_home.rs`); a join on another node
//!   is refused with a reason.
//! - Counting: each node writes its count of a room's clients into the room's hash (with a deadline),
//!   and "clients connected" sums the live counts.

mod commit;
mod committer;
mod cursor;
mod entries;
mod message;
mod pending;
mod publisher;
mod reader;
mod readers;
mod sharing;
mod snapshot;
mod touched;
mod voice_home;

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use dashmap::DashMap;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{mpsc, oneshot};

use crate::bus::{Attachment, Bus, Remote, VoiceHome};
use crate::clock::now_ms;
use crate::metrics::METRICS;
use crate::store::{LogEntry, RoomLog, StoreError, StoreResult};
use message::{K_ENDED, K_REOPENED, Keys, Outgoing};
use pending::Pending;
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
/// Entries of a room Redis may hold that the store does not (PostgreSQL unreachable). Past it, the
/// room is held off on every node holding it, rather than Redis filling up (with `noeviction` it would
/// then refuse every write). A typing room adds about 5 entries a second.
pub const MAX_UNCOMMITTED: u64 = 5_000;

/// Why a room is held off (bits of [`Link::held`]).
const HELD_QUEUE: u8 = 1;
const HELD_BACKLOG: u8 = 2;

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
    /// The committer holds the room's lease and knows where the store ends: the publisher and the
    /// reader hand it the room's updates (`pending.rs`).
    collecting: AtomicBool,
    /// The updates handed to the committer.
    pending: Mutex<Pending>,
    /// Whether this node held the room's lease when it last asked Redis, and when it asks next (ms on
    /// the committer's monotonic clock): `committer.rs`.
    leased: AtomicBool,
    lease_ask_at: AtomicU64,
    /// The seq this node last told Redis the store holds the room to, and when (the committer's
    /// clock).
    told: AtomicU64,
    told_at: AtomicU64,
    /// 1 + the seq after which the committer last found the handed-over updates broken (0: it did
    /// not); found broken there again a tick later, it reads the stream.
    gap_after: AtomicU64,
    /// Attachments of the room's actor(s) on this node.
    attached: AtomicUsize,
    /// Clients of the room on this node, and the count last written to Redis.
    connected: AtomicUsize,
    counted: AtomicUsize,
    /// The seq the room's newest snapshot covers, as far as this node knows (0: none known), and
    /// whether this node is writing one (see `snapshot.rs`).
    snapshotted: AtomicU64,
    snapshotting: AtomicBool,
    /// The highest seq this node knows the store holds (loaded, committed here or by another node).
    stored: AtomicU64,
    /// Why the room is held off ([`HELD_QUEUE`], [`HELD_BACKLOG`]); 0: it is not.
    held: AtomicU8,
    /// The room's latest attachment, to tell it to hold off or resume.
    remote: Mutex<Option<mpsc::UnboundedSender<Remote>>>,
    /// The Redis data's epoch when the room last attached: its messages carry it (`publisher.rs`).
    epoch: Mutex<Arc<str>>,
    /// Whether another node reads the room (`sharing.rs`).
    sharing: sharing::Sharing,
}

impl Link {
    fn tell(&self, remote: Remote) {
        if let Some(tx) = self.remote.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = tx.send(remote);
        }
    }

    /// Holds the room off for `cause` (its first cause closes its clients here).
    fn hold(&self, cause: u8) {
        if self.held.fetch_or(cause, Ordering::AcqRel) == 0 {
            METRICS.cluster("held_off", 1);
            self.tell(Remote::HoldOff);
        }
    }

    /// Lifts `cause`; the room takes joins again once no cause is left.
    fn release(&self, cause: u8) {
        if self.held.fetch_and(!cause, Ordering::AcqRel) == cause {
            self.tell(Remote::Resumed);
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Links {
    rooms: DashMap<Arc<str>, Arc<Link>>,
    /// This node's publish numbers (see `publisher.rs`).
    published: AtomicU64,
    /// Committed entries between two snapshots of a room (see `snapshot.rs`).
    snapshot_every: u64,
    /// Bytes of messages this node may queue for Redis (`--redis-queue-bytes`), and those queued.
    queue_limit: usize,
    queued: AtomicUsize,
    /// Some room is held off because the queue was full.
    held_for_queue: AtomicBool,
    /// The Redis data's epoch as this node last found it (`committer.rs`).
    epoch: Mutex<Arc<str>>,
}

impl Links {
    fn epoch(&self) -> Arc<str> {
        self.epoch.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `message` as the publisher's job: numbered, counted against the queue's limit (returned: the
    /// bytes queued with it), and stamped with its room's epoch; a room not attached here (an end
    /// through this node's API) goes by the node's.
    fn job(&self, message: Outgoing) -> (Job, usize) {
        let number = publisher::next_number(self);
        let bytes = message.bytes();
        let epoch = match self.rooms.get(&message.room) {
            Some(link) => link.epoch.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            None => self.epoch(),
        };
        let queued = self.queued.fetch_add(bytes, Ordering::AcqRel) + bytes;
        (Job::Send { message, number, bytes, epoch }, queued)
    }

    fn set_epoch(&self, epoch: Arc<str>) {
        *self.epoch.lock().unwrap_or_else(|e| e.into_inner()) = epoch;
    }

    /// A queued message of `bytes` reached Redis (or was dropped).
    fn sent(&self, bytes: usize) {
        let left = self.queued.fetch_sub(bytes, Ordering::AcqRel) - bytes;
        if left <= self.queue_limit / 2 && self.held_for_queue.swap(false, Ordering::AcqRel) {
            for link in self.rooms.iter() {
                link.release(HELD_QUEUE);
            }
        }
    }

    fn tell(&self, room: &str, remote: Remote) {
        if let Some(link) = self.rooms.get(room) {
            link.tell(remote);
        }
    }

    /// Hands an update of the room, added to its stream under `epoch`, to the committer if it takes
    /// the room's updates (`pending.rs`). Before [`Links::saw`], so the committer knows of no update
    /// that is still on its way to it.
    fn hand(&self, room: &str, epoch: &Arc<str>, entry: impl FnOnce() -> LogEntry) {
        if let Some(link) = self.rooms.get(room)
            && link.collecting.load(Ordering::Acquire)
        {
            link.pending.lock().unwrap_or_else(|e| e.into_inner()).push(epoch, entry());
        }
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
        queue_limit: usize,
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
        let epoch = committer::join_epoch(&mut committer_conn.clone())
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach Redis: {e}"))?;
        let links = Arc::new(Links { snapshot_every, queue_limit, ..Links::default() });
        links.set_epoch(Arc::from(epoch));
        let (jobs, jobs_rx) = mpsc::unbounded_channel();
        let (control, control_rx) = mpsc::unbounded_channel();
        let publisher = Publisher {
            jobs: jobs_rx,
            conn: conn.clone(),
            node: node.clone(),
            links: links.clone(),
            store: store.clone(),
        };
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
            reader: control.clone(),
        };
        tokio::spawn(committer.run());
        tracing::info!(node = %node, "cluster mode: bus on Redis");
        Ok(Arc::new(RedisBus { node, links, jobs, control, conn, store }))
    }

    fn send(&self, message: Outgoing) {
        let room = message.room.clone();
        let (job, queued) = self.links.job(message);
        if queued > self.links.queue_limit {
            // Redis has not taken this node's messages for a while: the room adding more is held off
            // (the message itself is kept: its room applied it, so it must reach the log).
            if let Some(link) = self.links.rooms.get(&room).map(|l| l.clone()) {
                if link.held.load(Ordering::Acquire) & HELD_QUEUE == 0 {
                    tracing::error!(room = %room, queued, "the queue for Redis is full; holding the room off");
                }
                self.links.held_for_queue.store(true, Ordering::Release);
                link.hold(HELD_QUEUE);
            }
        }
        // The publisher lives as long as the runtime: a send fails only while it shuts down.
        let _ = self.jobs.send(job);
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
        link.stored.fetch_max(last_seq, Ordering::AcqRel);
        link.dirty.store(true, Ordering::Release);
        let (tx, remote) = mpsc::unbounded_channel();
        // Told either way: a room rebuilding attaches again, and the link that held it off may have
        // gone meanwhile (its clients were closed, so it was forgotten), which would leave the room
        // refusing joins with no one to tell it the hold is over.
        let held = link.held.load(Ordering::Acquire) != 0;
        let _ = tx.send(if held { Remote::HoldOff } else { Remote::Resumed });
        *link.remote.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx.clone());
        let epoch = self.links.epoch();
        *link.epoch.lock().unwrap_or_else(|e| e.into_inner()) = epoch.clone();
        // Redis counts the room's seq on from what the store holds, if it has no count of its own (a
        // room new to Redis, or a Redis that lost its data): queued ahead of the room's own messages.
        let _ = self.jobs.send(Job::Seed { room: room.clone(), seq: last_seq });
        let _ = self.control.send(Control::Attach { room: room.clone(), last_seq, tx, epoch });
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
        if self.links.keep_awareness_local(room) {
            return;
        }
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
            match commit::commit(&mut conn, self.store.as_ref(), &room, None).await {
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
            link.stored.fetch_max(upto, Ordering::AcqRel);
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
