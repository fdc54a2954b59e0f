//! A room's voice home: the one node its voice runs on. Voice is an SFU inside each node, so members
//! of one room in voice on two nodes could not hear each other; the first node where someone joins
//! takes the room's key (its node id, with a deadline), renews it while anyone is in voice there and
//! deletes it when the last one leaves. A node that stops (or is cut off) without deleting it loses
//! it at the deadline.

use std::time::Duration;

use redis::aio::ConnectionManager;

use super::message::Keys;
use crate::bus::VoiceHome;

/// Takes the key if nobody holds it (SET NX PX), or renews it if this node does; anyone else's is left
/// alone. KEYS: the voice home. ARGV: node, deadline in ms. Returns 1 when this node holds it.
const HOLD_SCRIPT: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// Deletes the key if this node holds it. KEYS: the voice home. ARGV: node.
const LEAVE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

pub(super) async fn hold(conn: &mut ConnectionManager, node: &str, room: &str, ttl: Duration) -> VoiceHome {
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
    let held: redis::RedisResult<i64> = redis::Script::new(HOLD_SCRIPT)
        .key(Keys::voice_home(room))
        .arg(node)
        .arg(ttl_ms)
        .invoke_async(conn)
        .await;
    match held {
        Ok(1) => VoiceHome::Here,
        Ok(_) => VoiceHome::Elsewhere,
        Err(e) => {
            tracing::warn!(room, error = %e, "cannot reach Redis for the room's voice home");
            VoiceHome::Unknown
        }
    }
}

pub(super) async fn leave(conn: &mut ConnectionManager, node: &str, room: &str) {
    let left: redis::RedisResult<i64> =
        redis::Script::new(LEAVE_SCRIPT).key(Keys::voice_home(room)).arg(node).invoke_async(conn).await;
    if let Err(e) = left {
        // The key lapses at its deadline; until then joins on other nodes are refused.
        tracing::warn!(room, error = %e, "cannot give up the room's voice home");
    }
}
