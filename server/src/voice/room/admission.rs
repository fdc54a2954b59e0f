//! Whether a join is refused before anything is built: the server's and the room's voice settings and
//! the interview's state. (Where the room's voice runs, in a cluster, is asked after these: see
//! `home`.)

use handoff_protocol::api::RoomStatus;
use handoff_protocol::voice::VoiceErrorCode;

use super::VoiceRoom;

impl VoiceRoom {
    /// Why a join is refused now, if it is.
    pub(super) async fn refusal(&mut self) -> Option<(VoiceErrorCode, &'static str)> {
        if !self.voice.settings.enabled {
            return Some((VoiceErrorCode::VoiceOff, "voice is off on this server"));
        }
        let open = self.members.values().next().is_some_and(|m| m.room.is_open());
        if self.ended || !open {
            return Some((VoiceErrorCode::RoomEnded, "the interview has ended"));
        }
        if self.allowed.is_none() {
            match self.voice.store.get_room(&self.id).await {
                Ok(Some(room)) => {
                    self.ended = room.status == RoomStatus::Ended;
                    self.allowed = Some(room.voice);
                    self.records = room.record_voice;
                }
                Ok(None) => self.allowed = Some(false),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the room's voice setting");
                    return Some((VoiceErrorCode::Internal, "the server cannot read the room now"));
                }
            }
        }
        if self.allowed == Some(false) {
            return Some((VoiceErrorCode::VoiceOff, "this room has no voice"));
        }
        self.ended.then_some((VoiceErrorCode::RoomEnded, "the interview has ended"))
    }
}
