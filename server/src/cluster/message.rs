//! The bus messages: one Redis stream per room, whose entries are the room's log (updates, with ids
//! `<seq>-0`) interleaved with what is not logged (awareness, end, reopen, a request for awareness, a
//! room event, with ids `<seq>-<n>`, `n > 0`, after the update they followed). Every entry carries a version field; a reader skips (logs and
//! counts) a version or kind it does not know, so nodes of two releases can share a stream during a
//! rolling upgrade.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use handoff_protocol::Role;
use handoff_protocol::frame::{EXT_ROOM_EVENT, MessageKind};
use redis::Value;

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
/// In a notification (`Keys::TOUCHED`): the stream key of the room that has a new entry.
pub(super) const F_STREAM: &str = "s";

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
    /// The notification stream: one entry per entry the ordering script adds to a room's stream,
    /// naming that stream, so a reader reads only the rooms with news (see `touched.rs`).
    pub(super) const TOUCHED: &'static str = "handoff:touched";

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
}

impl Outgoing {
    pub(super) fn update(entry: LogEntry) -> Outgoing {
        let role = entry.role.map_or("", Role::as_str);
        let fields = vec![
            (F_CONN, Bytes::from(entry.conn_id.to_string())),
            (F_AUTHOR, Bytes::copy_from_slice(entry.author.as_bytes())),
            (F_ROLE, Bytes::from_static(role.as_bytes())),
            (F_AT, Bytes::from(entry.at_ms.to_string())),
            (F_DATA, entry.update),
        ];
        Outgoing { room: entry.room_id, kind: K_UPDATE, fields }
    }

    pub(super) fn awareness(room: Arc<str>, frame: Bytes) -> Outgoing {
        Outgoing { room, kind: K_AWARENESS, fields: vec![(F_DATA, frame)] }
    }

    pub(super) fn room_event(room: Arc<str>, frame: Bytes) -> Outgoing {
        Outgoing { room, kind: K_ROOM_EVENT, fields: vec![(F_DATA, frame)] }
    }

    pub(super) fn signal(room: Arc<str>, kind: &'static str) -> Outgoing {
        Outgoing { room, kind, fields: Vec::new() }
    }

    /// Roughly what the message holds in memory while queued: its fields' bytes.
    pub(super) fn bytes(&self) -> usize {
        self.fields.iter().map(|(name, value)| name.len() + value.len()).sum::<usize>() + self.room.len()
    }
}

/// A stream entry's id: `(ms, n)`; an update's `ms` is its seq and its `n` is 0.
pub(super) fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, n) = id.split_once('-')?;
    Some((ms.parse().ok()?, n.parse().ok()?))
}

/// An entry as a reader understands it.
#[derive(Debug)]
pub(super) enum Incoming {
    Update { node: String, entry: LogEntry },
    Awareness { node: String, frame: Bytes },
    Ended { node: String },
    Reopened { node: String },
    AwarenessWanted { node: String },
    RoomEvent { node: String, frame: Bytes },
}

/// Why an entry was skipped.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Skipped {
    /// Written by a newer (or unknown) version, or a kind this build does not know: skipped.
    Unknown,
    /// Missing or unreadable fields: a broken entry.
    Broken,
}

/// Reads one entry of `room`'s stream at `seq` (the id's first part).
pub(super) fn decode(room: &Arc<str>, seq: u64, map: &HashMap<String, Value>) -> Result<Incoming, Skipped> {
    if text(map, F_VERSION).as_deref() != Some(VERSION) {
        return Err(Skipped::Unknown);
    }
    let node = text(map, F_NODE).ok_or(Skipped::Broken)?;
    match text(map, F_KIND).as_deref() {
        Some(K_UPDATE) => {
            let number = |f| text(map, f).and_then(|t| t.parse::<u64>().ok()).ok_or(Skipped::Broken);
            let entry = LogEntry {
                room_id: room.clone(),
                seq,
                at_ms: number(F_AT)?,
                author: Arc::from(text(map, F_AUTHOR).ok_or(Skipped::Broken)?),
                role: text(map, F_ROLE).as_deref().and_then(Role::parse),
                conn_id: number(F_CONN)?,
                update: bytes(map, F_DATA).ok_or(Skipped::Broken)?,
            };
            Ok(Incoming::Update { node, entry })
        }
        Some(K_AWARENESS) => {
            Ok(Incoming::Awareness { node, frame: bytes(map, F_DATA).ok_or(Skipped::Broken)? })
        }
        Some(K_ENDED) => Ok(Incoming::Ended { node }),
        Some(K_REOPENED) => Ok(Incoming::Reopened { node }),
        Some(K_AWARENESS_WANTED) => Ok(Incoming::AwarenessWanted { node }),
        Some(K_ROOM_EVENT) => {
            let frame = bytes(map, F_DATA).filter(|f| is_room_event(f)).ok_or(Skipped::Broken)?;
            Ok(Incoming::RoomEvent { node, frame })
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

fn bytes(map: &HashMap<String, Value>, field: &str) -> Option<Bytes> {
    match map.get(field)? {
        Value::BulkString(b) => Some(Bytes::copy_from_slice(b)),
        Value::SimpleString(s) => Some(Bytes::copy_from_slice(s.as_bytes())),
        _ => None,
    }
}

fn text(map: &HashMap<String, Value>, field: &str) -> Option<String> {
    String::from_utf8(bytes(map, field)?.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(map: &mut HashMap<String, Value>, k: &str, v: &str) {
        map.insert(k.to_string(), Value::BulkString(v.as_bytes().to_vec()));
    }

    #[test]
    fn an_update_reads_back_and_unknown_versions_or_kinds_are_skipped() {
        let room: Arc<str> = Arc::from("room_1");
        let mut map = HashMap::new();
        for (k, v) in [("v", "1"), ("k", "u"), ("n", "node"), ("c", "7"), ("a", "Ada"), ("r", "candidate")] {
            field(&mut map, k, v);
        }
        field(&mut map, "t", "1000");
        field(&mut map, "d", "xyz");
        match decode(&room, 5, &map) {
            Ok(Incoming::Update { node, entry }) => {
                assert_eq!((node.as_str(), entry.seq, entry.conn_id, entry.at_ms), ("node", 5, 7, 1000));
                assert_eq!(
                    (&*entry.author, entry.role, &entry.update[..]),
                    ("Ada", Some(Role::Candidate), &b"xyz"[..])
                );
            }
            other => panic!("{other:?}"),
        }
        field(&mut map, "v", "2");
        assert_eq!(decode(&room, 5, &map).err(), Some(Skipped::Unknown));
        field(&mut map, "v", "1");
        field(&mut map, "k", "cursor");
        assert_eq!(decode(&room, 5, &map).err(), Some(Skipped::Unknown));
        field(&mut map, "k", "u");
        map.remove("d");
        assert_eq!(decode(&room, 5, &map).err(), Some(Skipped::Broken));
        field(&mut map, "k", "x");
        assert_eq!(decode(&room, 5, &map).err(), Some(Skipped::Broken), "a room event without its frame");
        field(&mut map, "d", "\u{0}\u{0}");
        assert_eq!(decode(&room, 5, &map).err(), Some(Skipped::Broken), "a sync message is no room event");
        let event = [EXT_ROOM_EVENT, 2, b'{', b'}'];
        map.insert("d".into(), Value::BulkString(event.to_vec()));
        match decode(&room, 5, &map) {
            Ok(Incoming::RoomEvent { node, frame }) => {
                assert_eq!((node.as_str(), &frame[..]), ("node", &event[..]))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keys_name_their_room() {
        assert_eq!(Keys::room_of(&Keys::stream("room_abc")), Some("room_abc"));
        assert_eq!(parse_id("12-0"), Some((12, 0)));
        assert_eq!(parse_id("nonsense"), None);
    }
}
