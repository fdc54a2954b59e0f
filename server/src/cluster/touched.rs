//! Which rooms the reader reads each round. The ordering script (`publisher.rs`) adds, with every entry
//! it adds to a room's stream, a notification naming that stream and the node that added it to the
//! notification stream of each other node that reads the room ([`Keys::touched`]; `readers.rs` says
//! which nodes do). The reader blocks on its own notification stream alone and reads only the held
//! rooms it names, so a read costs what changed, not how many rooms the node holds (one XREAD over
//! every held stream costs Redis in proportion to the streams named, news or not: 16 ms a call at
//! 1000 rooms), and a node reads no notification of a room it does not hold. The node's own entries
//! are not notified to it: the room has them, and the publisher saw their place in the log; such an
//! entry is read with the room's next read.
//!
//! A notification is added in the same script as its entry, so a room read after its notification is
//! read past that entry. It also carries the entry (`Carried`), which the reader takes when it follows
//! the room's cursor (`reader.rs`), so most rooms with news need no read at all. What the
//! notifications cannot tell is covered by reading every held stream:
//! - when the place in the notification stream is not known yet (start, Redis lost its data);
//! - every [`FULL_SCAN`]: a node of an older release adds entries without notifications to this node's
//!   stream during a rolling upgrade (it writes the one shared stream `handoff:touched`, which no node
//!   of this release reads: its entries reach this node within a full scan, and with room affinity a
//!   room's members are on one node anyway), an entry added by hand names no one, an entry added
//!   before this node was listed among the room's readers, or while its entry had lapsed (Redis cut
//!   off past `READERS_TTL_MS`), is notified to no one here, and notifications trimmed away before
//!   this node read them (it was cut off, or [`TOUCHED_MAXLEN`] behind) name no one any more. Checking
//!   for such a trim every round costs a command per round; a node that far behind is late anyway.
//!
//! A room just attached, and a room whose read stopped at the count per read, is read next round
//! whatever the notifications say.
//!
//! The read of notifications goes in one pipeline with the reader's read of the rooms the previous
//! notifications named (`reader.rs`): a round is one round trip.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::time::Instant;

use super::entries::{Entries, Entry, Streams, parse_id};
use super::message::{F_ID, F_KIND, F_NODE, F_PREV, F_STREAM, F_VERSION, Keys, VERSION};

/// Notifications a node's stream keeps, about (`MAXLEN ~`): a reader further behind than that reads
/// every held stream instead. About 20 s of 1000 rooms each typing (5 entries a second).
pub(super) const TOUCHED_MAXLEN: u64 = 100_000;
/// Notifications read per round.
const TOUCHED_READ_COUNT: usize = 4_096;
/// How often every held stream is read whatever the notifications say.
const FULL_SCAN: Duration = Duration::from_secs(1);
/// Streams read in one round at most; the rest are read in the rounds after. It bounds a round's
/// reply: a node far behind gets up to 512 entries a stream, and a reply for every stream of 2000 rooms
/// does not arrive within the response timeout; a read that times out marks every stream again, so an
/// unbounded round would never let the node catch up.
pub(super) const MAX_STREAMS_PER_ROUND: usize = 200;

/// An entry of a held room that its notification carried, and the id of the entry before it in the
/// room's stream (`None`: the stream had none).
#[derive(Debug)]
pub(super) struct Carried {
    pub(super) room: Arc<str>,
    pub(super) prev: Option<(u64, u64)>,
    pub(super) entry: Entry,
}

/// A stream entry's id, `(ms, n)`.
type Id = (u64, u64);

/// The ids a notification that carries its entry holds (the one before it, and its entry's); `None`
/// for a notification that carries none (one of an older release).
fn carried_ids(e: &mut Entry) -> Option<(Option<Id>, Id)> {
    e.get(F_KIND)?;
    let id = e.take(F_ID).and_then(|id| std::str::from_utf8(&id).ok().and_then(parse_id))?;
    let prev = e.take(F_PREV)?;
    Some((std::str::from_utf8(&prev).ok().and_then(parse_id), id))
}

pub(super) struct Touched {
    /// This node's notification stream.
    key: String,
    /// The last notification read (`(0, 0)`: the stream was empty); `None`: not known.
    after: Option<(u64, u64)>,
    /// Held rooms to read next round.
    due: HashSet<Arc<str>>,
    /// Every held stream is read next round.
    all: bool,
    next_full_scan: Instant,
}

impl Touched {
    pub(super) fn new(now: Instant, node: &str) -> Touched {
        Touched {
            key: Keys::touched(node),
            after: None,
            due: HashSet::new(),
            all: true,
            next_full_scan: now + FULL_SCAN,
        }
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

    /// Finds the notification stream's end when the place in it is not known (the first round, or
    /// after [`Touched::forget`]): every held stream is read next round. Nothing to do otherwise.
    pub(super) async fn locate(&mut self, conn: &mut ConnectionManager) -> redis::RedisResult<()> {
        if self.after.is_some() {
            return Ok(());
        }
        let Entries(end) = redis::cmd("XREVRANGE")
            .arg(&self.key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(conn)
            .await?;
        self.after = Some(end.first().map_or((0, 0), |e| e.id));
        self.all = true;
        Ok(())
    }

    /// Adds to `pipe` the read of the notifications after the last one read, waiting up to `block_ms`
    /// for one when given. Its reply goes to [`Touched::noted`].
    pub(super) fn add_read(&self, pipe: &mut redis::Pipeline, block_ms: Option<u64>) {
        let after = self.after.unwrap_or((0, 0));
        let read = pipe.cmd("XREAD").arg("COUNT").arg(TOUCHED_READ_COUNT);
        if let Some(ms) = block_ms {
            read.arg("BLOCK").arg(ms);
        }
        read.arg("STREAMS").arg(&self.key).arg(format!("{}-{}", after.0, after.1));
    }

    /// Takes in the reply of the read [`Touched::add_read`] added: marks the held rooms it names, but
    /// for the entries `node` (this one) added, and returns the entries the notifications carry (of
    /// rooms not marked already: a room marked is read from its stream, past whatever came before).
    pub(super) fn noted<V>(
        &mut self,
        Streams(streams): Streams,
        held: &HashMap<Arc<str>, V>,
        node: &str,
    ) -> Vec<Carried> {
        let mut carried = Vec::new();
        for mut e in streams.into_iter().flat_map(|(_, entries)| entries) {
            let news = e.is(F_VERSION, VERSION) && !e.is(F_NODE, node);
            let stream = if news { e.take(F_STREAM) } else { None };
            let stream = stream.as_deref().and_then(|s| std::str::from_utf8(s).ok());
            let Some(room) = self.note_one(e.id, stream, held) else { continue };
            match carried_ids(&mut e) {
                Some((prev, id)) if !self.due.contains(&room) => {
                    carried.push(Carried { room, prev, entry: e.with_id(id) })
                }
                _ => {
                    self.due.insert(room);
                }
            }
        }
        carried
    }

    /// Takes in one notification: the held room it names, if any. None before the place in the
    /// notifications is known.
    fn note_one<V>(
        &mut self,
        id: (u64, u64),
        stream: Option<&str>,
        held: &HashMap<Arc<str>, V>,
    ) -> Option<Arc<str>> {
        self.after?;
        self.after = Some(id);
        let room = stream.and_then(Keys::room_of)?;
        held.get_key_value(room).map(|(room, _)| room.clone())
    }

    /// Whether the room is to be read from its stream next round.
    pub(super) fn is_due(&self, room: &str) -> bool {
        self.due.contains(room)
    }

    /// The rooms to read this round, of the `held` rooms `ready` to be read (a paused stream waits for
    /// a full scan after its pause), at most [`MAX_STREAMS_PER_ROUND`]: the rest stay due. Costs what
    /// is due, not what is held, but on a full scan.
    pub(super) fn take<V>(
        &mut self,
        now: Instant,
        held: &HashMap<Arc<str>, V>,
        ready: impl Fn(&V) -> bool,
    ) -> Vec<Arc<str>> {
        if now >= self.next_full_scan {
            self.all = true;
            self.next_full_scan = now + FULL_SCAN;
        }
        if self.all {
            self.due = held.keys().cloned().collect();
            self.all = false;
        }
        let chosen: Vec<Arc<str>> = self.due.iter().take(MAX_STREAMS_PER_ROUND).cloned().collect();
        for room in &chosen {
            self.due.remove(room);
        }
        chosen.into_iter().filter(|room| held.get(room).is_some_and(&ready)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::entries::Entry;
    use super::*;

    /// Held rooms; each one's value says whether it is ready to be read (not paused).
    fn held(rooms: &[&str]) -> HashMap<Arc<str>, bool> {
        rooms.iter().map(|r| (Arc::from(*r), true)).collect()
    }

    /// Another node's notification of an entry in `room`'s stream, carrying no entry.
    fn note(id: u64, room: &str) -> Entry {
        Entry::new((id, 0), &[("v", b"1"), ("s", Keys::stream(room).as_bytes()), ("n", b"other")])
    }

    /// Takes in `notes` as one read of this node's notification stream.
    fn take_in(touched: &mut Touched, notes: &[Entry], held: &HashMap<Arc<str>, bool>) {
        let carried = touched.noted(Streams(vec![(Keys::touched("me"), notes.to_vec())]), held, "me");
        assert!(carried.is_empty(), "these notifications carry no entry");
    }

    fn sorted(mut rooms: Vec<Arc<str>>) -> Vec<Arc<str>> {
        rooms.sort();
        rooms
    }

    /// A reader past its first round, at notification 10, with nothing due.
    fn settled(now: Instant) -> Touched {
        let mut touched = Touched::new(now, "me");
        touched.after = Some((10, 0));
        touched.take(now, &held(&[]), |_| true);
        touched
    }

    #[test]
    fn only_the_held_rooms_notified_are_read() {
        let now = Instant::now();
        let rooms = held(&["a", "b", "c"]);
        let mut touched = settled(now);
        assert!(touched.take(now, &rooms, |_| true).is_empty(), "nothing to read yet");
        let notes = [note(11, "a"), note(12, "elsewhere"), note(13, "a"), note(14, "c")];
        take_in(&mut touched, &notes, &rooms);
        assert_eq!(touched.after, Some((14, 0)), "the next read starts after the last notification");
        assert_eq!(sorted(touched.take(now, &rooms, |_| true)), vec![Arc::from("a"), Arc::from("c")]);
        assert!(touched.take(now, &rooms, |_| true).is_empty(), "read once per notification");
    }

    #[test]
    fn a_notification_of_this_node_s_own_entry_is_no_news() {
        let now = Instant::now();
        let rooms = held(&["a", "b"]);
        let mut touched = settled(now);
        let stream = |room: &str| Keys::stream(room);
        let (a, b) = (stream("a"), stream("b"));
        let notes = [
            Entry::new((11, 0), &[("v", b"1"), ("s", a.as_bytes()), ("n", b"me")]),
            Entry::new((12, 0), &[("v", b"1"), ("s", b.as_bytes()), ("n", b"other")]),
            // A node of an older release names no node: news.
            Entry::new((13, 0), &[("v", b"1"), ("s", a.as_bytes())]),
        ];
        touched.noted(Streams(vec![(Keys::touched("me"), notes[..2].to_vec())]), &rooms, "me");
        assert_eq!(touched.after, Some((12, 0)));
        assert_eq!(touched.take(now, &rooms, |_| true), vec![Arc::from("b")]);
        touched.noted(Streams(vec![(Keys::touched("me"), notes[2..].to_vec())]), &rooms, "me");
        assert_eq!(touched.take(now, &rooms, |_| true), vec![Arc::from("a")]);
    }

    #[test]
    fn a_notification_that_carries_its_entry_hands_it_over_unless_the_room_is_due() {
        let now = Instant::now();
        let rooms = held(&["a", "b"]);
        let mut touched = settled(now);
        let (a, b) = (Keys::stream("a"), Keys::stream("b"));
        let carrying = |id: u64, stream: &str, prev: &[u8], at: &[u8]| {
            Entry::new(
                (id, 0),
                &[
                    ("v", b"1"),
                    ("s", stream.as_bytes()),
                    ("n", b"other"),
                    ("p", prev),
                    ("i", at),
                    ("k", b"a"),
                    ("d", b"x"),
                ],
            )
        };
        let notes = vec![
            carrying(11, &a, b"7-0", b"7-1"),
            // Of an older release: no entry carried, the room's stream is read.
            Entry::new((12, 0), &[("v", b"1"), ("s", b.as_bytes()), ("n", b"other")]),
            // Room b is due now: what it carries next is read from its stream too.
            carrying(13, &b, b"3-0", b"4-0"),
            // The stream had nothing before it.
            carrying(14, &a, b"", b"8-0"),
        ];
        let carried = touched.noted(Streams(vec![(Keys::touched("me"), notes)]), &rooms, "me");
        assert_eq!(touched.after, Some((14, 0)));
        let got: Vec<_> = carried.iter().map(|c| (&*c.room, c.prev, c.entry.id)).collect();
        assert_eq!(got, vec![("a", Some((7, 0)), (7, 1)), ("a", None, (8, 0))]);
        assert!(carried[0].entry.is("k", "a") && carried[0].entry.get("d").is_some(), "the entry's fields");
        assert_eq!(touched.take(now, &rooms, |_| true), vec![Arc::from("b")]);
    }

    #[test]
    fn a_full_scan_of_many_rooms_is_read_over_several_rounds() {
        let now = Instant::now();
        let names: Vec<String> = (0..MAX_STREAMS_PER_ROUND * 2 + 1).map(|i| format!("r{i}")).collect();
        let rooms = held(&names.iter().map(String::as_str).collect::<Vec<_>>());
        let mut touched = Touched::new(now, "me");
        let mut seen = HashSet::new();
        for round in 0..3 {
            let read = touched.take(now, &rooms, |_| true);
            assert!(read.len() <= MAX_STREAMS_PER_ROUND, "round {round} reads {}", read.len());
            seen.extend(read);
        }
        assert_eq!(seen.len(), rooms.len(), "every held stream is read within three rounds");
        assert!(touched.take(now, &rooms, |_| true).is_empty());
    }

    #[test]
    fn a_paused_room_waits_and_an_unknown_notification_is_passed_over() {
        let now = Instant::now();
        let rooms = held(&["a", "b", "c"]);
        let mut touched = settled(now);
        // A version this build does not know, naming held room c: passed over (a full scan reads c).
        let unknown =
            Entry::new((11, 0), &[("v", b"9"), ("s", Keys::stream("c").as_bytes()), ("n", b"other")]);
        take_in(&mut touched, &[unknown, note(12, "a"), note(13, "b")], &rooms);
        assert_eq!(touched.after, Some((13, 0)));
        // "a" is paused: only "b" is ready.
        let mut rooms = rooms;
        rooms.insert(Arc::from("a"), false);
        assert_eq!(touched.take(now, &rooms, |ready| *ready), vec![Arc::from("b")]);
    }

    #[test]
    fn every_held_stream_is_read_when_notifications_may_be_missing() {
        let now = Instant::now();
        let rooms = held(&["a", "b", "c"]);
        // The first round: the place in the notifications is not known yet.
        let mut touched = Touched::new(now, "me");
        assert_eq!(touched.take(now, &rooms, |_| true).len(), 3);

        // Then only what is notified.
        touched.after = Some((0, 0));
        take_in(&mut touched, &[note(13, "b")], &rooms);
        assert_eq!(touched.take(now, &rooms, |_| true), vec![Arc::from("b")]);

        // Redis lost its data: the place is found again and everything is read.
        touched.forget();
        take_in(&mut touched, &[note(1, "a")], &rooms);
        assert_eq!(touched.after, None, "no notification is taken before the place is found");
        assert_eq!(touched.take(now, &rooms, |_| true).len(), 3);

        // A full scan once its interval has passed, news or not (notifications trimmed away unread
        // included).
        let mut touched = settled(now);
        assert!(touched.take(now + FULL_SCAN / 2, &rooms, |_| true).is_empty());
        assert_eq!(touched.take(now + FULL_SCAN, &rooms, |_| true).len(), 3);
        assert!(touched.take(now + FULL_SCAN, &rooms, |_| true).is_empty());
    }
}
