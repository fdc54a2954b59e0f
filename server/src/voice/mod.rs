//! Voice: an SFU inside the server (DESIGN §3). Each member that joins a room's voice gets one WebRTC
//! connection to the server (a `str0m::Rtc`); the server reads each speaker's Opus uplink and writes the
//! packets, untouched, to an m-line on every other member's connection (stream id = the speaker's
//! member id). Nothing is mixed or transcoded. Signalling is extension message 101 on the room's
//! WebSocket (`handoff_protocol::voice`); the server is the only offerer.
//!
//! Data flows one way: the WebSocket edge hands a member's signals to its room's voice task
//! ([`VoiceMember`]); the voice task answers through the room actor (`Command::ExtensionTo`), the same
//! outbox as every other frame of that member. The room never learns about voice.
//!
//! In a cluster a room's voice runs on one node, its voice home (`home`): a join on another node is
//! refused with `voice_on_other_node`, since members on two nodes could not hear each other.
//!
//! One voice task per room with members that announced `voice` (`room`), beside the room actor: it
//! admits joins, keeps mutes (`speaking`) and sends state and speaking levels (`level`). The media runs
//! on voice loops (`sfu`), threads that each own one UDP socket (`sockets`) and the connections of
//! every member in voice in their rooms: forwarding, mute enforcement, levels and recording happen
//! there, packet by packet, without the voice task.

mod home;
mod level;
mod room;
mod sfu;
mod sockets;
mod speaking;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use handoff_protocol::voice::{ClientSignal, IceServer};
use tokio::sync::{mpsc, oneshot};

use crate::bus::Bus;
use crate::recording::Recorders;
use crate::room::{Identity, RoomHandle};
use crate::store::Store;
pub(crate) use level::{
    AUDIO_LEVEL_URI, extension_id as audio_level_extension_id, payload as audio_level_payload,
};
use room::{Input, VoiceRoom};
use sfu::{Command, Loops};

/// Inputs queued for one room's voice task (signals from members, offers from its voice loop). The
/// WebSocket edge waits while it is full; an offer from the loop that finds it full is dropped and
/// logged, so that the loop, which forwards every room's audio, never waits on one room's task.
const VOICE_ROOM_QUEUE: usize = 1024;

/// How voice runs on this server (from `--voice*` and `--ice-servers`).
#[derive(Debug, Clone)]
pub(crate) struct VoiceSettings {
    /// Voice is on; off refuses every `join` with `voice_off`.
    pub(crate) enabled: bool,
    /// The local address the voice loops' UDP sockets bind on (`0.0.0.0`: every interface).
    pub(crate) bind_ip: IpAddr,
    /// The address announced instead of the bound one (1:1 NAT).
    pub(crate) public_ip: Option<IpAddr>,
    /// The UDP ports the voice loops bind, one each, first to last; `None` takes ephemeral ports.
    pub(crate) udp_ports: Option<(u16, u16)>,
    /// STUN/TURN servers handed to clients.
    pub(crate) ice_servers: Vec<IceServer>,
}

impl VoiceSettings {
    /// Reads `--ice-servers` entries: `URL` or `URL|USERNAME|CREDENTIAL`.
    pub(crate) fn parse_ice_servers(entries: &[String]) -> Vec<IceServer> {
        entries
            .iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty())
            .map(|entry| {
                let mut parts = entry.splitn(3, '|');
                let url = parts.next().unwrap_or_default().to_owned();
                let username = parts.next().map(str::to_owned);
                let credential = parts.next().map(str::to_owned);
                IceServer { urls: vec![url], username, credential }
            })
            .collect()
    }
}

/// The voice service: the voice task of every room that has one, and the voice loops.
pub struct Voice {
    settings: VoiceSettings,
    store: Arc<dyn Store>,
    recorders: Arc<dyn Recorders>,
    /// Where each room's voice runs, in a cluster (`home`).
    bus: Arc<dyn Bus>,
    rooms: Mutex<HashMap<Arc<str>, mpsc::Sender<Input>>>,
    /// The voice loops, started at the first join (a server whose rooms never use voice binds nothing).
    loops: Mutex<Option<Arc<Loops>>>,
}

impl Voice {
    pub(crate) fn new(
        settings: VoiceSettings,
        store: Arc<dyn Store>,
        recorders: Arc<dyn Recorders>,
        bus: Arc<dyn Bus>,
    ) -> Arc<Voice> {
        Arc::new(Voice { settings, store, recorders, bus, rooms: Mutex::default(), loops: Mutex::default() })
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, mpsc::Sender<Input>>> {
        // Nothing panics while holding it; a poisoned map is still a consistent map.
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The voice loop that runs `room`'s media, starting the loops if none runs yet.
    fn loop_for(&self, room: &str) -> Result<mpsc::Sender<Command>, String> {
        let mut loops = self.loops.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(loops) = loops.as_ref() {
            return Ok(loops.for_room(room));
        }
        let started = Arc::new(Loops::start(&self.settings)?);
        let sender = started.for_room(room);
        *loops = Some(started);
        Ok(sender)
    }

    /// A member that announced `voice` connected: it is told who is in voice, and may join.
    pub(crate) async fn connect(
        self: &Arc<Self>,
        room_id: &str,
        who: Identity,
        room: RoomHandle,
    ) -> VoiceMember {
        let conn_id = who.conn_id;
        let mut input = Input::Connect { who, room };
        loop {
            let tx = {
                let mut rooms = self.rooms();
                match rooms.get(room_id) {
                    Some(tx) => tx.clone(),
                    None => {
                        let (tx, rx) = mpsc::channel(VOICE_ROOM_QUEUE);
                        let id: Arc<str> = Arc::from(room_id);
                        rooms.insert(id.clone(), tx.clone());
                        let task = VoiceRoom::new(id, self.clone(), tx.clone());
                        tokio::spawn(task.run(rx));
                        tx
                    }
                }
            };
            match tx.send(input).await {
                Ok(()) => return VoiceMember { conn_id, tx },
                // The task stopped as its last member left (it took itself out of the map first).
                Err(mpsc::error::SendError(back)) => input = back,
            }
        }
    }

    /// The room ended: every member's voice is closed (each told `left` `room_ended`) before this returns,
    /// so those messages reach the members before the room closes their connections.
    pub(crate) async fn end_room(&self, room_id: &str) {
        let tx = self.rooms().get(room_id).cloned();
        if let Some(tx) = tx {
            let (done, wait) = oneshot::channel();
            if tx.send(Input::End { done }).await.is_ok() {
                let _ = wait.await;
            }
        }
    }

    /// The server is stopping: every member's voice is closed (`left` `server_shutdown`).
    pub(crate) async fn shutdown(&self) {
        let all: Vec<_> = self.rooms().values().cloned().collect();
        for tx in all {
            let (done, wait) = oneshot::channel();
            if tx.send(Input::Shutdown { done }).await.is_ok() {
                let _ = wait.await;
            }
        }
        // The loops stop once the rooms' tasks, which hold the other handles, have stopped too.
        self.loops.lock().unwrap_or_else(PoisonError::into_inner).take();
    }

    /// Takes a room's task out of the map if `tx` is still its entry; called by the task as it stops.
    fn retire(&self, room_id: &str, rx: &mpsc::Receiver<Input>) -> bool {
        let mut rooms = self.rooms();
        // Under the map's lock nobody can look the task up; a signal already queued keeps it running.
        if !rx.is_empty() {
            return false;
        }
        rooms.remove(room_id);
        true
    }
}

/// One connection's way to its room's voice task.
#[derive(Debug)]
pub(crate) struct VoiceMember {
    conn_id: u64,
    tx: mpsc::Sender<Input>,
}

impl VoiceMember {
    /// Hands a signal to the voice task, waiting while its queue is full.
    pub(crate) async fn signal(&self, signal: ClientSignal) {
        let _ = self.tx.send(Input::Signal { conn_id: self.conn_id, signal }).await;
    }

    /// The connection closed: its voice (if joined) is left.
    pub(crate) async fn disconnect(self) {
        let _ = self.tx.send(Input::Disconnect { conn_id: self.conn_id }).await;
    }
}

impl std::fmt::Debug for Voice {
    /// Opaque: the store, the recorders, the rooms' channels and the loops.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Voice").field("settings", &self.settings).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ice_servers_read_with_and_without_credentials() {
        let servers = VoiceSettings::parse_ice_servers(&[
            "stun:stun.example.com:3478".into(),
            " turn:turn.example.com:3478?transport=udp|handoff|s3cret ".into(),
            "".into(),
        ]);
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].urls, ["stun:stun.example.com:3478"]);
        assert!(servers[0].username.is_none() && servers[0].credential.is_none());
        assert_eq!(servers[1].username.as_deref(), Some("handoff"));
        assert_eq!(servers[1].credential.as_deref(), Some("s3cret"));
    }
}
