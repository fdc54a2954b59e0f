//! One room's voice task: who announced voice, who joined, each joined member's PeerConnection, and
//! the negotiation with each (the server always offers; a change while an offer is out waits for its
//! answer, then one more offer carries it). It handles one input at a time, in order, so a client's
//! candidates are applied after the answer they follow.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use handoff_protocol::Role;
use handoff_protocol::voice::{
    ClientSignal, LeftReason, MAX_VOICE_PARTICIPANTS, ServerSignal, VOICE_LEVELS_EVERY_MS, VoiceErrorCode,
};
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::{mpsc, oneshot};
use webrtc::peer_connection::PeerConnection;
use webrtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit, RtpSender};

mod admission;
mod negotiation;
mod outbox;

use super::Voice;
use super::home::Home;
use super::peer::{self, PeerEvent};
use super::ports::PortLease;
use super::uplink::{self, Speaking};
use crate::metrics::METRICS;
use crate::recording::Speaker;
use crate::room::{Identity, RoomHandle};

/// What the voice task is told.
pub(super) enum Input {
    Connect { who: Identity, room: RoomHandle },
    Disconnect { conn_id: u64 },
    Signal { conn_id: u64, signal: ClientSignal },
    Peer { conn_id: u64, generation: u64, event: PeerEvent },
    End { done: oneshot::Sender<()> },
    Shutdown { done: oneshot::Sender<()> },
}

/// A member that announced `voice`.
struct Member {
    who: Identity,
    room: RoomHandle,
    /// Kept across a leave and rejoin, so nobody escapes the interviewer's mute by rejoining.
    speaking: Arc<Speaking>,
}

/// A member joined to voice.
struct Peer {
    generation: u64,
    pc: Arc<dyn PeerConnection>,
    _port: PortLease,
    /// The tracks of the other speakers on this connection, by speaker.
    senders: BTreeMap<u64, Arc<dyn RtpSender>>,
    /// Stops the uplink task.
    uplink: Option<oneshot::Sender<()>>,
    /// An offer is out, waiting for its answer.
    offered: bool,
    /// Something changed while an offer was out: offer again after its answer.
    again: bool,
    /// The next offer restarts ICE.
    restart: bool,
    /// An offer was made: from then on every change is offered, even one that leaves no track.
    negotiated: bool,
}

pub(super) struct VoiceRoom {
    id: Arc<str>,
    voice: Arc<Voice>,
    inputs: mpsc::Sender<Input>,
    /// Whether the room was promoted with voice (read once, at the first join).
    allowed: Option<bool>,
    /// Whether the room records voice (read with `allowed`): a room that does not gets no recorder,
    /// so its packets never travel to the recorder thread only to be dropped there.
    records: bool,
    ended: bool,
    members: BTreeMap<u64, Member>,
    joined: BTreeMap<u64, Peer>,
    next_generation: u64,
    /// Someone spoke in the last period: the next silent period still sends its zeros once.
    spoke: bool,
    /// Held while anyone is in voice here (see `home`).
    home: Home,
}

impl VoiceRoom {
    pub(super) fn new(id: Arc<str>, voice: Arc<Voice>, inputs: mpsc::Sender<Input>) -> VoiceRoom {
        VoiceRoom {
            id,
            voice,
            inputs,
            allowed: None,
            records: false,
            ended: false,
            members: BTreeMap::new(),
            joined: BTreeMap::new(),
            next_generation: 1,
            spoke: false,
            home: Home::default(),
        }
    }

    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<Input>) {
        METRICS.voice_rooms.inc();
        let mut levels = tokio::time::interval(Duration::from_millis(VOICE_LEVELS_EVERY_MS));
        levels.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                input = rx.recv() => {
                    let Some(input) = input else { break };
                    let stop = self.handle(input).await;
                    if stop || (self.members.is_empty() && self.joined.is_empty() && self.voice.retire(&self.id, &rx)) {
                        break;
                    }
                }
                _ = levels.tick(), if !self.joined.is_empty() => self.send_levels().await,
            }
        }
        // Whatever is still joined (only on shutdown) is closed; nobody is left to be told.
        for conn_id in self.joined.keys().copied().collect::<Vec<_>>() {
            self.close_peer(conn_id).await;
        }
        METRICS.voice_rooms.dec();
    }

    /// Returns true when the task stops (shutdown).
    async fn handle(&mut self, input: Input) -> bool {
        match input {
            Input::Connect { who, room } => {
                let conn_id = who.conn_id;
                let speaking = Arc::new(Speaking::default());
                self.members.insert(conn_id, Member { who, room, speaking });
                self.send_state_to(conn_id).await;
            }
            Input::Disconnect { conn_id } => {
                let was_joined = self.leave(conn_id, None).await;
                self.members.remove(&conn_id);
                if was_joined {
                    self.send_state().await;
                }
            }
            Input::Signal { conn_id, signal } => self.signal(conn_id, signal).await,
            Input::Peer { conn_id, generation, event } => self.peer_event(conn_id, generation, event).await,
            Input::End { done } => {
                self.ended = true;
                self.leave_all(LeftReason::RoomEnded).await;
                let _ = done.send(());
            }
            Input::Shutdown { done } => {
                self.leave_all(LeftReason::ServerShutdown).await;
                let _ = done.send(());
                return true;
            }
        }
        false
    }

    async fn signal(&mut self, conn_id: u64, signal: ClientSignal) {
        if !self.members.contains_key(&conn_id) {
            return;
        }
        match signal {
            ClientSignal::Join => self.join(conn_id).await,
            ClientSignal::Leave => {
                if self.leave(conn_id, None).await {
                    self.send_state().await;
                }
            }
            ClientSignal::Answer { sdp } => self.answer(conn_id, sdp).await,
            ClientSignal::Candidate { candidate } => {
                let (Some(peer), Some(candidate)) = (self.joined.get(&conn_id), candidate) else { return };
                if let Err(e) = peer.pc.add_ice_candidate(peer::candidate_init(candidate)).await {
                    tracing::debug!(conn = conn_id, error = %e, "client candidate refused");
                }
            }
            ClientSignal::Mute { muted } => {
                let speaking = self.members[&conn_id].speaking.clone();
                if !muted && speaking.muted_by_interviewer.load(Ordering::Relaxed) {
                    let message = "the interviewer muted you; only the interviewer can unmute you";
                    return self.error(conn_id, VoiceErrorCode::MutedByInterviewer, message).await;
                }
                speaking.self_muted.store(muted, Ordering::Relaxed);
                self.send_state().await;
            }
            ClientSignal::MuteMember { member, muted } => {
                if self.members[&conn_id].who.role != Role::Interviewer {
                    return self
                        .error(conn_id, VoiceErrorCode::Forbidden, "only the interviewer mutes others")
                        .await;
                }
                let target = member.parse::<u64>().ok().and_then(|id| self.members.get(&id));
                let Some(target) = target else {
                    return self
                        .error(conn_id, VoiceErrorCode::NotJoined, "no such member in the room")
                        .await;
                };
                target.speaking.muted_by_interviewer.store(muted, Ordering::Relaxed);
                self.send_state().await;
            }
            ClientSignal::RestartIce => {
                let Some(peer) = self.joined.get_mut(&conn_id) else {
                    return self.error(conn_id, VoiceErrorCode::NotJoined, "join voice first").await;
                };
                peer.restart = true;
                self.negotiate(conn_id).await;
            }
        }
    }

    async fn join(&mut self, conn_id: u64) {
        if let Some(refusal) = self.refusal().await {
            return self.error(conn_id, refusal.0, refusal.1).await;
        }
        if self.joined.contains_key(&conn_id) {
            // A client that lost its connection state joins again: start over with a fresh connection.
            self.leave(conn_id, None).await;
        } else if self.joined.len() >= MAX_VOICE_PARTICIPANTS {
            let message = format!("voice is full ({MAX_VOICE_PARTICIPANTS} members)");
            return self.error(conn_id, VoiceErrorCode::TooMany, &message).await;
        }
        if let Err((code, message)) = self.home.take(&self.voice.bus, &self.id).await {
            return self.error(conn_id, code, message).await;
        }
        let ice_servers = self.voice.settings.ice_servers.clone();
        self.send_to(conn_id, &ServerSignal::Config { ice_servers }).await;
        let generation = self.next_generation;
        self.next_generation += 1;
        let inputs = self.inputs.clone();
        let events: peer::EventSink = Arc::new(move |event| {
            // Never wait: the voice task may itself be waiting on this connection's driver.
            if inputs.try_send(Input::Peer { conn_id, generation, event }).is_err() {
                tracing::warn!(conn = conn_id, "voice task queue full; a PeerConnection event was dropped");
            }
        });
        let built = peer::build(&self.voice.settings, &self.voice.ports, events).await;
        let built = match built {
            Ok(built) => built,
            Err(error) => {
                tracing::warn!(conn = conn_id, %error, "cannot open a voice connection");
                if self.joined.is_empty() {
                    self.home.give_up(&self.voice.bus, &self.id).await;
                }
                return self
                    .error(conn_id, VoiceErrorCode::Internal, "the server cannot open voice now")
                    .await;
            }
        };
        METRICS.voice_peer_connections.inc();
        let pc = built.pc;
        let speaks = self.members[&conn_id].who.role != Role::Observer;
        // A speaker's uplink is the one receiving transceiver; an observer's connection has none, so
        // nothing they send is ever read (and until someone speaks, it is not even offered).
        if speaks {
            let direction = RTCRtpTransceiverDirection::Recvonly;
            let init = RTCRtpTransceiverInit { direction, streams: vec![], send_encodings: vec![] };
            if let Err(e) = pc.add_transceiver_from_kind(RtpCodecKind::Audio, Some(init)).await {
                tracing::warn!(conn = conn_id, error = %e, "cannot add the uplink transceiver");
            }
        }
        let mut peer = Peer {
            generation,
            pc,
            _port: built.port,
            senders: BTreeMap::new(),
            uplink: None,
            offered: false,
            again: false,
            restart: false,
            negotiated: false,
        };
        // Everyone already speaking is heard on the new connection.
        let speakers: Vec<u64> = self.joined.keys().copied().filter(|id| self.speaks(*id)).collect();
        for speaker in speakers {
            if let Some(sender) = self.add_track(speaker, conn_id, &peer.pc).await {
                peer.senders.insert(speaker, sender);
            }
        }
        self.joined.insert(conn_id, peer);
        METRICS.voice_participants.inc();
        // And the newcomer, if a speaker, on everyone else's.
        if speaks {
            for listener in self.joined.keys().copied().filter(|id| *id != conn_id).collect::<Vec<_>>() {
                let pc = self.joined[&listener].pc.clone();
                if let Some(sender) = self.add_track(conn_id, listener, &pc).await
                    && let Some(peer) = self.joined.get_mut(&listener)
                {
                    peer.senders.insert(conn_id, sender);
                }
                self.negotiate(listener).await;
            }
        }
        self.negotiate(conn_id).await;
        self.send_state().await;
    }

    fn speaks(&self, conn_id: u64) -> bool {
        self.members.get(&conn_id).is_some_and(|m| m.who.role != Role::Observer)
    }

    async fn peer_event(&mut self, conn_id: u64, generation: u64, event: PeerEvent) {
        if self.joined.get(&conn_id).is_none_or(|p| p.generation != generation) {
            return;
        }
        match event {
            PeerEvent::Candidate(candidate) => {
                self.send_to(conn_id, &ServerSignal::Candidate { candidate }).await
            }
            PeerEvent::Track(track) => {
                if !self.speaks(conn_id) {
                    return;
                }
                let member = &self.members[&conn_id];
                let speaker = Speaker {
                    room: self.id.to_string(),
                    member: conn_id,
                    name: member.who.name.to_string(),
                    role: member.who.role,
                };
                let recorder = if self.records { self.voice.recorders.start(speaker) } else { None };
                let (stop, stopped) = oneshot::channel();
                let speaking = member.speaking.clone();
                if let Some(peer) = self.joined.get_mut(&conn_id) {
                    // A renegotiation never brings a second uplink; a new one replaces the old.
                    if let Some(old) = peer.uplink.replace(stop) {
                        let _ = old.send(());
                    }
                }
                tokio::spawn(uplink::run(track, speaking, recorder, stopped));
            }
            PeerEvent::State(state) => tracing::debug!(conn = conn_id, %state, "voice connection state"),
        }
    }

    /// Takes `conn_id` out of voice: its connection closes, its track leaves the others' connections
    /// (each renegotiated). `reason` is told to the member when the server decided it. Returns whether
    /// it was joined.
    async fn leave(&mut self, conn_id: u64, reason: Option<LeftReason>) -> bool {
        if !self.joined.contains_key(&conn_id) {
            if reason.is_none() && self.members.contains_key(&conn_id) {
                // A leave from a member not in voice changes nothing.
            }
            return false;
        }
        self.close_peer(conn_id).await;
        for listener in self.joined.keys().copied().collect::<Vec<_>>() {
            if let Some(member) = self.members.get(&listener) {
                member.speaking.remove_output(conn_id);
            }
            let sender = self.joined.get_mut(&listener).and_then(|p| p.senders.remove(&conn_id));
            if let Some(sender) = sender {
                let pc = self.joined[&listener].pc.clone();
                if let Err(e) = pc.remove_track(&sender).await {
                    tracing::debug!(listener, error = %e, "cannot remove a forwarded track");
                }
                self.negotiate(listener).await;
            }
        }
        if let Some(reason) = reason {
            self.send_to(conn_id, &ServerSignal::Left { reason }).await;
        }
        true
    }

    async fn leave_all(&mut self, reason: LeftReason) {
        let all: Vec<u64> = self.joined.keys().copied().collect();
        for conn_id in all {
            self.leave(conn_id, Some(reason)).await;
        }
        self.send_state().await;
    }

    /// Closes `conn_id`'s connection and stops its uplink.
    async fn close_peer(&mut self, conn_id: u64) {
        let Some(mut peer) = self.joined.remove(&conn_id) else { return };
        if let Some(stop) = peer.uplink.take() {
            let _ = stop.send(());
        }
        if let Some(member) = self.members.get(&conn_id) {
            member.speaking.take_level();
        }
        if let Err(e) = peer.pc.close().await {
            tracing::debug!(conn = conn_id, error = %e, "closing a voice connection");
        }
        METRICS.voice_peer_connections.dec();
        METRICS.voice_participants.dec();
        if self.joined.is_empty() {
            // Before anyone is told: from then on another node may open the room's voice.
            self.home.give_up(&self.voice.bus, &self.id).await;
        }
    }
}
