//! Which nodes read a room's stream: each room has a set of reader nodes in Redis
//! ([`Keys::readers`]), and the ordering script (`publisher.rs`) adds each notification to the
//! notification stream of every node listed there but the publishing one ([`Keys::touched`]). With
//! room affinity (every member of a room on one node) a node then reads no notification at all for
//! its own rooms, and none for the rooms it does not hold.
//!
//! A node adds itself when it attaches a room, before the room's first read: whatever is added to the
//! stream before the node is listed is read by that first read (an attached room is read in full next
//! round, `touched.rs`), and whatever comes after is notified. It removes itself when the room lets go
//! of its attachment. Each entry lapses after [`READERS_TTL_MS`] unless refreshed (every
//! [`READERS_REFRESH`] for every room held), so a killed node's entries go by themselves, and so does
//! its notification stream. Redis's own clock scores the entries, so the nodes' clocks need not agree.
//!
//! A failed join or refresh costs latency, never an entry: the full scan reads every held stream
//! every second whatever the notifications say.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::message::Keys;

/// How long a node's entry in a room's set of readers, and its notification stream, outlive the
/// node's last refresh: a killed node's go within this, and notifications meanwhile pile up in its
/// stream only to the stream's bound (`TOUCHED_MAXLEN`). Long enough that a few failed refreshes in
/// a row (Redis cut off for a while) do not drop a node that still holds its rooms.
pub(super) const READERS_TTL_MS: u64 = 30_000;
/// How often a node refreshes its entries for every room it holds: a third of [`READERS_TTL_MS`], so
/// two refreshes in a row may fail before an entry lapses. One command for every room held.
pub(super) const READERS_REFRESH: Duration = Duration::from_millis(READERS_TTL_MS / 3);

/// Lists a node (ARGV[1]) among the readers of each room whose set is in KEYS, until Redis's clock
/// passes ARGV[2] ms from now; drops the lapsed entries, and keeps the node's notification stream
/// (ARGV[3]) as long. The stream is made here (one entry added and trimmed away at once) if missing:
/// the first notification would make it without an expiry, which a node killed before its first
/// refresh would leave behind for good.
const JOIN_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
for _, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  redis.call('ZADD', key, now + ttl, ARGV[1])
  redis.call('PEXPIRE', key, ttl)
end
if redis.call('EXISTS', ARGV[3]) == 0 then redis.call('XADD', ARGV[3], 'MAXLEN', '0', '*', 'v', '0') end
redis.call('PEXPIRE', ARGV[3], ttl)
return #KEYS
";

/// The reader's side of the sets of readers.
pub(super) struct Readers {
    script: redis::Script,
    node: Arc<str>,
}

impl Readers {
    pub(super) fn new(node: Arc<str>) -> Readers {
        Readers { script: redis::Script::new(JOIN_SCRIPT), node }
    }

    /// Lists this node among the readers of `rooms` (anew, or for another [`READERS_TTL_MS`]).
    pub(super) async fn join(
        &self,
        conn: &mut ConnectionManager,
        rooms: &[Arc<str>],
    ) -> redis::RedisResult<()> {
        if rooms.is_empty() {
            return Ok(());
        }
        let mut invocation = self.script.prepare_invoke();
        for room in rooms {
            invocation.key(Keys::readers(room));
        }
        invocation.arg(&*self.node).arg(READERS_TTL_MS).arg(Keys::touched(&self.node));
        let _: i64 = invocation.invoke_async(conn).await?;
        Ok(())
    }

    /// Takes this node off the readers of `rooms`: notifications of them are no news here any more.
    pub(super) async fn leave(
        &self,
        conn: &mut ConnectionManager,
        rooms: &[Arc<str>],
    ) -> redis::RedisResult<()> {
        if rooms.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for room in rooms {
            pipe.cmd("ZREM").arg(Keys::readers(room)).arg(&*self.node).ignore();
        }
        pipe.query_async::<()>(conn).await
    }
}
