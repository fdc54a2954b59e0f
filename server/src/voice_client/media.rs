//! The client's WebRTC media setup on the `webrtc` crate (a second implementation beside the server's
//! str0m SFU, so the tests check the two interoperate): Opus only, the RFC 6464 audio-level extension,
//! and the RTCP sender and receiver reports as the only interceptors.

use std::sync::Arc;

use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::peer_connection::{MediaEngine, Registry, configure_rtcp_reports};

use crate::voice::AUDIO_LEVEL_URI;

/// Opus's payload type on the client's uplink (the browsers' usual number, and the server's).
pub(super) const OPUS_PAYLOAD_TYPE: u8 = 111;
/// Opus's RTP clock.
const OPUS_CLOCK_RATE: u32 = 48_000;

/// The Opus codec as the client takes it.
fn opus() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "audio/opus".to_owned(),
        clock_rate: OPUS_CLOCK_RATE,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// A media engine with Opus alone and the audio-level extension. The crate's default interceptors
/// (NACK, transport-wide congestion control, simulcast extensions) do nothing for audio that is only
/// counted, and hundreds of clients run in one load-test process; the reports stay, as browsers send
/// them.
pub(super) fn media() -> webrtc::error::Result<(MediaEngine, Registry)> {
    let mut engine = MediaEngine::default();
    engine.register_codec(
        RTCRtpCodecParameters { rtp_codec: opus(), payload_type: OPUS_PAYLOAD_TYPE },
        RtpCodecKind::Audio,
    )?;
    engine.register_header_extension(
        RTCRtpHeaderExtensionCapability { uri: AUDIO_LEVEL_URI.to_owned() },
        RtpCodecKind::Audio,
        None,
    )?;
    Ok((engine, configure_rtcp_reports(Registry::new())))
}

/// An Opus track carrying `stream_id`, and its SSRC.
pub(super) fn audio_track(stream_id: String, track_id: String) -> (Arc<TrackLocalStaticRTP>, u32) {
    let ssrc = rand::random::<u32>();
    let track = MediaStreamTrack::new(
        stream_id,
        track_id.clone(),
        track_id,
        RtpCodecKind::Audio,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(ssrc), ..Default::default() },
            codec: opus(),
            ..Default::default()
        }],
    );
    (Arc::new(TrackLocalStaticRTP::new(track)), ssrc)
}
