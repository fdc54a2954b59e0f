//! The node's one reader: it waits for news on the node's notification stream, then reads the streams
//! of the rooms attached here that have news (`touched.rs` says which; `readers.rs` says which nodes a
//! room's news is notified to: this node lists itself for each room it attaches), each from the last
//! entry it saw, so a node cut off from Redis catches up where it stopped (`cursor.rs`: what each
//! entry read becomes). A round is one pipeline: the read of the rooms the last notifications named,
//! then the read of the notifications that came since, which waits for one only when no room is to be
//! read. A notification carries its entry and the id of the entry before it: when that is where the
//! room's cursor stands, the room takes the entry at once, and news crosses nodes in one read; when it
//! is not (an entry not notified here lies between: this node's own, or one of an older release), the
//! room's stream is read next round.
//!
//! A room is read from the end of its stream as it stands when the room attaches, or from just after
//! the room's last seq if the stream holds updates past it: awareness, end and reopen entries are
//! numbered after the update they followed, so starting after every entry of that update would skip
//! whatever is added before the next update. Once the cursor stands, the reader asks the other nodes
//! for their members' awareness states (`K_AWARENESS_WANTED`): their answers land after it.
//!
//! One bad stream must not stall the others: a multi-stream XREAD fails whole when one of its streams
//! fails (yhub issue 61), so after such a failure each stream is read alone, and the ones that fail
//! alone wait out a pause while the rest go on. Ids are never taken from input: each cursor is built
//! from numbers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{FromRedisValue, RedisResult, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Links;
use super::cursor::{Cursor, Fit, start_after};
use super::entries::{Entries, Streams};
use super::message::{K_AWARENESS_WANTED, Keys, Outgoing};
use super::publisher::Job;
use super::readers::{READERS_REFRESH, Readers};
use super::touched::{Carried, Touched};
use crate::bus::Remote;
use crate::metrics::METRICS;

/// Entries read per stream per round.
const READ_COUNT: usize = 512;
/// How long one read of the notifications waits for one. A room attached meanwhile is read from the
/// next round.
const BLOCK_MS: u64 = 100;
/// A round starts no sooner than this after the last one: the notifications that come meanwhile are
/// read together, and the rooms they name in one read. Without it each entry another node adds to a
/// room held here would wake this node's reader for a round of its own. It bounds a node's rounds to
/// 500 a second (each a round trip and a wake-up, which cost the node more than the entries they
/// carry) at the price of up to twice this much latency per hop (a notification read just after a
/// round waits for the next two). A reader waiting on an idle bus is not held back: its wait is longer
/// than this.
const GATHER: Duration = Duration::from_millis(2);
/// Pause before reading a stream that failed on its own again.
const FAILED_STREAM_PAUSE: Duration = Duration::from_secs(5);
/// Pause after Redis could not be reached.
const UNREACHABLE_PAUSE: Duration = Duration::from_millis(200);

pub(super) enum Control {
    /// Read the room's stream after log entry `last_seq`, handing what others did to `tx`; the room
    /// attached under the Redis data's `epoch`.
    Attach { room: Arc<str>, last_seq: u64, tx: mpsc::UnboundedSender<Remote>, epoch: Arc<str> },
    /// Redis lost its data: every place in a stream means nothing now.
    Lost,
}

pub(super) struct Reader {
    pub(super) control: mpsc::UnboundedReceiver<Control>,
    /// A connection of its own: a blocking XREAD holds its connection for the whole wait.
    pub(super) conn: ConnectionManager,
    pub(super) node: Arc<str>,
    pub(super) links: Arc<Links>,
    /// The publisher's queue, for the request for awareness a room's attachment sends.
    pub(super) jobs: mpsc::UnboundedSender<Job>,
}

impl Reader {
    pub(super) async fn run(mut self) {
        let mut cursors: HashMap<Arc<str>, Cursor> = HashMap::new();
        let mut touched = Touched::new(Instant::now(), &self.node);
        let readers = Readers::new(self.node.clone());
        let mut next_refresh = Instant::now() + READERS_REFRESH;
        // The notifications could not be read last round: this round waits on the rooms' streams.
        let mut blind = false;
        // When the last round started.
        let mut last_round = Instant::now();
        loop {
            loop {
                match self.control.try_recv() {
                    Ok(control) => self.attach(&mut cursors, &mut touched, &readers, control).await,
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => return,
                }
            }
            // A room whose actor let go of its attachment is read no more, nor notified here.
            let detached: Vec<Arc<str>> =
                cursors.iter().filter(|(_, c)| c.tx.is_closed()).map(|(room, _)| room.clone()).collect();
            if !detached.is_empty() {
                for room in &detached {
                    cursors.remove(room);
                }
                if let Err(e) = readers.leave(&mut self.conn, &detached).await {
                    // Its entries lapse by themselves; notifications meanwhile name no held room.
                    tracing::debug!(error = %e, "leaving the rooms' readers failed");
                }
            }
            if cursors.is_empty() {
                // Nothing to read: wait for an attach.
                touched.forget();
                match self.control.recv().await {
                    Some(control) => self.attach(&mut cursors, &mut touched, &readers, control).await,
                    None => return,
                }
                continue;
            }
            if let Err(e) = touched.locate(&mut self.conn).await {
                self.unreachable_or_blind(&e, &mut touched, &mut blind).await;
                continue;
            }
            let now = Instant::now();
            if now >= next_refresh {
                next_refresh = now + READERS_REFRESH;
                let held: Vec<Arc<str>> = cursors.keys().cloned().collect();
                if let Err(e) = readers.join(&mut self.conn, &held).await {
                    // Missed notifications are read with the full scan; the next refresh tries again.
                    tracing::warn!(error = %e, "refreshing this node's place among the rooms' readers failed");
                }
            }
            let rooms = touched.take(now, &cursors, |c| c.paused_until.is_none_or(|t| t <= now));
            if now < last_round + GATHER {
                tokio::time::sleep_until(last_round + GATHER).await;
            }
            last_round = Instant::now();
            // One round trip: the rooms named last round, then the notifications that came meanwhile
            // (waiting for one when no room is to be read).
            let mut pipe = redis::pipe();
            pipe.ignore_errors();
            let block = (rooms.is_empty() || blind).then_some(BLOCK_MS);
            if !rooms.is_empty() {
                self.add_read(&mut pipe, &cursors, &rooms, if blind { block } else { None });
            }
            let notes = !blind;
            if notes {
                touched.add_read(&mut pipe, block);
            }
            blind = false;
            if rooms.is_empty() && !notes {
                // Every held stream is paused and the notifications cannot be read: wait as a read would.
                tokio::time::sleep(Duration::from_millis(BLOCK_MS)).await;
                continue;
            }
            let mut replies: Vec<RedisResult<Value>> = match pipe.query_async(&mut self.conn).await {
                Ok(replies) => replies,
                Err(e) => {
                    // The rooms are read again with the next full scan (or their next notification).
                    touched.mark_all();
                    self.unreachable_or_blind(&e, &mut touched, &mut blind).await;
                    continue;
                }
            };
            let noted = if notes {
                replies.pop().map(|r| r.and_then(|v| Ok(Streams::from_redis_value(v)?)))
            } else {
                None
            };
            match replies.pop().map(|r| r.and_then(|v| Ok(Streams::from_redis_value(v)?))) {
                Some(Ok(streams)) => self.deliver(&mut cursors, &mut touched, streams),
                Some(Err(e)) if unreachable(&e) => {
                    METRICS.cluster("redis_errors", 1);
                    tracing::warn!(error = %e, "reading the bus failed; retrying");
                    touched.mark_all();
                    tokio::time::sleep(UNREACHABLE_PAUSE).await;
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "a multi-stream read failed; reading each stream alone");
                    self.isolate(&mut cursors, &mut touched, rooms).await;
                }
                None => {}
            }
            // After the rooms' reads: a carried entry is taken only right after what was read.
            match noted {
                Some(Ok(streams)) => {
                    let carried = touched.noted(streams, &cursors, &self.node);
                    self.take_carried(&mut cursors, &mut touched, carried);
                }
                Some(Err(e)) => self.unreachable_or_blind(&e, &mut touched, &mut blind).await,
                None => {}
            }
        }
    }

    /// Hands each carried entry that follows its room's cursor to the room; a room whose entry does
    /// not follow is read from its stream next round.
    fn take_carried(
        &self,
        cursors: &mut HashMap<Arc<str>, Cursor>,
        touched: &mut Touched,
        carried: Vec<Carried>,
    ) {
        let mut taken = 0;
        for Carried { room, prev, entry } in carried {
            let Some(cursor) = cursors.get_mut(&room) else { continue };
            if touched.is_due(&room) {
                continue;
            }
            match cursor.fit(prev, entry.id) {
                Fit::Read => {}
                Fit::Gap => touched.mark(room),
                Fit::Next => {
                    taken += 1;
                    if !cursor.take(entry, &self.node, &self.links) {
                        drop_cursor(cursors, &room);
                    }
                }
            }
        }
        if taken > 0 {
            METRICS.cluster("carried", taken);
        }
    }

    /// After a failed read: a pause when Redis could not be reached; otherwise (the notifications
    /// cannot be read) every held stream is read next round, waiting on them as a node without
    /// notifications does.
    async fn unreachable_or_blind(&self, e: &redis::RedisError, touched: &mut Touched, blind: &mut bool) {
        if unreachable(e) {
            METRICS.cluster("redis_errors", 1);
            tracing::warn!(error = %e, "reading the bus failed; retrying");
            tokio::time::sleep(UNREACHABLE_PAUSE).await;
        } else {
            tracing::warn!(error = %e, "the notifications cannot be read; reading every stream");
            touched.mark_all();
            *blind = true;
        }
    }

    /// Adds to `pipe` one XREAD of `rooms`' streams, each after its cursor.
    fn add_read(
        &self,
        pipe: &mut redis::Pipeline,
        cursors: &HashMap<Arc<str>, Cursor>,
        rooms: &[Arc<str>],
        block_ms: Option<u64>,
    ) {
        let cmd = pipe.cmd("XREAD").arg("COUNT").arg(READ_COUNT);
        if let Some(ms) = block_ms {
            cmd.arg("BLOCK").arg(ms);
        }
        cmd.arg("STREAMS");
        let chosen: Vec<&Cursor> = rooms.iter().filter_map(|r| cursors.get(r)).collect();
        for c in &chosen {
            cmd.arg(&c.key);
        }
        for c in &chosen {
            cmd.arg(format!("{}-{}", c.last_id.0, c.last_id.1));
        }
    }

    /// Reads each stream alone, pausing the ones that fail alone.
    async fn isolate(
        &mut self,
        cursors: &mut HashMap<Arc<str>, Cursor>,
        touched: &mut Touched,
        rooms: Vec<Arc<str>>,
    ) {
        for room in rooms {
            let mut pipe = redis::pipe();
            self.add_read(&mut pipe, cursors, std::slice::from_ref(&room), None);
            let read: RedisResult<(Streams,)> = pipe.query_async(&mut self.conn).await;
            match read {
                Ok((reply,)) => self.deliver(cursors, touched, reply),
                Err(e) if unreachable(&e) => {
                    METRICS.cluster("redis_errors", 1);
                    touched.mark_all();
                    tokio::time::sleep(UNREACHABLE_PAUSE).await;
                    return;
                }
                Err(e) => {
                    METRICS.cluster("stream_failures", 1);
                    tracing::error!(room = %room, error = %e, "the room's stream cannot be read; pausing it");
                    if let Some(c) = cursors.get_mut(&room) {
                        c.paused_until = Some(Instant::now() + FAILED_STREAM_PAUSE);
                    }
                }
            }
        }
    }

    fn deliver(
        &self,
        cursors: &mut HashMap<Arc<str>, Cursor>,
        touched: &mut Touched,
        Streams(streams): Streams,
    ) {
        for (key, entries) in streams {
            let Some(room) = Keys::room_of(&key) else { continue };
            let Some(cursor) = cursors.get_mut(room) else { continue };
            if entries.len() >= READ_COUNT {
                // Stopped at the count: the rest is read next round, notified or not.
                touched.mark(cursor.room.clone());
            }
            let mut keep = true;
            for entry in entries {
                if !cursor.take(entry, &self.node, &self.links) {
                    keep = false;
                    break;
                }
            }
            if !keep {
                let room = cursor.room.clone();
                drop_cursor(cursors, &room);
            }
        }
    }

    /// Starts (or restarts) reading a room's stream after log entry `last_seq` (see the module's
    /// comment for where), then asks the other nodes for their members' awareness states.
    async fn attach(
        &mut self,
        cursors: &mut HashMap<Arc<str>, Cursor>,
        touched: &mut Touched,
        readers: &Readers,
        control: Control,
    ) {
        let Control::Attach { room, last_seq, tx, epoch } = control else {
            // Redis lost its data: every place in a stream means nothing now; each room rebuilds
            // (the committer tells it) and attaches again.
            tracing::debug!(rooms = cursors.len(), "dropping every place in the streams");
            cursors.clear();
            touched.forget();
            return;
        };
        tracing::debug!(room = %room, last_seq, "reading the room's stream");
        // Listed before the room's first read (next round), which reads whatever came before.
        if let Err(e) = readers.join(&mut self.conn, std::slice::from_ref(&room)).await {
            tracing::debug!(room = %room, error = %e, "joining the room's readers failed");
        }
        let key = Keys::stream(&room);
        let end: RedisResult<Entries> = redis::cmd("XREVRANGE")
            .arg(&key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut self.conn)
            .await;
        let last_id = match end {
            Ok(Entries(end)) => start_after(last_seq, end.first().map(|e| e.id)),
            Err(e) => {
                // After every entry of the last update: what reaches the room later is still read.
                tracing::debug!(room = %room, error = %e, "reading where the room's stream ends failed");
                (last_seq, u64::MAX)
            }
        };
        cursors.insert(
            room.clone(),
            Cursor { room: room.clone(), key, last_id, last_seq, tx, epoch, paused_until: None },
        );
        // What was added before it attached is not notified any more.
        touched.mark(room.clone());
        let (job, _) = self.links.job(Outgoing::signal(room, K_AWARENESS_WANTED));
        let _ = self.jobs.send(job);
    }
}

/// Drops the cursor of a room that is done reading (it rebuilds, and attaches again), but for a room
/// whose actor let go: that one goes with the detached rooms at the next round, which takes this node
/// off the room's readers.
fn drop_cursor(cursors: &mut HashMap<Arc<str>, Cursor>, room: &Arc<str>) {
    if cursors.get(room).is_some_and(|c| !c.tx.is_closed()) {
        cursors.remove(room);
    }
}

/// Whether Redis could not be reached (as opposed to refusing the command).
pub(super) fn unreachable(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_connection_refusal()
}
