//! The node's one publisher: takes what the rooms publish, in order, and runs the ordering script for
//! each (pipelined, many per round trip). The script gives an update its place in the room's log (INCR
//! of the room's seq, XADD with id `<seq>-0`), so seq stays gap-free across nodes and this node's
//! updates keep the order the rooms applied them in. A batch that fails in transit is sent again
//! whole: the script drops what it already added (each message carries this node's publish number,
//! and the room's hash keeps the last one per node), so a retry never doubles an entry.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot};

use super::Links;
use super::message::{Keys, Outgoing};
use crate::metrics::METRICS;

/// Messages sent per pipeline at most.
const BATCH: usize = 256;
/// First and longest pause before sending a failed batch again.
const RETRY_MIN_MS: u64 = 50;
const RETRY_MAX_MS: u64 = 1_000;
/// How long a room's publish numbers are remembered after its last publish.
const PUBLISHED_TTL_MS: u64 = 24 * 3600 * 1000;

/// Numbers the message, then adds it to the room's stream. KEYS: seq, stream, published. ARGV: node,
/// publish number, floor (the seq to start from if the room has none in Redis: what the node knows the
/// log holds), kind, how long to keep the publish numbers, then the message's fields. Only an update
/// sets the room's counter: a node that does not hold the room (an end through its API) knows no floor.
const ORDER_SCRIPT: &str = r"
local last = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if tonumber(ARGV[2]) <= last then return false end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
local cur = redis.call('GET', KEYS[1])
local id
if ARGV[4] == 'u' then
  if not cur then redis.call('SET', KEYS[1], ARGV[3]) end
  id = redis.call('INCR', KEYS[1]) .. '-0'
else
  id = (cur or ARGV[3]) .. '-*'
end
return redis.call('XADD', KEYS[2], id, 'v', '1', 'k', ARGV[4], 'n', ARGV[1], unpack(ARGV, 6))
";

pub(super) enum Job {
    Send {
        message: Outgoing,
        number: u64,
    },
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
}

impl Publisher {
    pub(super) async fn run(mut self) {
        let script = redis::Script::new(ORDER_SCRIPT);
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(first) = self.jobs.recv().await {
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
        while self.send_once(script, batch).await? {
            // A restarted Redis forgot the script: load it, then send the rest again.
            let _: String =
                redis::cmd("SCRIPT").arg("LOAD").arg(ORDER_SCRIPT).query_async(&mut self.conn).await?;
        }
        Ok(())
    }

    /// One pipeline of the batch's unsent messages; true if Redis lacked the script for some.
    async fn send_once(&mut self, script: &redis::Script, batch: &mut [Job]) -> redis::RedisResult<bool> {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        let mut sent = Vec::new();
        for (i, job) in batch.iter().enumerate() {
            let Job::Send { message, number } = job else { continue };
            let room = &message.room;
            let floor = self.links.known(room);
            let cmd = pipe
                .cmd("EVALSHA")
                .arg(script.get_hash())
                .arg(3)
                .arg(Keys::seq(room))
                .arg(Keys::stream(room))
                .arg(Keys::published(room))
                .arg(&*self.node)
                .arg(*number)
                .arg(floor)
                .arg(message.kind)
                .arg(PUBLISHED_TTL_MS);
            for (field, value) in &message.fields {
                cmd.arg(*field).arg(&value[..]);
            }
            sent.push(i);
        }
        if sent.is_empty() {
            return Ok(false);
        }
        let results: Vec<redis::RedisResult<redis::Value>> = pipe.query_async(&mut self.conn).await?;
        let mut missing_script = false;
        for (i, result) in sent.into_iter().zip(results) {
            match result {
                Ok(_) => batch[i] = Job::Sent,
                Err(e) if e.code() == Some("NOSCRIPT") => missing_script = true,
                Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() => return Err(e),
                Err(error) => {
                    METRICS.cluster("dropped", 1);
                    tracing::error!(%error, "Redis refused a bus message; dropped");
                    batch[i] = Job::Sent;
                }
            }
        }
        Ok(missing_script)
    }
}

/// The node's publish numbers: one sequence for every room, so each room's are increasing too.
pub(super) fn next_number(links: &Links) -> u64 {
    links.published.fetch_add(1, Ordering::Relaxed) + 1
}
