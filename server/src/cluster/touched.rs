//! Which rooms the reader reads each round. The ordering script (`publisher.rs`) adds, with every entry
//! it adds to a room's stream, a notification naming that stream to one stream of notifications
//! ([`Keys::TOUCHED`]). The reader blocks on that stream alone and reads only the held rooms it names,
//! so a read costs what changed, not how many rooms the node holds (one XREAD over every held stream
//! costs Redis in proportion to the streams named, news or not: 16 ms a call at 1000 rooms).
//!
//! A notification is added in the same script as its entry, so a room read after its notification is
//! read past that entry. What the notifications cannot tell is covered by reading every held stream:
//! - when the notification stream's first entry is past the last one read (it was trimmed while this
//!   node was cut off or behind), or its place is not known yet (start, Redis lost its data);
//! - every [`FULL_SCAN`]: a node of an older release adds entries without notifications during a
//!   rolling upgrade, an entry added by hand names no one, and a trim between the check of the first
//!   entry and the read goes unseen.
//!
//! A room just attached, and a room whose read stopped at the count per read, is read next round
//! whatever the notifications say.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::streams::{StreamRangeReply, StreamReadReply};
use tokio::time::Instant;

use super::message::{F_STREAM, F_VERSION, Keys, VERSION, parse_id};

/// Notifications the stream keeps, about (`MAXLEN ~`): a reader further behind than that reads every
/// held stream instead. About 20 s of 1000 rooms each typing (5 entries a second).
pub(super) const TOUCHED_MAXLEN: u64 = 100_000;
/// Notifications read per round.
const TOUCHED_READ_COUNT: usize = 4_096;
/// How often every held stream is read whatever the notifications say.
const FULL_SCAN: Duration = Duration::from_secs(1);

/// A notification as read: its id, and the stream it names (`None`: a version this build does not
/// know, or no stream named; a full scan reads whatever it stood for).
pub(super) type Note = ((u64, u64), Option<String>);

pub(super) struct Touched {
    /// The last notification read (`(0, 0)`: the stream was empty); `None`: not known.
    after: Option<(u64, u64)>,
    /// Held rooms to read next round.
    due: HashSet<Arc<str>>,
    /// Every held stream is read next round.
    all: bool,
    next_full_scan: Instant,
}

impl Touched {
    pub(super) fn new(now: Instant) -> Touched {
        Touched { after: None, due: HashSet::new(), all: true, next_full_scan: now + FULL_SCAN }
    }

    /// Drops the place in the notification stream: found again (and every held stream read) before
    /// the next read. For Redis losing its data, and for a node holding no room (the notifications
    /// meanwhile concern no room held here).
    pub(super) fn forget(&mut self) {
        self.after = None;
        self.due.clear();
        self.all = true;
    }

    /// Reads `room` next round.
    pub(super) fn mark(&mut self, room: Arc<str>) {
        self.due.insert(room);
    }

    /// Every held stream is read next round (the notification stream cannot be read).
    pub(super) fn mark_all(&mut self) {
        self.all = true;
    }

    /// Whether a round has rooms to read already: the read of notifications then does not wait.
    pub(super) fn pending(&self) -> bool {
        self.all || !self.due.is_empty()
    }

    /// Reads the notifications after the last one read, waiting up to `block_ms` for one, and marks
    /// the held rooms they name. The first time (or after [`Touched::forget`]) it only finds the
    /// stream's end, and every held stream is read.
    pub(super) async fn read<V>(
        &mut self,
        conn: &mut ConnectionManager,
        held: &HashMap<Arc<str>, V>,
        block_ms: u64,
    ) -> redis::RedisResult<()> {
        let Some(after) = self.after else {
            let end: StreamRangeReply = redis::cmd("XREVRANGE")
                .arg(Keys::TOUCHED)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query_async(conn)
                .await?;
            self.after = Some(end.ids.first().and_then(|e| parse_id(&e.id)).unwrap_or((0, 0)));
            self.all = true;
            return Ok(());
        };
        let mut pipe = redis::pipe();
        pipe.cmd("XRANGE").arg(Keys::TOUCHED).arg("-").arg("+").arg("COUNT").arg(1);
        let read = pipe.cmd("XREAD").arg("COUNT").arg(TOUCHED_READ_COUNT);
        if !self.pending() {
            read.arg("BLOCK").arg(block_ms);
        }
        read.arg("STREAMS").arg(Keys::TOUCHED).arg(format!("{}-{}", after.0, after.1));
        let (first, reply): (StreamRangeReply, Option<StreamReadReply>) = pipe.query_async(conn).await?;
        let first = first.ids.first().and_then(|e| parse_id(&e.id));
        let notes: Vec<Note> = reply
            .map(|r| r.keys)
            .unwrap_or_default()
            .into_iter()
            .flat_map(|k| k.ids)
            .filter_map(|e| {
                let known = e.get::<String>(F_VERSION).as_deref() == Some(VERSION);
                Some((parse_id(&e.id)?, if known { e.get::<String>(F_STREAM) } else { None }))
            })
            .collect();
        self.note(first, &notes, held);
        Ok(())
    }

    /// Takes in notifications read after the last one, `first` being the stream's first entry just
    /// before the read.
    fn note<V>(&mut self, first: Option<(u64, u64)>, notes: &[Note], held: &HashMap<Arc<str>, V>) {
        let Some(after) = self.after else { return };
        if first.is_some_and(|first| first > after) {
            // Notifications after the last one read may have been trimmed away.
            self.all = true;
        }
        for (id, stream) in notes {
            self.after = Some(*id);
            let room = stream.as_deref().and_then(Keys::room_of);
            if let Some((room, _)) = room.and_then(|room| held.get_key_value(room)) {
                self.due.insert(room.clone());
            }
        }
    }

    /// The rooms to read this round, of the held rooms `ready` to be read (a paused stream waits for
    /// a full scan after its pause).
    pub(super) fn take(&mut self, now: Instant, ready: impl Iterator<Item = Arc<str>>) -> Vec<Arc<str>> {
        if now >= self.next_full_scan {
            self.all = true;
            self.next_full_scan = now + FULL_SCAN;
        }
        let rooms = if self.all { ready.collect() } else { ready.filter(|r| self.due.contains(r)).collect() };
        self.all = false;
        self.due.clear();
        rooms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(rooms: &[&str]) -> HashMap<Arc<str>, ()> {
        rooms.iter().map(|r| (Arc::from(*r), ())).collect()
    }

    fn note(id: u64, room: &str) -> Note {
        ((id, 0), Some(Keys::stream(room)))
    }

    fn sorted(mut rooms: Vec<Arc<str>>) -> Vec<Arc<str>> {
        rooms.sort();
        rooms
    }

    /// A reader past its first round, at notification 10, with nothing due.
    fn settled(now: Instant) -> Touched {
        let mut touched = Touched::new(now);
        touched.after = Some((10, 0));
        touched.take(now, std::iter::empty());
        touched
    }

    #[test]
    fn only_the_held_rooms_notified_are_read() {
        let now = Instant::now();
        let rooms = held(&["a", "b", "c"]);
        let mut touched = settled(now);
        assert!(!touched.pending(), "nothing to read: the next read of notifications waits");
        let notes = [note(11, "a"), note(12, "elsewhere"), note(13, "a"), note(14, "c")];
        touched.note(Some((5, 0)), &notes, &rooms);
        assert_eq!(touched.after, Some((14, 0)), "the next read starts after the last notification");
        assert!(touched.pending());
        assert_eq!(sorted(touched.take(now, rooms.keys().cloned())), vec![Arc::from("a"), Arc::from("c")]);
        assert!(touched.take(now, rooms.keys().cloned()).is_empty(), "read once per notification");
    }

    #[test]
    fn a_paused_room_waits_and_an_unknown_notification_is_passed_over() {
        let now = Instant::now();
        let rooms = held(&["a", "b"]);
        let mut touched = settled(now);
        let unknown = ((11, 0), None);
        touched.note(Some((5, 0)), &[unknown, note(12, "a"), note(13, "b")], &rooms);
        assert_eq!(touched.after, Some((13, 0)));
        // "a" is paused: only "b" is ready.
        assert_eq!(touched.take(now, [Arc::from("b")].into_iter()), vec![Arc::from("b")]);
    }

    #[test]
    fn every_held_stream_is_read_when_notifications_may_be_missing() {
        let now = Instant::now();
        let rooms = held(&["a", "b", "c"]);
        // The first round: the place in the notifications is not known yet.
        let mut touched = Touched::new(now);
        assert_eq!(touched.take(now, rooms.keys().cloned()).len(), 3);

        // Trimmed past the last notification read (the node was cut off): everything is read.
        let mut touched = settled(now);
        touched.note(Some((12, 0)), &[note(12, "a")], &rooms);
        assert_eq!(touched.take(now, rooms.keys().cloned()).len(), 3);
        // The stream starting at the last one read, or before: only what is notified.
        touched.note(Some((12, 0)), &[note(13, "b")], &rooms);
        assert_eq!(touched.take(now, rooms.keys().cloned()), vec![Arc::from("b")]);

        // Redis lost its data: the place is found again and everything is read.
        touched.forget();
        touched.note(Some((1, 0)), &[note(1, "a")], &rooms);
        assert_eq!(touched.after, None, "no notification is taken before the place is found");
        assert_eq!(touched.take(now, rooms.keys().cloned()).len(), 3);

        // A full scan once its interval has passed, news or not.
        let mut touched = settled(now);
        assert!(touched.take(now + FULL_SCAN / 2, rooms.keys().cloned()).is_empty());
        assert_eq!(touched.take(now + FULL_SCAN, rooms.keys().cloned()).len(), 3);
        assert!(touched.take(now + FULL_SCAN, rooms.keys().cloned()).is_empty());
    }
}
