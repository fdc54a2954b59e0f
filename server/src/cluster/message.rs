//! The bus messages: one Redis stream per room, whose entries are the room's log (updates, with ids
//! `<seq>-0`) interleaved with what is not logged (awareness, end, reopen, a request for awareness, a
//! room event, with ids `<seq>-<n>`, `n > 0`, after the update they followed). Every entry carries a version field; a reader skips (logs and
//! counts) a version or kind it does not know, so nodes of two releases can share a stream during a
//! rolling upgrade.

use std::sync::Arc;

use bytes::Bytes;
use handoff_protocol::Role;
use handoff_protocol::frame::{EXT_ROOM_EVENT, MessageKind};

use super::entries::Entry;
use crate::store::LogEntry;

/// The version of the entries this build writes and reads.
pub(super) const VERSION: &str = "1";

/// Field names, one letter each: an entry is written per keystroke.
pub(super) const F_VERSION: &str = "v";
pub(super) const F_KIND: &str = "k";
pub(super) const F_NODE: &str = "n";
pub(super) const F_CONN: &str = "c";
pub(super) const F_AUTHOR: &str = "a";
pub(super) const F_ROLE: &str = "r";
pub(super) const F_AT: &str = "t";
pub(super) const F_DATA: &str = "d";
/// In a notification (`Keys::touched`): the stream key of the room that has a new entry.
pub(super) const F_STREAM: &str = "s";
/// In a notification that carries its entry (the entry's kind and fields follow): the entry's id, and
/// the id of the entry before it in the stream (empty when the stream had none).
pub(super) const F_ID: &str = "i";
pub(super) const F_PREV: &str = "p";

/// Entry kinds.
pub(super) const K_UPDATE: &str = "u";
pub(super) const K_AWARENESS: &str = "a";
pub(super) const K_ENDED: &str = "e";
pub(super) const K_REOPENED: &str = "r";
/// A node loaded the room and asks the others to relay their members' awareness states.
pub(super) const K_AWARENESS_WANTED: &str = "w";
/// A room event (a pushed question; message `EXT_ROOM_EVENT`): every other node sends it to its members
/// that announced `events`.
pub(super) const K_ROOM_EVENT: &str = "x";

/// Keys of one room. The `{room}` hash tag keeps them in one slot of a Redis Cluster, so the ordering
/// script may touch all of them.
pub(super) struct Keys;

impl Keys {
    pub(super) fn stream(room: &str) -> String {
        format!("handoff:{{{room}}}:log")
    }
    pub(super) fn seq(room: &str) -> String {
        format!("handoff:{{{room}}}:seq")
    }
    pub(super) fn published(room: &str) -> String {
        format!("handoff:{{{room}}}:pub")
    }
    pub(super) fn lease(room: &str) -> String {
        format!("handoff:{{{room}}}:lease")
    }
    pub(super) fn committed(room: &str) -> String {
        format!("handoff:{{{room}}}:committed")
    }
    pub(super) fn connected(room: &str) -> String {
        format!("handoff:{{{room}}}:conn")
    }
    /// The Redis data's epoch: set once by the first node to find it missing. A node that finds it
    /// gone or changed knows Redis lost its data (restarted without AOF, flushed, evicted).
    pub(super) const EPOCH: &'static str = "handoff:epoch";
    /// What a node's notification stream's key starts with (the node's id follows).
    pub(super) const TOUCHED_PREFIX: &'static str = "handoff:touched:";
    /// A node's notification stream: one entry per entry another node's ordering script adds to the
    /// stream of a room this node reads, naming that stream, so a reader reads only the rooms with
    /// news (see `touched.rs`).
    pub(super) fn touched(node: &str) -> String {
        format!("{}{node}", Keys::TOUCHED_PREFIX)
    }
    /// The nodes reading the room's stream: a sorted set of node ids, each scored with when its entry
    /// lapses (Redis time, ms), so a killed node's entry goes by itself (see `readers.rs`).
    pub(super) fn readers(room: &str) -> String {
        format!("handoff:{{{room}}}:readers")
    }

    /// The node the room's voice runs on (see `voice_home.rs`).
    pub(super) fn voice_home(room: &str) -> String {
        format!("handoff:{{{room}}}:voice")
    }
    /// The room a stream key names.
    pub(super) fn room_of(stream: &str) -> Option<&str> {
        stream.strip_prefix("handoff:{")?.strip_suffix("}:log")
    }
}

/// A message to publish: its kind and fields (besides version, kind and node, which the publisher adds).
#[derive(Debug)]
pub(super) struct Outgoing {
    pub(super) room: Arc<str>,
    pub(super) kind: &'static str,
    pub(super) fields: Vec<(&'static str, Bytes)>,
    /// An update's log entry (its seq not known yet), for the committer once the ordering script has
    /// numbered it (`pending.rs`).
    pub(super) entry: Option<LogEntry>,
}

impl Outgoing {
    pub(super) fn update(entry: LogEntry) -> Outgoing {
        let role = entry.role.map_or("", Role::as_str);
        let fields = vec![
            (F_CONN, Bytes::from(entry.conn_id.to_string())),
            (F_AUTHOR, Bytes::copy_from_slice(entry.author.as_bytes())),
            (F_ROLE, Bytes::from_static(role.as_bytes())),
            (F_AT, Bytes::from(entry.at_ms.to_string())),
            (F_DATA, entry.update.clone()),
        ];
        Outgoing { room: entry.room_id.clone(), kind: K_UPDATE, fields, entry: Some(entry) }
    }

    pub(super) fn awareness(room: Arc<str>, frame: Bytes) -> Outgoing {
        Outgoing { room, kind: K_AWARENESS, fields: vec![(F_DATA, frame)], entry: None }
    }

    pub(super) fn room_event(room: Arc<str>, frame: Bytes) -> Outgoing {
        Outgoing { room, kind: K_ROOM_EVENT, fields: vec![(F_DATA, frame)], entry: None }
    }

    pub(super) fn signal(room: Arc<str>, kind: &'static str) -> Outgoing {
        Outgoing { room, kind, fields: Vec::new(), entry: None }
    }

    /// Roughly what the message holds in memory while queued: its fields' bytes.
    pub(super) fn bytes(&self) -> usize {
        self.fields.iter().map(|(name, value)| name.len() + value.len()).sum::<usize>() + self.room.len()
    }
}

/// An entry as a reader understands it (the node that wrote it is told apart before: `cursor.rs`).
#[derive(Debug)]
pub(super) enum Incoming {
    Update(LogEntry),
    Awareness(Bytes),
    Ended,
    Reopened,
    AwarenessWanted,
    RoomEvent(Bytes),
}

/// Why an entry was skipped.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Skipped {
    /// Written by a newer (or unknown) version, or a kind this build does not know: skipped.
    Unknown,
    /// Missing or unreadable fields: a broken entry.
    Broken,
}

/// Reads one entry of `room`'s stream at `seq` (the id's first part), taking its fields' bytes.
pub(super) fn decode(room: &Arc<str>, seq: u64, mut e: Entry) -> Result<Incoming, Skipped> {
    if !e.is(F_VERSION, VERSION) {
        return Err(Skipped::Unknown);
    }
    e.get(F_NODE).ok_or(Skipped::Broken)?;
    let kind = e.take(F_KIND).ok_or(Skipped::Unknown)?;
    match &kind[..] {
        k if k == K_UPDATE.as_bytes() => {
            let number = |f| text(&e, f).and_then(|t| t.parse::<u64>().ok()).ok_or(Skipped::Broken);
            let entry = LogEntry {
                room_id: room.clone(),
                seq,
                at_ms: number(F_AT)?,
                author: Arc::from(text(&e, F_AUTHOR).ok_or(Skipped::Broken)?),
                role: text(&e, F_ROLE).and_then(Role::parse),
                conn_id: number(F_CONN)?,
                update: e.take(F_DATA).ok_or(Skipped::Broken)?,
            };
            Ok(Incoming::Update(entry))
        }
        k if k == K_AWARENESS.as_bytes() => Ok(Incoming::Awareness(e.take(F_DATA).ok_or(Skipped::Broken)?)),
        k if k == K_ENDED.as_bytes() => Ok(Incoming::Ended),
        k if k == K_REOPENED.as_bytes() => Ok(Incoming::Reopened),
        k if k == K_AWARENESS_WANTED.as_bytes() => Ok(Incoming::AwarenessWanted),
        k if k == K_ROOM_EVENT.as_bytes() => {
            let frame = e.take(F_DATA).filter(|f| is_room_event(f)).ok_or(Skipped::Broken)?;
            Ok(Incoming::RoomEvent(frame))
        }
        _ => Err(Skipped::Unknown),
    }
}

/// Whether `frame` is one room event message, as the members' clients read it.
fn is_room_event(frame: &[u8]) -> bool {
    match handoff_protocol::frame::split_frame(frame).as_deref() {
        Ok([part]) => matches!(part.kind, MessageKind::Extension { tag: EXT_ROOM_EVENT, .. }),
        _ => false,
    }
}

fn text<'a>(e: &'a Entry, field: &str) -> Option<&'a str> {
    std::str::from_utf8(e.get(field)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_reads_back_and_unknown_versions_or_kinds_are_skipped() {
        let room: Arc<str> = Arc::from("room_1");
        let fields: [(&str, &[u8]); 8] = [
            ("v", b"1"),
            ("k", b"u"),
            ("n", b"node"),
            ("c", b"7"),
            ("a", b"Ada"),
            ("r", b"candidate"),
            ("t", b"1000"),
            ("d", b"xyz"),
        ];
        let map = || Entry::new((5, 0), &fields);
        let with = |k: &str, v: &[u8]| {
            let mut e = map();
            e.set(k, v);
            e
        };
        match decode(&room, 5, map()) {
            Ok(Incoming::Update(entry)) => {
                assert_eq!((entry.seq, entry.conn_id, entry.at_ms), (5, 7, 1000));
                assert_eq!(
                    (&*entry.author, entry.role, &entry.update[..]),
                    ("Ada", Some(Role::Candidate), &b"xyz"[..])
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(decode(&room, 5, with("v", b"2")).err(), Some(Skipped::Unknown));
        assert_eq!(decode(&room, 5, with("k", b"cursor")).err(), Some(Skipped::Unknown));
        let mut no_node = map();
        no_node.remove("n");
        assert_eq!(decode(&room, 5, no_node).err(), Some(Skipped::Broken));
        let mut no_data = map();
        no_data.remove("d");
        assert_eq!(decode(&room, 5, no_data).err(), Some(Skipped::Broken));
        let mut event = with("k", b"x");
        event.remove("d");
        assert_eq!(decode(&room, 5, event).err(), Some(Skipped::Broken), "a room event without its frame");
        let mut event = with("k", b"x");
        event.set("d", b"\0\0");
        assert_eq!(decode(&room, 5, event).err(), Some(Skipped::Broken), "a sync message is no room event");
        let frame = [EXT_ROOM_EVENT, 2, b'{', b'}'];
        let mut event = with("k", b"x");
        event.set("d", &frame);
        match decode(&room, 5, event) {
            Ok(Incoming::RoomEvent(f)) => assert_eq!(&f[..], &frame[..]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_update_handed_over_is_the_entry_its_stream_entry_reads_back_as() {
        let room: Arc<str> = Arc::from("room_1");
        for role in [Some(Role::Candidate), None] {
            let entry = LogEntry {
                room_id: room.clone(),
                seq: 0,
                at_ms: 1234,
                author: Arc::from("Ada"),
                role,
                conn_id: 9,
                update: Bytes::from_static(b"\x01\x02"),
            };
            let out = Outgoing::update(entry);
            let mut fields: Vec<(&str, &[u8])> = vec![("v", b"1"), ("k", b"u"), ("n", b"node")];
            fields.extend(out.fields.iter().map(|(k, v)| (*k, &v[..])));
            let Ok(Incoming::Update(read)) = decode(&room, 5, Entry::new((5, 0), &fields)) else {
                panic!("an update");
            };
            let handed = out.entry.expect("an update carries its entry");
            // The store takes either for the other (`LogEntry::same_record`): no conflict when both reach it.
            assert!(read.same_record(&handed), "{read:?} vs {handed:?}");
        }
    }

    #[test]
    fn keys_name_their_room() {
        assert_eq!(Keys::room_of(&Keys::stream("room_abc")), Some("room_abc"));
    }
}
