//! Committing rooms' logs from their streams to the store. One node per room at a time does it (a
//! lease in Redis, renewed while the node holds the room); the store's appends are idempotent, so a
//! handover, a retry, or another node's flush for an export never loses or doubles an entry. The
//! stream is trimmed only below what the store holds.
//!
//! A tick costs a few round trips whatever the number of rooms: one pipeline for the rooms' counts,
//! leases (asked about once a second per room with news, not every tick) and the seqs other holders
//! committed, one store append for every room's updates that the publisher and the reader handed
//! over (`pending.rs`), and one pipeline telling how far each room is committed and trimming its
//! stream. A room is read from its stream (XRANGE, one room at a time) only when what was handed
//! over does not follow on from where the store ends: after the lease was taken, a failed commit or
//! Redis losing its data (the store's end is read again then), a burst past the buffer, or a run
//! broken for two ticks in a row (an update still on its way is given one tick).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::aio::ConnectionManager;

use tokio::sync::mpsc;

use super::commit::commit;
use super::message::Keys;
use super::reader::{Control, unreachable};
use super::{HELD_BACKLOG, Link, Links, MAX_UNCOMMITTED};
use crate::bus::Remote;
use crate::clock::now_ms;
use crate::metrics::METRICS;
use crate::store::RoomLog;

/// How often the committer looks at the rooms attached here.
pub(super) const COMMIT_TICK: Duration = Duration::from_millis(100);
/// How long a lease lasts unless renewed.
const LEASE_MS: u64 = 5_000;
/// How often a node asks Redis about a room's lease while the room has news: the holder renews it
/// this often (so it keeps it through a stall of up to `LEASE_MS` less this), and another node looks
/// this often whether it lapsed (a dead holder's room is taken over within `LEASE_MS` and this).
/// Asking every tick would cost a lease script and a GET per room and node ten times a second.
/// Should two nodes both commit a room for a moment, nothing is lost or doubled: the store's appends
/// are idempotent.
const LEASE_ASK_MS: u64 = 1_000;
/// Entries kept in a stream below what the store holds, so a node loading the room meanwhile rarely
/// has to read the store twice.
const TRIM_KEEP: u64 = 1_000;
/// How long a node's count of a room's clients stands without being refreshed (a node that died
/// stops counting after this).
pub(super) const COUNT_TTL_MS: u64 = 15_000;
/// How often a node refreshes its counts.
const COUNT_REFRESH_MS: u64 = 5_000;

/// Takes or renews the lease. KEYS: lease. ARGV: node, ms. Sent whole each time (EVAL): Redis keeps
/// it compiled by its hash, and a restarted Redis that forgot it needs no second try.
const LEASE_SCRIPT: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0
";

pub(super) struct Committer {
    pub(super) conn: ConnectionManager,
    pub(super) node: Arc<str>,
    pub(super) links: Arc<Links>,
    pub(super) store: Arc<dyn RoomLog>,
    /// To tell the reader that Redis lost its data.
    pub(super) reader: mpsc::UnboundedSender<Control>,
}

/// The Redis data's epoch: the one there, or a new one if there is none (random: never one seen before).
pub(super) async fn join_epoch(conn: &mut ConnectionManager) -> redis::RedisResult<String> {
    let fresh = uuid::Uuid::new_v4().simple().to_string();
    let _: Option<String> = redis::cmd("SET").arg(Keys::EPOCH).arg(fresh).arg("NX").query_async(conn).await?;
    let epoch: Option<String> = redis::cmd("GET").arg(Keys::EPOCH).query_async(conn).await?;
    // Gone again at once (flushed in between): the next check finds it missing.
    Ok(epoch.unwrap_or_default())
}

impl Committer {
    pub(super) async fn run(mut self) {
        let mut ticker = tokio::time::interval(COMMIT_TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_refresh = 0;
        // The leases' clock: monotonic, so a jump of the wall clock neither stops nor hurries the asks.
        let started = std::time::Instant::now();
        loop {
            ticker.tick().await;
            let refresh = now_ms() >= last_refresh + COUNT_REFRESH_MS;
            if refresh {
                last_refresh = now_ms();
            }
            self.check_epoch().await;
            let epoch = self.links.epoch();
            let now = started.elapsed().as_millis() as u64;
            let held = self.renew(refresh, now).await;
            let mut done = Vec::new();
            // The rooms committed from what was handed over, each with the seq its run reaches.
            let mut handed = Vec::new();
            let mut entries = Vec::new();
            for (room, link) in held {
                let from = link.committed.load(Ordering::Acquire);
                if from > 0 {
                    let run = link.pending.lock().unwrap_or_else(|e| e.into_inner()).take(&epoch, from);
                    let upto = from + run.len() as u64;
                    let broken = upto < link.known.load(Ordering::Acquire);
                    // Broken where it was broken a tick ago: what is missing is read from the stream.
                    if !broken || link.gap_after.load(Ordering::Acquire) != upto + 1 {
                        link.gap_after.store(if broken { upto + 1 } else { 0 }, Ordering::Release);
                        if broken {
                            link.dirty.store(true, Ordering::Release);
                        }
                        if !run.is_empty() {
                            entries.extend(run);
                            handed.push((room, link, upto));
                        }
                        continue;
                    }
                }
                link.gap_after.store(0, Ordering::Release);
                match commit(&mut self.conn, self.store.as_ref(), &room, (from > 0).then_some(from)).await {
                    Ok(upto) => done.push((room, link, upto)),
                    Err(error) => {
                        tracing::warn!(room = %room, %error, "committing the room's stream failed; retrying");
                        failed(&link);
                    }
                }
            }
            if !entries.is_empty() {
                let count = entries.len() as u64;
                match self.store.append(entries, None).await {
                    Ok(()) => {
                        METRICS.cluster("committed", count);
                        METRICS.cluster("committed_handed_over", count);
                        done.extend(handed);
                    }
                    Err(error) => {
                        tracing::warn!(rooms = handed.len(), %error, "committing the rooms' updates failed; retrying from their streams");
                        for (_, link, _) in &handed {
                            failed(link);
                        }
                    }
                }
            }
            self.committed(done, now).await;
        }
    }

    /// The tick's Redis work for every room attached here, in one pipeline: this node's counts of
    /// their clients (when changed or due for a refresh), and, for each room with new updates whose
    /// lease is due to be asked about ([`LEASE_ASK_MS`]), its lease (taken or renewed) and how far
    /// another holder committed it. Forgets the rooms detached for good. Returns the rooms with new
    /// updates whose lease this node holds.
    /// `now` (ms on the leases' clock) is taken before the asks: a lease renewed now lasts at least
    /// `LEASE_MS` from it.
    async fn renew(&mut self, refresh: bool, now: u64) -> Vec<(Arc<str>, Arc<Link>)> {
        let rooms: Vec<_> = self.links.rooms.iter().map(|e| (e.key().clone(), e.value().clone())).collect();
        let mut held = Vec::new();
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        let mut commands = 0;
        // Each dirty room, with the place of its lease's reply.
        let mut dirty = Vec::new();
        for (room, link) in rooms {
            hold_if_behind(&room, &link);
            commands += self.count(&mut pipe, &room, &link, refresh);
            if link.attached.load(Ordering::Acquire) == 0 {
                // Detached (its last flush committed it) and its count withdrawn (in this pipeline):
                // forget it.
                self.links.rooms.remove_if(&room, |_, l| {
                    l.attached.load(Ordering::Acquire) == 0 && l.counted.load(Ordering::Acquire) == 0
                });
                continue;
            }
            if !link.dirty.swap(false, Ordering::AcqRel) {
                // No news: what the store holds is told if it was held back.
                if link.leased.load(Ordering::Acquire) {
                    commands += tell(&mut pipe, &room, &link, now);
                }
                continue;
            }
            if now < link.lease_ask_at.load(Ordering::Acquire) {
                if link.leased.load(Ordering::Acquire) {
                    held.push((room, link));
                } else {
                    // Another node holds it: looked at again once asking is due.
                    link.dirty.store(true, Ordering::Release);
                }
                continue;
            }
            pipe.cmd("EVAL").arg(LEASE_SCRIPT).arg(1).arg(Keys::lease(&room)).arg(&*self.node).arg(LEASE_MS);
            pipe.cmd("GET").arg(Keys::committed(&room));
            dirty.push((room, link, commands));
            commands += 2;
        }
        if commands == 0 {
            return held;
        }
        let replies: Vec<redis::RedisResult<redis::Value>> = match pipe.query_async(&mut self.conn).await {
            Ok(replies) => replies,
            Err(e) => {
                for (_, link, _) in &dirty {
                    link.dirty.store(true, Ordering::Release);
                }
                if !unreachable(&e) {
                    tracing::warn!(error = %e, "taking the commit leases failed");
                }
                return held;
            }
        };
        for (room, link, at) in dirty {
            let lease = replies.get(at).cloned().unwrap_or(Ok(redis::Value::Nil));
            let lease = lease.and_then(|v| Ok(redis::from_redis_value::<i64>(v)?));
            if let Ok(answer) = lease {
                link.leased.store(answer == 1, Ordering::Release);
                link.lease_ask_at.store(now + LEASE_ASK_MS, Ordering::Release);
            }
            match lease {
                Ok(1) => held.push((room, link)),
                Ok(_) => {
                    // Another node commits the room: what this node knew of the store is stale.
                    // Looked at again (once asking is due) until that node says it committed what
                    // this one read, so the room is taken over if the holder dies first.
                    stop_collecting(&link);
                    link.committed.store(0, Ordering::Release);
                    let theirs = replies
                        .get(at + 1)
                        .cloned()
                        .and_then(|r| r.ok())
                        .and_then(|v| redis::from_redis_value::<Option<u64>>(v).ok())
                        .flatten()
                        .unwrap_or(0);
                    link.stored.fetch_max(theirs, Ordering::AcqRel);
                    if theirs < link.known.load(Ordering::Acquire) {
                        link.dirty.store(true, Ordering::Release);
                    }
                }
                Err(e) => {
                    link.dirty.store(true, Ordering::Release);
                    if !unreachable(&e) {
                        tracing::warn!(room = %room, error = %e, "taking the commit lease failed");
                    }
                }
            }
        }
        held
    }

    /// After the store took the rooms' updates up to each one's seq: records it, takes the rooms'
    /// updates in-process from now on, starts their snapshots when due, and tells the other nodes how
    /// far the store holds each room (see [`tell`]), in one pipeline.
    async fn committed(&mut self, done: Vec<(Arc<str>, Arc<Link>, u64)>, now: u64) {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        let mut commands = 0;
        for (room, link, upto) in &done {
            link.committed.store(*upto, Ordering::Release);
            link.stored.fetch_max(*upto, Ordering::AcqRel);
            link.collecting.store(true, Ordering::Release);
            if *upto < link.known.load(Ordering::Acquire) {
                link.dirty.store(true, Ordering::Release);
            }
            super::snapshot::after_commit(&self.store, &self.links, room, link, *upto);
            commands += tell(&mut pipe, room, link, now);
        }
        if commands == 0 {
            return;
        }
        let trimmed: redis::RedisResult<Vec<redis::RedisResult<redis::Value>>> =
            pipe.query_async(&mut self.conn).await;
        if let Err(e) = trimmed {
            tracing::debug!(rooms = done.len(), error = %e, "trimming the streams failed");
        }
    }

    /// Finds out whether Redis lost its data since the last look: the epoch key is gone (or another
    /// node already put a new one there). Then every room's place in its stream means nothing: the
    /// rooms here rebuild from the store and their clients send again what the store lacks, and the
    /// rooms' seqs go on from the store's (`publisher.rs`), so no seq is given twice.
    async fn check_epoch(&mut self) {
        let epoch: redis::RedisResult<Option<String>> =
            redis::cmd("GET").arg(Keys::EPOCH).query_async(&mut self.conn).await;
        match epoch {
            Ok(Some(epoch)) if *epoch == *self.links.epoch() => return,
            Ok(_) => {}
            // Unreachable: looked at again next tick.
            Err(_) => return,
        }
        let Ok(epoch) = join_epoch(&mut self.conn).await else { return };
        // Rooms attached from now on publish under the new epoch; those attached before are refused
        // until they rebuild and attach again.
        self.links.set_epoch(Arc::from(epoch));
        METRICS.cluster("redis_data_lost", 1);
        tracing::error!(
            "Redis lost its data (restarted without AOF, flushed, or keys evicted): every room here \
             rebuilds from PostgreSQL and its clients send again what was lost; run Redis with \
             appendonly yes and maxmemory-policy noeviction"
        );
        // The reader drops its places first, so every room's next attach (after its rebuild) is read
        // from where the store ends.
        let _ = self.reader.send(Control::Lost);
        for link in self.links.rooms.iter() {
            stop_collecting(&link);
            // The leases went with the data: asked for again at once.
            link.leased.store(false, Ordering::Release);
            link.lease_ask_at.store(0, Ordering::Release);
            link.told.store(0, Ordering::Release);
            link.known.store(0, Ordering::Release);
            link.committed.store(0, Ordering::Release);
            link.dirty.store(true, Ordering::Release);
            link.tell(Remote::Rebuild);
        }
    }

    /// Adds to `pipe` this node's count of the room's clients when it changed (or is due for a
    /// refresh): `node → "count:deadline_ms"` in the room's hash. Returns how many commands it added.
    fn count(&self, pipe: &mut redis::Pipeline, room: &str, link: &Link, refresh: bool) -> usize {
        let count = link.connected.load(Ordering::Acquire);
        let changed = link.counted.swap(count, Ordering::AcqRel) != count;
        if !changed && !refresh {
            return 0;
        }
        let key = Keys::connected(room);
        if count == 0 {
            pipe.hdel(&key, &*self.node);
            1
        } else {
            let value = format!("{count}:{}", now_ms() + COUNT_TTL_MS);
            pipe.hset(&key, &*self.node, value).pexpire(&key, COUNT_TTL_MS as i64);
            2
        }
    }
}

/// Adds to `pipe` the seq the store holds the room to (`Keys::committed`, which the other nodes read
/// when they ask about the lease) and a trim of its stream below that, keeping [`TRIM_KEEP`] entries
/// under it, when the store holds more than was told: at most once per [`LEASE_ASK_MS`] (the others
/// read it no more often), so a room's last commit is told within that whether or not more news comes.
/// Returns how many commands it added.
fn tell(pipe: &mut redis::Pipeline, room: &str, link: &Link, now: u64) -> usize {
    let committed = link.committed.load(Ordering::Acquire);
    if committed <= link.told.load(Ordering::Acquire)
        || now < link.told_at.load(Ordering::Acquire) + LEASE_ASK_MS
    {
        return 0;
    }
    link.told.store(committed, Ordering::Release);
    link.told_at.store(now, Ordering::Release);
    pipe.cmd("SET").arg(Keys::committed(room)).arg(committed);
    match committed.checked_sub(TRIM_KEEP) {
        Some(min) => {
            pipe.cmd("XTRIM").arg(Keys::stream(room)).arg("MINID").arg(format!("{}-0", min + 1));
            2
        }
        None => 1,
    }
}

/// A commit of the room failed: the store's end is read again, and the stream read from there.
fn failed(link: &Link) {
    METRICS.cluster("commit_failures", 1);
    stop_collecting(link);
    link.committed.store(0, Ordering::Release);
    link.dirty.store(true, Ordering::Release);
}

/// The committer takes none of the room's updates in-process until it knows again where the store ends.
fn stop_collecting(link: &Link) {
    link.collecting.store(false, Ordering::Release);
    link.pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// Holds the room off while Redis holds more than [`MAX_UNCOMMITTED`] of its entries that the store
/// does not (the store is unreachable); lets it go once the store has caught up to half of that.
fn hold_if_behind(room: &str, link: &Link) {
    let behind = link.known.load(Ordering::Acquire).saturating_sub(link.stored.load(Ordering::Acquire));
    let held = link.held.load(Ordering::Acquire) & HELD_BACKLOG != 0;
    if behind > MAX_UNCOMMITTED && !held {
        tracing::error!(room, behind, "the store is behind the room by too much; holding the room off");
        link.hold(HELD_BACKLOG);
    } else if held && behind <= MAX_UNCOMMITTED / 2 {
        tracing::info!(room, behind, "the store caught up; the room takes joins again");
        link.release(HELD_BACKLOG);
    }
}
