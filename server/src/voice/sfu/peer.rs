//! One member's `Rtc` in a voice loop, and the negotiation with that member: the server always
//! offers. Changes (the uplink, a speaker's track added or removed, an ICE restart) are staged; one
//! offer carries every change staged since the last, and while an offer is out, changes wait for its
//! answer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use super::{EventSink, Open};
use crate::recording::{Recorders, Speaker, SpeakerRecorder};
use crate::voice::speaking::Speaking;
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind, Mid};
use str0m::rtp::Extension;
use str0m::{Candidate, Rtc, RtcConfig};

/// The RFC 6464 audio-level extension's id in every offer (speaking indicators).
const AUDIO_LEVEL_EXTENSION_ID: u8 = 1;
/// The mid extension's id in every offer: browsers bundle every m-line on one transport and tell the
/// m-lines' packets apart by it.
const MID_EXTENSION_ID: u8 = 4;
/// Candidates a member may trickle over its connection's life. A browser sends one per interface and
/// kind (host, server-reflexive, relay), a handful per ICE restart; each is kept by the member's `Rtc`,
/// so a client that sends them without end must not grow the loop's memory.
const MAX_REMOTE_CANDIDATES: usize = 64;

/// A change for the next offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The member's own track, received here (speakers only).
    Uplink,
    /// A speaker's track sent to this member.
    Add { speaker: u64 },
    /// A speaker who left: their m-line is stopped (port 0), so the member's receiver ends with it,
    /// and str0m reuses the m-line's place for a later track instead of growing every offer.
    Remove(Mid),
    /// New ICE credentials (the member's network changed).
    RestartIce,
}

pub(super) struct Peer {
    pub(super) rtc: Rtc,
    pub(super) room: Arc<str>,
    pub(super) speaks: bool,
    pub(super) speaking: Arc<Speaking>,
    pub(super) events: EventSink,
    /// The m-line sending each speaker's track to this member, by speaker.
    pub(super) outputs: BTreeMap<u64, Mid>,
    staged: Vec<Stage>,
    pending: Option<SdpPendingOffer>,
    /// The first uplink packet arrived (the uplink is counted, and its recorder started).
    pub(super) uplink_started: bool,
    pub(super) recording: Option<(Arc<dyn Recorders>, Speaker)>,
    pub(super) recorder: Option<Box<dyn SpeakerRecorder>>,
    /// The addresses this member's datagrams came from.
    pub(super) sources: Vec<std::net::SocketAddr>,
    /// Candidates the member trickled, up to [`MAX_REMOTE_CANDIDATES`].
    remote_candidates: usize,
    /// When str0m wants its next timeout, and the earliest entry of it in the loop's timer heap.
    pub(super) next: Instant,
    pub(super) queued: Option<Instant>,
    /// False once the `Rtc` failed: it is skipped until the member leaves.
    pub(super) alive: bool,
}

/// The `Rtc` of one member: ICE-lite with the loop's host candidate, DTLS and SRTP, Opus only, and
/// str0m's RTP mode, where packets pass through as they are (the speaker's sequence numbers and
/// timestamps) rather than being depacketized and packetized again. Two header extensions: the audio
/// level and the mid; nothing else is read or written per packet.
fn rtc(candidate: &Candidate, now: Instant) -> Rtc {
    let mut rtc = RtcConfig::new()
        .set_ice_lite(true)
        .set_rtp_mode(true)
        .clear_codecs()
        .enable_opus(true, false)
        .clear_extension_map()
        .set_extension(AUDIO_LEVEL_EXTENSION_ID, Extension::AudioLevel)
        .set_extension(MID_EXTENSION_ID, Extension::RtpMid)
        .build(now);
    rtc.add_local_candidate(candidate.clone());
    rtc
}

impl Peer {
    pub(super) fn new(open: Open, candidate: &Candidate, now: Instant) -> Peer {
        let staged = if open.speaks { vec![Stage::Uplink] } else { vec![] };
        Peer {
            rtc: rtc(candidate, now),
            room: open.room,
            speaks: open.speaks,
            speaking: open.speaking,
            events: open.events,
            outputs: BTreeMap::new(),
            staged,
            pending: None,
            uplink_started: false,
            recording: open.recording,
            recorder: None,
            sources: Vec::new(),
            remote_candidates: 0,
            next: now,
            queued: None,
            alive: true,
        }
    }

    /// `speaker`'s track goes to this member from the next offer on.
    pub(super) fn add_speaker(&mut self, speaker: u64) {
        self.staged.push(Stage::Add { speaker });
    }

    /// `speaker` left: nothing of theirs is forwarded here any more, and the next offer says so.
    pub(super) fn remove_speaker(&mut self, speaker: u64) {
        match self.outputs.remove(&speaker) {
            Some(mid) => self.staged.push(Stage::Remove(mid)),
            None => self.staged.retain(|s| *s != Stage::Add { speaker }),
        }
    }

    pub(super) fn restart_ice(&mut self) {
        self.staged.push(Stage::RestartIce);
    }

    /// The next offer, if changes are staged and no offer is out.
    pub(super) fn offer(&mut self) -> Option<String> {
        if self.pending.is_some() || self.staged.is_empty() {
            return None;
        }
        let Peer { rtc, staged, outputs, .. } = self;
        let mut api = rtc.sdp_api();
        for stage in staged.drain(..) {
            match stage {
                Stage::Uplink => {
                    api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
                }
                Stage::Add { speaker } => {
                    let (stream, track) = (speaker.to_string(), format!("voice-{speaker}"));
                    let mid =
                        api.add_media(MediaKind::Audio, Direction::SendOnly, Some(stream), Some(track), None);
                    outputs.insert(speaker, mid);
                }
                Stage::Remove(mid) => api.stop_media(mid),
                Stage::RestartIce => {
                    api.ice_restart(true);
                }
            }
        }
        let (offer, pending) = api.apply()?;
        self.pending = Some(pending);
        Some(offer.to_sdp_string())
    }

    /// Applies the member's answer to the offer that is out.
    pub(super) fn answer(&mut self, sdp: &str) -> Result<(), String> {
        let pending = self.pending.take().ok_or("an answer with no offer out")?;
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| e.to_string())?;
        self.rtc.sdp_api().accept_answer(pending, answer).map_err(|e| e.to_string())
    }

    /// Adds a candidate the member trickled (`candidate:…`, as browsers give it).
    pub(super) fn candidate(&mut self, candidate: &str) -> Result<(), String> {
        let line = candidate.trim().trim_start_matches("a=");
        if self.remote_candidates >= MAX_REMOTE_CANDIDATES {
            return Err(format!("more than {MAX_REMOTE_CANDIDATES} candidates"));
        }
        let candidate = Candidate::from_sdp_string(line).map_err(|e| e.to_string())?;
        self.remote_candidates += 1;
        self.rtc.add_remote_candidate(candidate);
        Ok(())
    }

    /// Closes the `Rtc` and finishes the recorder.
    pub(super) fn close(mut self) {
        self.rtc.disconnect();
        if let Some(recorder) = self.recorder.take() {
            recorder.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use str0m::change::SdpOffer;

    use super::*;

    fn peer(speaks: bool) -> Peer {
        let open = Open {
            room: Arc::from("room"),
            conn_id: 1,
            speaks,
            speaking: Arc::default(),
            recording: None,
            events: Arc::new(|_| {}),
        };
        let candidate = Candidate::host("127.0.0.1:40000".parse().unwrap(), "udp").unwrap();
        Peer::new(open, &candidate, Instant::now())
    }

    /// What a browser would answer, from a str0m client on the other side.
    fn answer(client: &mut Rtc, offer: &str) -> String {
        let offer = SdpOffer::from_sdp_string(offer).unwrap();
        client.sdp_api().accept_offer(offer).unwrap().to_sdp_string()
    }

    fn client() -> Rtc {
        RtcConfig::new().clear_codecs().enable_opus(true, false).build(Instant::now())
    }

    #[test]
    fn a_speaker_is_offered_its_uplink_and_each_other_speaker_under_their_id() {
        let mut peer = peer(true);
        peer.add_speaker(7);
        let sdp = peer.offer().expect("an offer");
        assert!(sdp.contains("a=ice-lite"), "{sdp}");
        assert!(sdp.contains("a=recvonly") && sdp.contains("a=sendonly"), "{sdp}");
        assert!(sdp.contains("a=msid:7 voice-7"), "{sdp}");
        assert!(sdp.contains("urn:ietf:params:rtp-hdrext:ssrc-audio-level"), "{sdp}");
        assert!(sdp.contains("127.0.0.1 40000 typ host"), "the loop's host candidate: {sdp}");
    }

    #[test]
    fn changes_made_while_an_offer_is_out_ride_one_more_offer_after_the_answer() {
        let mut peer = peer(true);
        let mut client = client();
        let first = peer.offer().expect("the first offer");
        peer.add_speaker(8);
        assert!(peer.offer().is_none(), "one offer at a time");
        peer.answer(&answer(&mut client, &first)).unwrap();
        let second = peer.offer().expect("the staged change is offered");
        assert!(second.contains("a=msid:8 voice-8"), "{second}");
        assert!(peer.answer("v=0").is_err(), "garbage is refused");
        assert!(peer.answer("v=0").is_err(), "and no offer is out any more");
    }

    #[test]
    fn a_member_trickling_candidates_without_end_is_refused_past_the_bound() {
        let mut peer = peer(true);
        assert!(peer.candidate("not a candidate").is_err(), "garbage is refused and not counted");
        for port in 0..MAX_REMOTE_CANDIDATES {
            let line = format!("candidate:1 1 udp 2130706431 127.0.0.1 {} typ host", 50_000 + port);
            peer.candidate(&line).unwrap();
        }
        let err = peer.candidate("candidate:1 1 udp 2130706431 127.0.0.1 49999 typ host").unwrap_err();
        assert!(err.contains("more than"), "{err}");
    }

    #[test]
    fn an_observer_with_nobody_to_hear_is_not_offered_and_a_speaker_gone_before_an_offer_leaves_no_trace() {
        let mut peer = peer(false);
        assert!(peer.offer().is_none(), "nothing to negotiate");
        peer.add_speaker(5);
        peer.remove_speaker(5);
        assert!(peer.offer().is_none(), "{:?}", peer.staged);
    }

    #[test]
    fn a_speaker_who_leaves_has_their_m_line_stopped_and_an_ice_restart_brings_new_credentials() {
        let mut peer = peer(true);
        let mut client = client();
        peer.add_speaker(9);
        let first = peer.offer().unwrap();
        peer.answer(&answer(&mut client, &first)).unwrap();
        peer.remove_speaker(9);
        peer.restart_ice();
        let second = peer.offer().unwrap();
        assert!(second.contains("m=audio 0 "), "the m-line is stopped: {second}");
        let sends_9 = second.split("m=").any(|m| m.contains("a=sendonly") && m.contains("a=msid:9 "));
        assert!(!sends_9, "nothing of the speaker is sent: {second}");
        let ufrag = |sdp: &str| sdp.lines().find(|l| l.starts_with("a=ice-ufrag:")).map(str::to_owned);
        assert_ne!(ufrag(&first), ufrag(&second));
        assert!(peer.outputs.is_empty());
    }
}
