//! The node's one publisher: takes what the rooms publish, in order, and runs the ordering script for
//! each (pipelined, many per round trip). The script gives an update its place in the room's log (INCR
//! of the room's seq, XADD with id `<seq>-0`), so seq stays gap-free across nodes and this node's
//! updates keep the order the rooms applied them in. A batch that fails in transit is sent again
//! whole: the script drops what it already added (each message carries this node's publish number,
//! and the room's hash keeps the last one per node), so a retry never doubles an entry (awareness
//! aside: a second copy of a state is no news to anyone).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::entries::parse_id;
use super::message::{K_UPDATE, Keys, Outgoing};
use super::touched::TOUCHED_MAXLEN;
use super::{Links, sharing};
use crate::bus::Remote;
use crate::metrics::METRICS;
use crate::store::{LogEntry, RoomLog};

/// Messages sent per pipeline at most.
const BATCH: usize = 256;
/// A pipeline is sent no sooner than this after the last one, taking whatever was queued meanwhile.
/// Without it a node typing a thousand rooms sends nearly every message alone: a write, a read and
/// two task wake-ups each, which cost the node more than the message. It adds at most this much to a
/// message's way to the other nodes, and nothing when messages come further apart.
const GATHER: Duration = Duration::from_millis(1);
/// First and longest pause before sending a failed batch again.
const RETRY_MIN_MS: u64 = 50;
const RETRY_MAX_MS: u64 = 1_000;
/// How long a room's publish numbers are remembered after its last publish.
const PUBLISHED_TTL_MS: u64 = 24 * 3600 * 1000;
/// How long reading a room's last stored seq may take when Redis has lost the room's seq.
const SEED_TIMEOUT: Duration = Duration::from_secs(2);

/// Numbers the message, then adds it to the room's stream, and a notification naming that stream and
/// this node to the notification stream of each other node that reads the room (`readers.rs`,
/// `touched.rs`: readers read only the rooms with news from other nodes; a reader's entry whose time
/// has passed names a node that stopped refreshing it). The notification carries the entry too, with
/// its id and the id of the entry before it, so that a reader whose place in the room's stream is that
/// entry takes it without reading the stream (one read per hop rather than two). KEYS: seq, stream,
/// published, the Redis data's epoch, the room's readers. ARGV: node, publish number, kind, how long to keep the publish
/// numbers, the epoch the room was attached under, how many notifications a stream keeps, what a
/// node's notification stream's key starts with, then the message's fields.
///
/// The reply is the entry's id and how many other nodes read the room (`sharing.rs`) in one string
/// (one allocation where a table would take three, per message); nil for a message already added.
///
/// An awareness message skips the publish numbers: a retry may add it twice, which its receivers take
/// as one (a state's clock says whether it is news), and it is about half of all messages.
///
/// A message of a room attached before Redis lost its data (the epoch differs, or is gone) is refused
/// (`STALE`): it was made against entries Redis no longer has, and numbered in the new log before them
/// it would not apply anywhere. The room rebuilds and its clients send it again. A room with no seq in
/// Redis is refused (`NOSEQ`): its count must go on from what the store holds (`Job::Seed`), never
/// from what a node remembers, or a seq would be given twice.
const ORDER_SCRIPT: &str = r"
if redis.call('GET', KEYS[4]) ~= ARGV[5] then return redis.error_reply('STALE the room predates the data') end
local cur = redis.call('GET', KEYS[1])
if not cur then return redis.error_reply('NOSEQ the room has no seq in Redis') end
if ARGV[3] ~= 'a' then
  local last = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
  if tonumber(ARGV[2]) <= last then return false end
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
end
local id
if ARGV[3] == 'u' then
  id = redis.call('INCR', KEYS[1]) .. '-0'
else
  id = cur .. '-*'
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local readers = redis.call('ZRANGEBYSCORE', KEYS[5], '(' .. now, '+inf')
local prev = ''
if #readers > 1 or (#readers == 1 and readers[1] ~= ARGV[1]) then
  local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
  if last[1] then prev = last[1][1] end
end
local added = redis.call('XADD', KEYS[2], id, 'v', '1', 'k', ARGV[3], 'n', ARGV[1], unpack(ARGV, 8))
local others = 0
for _, reader in ipairs(readers) do
  if reader ~= ARGV[1] then
    others = others + 1
    redis.call('XADD', ARGV[7] .. reader, 'MAXLEN', '~', ARGV[6], '*', 'v', '1', 's', KEYS[2], 'n', ARGV[1],
      'p', prev, 'i', added, 'k', ARGV[3], unpack(ARGV, 8))
  end
end
return added .. ' ' .. others
";

pub(super) enum Job {
    Send {
        message: Outgoing,
        number: u64,
        /// What it holds, for the bound on the queue.
        bytes: usize,
        /// The Redis data's epoch its room was attached under.
        epoch: Arc<str>,
    },
    /// Sets the room's seq to `seq` (what the store holds) unless Redis has one.
    Seed { room: Arc<str>, seq: u64 },
    /// A message of the batch already in Redis (or dropped).
    Sent,
    /// Answered once every message queued before it is in Redis.
    Drained(oneshot::Sender<()>),
}

pub(super) struct Publisher {
    pub(super) jobs: mpsc::UnboundedReceiver<Job>,
    pub(super) conn: ConnectionManager,
    pub(super) node: Arc<str>,
    pub(super) links: Arc<Links>,
    /// Where a room's seq starts from when Redis has none.
    pub(super) store: Arc<dyn RoomLog>,
}

impl Publisher {
    pub(super) async fn run(mut self) {
        let script = redis::Script::new(ORDER_SCRIPT);
        let mut batch = Vec::with_capacity(BATCH);
        let mut last_sent: Option<Instant> = None;
        while let Some(first) = self.jobs.recv().await {
            if let Some(due) = last_sent.map(|at| at + GATHER).filter(|due| *due > Instant::now()) {
                tokio::time::sleep_until(due).await;
            }
            last_sent = Some(Instant::now());
            batch.push(first);
            while batch.len() < BATCH {
                match self.jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let mut pause = RETRY_MIN_MS;
            loop {
                match self.send(&script, &mut batch).await {
                    Ok(()) => break,
                    Err(error) => {
                        METRICS.cluster("redis_errors", 1);
                        tracing::warn!(%error, queued = batch.len(), "publishing to Redis failed; retrying");
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                        pause = (pause * 2).min(RETRY_MAX_MS);
                    }
                }
            }
            for job in batch.drain(..) {
                if let Job::Drained(done) = job {
                    let _ = done.send(());
                }
            }
        }
    }

    /// Sends every message of the batch not sent yet. A message Redis refuses (not a transport
    /// failure) is dropped and counted: retrying it would hold back every room.
    async fn send(&mut self, script: &redis::Script, batch: &mut [Job]) -> redis::RedisResult<()> {
        loop {
            let (missing_script, unseeded) = self.send_once(script, batch).await?;
            if missing_script {
                // A restarted Redis forgot the script: load it, then send the rest again.
                let _: String =
                    redis::cmd("SCRIPT").arg("LOAD").arg(ORDER_SCRIPT).query_async(&mut self.conn).await?;
            }
            for room in &unseeded {
                self.seed(room, batch).await?;
            }
            if !missing_script && unseeded.is_empty() {
                return Ok(());
            }
        }
    }

    /// Starts the room's seq in Redis from what the store holds: Redis had none although the room was
    /// attached with one, so Redis lost its data since. If the store cannot say, the room's unsent
    /// messages are dropped and the room rebuilds: its clients send what it lacks again.
    async fn seed(&mut self, room: &Arc<str>, batch: &mut [Job]) -> redis::RedisResult<()> {
        match tokio::time::timeout(SEED_TIMEOUT, self.store.last_seq(room)).await {
            Ok(Ok(seq)) => {
                tracing::warn!(room = %room, seq, "Redis has no seq for the room; it goes on from the store's");
                redis::cmd("SET")
                    .arg(Keys::seq(room))
                    .arg(seq)
                    .arg("NX")
                    .query_async::<()>(&mut self.conn)
                    .await
            }
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "no answer in time".to_owned(),
                };
                tracing::error!(room = %room, %error, "Redis has no seq for the room and the store cannot say its last; rebuilding the room");
                for job in batch.iter_mut() {
                    if matches!(job, Job::Send { message, .. } if message.room == *room)
                        && let Job::Send { bytes, .. } = std::mem::replace(job, Job::Sent)
                    {
                        METRICS.cluster("dropped", 1);
                        self.links.sent(bytes);
                    }
                }
                self.links.tell(room, Remote::Rebuild);
                Ok(())
            }
        }
    }

    /// One pipeline of the batch's unsent messages. Returns whether Redis lacked the script for some,
    /// and the rooms Redis has no seq for.
    async fn send_once(
        &mut self,
        script: &redis::Script,
        batch: &mut [Job],
    ) -> redis::RedisResult<(bool, Vec<Arc<str>>)> {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        let mut sent = Vec::new();
        for (i, job) in batch.iter().enumerate() {
            match job {
                Job::Send { message, number, epoch, .. } => {
                    let room = &message.room;
                    let cmd = pipe
                        .cmd("EVALSHA")
                        .arg(script.get_hash())
                        .arg(5)
                        .arg(Keys::seq(room))
                        .arg(Keys::stream(room))
                        .arg(Keys::published(room))
                        .arg(Keys::EPOCH)
                        .arg(Keys::readers(room))
                        .arg(&*self.node)
                        .arg(*number)
                        .arg(message.kind)
                        .arg(PUBLISHED_TTL_MS)
                        .arg(&**epoch)
                        .arg(TOUCHED_MAXLEN)
                        .arg(Keys::TOUCHED_PREFIX);
                    for (field, value) in &message.fields {
                        cmd.arg(*field).arg(&value[..]);
                    }
                }
                Job::Seed { room, seq } => {
                    pipe.cmd("SET").arg(Keys::seq(room)).arg(*seq).arg("NX");
                }
                Job::Sent | Job::Drained(_) => continue,
            }
            sent.push(i);
        }
        if sent.is_empty() {
            return Ok((false, Vec::new()));
        }
        let sent_at = sharing::stamp();
        let results: Vec<redis::RedisResult<redis::Value>> = pipe.query_async(&mut self.conn).await?;
        let mut missing_script = false;
        let mut unseeded: Vec<Arc<str>> = Vec::new();
        for (i, result) in sent.into_iter().zip(results) {
            match result {
                Ok(reply) => {
                    let (added, others) = script_reply(&reply);
                    if let (Job::Send { message, .. }, Some(others)) = (&batch[i], others) {
                        self.links.told_readers(&message.room, others, sent_at);
                    }
                    // The reader reads this node's own entries only when other news or a full scan
                    // takes it to the room (`touched.rs`): the room's log is known to reach this far.
                    if let Job::Send { message, epoch, .. } = &mut batch[i]
                        && message.kind == K_UPDATE
                        && let Some((seq, 0)) = added
                    {
                        if let Some(entry) = message.entry.take() {
                            self.links.hand(&message.room, epoch, || LogEntry { seq, ..entry });
                        }
                        self.links.saw(&message.room, seq);
                    }
                }
                Err(e) if e.code() == Some("NOSCRIPT") => {
                    missing_script = true;
                    continue;
                }
                Err(e) if e.code() == Some("NOSEQ") => {
                    if let Job::Send { message, .. } = &batch[i]
                        && !unseeded.contains(&message.room)
                    {
                        unseeded.push(message.room.clone());
                    }
                    continue;
                }
                Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() => return Err(e),
                Err(e) if e.code() == Some("STALE") => {
                    // Dropped: the room rebuilds once this node sees the loss (`committer.rs`), and
                    // its clients send what it lacks.
                    METRICS.cluster("stale", 1);
                    if let Job::Send { message, epoch, .. } = &batch[i] {
                        tracing::debug!(room = %message.room, kind = message.kind, %epoch, node = %self.links.epoch(), "a message from before Redis lost its data; dropped");
                    }
                }
                Err(error) => {
                    METRICS.cluster("dropped", 1);
                    tracing::error!(%error, "Redis refused a bus message; dropped");
                }
            }
            if let Job::Send { bytes, .. } = std::mem::replace(&mut batch[i], Job::Sent) {
                self.links.sent(bytes);
            }
        }
        Ok((missing_script, unseeded))
    }
}

/// The id the ordering script added an entry under and how many other nodes read the room (nothing:
/// a retry of an entry already added).
fn script_reply(reply: &redis::Value) -> (Option<(u64, u64)>, Option<u64>) {
    let text = match reply {
        redis::Value::BulkString(text) => std::str::from_utf8(text).ok(),
        redis::Value::SimpleString(text) => Some(text.as_str()),
        _ => None,
    };
    let Some((id, others)) = text.and_then(|t| t.split_once(' ')) else { return (None, None) };
    (parse_id(id), others.parse().ok())
}

/// The node's publish numbers: one sequence for every room, so each room's are increasing too.
pub(super) fn next_number(links: &Links) -> u64 {
    links.published.fetch_add(1, Ordering::Relaxed) + 1
}

#[cfg(test)]
mod tests {
    use super::script_reply;
    use redis::Value;

    #[test]
    fn the_scripts_reply_gives_the_id_and_the_other_readers() {
        assert_eq!(script_reply(&Value::BulkString(b"42-0 2".to_vec())), (Some((42, 0)), Some(2)));
        assert_eq!(script_reply(&Value::BulkString(b"41-3 0".to_vec())), (Some((41, 3)), Some(0)));
        // A message added before: nothing to learn.
        assert_eq!(script_reply(&Value::Nil), (None, None));
    }
}
