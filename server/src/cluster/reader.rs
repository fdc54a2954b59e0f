//! The node's one reader: it waits for news on the notification stream, then reads the streams of the
//! rooms attached here that have news (`touched.rs` says which), each from the last entry it saw, so a
//! node cut off from Redis catches up where it stopped. Entries go to their
//! room in log order; the node's own echoes are dropped; an update whose seq is not the next one (the
//! stream was trimmed past what the room holds, or Redis lost data) makes the room rebuild from the
//! store and attach again.
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

use bytes::Bytes;
use redis::aio::ConnectionManager;
use redis::streams::{StreamRangeReply, StreamReadReply};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Links;
use super::message::{Incoming, K_AWARENESS_WANTED, Keys, Outgoing, Skipped, decode, parse_id};
use super::publisher::Job;
use super::touched::Touched;
use crate::bus::Remote;
use crate::metrics::METRICS;

/// Entries read per stream per round.
const READ_COUNT: usize = 512;
/// How long one read of the notifications waits for one. A room attached meanwhile is read from the
/// next round.
const BLOCK_MS: u64 = 100;
/// Pause before reading a stream that failed on its own again.
const FAILED_STREAM_PAUSE: Duration = Duration::from_secs(5);
/// Pause after Redis could not be reached.
const UNREACHABLE_PAUSE: Duration = Duration::from_millis(200);

pub(super) enum Control {
    /// Read the room's stream after log entry `last_seq`, handing what others did to `tx`.
    Attach { room: Arc<str>, last_seq: u64, tx: mpsc::UnboundedSender<Remote> },
    /// Redis lost its data: every place in a stream means nothing now.
    Lost,
}

struct Cursor {
    room: Arc<str>,
    key: String,
    /// The last entry read: `(ms, n)` of its id.
    last_id: (u64, u64),
    /// The seq of the last update read.
    last_seq: u64,
    tx: mpsc::UnboundedSender<Remote>,
    /// Set after the stream failed on its own: not read again before then.
    paused_until: Option<Instant>,
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
        let mut touched = Touched::new(Instant::now());
        loop {
            loop {
                match self.control.try_recv() {
                    Ok(control) => self.attach(&mut cursors, &mut touched, control).await,
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => return,
                }
            }
            // A room whose actor let go of its attachment is read no more.
            cursors.retain(|_, c| !c.tx.is_closed());
            if cursors.is_empty() {
                // Nothing to read: wait for an attach.
                touched.forget();
                match self.control.recv().await {
                    Some(control) => self.attach(&mut cursors, &mut touched, control).await,
                    None => return,
                }
                continue;
            }
            // Which rooms have news: the wait for it is the round's one blocking read.
            let mut block_ms = None;
            match touched.read(&mut self.conn, &cursors, BLOCK_MS).await {
                Ok(()) => {}
                Err(e) if unreachable(&e) => {
                    METRICS.cluster("redis_errors", 1);
                    tracing::warn!(error = %e, "reading the bus failed; retrying");
                    tokio::time::sleep(UNREACHABLE_PAUSE).await;
                    continue;
                }
                Err(e) => {
                    // Every held stream is read, waiting on them as a node without notifications does.
                    tracing::warn!(error = %e, "the notifications cannot be read; reading every stream");
                    touched.mark_all();
                    block_ms = Some(BLOCK_MS);
                }
            }
            let now = Instant::now();
            let ready =
                cursors.values().filter(|c| c.paused_until.is_none_or(|t| t <= now)).map(|c| c.room.clone());
            let rooms = touched.take(now, ready);
            if rooms.is_empty() {
                continue;
            }
            match self.read(&cursors, &rooms, block_ms).await {
                Ok(reply) => self.deliver(&mut cursors, &mut touched, reply),
                Err(e) if unreachable(&e) => {
                    METRICS.cluster("redis_errors", 1);
                    tracing::warn!(error = %e, "reading the bus failed; retrying");
                    // The rooms are read again with the next full scan (or their next notification).
                    touched.mark_all();
                    tokio::time::sleep(UNREACHABLE_PAUSE).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a multi-stream read failed; reading each stream alone");
                    self.isolate(&mut cursors, &mut touched, rooms).await;
                }
            }
        }
    }

    async fn read(
        &mut self,
        cursors: &HashMap<Arc<str>, Cursor>,
        rooms: &[Arc<str>],
        block_ms: Option<u64>,
    ) -> redis::RedisResult<Option<StreamReadReply>> {
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT").arg(READ_COUNT);
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
        cmd.query_async(&mut self.conn).await
    }

    /// Reads each stream alone, pausing the ones that fail alone.
    async fn isolate(
        &mut self,
        cursors: &mut HashMap<Arc<str>, Cursor>,
        touched: &mut Touched,
        rooms: Vec<Arc<str>>,
    ) {
        for room in rooms {
            match self.read(cursors, std::slice::from_ref(&room), None).await {
                Ok(reply) => self.deliver(cursors, touched, reply),
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
        reply: Option<StreamReadReply>,
    ) {
        for stream in reply.map(|r| r.keys).unwrap_or_default() {
            let Some(room) = Keys::room_of(&stream.key) else { continue };
            let Some(cursor) = cursors.get_mut(room) else { continue };
            if stream.ids.len() >= READ_COUNT {
                // Stopped at the count: the rest is read next round, notified or not.
                touched.mark(cursor.room.clone());
            }
            let mut keep = true;
            for entry in stream.ids {
                if !self.entry(cursor, &entry.id, &entry.map) {
                    keep = false;
                    break;
                }
            }
            if !keep {
                let room = cursor.room.clone();
                cursors.remove(&room);
            }
        }
    }

    /// Hands one entry to its room. False when the cursor is done: the room rebuilds (and attaches
    /// again) or is gone.
    fn entry(&self, c: &mut Cursor, id: &str, map: &HashMap<String, redis::Value>) -> bool {
        let Some((ms, n)) = parse_id(id) else { return true };
        c.last_id = (ms, n);
        let incoming = match decode(&c.room, ms, map) {
            Ok(incoming) => incoming,
            Err(why) => {
                METRICS.cluster("skipped", 1);
                match why {
                    Skipped::Unknown => {
                        tracing::warn!(room = %c.room, id, "skipping a bus entry of an unknown version or kind")
                    }
                    Skipped::Broken => tracing::error!(room = %c.room, id, "skipping a broken bus entry"),
                }
                return true;
            }
        };
        let remote = match incoming {
            Incoming::Update { node, entry } => {
                if n != 0 || ms <= c.last_seq {
                    return true;
                }
                if ms != c.last_seq + 1 {
                    tracing::warn!(room = %c.room, after = c.last_seq, next = ms, "the stream skips entries; rebuilding");
                    METRICS.cluster("rebuilds", 1);
                    let _ = c.tx.send(Remote::Rebuild);
                    return false;
                }
                c.last_seq = ms;
                self.links.saw(&c.room, ms);
                if *node == *self.node {
                    return true;
                }
                match handoff_protocol::frame::decode_update(&entry.update) {
                    Ok(update) => Remote::Update { seq: ms, update, payload: entry.update },
                    Err(e) => {
                        tracing::error!(room = %c.room, seq = ms, error = %e, "an update on the bus does not decode");
                        METRICS.cluster("rebuilds", 1);
                        let _ = c.tx.send(Remote::Rebuild);
                        return false;
                    }
                }
            }
            Incoming::Awareness { node, .. }
            | Incoming::Ended { node }
            | Incoming::Reopened { node }
            | Incoming::AwarenessWanted { node }
            | Incoming::RoomEvent { node, .. }
                if *node == *self.node =>
            {
                return true;
            }
            Incoming::Awareness { frame, .. } => match relayed_awareness(&frame) {
                Some(update) => Remote::Awareness { update, frame },
                None => {
                    METRICS.cluster("skipped", 1);
                    tracing::error!(room = %c.room, id, "skipping an awareness entry that does not decode");
                    return true;
                }
            },
            Incoming::Ended { .. } => Remote::Ended,
            Incoming::Reopened { .. } => Remote::Reopened,
            Incoming::AwarenessWanted { .. } => Remote::AwarenessWanted,
            Incoming::RoomEvent { frame, .. } => Remote::RoomEvent { frame },
        };
        c.tx.send(remote).is_ok()
    }

    /// Starts (or restarts) reading a room's stream after log entry `last_seq` (see the module's
    /// comment for where), then asks the other nodes for their members' awareness states.
    async fn attach(
        &mut self,
        cursors: &mut HashMap<Arc<str>, Cursor>,
        touched: &mut Touched,
        control: Control,
    ) {
        let Control::Attach { room, last_seq, tx } = control else {
            // Redis lost its data: every place in a stream means nothing now; each room rebuilds
            // (the committer tells it) and attaches again.
            tracing::debug!(rooms = cursors.len(), "dropping every place in the streams");
            cursors.clear();
            touched.forget();
            return;
        };
        tracing::debug!(room = %room, last_seq, "reading the room's stream");
        let key = Keys::stream(&room);
        let end: redis::RedisResult<StreamRangeReply> = redis::cmd("XREVRANGE")
            .arg(&key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut self.conn)
            .await;
        let last_id = match end {
            Ok(reply) => start_after(last_seq, reply.ids.first().and_then(|e| parse_id(&e.id))),
            Err(e) => {
                // After every entry of the last update: what reaches the room later is still read.
                tracing::debug!(room = %room, error = %e, "reading where the room's stream ends failed");
                (last_seq, u64::MAX)
            }
        };
        cursors.insert(
            room.clone(),
            Cursor { room: room.clone(), key, last_id, last_seq, tx, paused_until: None },
        );
        // What was added before it attached is not notified any more.
        touched.mark(room.clone());
        let (job, _) = self.links.job(Outgoing::signal(room, K_AWARENESS_WANTED));
        let _ = self.jobs.send(job);
    }
}

/// Where a room whose log ends at `last_seq` starts reading a stream whose last entry is `end`: at
/// `end` when that follows the room's last update (nothing of it is news), after every entry numbered
/// `last_seq` when the stream holds later updates, and after the update `last_seq` itself when the
/// stream holds nothing numbered `last_seq` (trimmed, or empty).
fn start_after(last_seq: u64, end: Option<(u64, u64)>) -> (u64, u64) {
    end.unwrap_or((0, 0)).clamp((last_seq, 0), (last_seq, u64::MAX))
}

/// An awareness message another node relayed, decoded: one awareness message whose states are JSON.
fn relayed_awareness(frame: &Bytes) -> Option<yrs::sync::AwarenessUpdate> {
    let parts = handoff_protocol::frame::split_frame(frame).ok()?;
    match &parts[..] {
        [part] => match &part.kind {
            handoff_protocol::frame::MessageKind::Awareness { update } => {
                handoff_protocol::frame::decode_awareness(&frame[update.clone()]).ok()
            }
            _ => None,
        },
        _ => None,
    }
}

/// Whether Redis could not be reached (as opposed to refusing the command).
pub(super) fn unreachable(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_connection_refusal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_reads_what_follows_its_last_update_and_nothing_before() {
        // The stream ends with entries after update 7 (awareness): the room starts after them.
        assert_eq!(start_after(7, Some((7, 3))), (7, 3));
        assert_eq!(start_after(7, Some((7, 0))), (7, 0));
        // Updates past the room's: read from just after update 7's entries.
        assert_eq!(start_after(7, Some((9, 2))), (7, u64::MAX));
        // Nothing numbered 7 any more (trimmed, or Redis lost it): whatever comes later is news.
        assert_eq!(start_after(7, Some((5, 1))), (7, 0));
        assert_eq!(start_after(7, None), (7, 0));
    }
}
