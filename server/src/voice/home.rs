//! The room's voice home, as its voice task holds it. Voice is an SFU inside each node: in a cluster,
//! members of one room in voice on two nodes could not hear each other. So a room's voice runs on one
//! node: the task takes the room's voice home (through the bus) before its first member joins, renews
//! it while anyone is in voice here and gives it up when the last one leaves; a join on any other node
//! is refused with `voice_on_other_node`. One node alone needs no home.

use std::sync::Arc;
use std::time::Duration;

use handoff_protocol::voice::VoiceErrorCode;
use tokio::task::JoinHandle;

use crate::bus::{Bus, VoiceHome};

/// How long a voice home lasts without renewal: a node that stops without giving its rooms' homes up
/// keeps other nodes from opening those rooms' voice this long.
pub(super) const VOICE_HOME_TTL: Duration = Duration::from_secs(15);
/// How often a held voice home is renewed: three tries per deadline, so one slow answer from Redis
/// does not lose it.
pub(super) const VOICE_HOME_RENEW_EVERY: Duration = Duration::from_secs(5);

/// A refusal of a join: its code and message.
pub(super) type Refusal = (VoiceErrorCode, &'static str);

/// A voice task's hold of its room's voice home.
#[derive(Debug, Default)]
pub(super) struct Home {
    held: bool,
    /// Renews the home in Redis (cluster mode).
    renewal: Option<JoinHandle<()>>,
}

impl Home {
    /// Takes the room's voice home for this node unless it already holds it; the refusal of the join
    /// when it cannot.
    pub(super) async fn take(&mut self, bus: &Arc<dyn Bus>, room: &Arc<str>) -> Result<(), Refusal> {
        if self.held {
            return Ok(());
        }
        match bus.voice_home(room, VOICE_HOME_TTL).await {
            VoiceHome::Alone => {}
            VoiceHome::Here => self.renewal = Some(tokio::spawn(renew(bus.clone(), room.clone()))),
            VoiceHome::Elsewhere => {
                let message = "this room's voice runs on another server; it moves here once everyone \
                               there has left voice";
                return Err((VoiceErrorCode::VoiceOnOtherNode, message));
            }
            // Joining blind could split the room's voice over two nodes without anyone knowing.
            VoiceHome::Unknown => {
                return Err((
                    VoiceErrorCode::Internal,
                    "the server cannot tell where this room's voice runs now",
                ));
            }
        }
        self.held = true;
        Ok(())
    }

    /// Gives the room's voice home up: nobody is in voice on this node any more. Returns once the home
    /// is free for another node.
    pub(super) async fn give_up(&mut self, bus: &Arc<dyn Bus>, room: &str) {
        if !std::mem::take(&mut self.held) {
            return;
        }
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
            bus.leave_voice_home(room).await;
        }
    }
}

impl Drop for Home {
    /// A task that stops holding a home (only on shutdown) stops renewing it; it lapses at its deadline.
    fn drop(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
    }
}

/// Renews a held voice home until aborted.
async fn renew(bus: Arc<dyn Bus>, room: Arc<str>) {
    let mut every = tokio::time::interval(VOICE_HOME_RENEW_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is at once: the home was just taken.
    every.tick().await;
    let mut lost = false;
    loop {
        every.tick().await;
        let now_lost = bus.voice_home(&room, VOICE_HOME_TTL).await == VoiceHome::Elsewhere;
        if now_lost && !lost {
            // Redis was out of reach past the deadline and another node took the room's voice: the
            // members in voice here and there do not hear each other until one side leaves.
            tracing::warn!(room = %room, "another node took this room's voice home while this node held it");
        }
        lost = now_lost;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::bus::Attachment;

    /// A bus whose voice home answers `answer` and which counts the homes given up.
    struct FakeBus {
        answer: Mutex<VoiceHome>,
        left: Mutex<u32>,
    }

    #[async_trait]
    impl Bus for FakeBus {
        fn attach(&self, _room: &Arc<str>, _last_seq: u64) -> Option<Attachment> {
            None
        }
        async fn voice_home(&self, _room: &str, _ttl: Duration) -> VoiceHome {
            *self.answer.lock().unwrap()
        }
        async fn leave_voice_home(&self, _room: &str) {
            *self.left.lock().unwrap() += 1;
        }
    }

    fn bus(answer: VoiceHome) -> (Arc<FakeBus>, Arc<dyn Bus>) {
        let fake = Arc::new(FakeBus { answer: Mutex::new(answer), left: Mutex::new(0) });
        (fake.clone(), fake)
    }

    #[tokio::test]
    async fn a_home_elsewhere_refuses_with_its_reason_and_one_here_is_given_back_once() {
        let room: Arc<str> = Arc::from("room_1");
        let (fake, dyn_bus) = bus(VoiceHome::Elsewhere);
        let mut home = Home::default();
        let refused = home.take(&dyn_bus, &room).await.unwrap_err();
        assert_eq!(refused.0, VoiceErrorCode::VoiceOnOtherNode);
        home.give_up(&dyn_bus, &room).await;
        assert_eq!(*fake.left.lock().unwrap(), 0, "nothing held, nothing given up");

        *fake.answer.lock().unwrap() = VoiceHome::Unknown;
        assert_eq!(home.take(&dyn_bus, &room).await.unwrap_err().0, VoiceErrorCode::Internal);

        *fake.answer.lock().unwrap() = VoiceHome::Here;
        home.take(&dyn_bus, &room).await.unwrap();
        assert!(home.renewal.is_some(), "a held home is renewed");
        // Held: another join asks nobody, even if the bus would now refuse.
        *fake.answer.lock().unwrap() = VoiceHome::Elsewhere;
        home.take(&dyn_bus, &room).await.unwrap();
        home.give_up(&dyn_bus, &room).await;
        home.give_up(&dyn_bus, &room).await;
        assert_eq!(*fake.left.lock().unwrap(), 1);
        assert!(home.renewal.is_none());
    }

    #[tokio::test]
    async fn a_single_node_keeps_no_home() {
        let room: Arc<str> = Arc::from("room_1");
        let (fake, dyn_bus) = bus(VoiceHome::Alone);
        let mut home = Home::default();
        home.take(&dyn_bus, &room).await.unwrap();
        assert!(home.renewal.is_none(), "nothing to renew");
        home.give_up(&dyn_bus, &room).await;
        assert_eq!(*fake.left.lock().unwrap(), 0, "nothing to give up");
    }
}
