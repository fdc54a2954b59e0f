//! Decoding what a client sends: y-sync messages for the room (every payload decoded and checked here,
//! off the room's task) and voice signals for the voice task.

use bytes::Bytes;
use handoff_protocol::frame::{self, CLOSE_PROTOCOL_ERROR, FrameError, MessageKind};
use handoff_protocol::voice::{self, ClientSignal};

use crate::metrics::METRICS;
use crate::room::{ClientMessage, CloseReason, Identity, accepted_update};

/// Why an inbound frame was refused: its framing or a room payload, or a voice signal.
pub(super) enum Inbound {
    Frame(FrameError),
    Voice(voice::SignalError),
    /// A voice signal from a client that did not announce `voice`.
    Unannounced,
}

impl Inbound {
    pub(super) fn close_reason(self) -> CloseReason {
        match self {
            Inbound::Frame(e) => {
                if let FrameError::Update(refusal) = &e {
                    METRICS.refuse_update(refusal.reason());
                }
                CloseReason::new(e.close_code(), e.to_string())
            }
            Inbound::Voice(e) => CloseReason::new(e.close_code(), e.to_string()),
            Inbound::Unannounced => CloseReason::new(
                CLOSE_PROTOCOL_ERROR,
                "voice signal from a client that did not announce voice (ext=voice)",
            ),
        }
    }
}

impl From<FrameError> for Inbound {
    fn from(e: FrameError) -> Inbound {
        Inbound::Frame(e)
    }
}

/// Splits a frame and decodes every payload, so the room actor only ever sees valid input. Voice
/// signals go to `signals`; from a client that did not announce voice (`None`) they are refused.
pub(super) fn decode(
    frame: Bytes,
    who: &Identity,
    out: &mut Vec<ClientMessage>,
    mut signals: Option<&mut Vec<ClientSignal>>,
) -> Result<(), Inbound> {
    let parts = frame::split_frame(&frame)?;
    for part in parts {
        let message = || frame.slice(part.message.clone());
        let msg = match part.kind {
            MessageKind::SyncStep1 { state_vector } => ClientMessage::SyncStep1(
                frame::decode_state_vector(&frame[state_vector]).map_err(Inbound::Frame)?,
            ),
            MessageKind::SyncStep2 { update } => ClientMessage::Update {
                update: accepted_update(&frame[update.clone()]).map_err(Inbound::Frame)?,
                payload: frame.slice(update),
                message: message(),
                step2: true,
            },
            MessageKind::Update { update } => ClientMessage::Update {
                update: accepted_update(&frame[update.clone()]).map_err(Inbound::Frame)?,
                payload: frame.slice(update),
                message: message(),
                step2: false,
            },
            MessageKind::Awareness { update } => {
                let update = frame::decode_awareness_entries(&frame[update]).map_err(Inbound::Frame)?;
                let conforming = crate::room::vet(&update, who).map_err(Inbound::Frame)?;
                ClientMessage::Awareness { update, message: message(), conforming }
            }
            MessageKind::QueryAwareness => ClientMessage::QueryAwareness,
            MessageKind::Auth => continue,
            MessageKind::Extension { tag, payload } if tag == frame::EXT_VOICE_SIGNAL => {
                let Some(signals) = signals.as_deref_mut() else { return Err(Inbound::Unannounced) };
                signals.push(voice::decode_client_signal(&frame[payload]).map_err(Inbound::Voice)?);
                continue;
            }
            // Room events go one way (server to client); nothing else is reserved yet.
            MessageKind::Extension { tag, .. } => return Err(FrameError::UnknownType(u64::from(tag)).into()),
        };
        out.push(msg);
    }
    Ok(())
}
