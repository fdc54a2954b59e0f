//! What the voice task tells members: `state`, `levels`, `error` and every other signal, each through
//! the room actor into the member's own outbox.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use handoff_protocol::voice::{
    ServerSignal, SpeakingLevel, VoiceErrorCode, VoiceParticipant, encode_server_signal,
};

use super::VoiceRoom;
use crate::room::{Command, Extension};

impl VoiceRoom {
    pub(super) async fn send_levels(&mut self) {
        let levels: Vec<SpeakingLevel> = self
            .joined
            .keys()
            .filter_map(|id| self.members.get(id).map(|m| (id, m)))
            .map(|(id, m)| SpeakingLevel { member: id.to_string(), level: m.speaking.take_level() })
            .collect();
        let speaking = levels.iter().any(|l| l.level > 0.0);
        if !speaking && !std::mem::replace(&mut self.spoke, false) {
            return;
        }
        self.spoke = speaking;
        let frame = Bytes::from(encode_server_signal(&ServerSignal::Levels { levels }));
        for conn_id in self.joined.keys().copied().collect::<Vec<_>>() {
            self.send_frame(conn_id, frame.clone()).await;
        }
    }

    pub(super) fn participants(&self) -> Vec<VoiceParticipant> {
        self.joined
            .keys()
            .filter_map(|id| self.members.get(id))
            .map(|m| VoiceParticipant {
                member: m.who.conn_id.to_string(),
                name: m.who.name.to_string(),
                role: m.who.role,
                muted: m.speaking.muted(),
                muted_by_interviewer: m.speaking.muted_by_interviewer.load(Ordering::Relaxed),
            })
            .collect()
    }

    pub(super) async fn send_state_to(&self, conn_id: u64) {
        let participants = self.participants();
        self.send_to(conn_id, &ServerSignal::State { you: conn_id.to_string(), participants }).await;
    }

    /// Tells every member that announced voice who is in it.
    pub(super) async fn send_state(&self) {
        let participants = self.participants();
        for conn_id in self.members.keys().copied() {
            let you = conn_id.to_string();
            let state = ServerSignal::State { you, participants: participants.clone() };
            self.send_to(conn_id, &state).await;
        }
    }

    pub(super) async fn error(&self, conn_id: u64, code: VoiceErrorCode, message: &str) {
        self.send_to(conn_id, &ServerSignal::Error { code, message: message.to_owned() }).await;
    }

    pub(super) async fn send_to(&self, conn_id: u64, signal: &ServerSignal) {
        self.send_frame(conn_id, Bytes::from(encode_server_signal(signal))).await;
    }

    /// Through the room actor, into the member's outbox, in order with its other frames.
    pub(super) async fn send_frame(&self, conn_id: u64, frame: Bytes) {
        let Some(member) = self.members.get(&conn_id) else { return };
        let _ = member.room.send(Command::ExtensionTo { conn_id, ext: Extension::VoiceSignal, frame }).await;
    }
}
