//! One room's voice task: who announced voice, who joined, mutes, speaking levels and the messages to
//! members. The media (each joined member's `Rtc`, forwarding, recording) runs on the room's voice loop
//! (`sfu`), which this task drives with commands and which hands offers back. It handles one input at a
//! time, in order, so a client's candidates reach the loop after the answer they follow.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use handoff_protocol::Role;
use handoff_protocol::voice::{
    ClientSignal, LeftReason, MAX_VOICE_PARTICIPANTS, ServerSignal, VOICE_LEVELS_EVERY_MS, VoiceErrorCode,
};
use tokio::sync::{mpsc, oneshot};

mod admission;
mod outbox;

use super::Voice;
use super::home::Home;
use super::sfu::{Command, EventSink, Open, PeerEvent};
use super::speaking::Speaking;
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
    /// The members joined to voice, with the generation of their `Rtc` on the loop.
    joined: BTreeMap<u64, u64>,
    next_generation: u64,
    /// The voice loop of this room, from the first join on.
    sfu: Option<mpsc::Sender<Command>>,
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
            sfu: None,
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
            Input::Peer { conn_id, generation, event: PeerEvent::Offer(sdp) } => {
                if self.joined.get(&conn_id) == Some(&generation) {
                    self.send_to(conn_id, &ServerSignal::Offer { sdp }).await;
                }
            }
            Input::End { done } => {
                self.ended = true;
                self.leave_all(LeftReason::RoomEnded).await;
                self.sync().await;
                let _ = done.send(());
            }
            Input::Shutdown { done } => {
                self.leave_all(LeftReason::ServerShutdown).await;
                self.sync().await;
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
            ClientSignal::Answer { sdp } => {
                if !self.joined.contains_key(&conn_id) {
                    return self.error(conn_id, VoiceErrorCode::NotJoined, "join voice first").await;
                }
                self.command(Command::Answer { conn_id, sdp }).await;
            }
            ClientSignal::Candidate { candidate } => {
                let Some(candidate) = candidate.filter(|_| self.joined.contains_key(&conn_id)) else {
                    return;
                };
                self.command(Command::Candidate { conn_id, candidate: candidate.candidate }).await;
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
                if !self.joined.contains_key(&conn_id) {
                    return self.error(conn_id, VoiceErrorCode::NotJoined, "join voice first").await;
                }
                self.command(Command::RestartIce { conn_id }).await;
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
        if self.sfu.is_none() {
            match self.voice.loop_for(&self.id) {
                Ok(sfu) => self.sfu = Some(sfu),
                Err(error) => {
                    tracing::warn!(conn = conn_id, %error, "cannot start voice");
                    if self.joined.is_empty() {
                        self.home.give_up(&self.voice.bus, &self.id).await;
                    }
                    return self
                        .error(conn_id, VoiceErrorCode::Internal, "the server cannot open voice now")
                        .await;
                }
            }
        }
        let ice_servers = self.voice.settings.ice_servers.clone();
        self.send_to(conn_id, &ServerSignal::Config { ice_servers }).await;
        let generation = self.next_generation;
        self.next_generation += 1;
        let member = &self.members[&conn_id];
        let speaks = member.who.role != Role::Observer;
        let recording = (speaks && self.records).then(|| {
            let speaker = Speaker {
                room: self.id.to_string(),
                member: conn_id,
                name: member.who.name.to_string(),
                role: member.who.role,
            };
            (self.voice.recorders.clone(), speaker)
        });
        let inputs = self.inputs.clone();
        let events: EventSink = Arc::new(move |event| {
            // Never wait: the loop forwards every room's audio.
            if inputs.try_send(Input::Peer { conn_id, generation, event }).is_err() {
                tracing::warn!(conn = conn_id, "voice task queue full; an offer was dropped");
            }
        });
        let open = Open {
            room: self.id.clone(),
            conn_id,
            speaks,
            speaking: member.speaking.clone(),
            recording,
            events,
        };
        self.joined.insert(conn_id, generation);
        METRICS.voice_participants.inc();
        self.command(Command::Open(Box::new(open))).await;
        self.send_state().await;
    }

    /// Hands a command to the room's voice loop, waiting while its queue is full.
    async fn command(&self, command: Command) {
        if let Some(sfu) = &self.sfu
            && sfu.send(command).await.is_err()
        {
            tracing::warn!(room = %self.id, "the voice loop has stopped");
        }
    }

    /// Returns once the loop has done every command sent so far (the members' connections closed, their
    /// recorders finished).
    async fn sync(&self) {
        let (done, wait) = oneshot::channel();
        self.command(Command::Sync(done)).await;
        let _ = wait.await;
    }

    /// Takes `conn_id` out of voice: its `Rtc` closes, its track leaves the others' (each
    /// renegotiated). `reason` is told to the member when the server decided it. Returns whether it was
    /// joined.
    async fn leave(&mut self, conn_id: u64, reason: Option<LeftReason>) -> bool {
        if !self.joined.contains_key(&conn_id) {
            return false;
        }
        self.close_peer(conn_id).await;
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

    /// Closes `conn_id`'s `Rtc` on the loop.
    async fn close_peer(&mut self, conn_id: u64) {
        if self.joined.remove(&conn_id).is_none() {
            return;
        }
        if let Some(member) = self.members.get(&conn_id) {
            member.speaking.take_level();
        }
        self.command(Command::Close { conn_id }).await;
        METRICS.voice_participants.dec();
        if self.joined.is_empty() {
            // Before anyone is told: from then on another node may open the room's voice.
            self.home.give_up(&self.voice.bus, &self.id).await;
        }
    }
}
