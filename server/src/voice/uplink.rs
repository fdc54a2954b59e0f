//! One speaker's uplink: a task reads the Opus packets of the speaker's track and, unless the speaker
//! is muted, records each one and writes it to every listener's track, unchanged but for the SSRC and
//! payload type the listener's connection negotiated. The speaking level is kept on the side for the
//! voice task to read. Mute is enforced here, by not forwarding (nor recording) a muted speaker's
//! packets.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::level;
use super::peer::OPUS_PAYLOAD_TYPE;
use crate::clock::now_ms;
use crate::metrics::METRICS;
use crate::recording::{RtpAudio, SpeakerRecorder};

/// A speaker's state shared between the voice task and the uplink task.
#[derive(Debug, Default)]
pub(super) struct Speaking {
    /// The speaker muted themselves.
    pub(super) self_muted: AtomicBool,
    /// The interviewer muted the speaker.
    pub(super) muted_by_interviewer: AtomicBool,
    /// The loudest level since the voice task last read it (an f32's bits).
    loudest: AtomicU32,
    /// The audio-level extension's id in this speaker's connection (0 until negotiated).
    pub(super) level_id: AtomicU8,
    /// The listeners' tracks, replaced whole when someone joins or leaves.
    outputs: Mutex<Arc<Vec<Output>>>,
}

/// One listener's track for this speaker.
#[derive(Clone)]
pub(super) struct Output {
    pub(super) listener: u64,
    pub(super) track: Arc<TrackLocalStaticRTP>,
    pub(super) ssrc: u32,
}

impl std::fmt::Debug for Output {
    /// The listener and SSRC; the track is opaque.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("listener", &self.listener)
            .field("ssrc", &self.ssrc)
            .finish_non_exhaustive()
    }
}

impl Speaking {
    pub(super) fn muted(&self) -> bool {
        self.self_muted.load(Ordering::Relaxed) || self.muted_by_interviewer.load(Ordering::Relaxed)
    }

    /// The loudest level since the last call, which starts the next period at silence.
    pub(super) fn take_level(&self) -> f32 {
        f32::from_bits(self.loudest.swap(0, Ordering::Relaxed))
    }

    fn heard(&self, level: f32) {
        let _ = self.loudest.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
            (level > f32::from_bits(bits)).then_some(level.to_bits())
        });
    }

    fn outputs(&self) -> Arc<Vec<Output>> {
        self.outputs.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub(super) fn add_output(&self, output: Output) {
        let mut outputs = self.outputs.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next: Vec<Output> =
            outputs.iter().filter(|o| o.listener != output.listener).cloned().collect();
        next.push(output);
        *outputs = Arc::new(next);
    }

    pub(super) fn remove_output(&self, listener: u64) {
        let mut outputs = self.outputs.lock().unwrap_or_else(PoisonError::into_inner);
        *outputs = Arc::new(outputs.iter().filter(|o| o.listener != listener).cloned().collect());
    }
}

/// Reads `track` until it ends or `stop` fires, then finishes the recorder.
pub(super) async fn run(
    track: Arc<dyn TrackRemote>,
    speaking: Arc<Speaking>,
    mut recorder: Option<Box<dyn SpeakerRecorder>>,
    mut stop: oneshot::Receiver<()>,
) {
    METRICS.voice_uplinks.inc();
    loop {
        let event = tokio::select! {
            _ = &mut stop => break,
            event = track.poll() => event,
        };
        match event {
            None | Some(TrackRemoteEvent::OnEnded) => break,
            Some(TrackRemoteEvent::OnRtpPacket(packet)) => {
                forward(packet, &speaking, recorder.as_deref_mut()).await;
            }
            Some(_) => {}
        }
    }
    if let Some(recorder) = recorder {
        recorder.finish();
    }
    METRICS.voice_uplinks.dec();
}

async fn forward(
    packet: rtc::rtp::Packet,
    speaking: &Speaking,
    recorder: Option<&mut (dyn SpeakerRecorder + 'static)>,
) {
    METRICS.voice_packets_in.inc();
    if speaking.muted() {
        METRICS.voice_packets_muted.inc();
        return;
    }
    let level_id = speaking.level_id.load(Ordering::Relaxed);
    if level_id != 0
        && let Some(ext) = packet.header.get_extension(level_id)
    {
        speaking.heard(level::level(&ext));
    }
    if let Some(recorder) = recorder {
        recorder.packet(RtpAudio {
            sequence: packet.header.sequence_number,
            timestamp: packet.header.timestamp,
            payload: &packet.payload,
            arrived_at_ms: now_ms(),
        });
    }
    let outputs = speaking.outputs();
    let mut written = 0;
    for output in outputs.iter() {
        let mut copy = packet.clone();
        copy.header.ssrc = output.ssrc;
        copy.header.payload_type = OPUS_PAYLOAD_TYPE;
        // Fails only until the listener's connection has negotiated the track, or after it closed.
        if output.track.write_rtp(copy).await.is_ok() {
            written += 1;
        }
    }
    METRICS.voice_packets_forwarded.inc_by(written);
}
