//! A speaker's state shared between the room's voice task (which sets mutes and reads levels) and the
//! voice loop that forwards the speaker's packets (which enforces mutes and notes levels). Atomics, so
//! the loop never waits on the task.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

#[derive(Debug, Default)]
pub(super) struct Speaking {
    /// The speaker muted themselves.
    pub(super) self_muted: AtomicBool,
    /// The interviewer muted the speaker.
    pub(super) muted_by_interviewer: AtomicBool,
    /// The loudest level since the voice task last read it (an f32's bits).
    loudest: AtomicU32,
}

impl Speaking {
    pub(super) fn muted(&self) -> bool {
        self.self_muted.load(Ordering::Relaxed) || self.muted_by_interviewer.load(Ordering::Relaxed)
    }

    /// The loudest level since the last call, which starts the next period at silence.
    pub(super) fn take_level(&self) -> f32 {
        f32::from_bits(self.loudest.swap(0, Ordering::Relaxed))
    }

    pub(super) fn heard(&self, level: f32) {
        let _ = self.loudest.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
            (level > f32::from_bits(bits)).then_some(level.to_bits())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loudest_level_is_taken_once() {
        let s = Speaking::default();
        s.heard(0.25);
        s.heard(0.75);
        s.heard(0.5);
        assert_eq!(s.take_level(), 0.75);
        assert_eq!(s.take_level(), 0.0);
        assert!(!s.muted());
        s.muted_by_interviewer.store(true, Ordering::Relaxed);
        assert!(s.muted());
    }
}
