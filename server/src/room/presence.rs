//! Presence: the awareness states a room holds and relays, under the rules that keep one connection from
//! exhausting the room's memory or posing as someone else (docs/security/awareness.md).
//!
//! - A client id belongs to the connection that introduced it, for as long as that connection stays;
//!   a connection introduces at most [`MAX_AWARENESS_IDS_PER_CONNECTION`] ids and a room holds at most
//!   [`MAX_AWARENESS_STATES_PER_ROOM`]. Entries for another connection's ids are dropped: stock
//!   y-websocket clients re-send every state they hear, so such entries are normal and not a reason to
//!   close anyone. (Entry counts and state sizes are checked earlier, by `frame::decode_awareness`.)
//! - The identity others see (`user.name`, `user.role`) is the connection's token's, whatever the client
//!   wrote; a `user.color`/`user.colorLight` that is not a hex colour is dropped, so that no browser ever
//!   puts it into CSS. A state that already conforms is relayed as the bytes the client sent.
//!
//! In a cluster the states other nodes relay are kept too (`presence/remote.rs`), so that a joiner is
//! greeted with the whole room's presence; they never count as this node's connections' own.
//!
//! The server keeps its own map rather than yrs' `Awareness`, which keeps an entry for every client id
//! it ever saw (removed ones included) and so grows with whatever ids a client invents.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use handoff_protocol::frame;
use handoff_protocol::limits::{MAX_AWARENESS_IDS_PER_CONNECTION, MAX_AWARENESS_STATES_PER_ROOM};
use serde::Deserialize;
use serde_json::{Map, Value};
use yrs::ClientID;
use yrs::sync::AwarenessUpdate;
use yrs::sync::awareness::AwarenessUpdateEntry;

use super::Identity;
use remote::RemoteStates;

mod remote;

/// The JSON of a withdrawn state, as y-protocols writes it.
const NULL: &str = "null";

struct State {
    owner: u64,
    clock: u32,
    /// `None`: withdrawn by its client, which keeps the id (it may come back on the same connection).
    json: Option<Arc<str>>,
}

/// What to relay to the other members after an awareness message.
pub(super) enum Relay {
    /// Nothing changed (an echo of known states, or only refused entries).
    Nothing,
    /// Every entry was taken as sent: forward the client's message byte for byte.
    Verbatim,
    /// Some entries were dropped or rewritten: forward this instead.
    Encoded(Bytes),
}

#[derive(Default)]
pub(super) struct Presence {
    states: HashMap<ClientID, State>,
    /// Ids whose connection left, with the clock of their withdrawal (at most
    /// [`MAX_AWARENESS_STATES_PER_ROOM`], oldest forgotten first): a re-send at or below that clock is
    /// another client's echo of the past, not a new client.
    retired: VecDeque<(ClientID, u32)>,
    /// The states other nodes relayed (cluster mode).
    remote: RemoteStates,
}

impl Presence {
    /// Applies one connection's awareness message under the rules above.
    /// `conforming`: the edge found every state already conforming ([`vet`]).
    pub(super) fn apply(&mut self, who: &Identity, update: AwarenessUpdate, conforming: bool) -> Relay {
        let conform = |json: &str, who: &Identity| if conforming { None } else { conform(json, who) };
        let mut verbatim = true;
        let mut out = Vec::with_capacity(update.clients.len());
        for (id, entry) in update.clients {
            let withdrawn = &*entry.json == NULL;
            let Some(state) = self.states.get_mut(&id) else {
                if withdrawn || !self.may_introduce(who.conn_id, id, entry.clock) {
                    verbatim = false;
                    continue;
                }
                self.retired.retain(|(r, _)| *r != id);
                let json = conform(&entry.json, who);
                verbatim &= json.is_none();
                let json = json.unwrap_or(entry.json);
                self.states
                    .insert(id, State { owner: who.conn_id, clock: entry.clock, json: Some(json.clone()) });
                out.push((id, AwarenessUpdateEntry { clock: entry.clock, json }));
                continue;
            };
            // y-protocols: a higher clock wins; an equal one may only withdraw a present state.
            let newer = entry.clock > state.clock
                || (entry.clock == state.clock && withdrawn && state.json.is_some());
            if state.owner != who.conn_id || !newer {
                verbatim = false;
                continue;
            }
            state.clock = entry.clock;
            let json = if withdrawn {
                state.json = None;
                entry.json
            } else {
                let fixed = conform(&entry.json, who);
                verbatim &= fixed.is_none();
                let json = fixed.unwrap_or(entry.json);
                state.json = Some(json.clone());
                json
            };
            out.push((id, AwarenessUpdateEntry { clock: entry.clock, json }));
        }
        if out.is_empty() {
            Relay::Nothing
        } else if verbatim {
            Relay::Verbatim
        } else {
            Relay::Encoded(encode(out))
        }
    }

    /// Whether `conn` may introduce client id `id`: it is not an echo of a departed client, the
    /// connection has ids left in its allowance, and the room has room.
    fn may_introduce(&self, conn: u64, id: ClientID, clock: u32) -> bool {
        if self.retired.iter().any(|(r, c)| *r == id && clock <= *c) {
            return false;
        }
        if self.states.len() >= MAX_AWARENESS_STATES_PER_ROOM {
            tracing::debug!(
                conn,
                "awareness entry dropped: the room holds {MAX_AWARENESS_STATES_PER_ROOM} states"
            );
            return false;
        }
        let owned = self.states.values().filter(|s| s.owner == conn).count();
        if owned >= MAX_AWARENESS_IDS_PER_CONNECTION {
            tracing::debug!(conn, "awareness entry dropped: the connection introduced {owned} ids already");
            return false;
        }
        true
    }

    /// Withdraws every state `conn` introduced: the awareness message telling the others, if any.
    pub(super) fn leave(&mut self, conn: u64) -> Option<Bytes> {
        let gone: Vec<ClientID> =
            self.states.iter().filter(|(_, s)| s.owner == conn).map(|(id, _)| *id).collect();
        let mut out = Vec::new();
        for id in gone {
            let Some(state) = self.states.remove(&id) else { continue };
            // One above the last clock, as a client's own goodbye would be, so every peer takes it.
            let clock = state.clock.saturating_add(1);
            if self.retired.len() >= MAX_AWARENESS_STATES_PER_ROOM {
                self.retired.pop_front();
            }
            self.retired.push_back((id, clock));
            if state.json.is_some() {
                out.push((id, AwarenessUpdateEntry { clock, json: NULL.into() }));
            }
        }
        (!out.is_empty()).then(|| encode(out))
    }

    /// Takes an awareness message another node relayed (vetted there) at room time `now_ms`: what to
    /// relay to the members here.
    pub(super) fn remote(&mut self, update: AwarenessUpdate, now_ms: u64) -> Relay {
        self.remote.apply(update, now_ms)
    }

    /// Forgets everything: the room has no one connected.
    pub(super) fn clear(&mut self) {
        self.states.clear();
        self.retired.clear();
        self.remote.clear();
    }

    /// Every present state of this node's connections as one awareness message: what this node
    /// answers another that loads the room.
    pub(super) fn local_snapshot(&self) -> Option<Bytes> {
        let out: Vec<_> = self
            .states
            .iter()
            .filter_map(|(id, s)| Some((*id, AwarenessUpdateEntry { clock: s.clock, json: s.json.clone()? })))
            .collect();
        (!out.is_empty()).then(|| encode(out))
    }

    /// Every present state, this node's and the other nodes' still renewed at room time `now_ms`, as
    /// one awareness message, for a joiner or a query. Where both know an id, the higher clock wins, as
    /// it did for the members already here.
    pub(super) fn snapshot(&self, now_ms: u64) -> Option<Bytes> {
        let mut all: HashMap<ClientID, AwarenessUpdateEntry> = self.remote.fresh(now_ms).collect();
        for (id, s) in &self.states {
            if all.get(id).is_some_and(|r| r.clock > s.clock) {
                continue;
            }
            match &s.json {
                Some(json) => all.insert(*id, AwarenessUpdateEntry { clock: s.clock, json: json.clone() }),
                None => all.remove(id),
            };
        }
        (!all.is_empty()).then(|| encode(all.into_iter().collect()))
    }
}

fn encode(entries: Vec<(ClientID, AwarenessUpdateEntry)>) -> Bytes {
    Bytes::from(frame::encode_awareness(&AwarenessUpdate { clients: entries.into_iter().collect() }))
}

/// A state's `user` as the web client and y-codemirror read it, borrowed from the JSON. A user with any
/// other field, or a state read twice over (duplicate keys), does not match and is rewritten.
#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow)]
    user: Option<PeekUser<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeekUser<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    role: Cow<'a, str>,
    #[serde(borrow, default)]
    color: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "colorLight")]
    color_light: Option<Cow<'a, str>>,
}

/// The colour fields of `user`, each kept only when it is a hex colour.
const COLOUR_FIELDS: [&str; 2] = ["color", "colorLight"];

/// Whether every state of an awareness message already shows `who` as its token says, with hex colours
/// only (then the room relays the message as sent), read at the connection's edge, off the room's task.
/// A state that is not JSON is refused with [`frame::not_json`]: every y-protocols client `JSON.parse`s
/// each state it receives. This is the one full parse of a state on the common path.
pub fn vet(update: &AwarenessUpdate, who: &Identity) -> Result<bool, frame::FrameError> {
    let mut conforming = true;
    for (client, entry) in &update.clients {
        let json = &*entry.json;
        if json == NULL {
            continue;
        }
        match serde_json::from_str::<Peek>(json) {
            Ok(Peek { user: Some(u) }) if shows(&u, who) => {}
            Ok(_) => conforming = false,
            Err(_) => {
                conforming = false;
                if serde_json::from_str::<serde::de::IgnoredAny>(json).is_err() {
                    return Err(frame::not_json(*client));
                }
            }
        }
    }
    Ok(conforming)
}

/// Whether a state's `user` is `who` as its token says, with hex colours only.
fn shows(u: &PeekUser<'_>, who: &Identity) -> bool {
    let colours_ok = [&u.color, &u.color_light].iter().all(|c| c.as_deref().is_none_or(is_hex_colour));
    u.name == *who.name && u.role == who.role.as_str() && colours_ok
}

/// `None` when `json` already shows `who` as its token says (name, role) with hex colours only;
/// otherwise the state rewritten so: the client's own `user` fields are replaced, its colours kept if
/// valid, everything else in the state left as it was. `json` is valid JSON (the edge checked it).
fn conform(json: &str, who: &Identity) -> Option<Arc<str>> {
    if let Ok(Peek { user: Some(u) }) = serde_json::from_str::<Peek>(json)
        && shows(&u, who)
    {
        return None;
    }
    let mut state = match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let mut user = Map::new();
    user.insert("name".into(), Value::String(who.name.to_string()));
    user.insert("role".into(), Value::String(who.role.as_str().into()));
    if let Some(Value::Object(claimed)) = state.get("user") {
        for field in COLOUR_FIELDS {
            match claimed.get(field) {
                Some(Value::String(c)) if is_hex_colour(c) => {
                    user.insert(field.into(), Value::String(c.clone()));
                }
                _ => {}
            }
        }
    }
    state.insert("user".into(), Value::Object(user));
    Some(Value::Object(state).to_string().into())
}

/// `#rgb`, `#rrggbb` or `#rrggbbaa`: the only colours a state may carry into another browser's CSS.
fn is_hex_colour(s: &str) -> bool {
    matches!(s.len(), 4 | 7 | 9) && s.starts_with('#') && s.bytes().skip(1).all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use handoff_protocol::Role;

    fn who(conn_id: u64) -> Identity {
        Identity { conn_id, name: "Cam Candidate".into(), role: Role::Candidate }
    }

    #[test]
    fn hex_colours_only() {
        for ok in ["#abc", "#A1b2C3", "#12ab5633"] {
            assert!(is_hex_colour(ok), "{ok}");
        }
        for bad in ["red", "#abcd", "#12345", "#ggg", "#fff;x", "red; background-image:url(x)", "", "#"] {
            assert!(!is_hex_colour(bad), "{bad}");
        }
    }

    #[test]
    fn a_conforming_state_is_kept_as_sent() {
        let json = r##"{"user":{"name":"Cam Candidate","role":"candidate","color":"#123456","colorLight":"#12345633"},"cursor":{"anchor":1}}"##;
        assert!(conform(json, &who(1)).is_none());
    }

    #[test]
    fn identity_and_colours_are_rewritten() {
        let json = r##"{"user":{"name":"Ivy","role":"interviewer","color":"red;x","colorLight":"#abc","avatar":"u"},"cursor":7}"##;
        let fixed: Value = serde_json::from_str(&conform(json, &who(1)).unwrap()).unwrap();
        assert_eq!(
            fixed,
            serde_json::json!({"user": {"name": "Cam Candidate", "role": "candidate", "colorLight": "#abc"}, "cursor": 7})
        );
        // Duplicate keys: JavaScript reads the last one, so the state is rewritten, not passed on.
        let dup = r#"{"user":{"name":"Cam Candidate","role":"candidate"},"user":{"name":"Ivy","role":"interviewer"}}"#;
        assert!(conform(dup, &who(1)).is_some());
        // Not an object: the identity becomes the whole state.
        let fixed: Value = serde_json::from_str(&conform("5", &who(1)).unwrap()).unwrap();
        assert_eq!(fixed["user"]["role"], "candidate");
    }

    /// An awareness message of `(client id, clock, state JSON)` entries (also for `remote.rs`'s tests).
    pub(super) fn msg(entries: &[(u64, u32, &str)]) -> AwarenessUpdate {
        let clients = entries
            .iter()
            .map(|(id, clock, json)| {
                (ClientID::new(*id), AwarenessUpdateEntry { clock: *clock, json: (*json).into() })
            })
            .collect();
        AwarenessUpdate { clients }
    }

    #[test]
    fn ids_belong_to_the_connection_that_introduced_them() {
        let ok = r#"{"user":{"name":"Cam Candidate","role":"candidate"}}"#;
        let mut p = Presence::default();
        assert!(matches!(p.apply(&who(1), msg(&[(10, 1, ok)]), false), Relay::Verbatim));
        // Another connection re-sending or overwriting it is ignored.
        assert!(matches!(p.apply(&who(2), msg(&[(10, 5, ok)]), false), Relay::Nothing));
        assert!(matches!(p.apply(&who(2), msg(&[(10, 6, NULL)]), false), Relay::Nothing));
        // A connection's allowance of ids.
        let many: Vec<_> = (20..30).map(|i| (i, 1, ok)).collect();
        p.apply(&who(2), msg(&many), false);
        assert_eq!(p.states.values().filter(|s| s.owner == 2).count(), MAX_AWARENESS_IDS_PER_CONNECTION);
        // Leaving withdraws; an echo of the departed state is not a new client, a newer state is.
        assert!(p.leave(1).is_some());
        let mut late = Presence { retired: p.retired.clone(), ..Presence::default() };
        assert!(matches!(late.apply(&who(3), msg(&[(10, 1, ok)]), false), Relay::Nothing));
        assert!(matches!(late.apply(&who(3), msg(&[(10, 3, ok)]), false), Relay::Verbatim));
    }

    #[test]
    fn the_edge_vets_states_once_and_refuses_what_is_not_json() {
        let ok = r##"{"user":{"name":"Cam Candidate","role":"candidate","color":"#123456"},"cursor":{"anchor":1}}"##;
        assert_eq!(vet(&msg(&[(10, 1, ok), (11, 1, NULL)]), &who(1)), Ok(true));
        let posing = r#"{"user":{"name":"Ivy","role":"interviewer"}}"#;
        assert_eq!(vet(&msg(&[(10, 1, ok), (12, 1, posing)]), &who(1)), Ok(false));
        assert_eq!(vet(&msg(&[(10, 1, "{}")]), &who(1)), Ok(false));
        assert!(vet(&msg(&[(10, 1, ok), (13, 1, "{not json")]), &who(1)).is_err());
    }

    #[test]
    fn a_joiner_is_greeted_with_the_newest_state_of_every_node_and_a_node_answers_for_its_own() {
        let ok = r#"{"user":{"name":"Cam Candidate","role":"candidate"}}"#;
        let mut p = Presence::default();
        p.apply(&who(1), msg(&[(10, 3, ok)]), false);
        p.remote(msg(&[(10, 2, ok), (20, 1, ok)]), 0);
        let clocks = |frame: Option<Bytes>| {
            let bytes = frame.expect("states to send");
            let parts = frame::split_frame(&bytes).unwrap();
            let frame::MessageKind::Awareness { update } = &parts[0].kind else { panic!("not awareness") };
            let update = frame::decode_awareness(&bytes[update.clone()]).unwrap();
            let mut clocks: Vec<_> = update.clients.iter().map(|(id, e)| (id.get(), e.clock)).collect();
            clocks.sort();
            clocks
        };
        assert_eq!(clocks(p.snapshot(0)), [(10, 3), (20, 1)], "the higher clock of each id");
        assert_eq!(clocks(p.local_snapshot()), [(10, 3)], "only its own connections' states");
        // Another node's newer state of the same id is what the members here were shown last.
        p.remote(msg(&[(10, 4, ok)]), 0);
        assert_eq!(clocks(p.snapshot(0)), [(10, 4), (20, 1)]);
    }
}
