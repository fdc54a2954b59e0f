//! Building one member's PeerConnection: Opus only, the RFC 6464 audio-level extension negotiated, UDP
//! bound on the configured address and port range, and an event handler that hands the connection's
//! events to the room's voice task without ever waiting on it.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use handoff_protocol::voice::IceCandidate;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCIceCandidateType, RTCIceGatheringState, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState, Registry, SettingEngineBuilder, configure_rtcp_reports,
};

use super::VoiceSettings;
use super::level::AUDIO_LEVEL_URI;
use super::ports::{PortLease, PortPool};

/// Opus's payload type in every offer the server makes (the browsers' usual number).
pub(crate) const OPUS_PAYLOAD_TYPE: u8 = 111;
/// Opus's RTP clock.
const OPUS_CLOCK_RATE: u32 = 48_000;

/// What happened on a member's PeerConnection, for the voice task.
pub(super) enum PeerEvent {
    /// A local candidate to trickle to the client; `None` when gathering is complete.
    Candidate(Option<IceCandidate>),
    /// The client's uplink track arrived.
    Track(Arc<dyn TrackRemote>),
    /// The connection's state changed.
    State(RTCPeerConnectionState),
}

/// The Opus codec as the server offers it, also used by clients in tests.
pub(crate) fn opus() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "audio/opus".to_owned(),
        clock_rate: OPUS_CLOCK_RATE,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// A media engine with Opus alone and the audio-level extension, and the RTCP sender and receiver
/// reports as the only interceptors. The crate's default set (`register_default_interceptors`) adds
/// NACK (a generator and a responder that keeps a copy of every packet sent), transport-wide congestion
/// control feedback (its header extension on every audio packet, a report back to every sender) and
/// the simulcast header extensions: none of them does anything for an audio-only forwarder (Opus
/// carries its own loss concealment and in-band FEC; nothing here adapts a bitrate), and each sits in
/// the path of every packet, in and out. The reports stay: browsers compute round-trip time and
/// loss from them.
pub(crate) fn media() -> webrtc::error::Result<(MediaEngine, Registry)> {
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

/// An Opus track sending to one listener, carrying `stream_id` (the speaker's member id).
pub(crate) fn audio_track(stream_id: String, track_id: String) -> (Arc<TrackLocalStaticRTP>, u32) {
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

/// A member's PeerConnection with the port it holds.
pub(super) struct Built {
    pub(super) pc: Arc<dyn PeerConnection>,
    pub(super) port: PortLease,
}

/// Builds a member's PeerConnection, trying the range's free ports until one binds.
/// Where a connection's events go; it must never wait (the connection's driver calls it).
pub(super) type EventSink = Arc<dyn Fn(PeerEvent) + Send + Sync>;

pub(super) async fn build(
    settings: &VoiceSettings,
    ports: &PortPool,
    events: EventSink,
) -> Result<Built, String> {
    let mut skip = BTreeSet::new();
    let mut last_error = String::from("no free voice UDP port");
    for _ in 0..ports.attempts() {
        let Some(port) = ports.lease(&skip) else { break };
        let handler = Arc::new(Handler { events: events.clone() });
        match build_on(settings, port.port, handler).await {
            Ok(pc) => return Ok(Built { pc, port }),
            Err(e) => {
                last_error = e.to_string();
                skip.insert(port.port);
            }
        }
    }
    Err(last_error)
}

async fn build_on(
    settings: &VoiceSettings,
    port: u16,
    handler: Arc<Handler>,
) -> webrtc::error::Result<Arc<dyn PeerConnection>> {
    let (engine, registry) = media()?;
    let mut setting = SettingEngineBuilder::new()
        .with_include_loopback_candidate(settings.bind_ip.is_loopback())
        // The crate's default (query-only mDNS) opens a multicast socket per connection, which
        // fails (ENODEV) on a host without a multicast route, such as a namespace with loopback
        // only; a server never needs to resolve browsers' `.local` names, whose checks arrive
        // as peer-reflexive candidates anyway.
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled);
    if let Some(public) = settings.public_ip {
        setting = setting.with_nat_1to1_ips(vec![public.to_string()], RTCIceCandidateType::Host);
    }
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(engine)
        .with_interceptor_registry(registry)
        .with_setting_engine(setting.build())
        .with_handler(handler)
        .with_udp_addrs(vec![SocketAddr::new(settings.bind_ip, port)])
        .build()
        .await?;
    Ok(Arc::new(pc))
}

/// A client's candidate as the webrtc crate takes it.
pub(super) fn candidate_init(c: IceCandidate) -> RTCIceCandidateInit {
    RTCIceCandidateInit {
        candidate: c.candidate,
        sdp_mid: c.sdp_mid,
        sdp_mline_index: c.sdp_mline_index,
        username_fragment: c.username_fragment,
        ..Default::default()
    }
}

/// Hands a PeerConnection's events on.
struct Handler {
    events: EventSink,
}

impl Handler {
    fn send(&self, event: PeerEvent) {
        (self.events)(event);
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(init) => self.send(PeerEvent::Candidate(Some(IceCandidate {
                candidate: init.candidate,
                sdp_mid: init.sdp_mid,
                sdp_mline_index: init.sdp_mline_index,
                username_fragment: init.username_fragment,
            }))),
            Err(e) => tracing::debug!(error = %e, "unreadable local candidate"),
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.send(PeerEvent::Candidate(None));
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        self.send(PeerEvent::Track(track));
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.send(PeerEvent::State(state));
    }
}
