//! Voice recordings as the API describes them: one Ogg/Opus file per speaker's uplink track, stamped on
//! the room clock (ms since the Unix epoch, the clock of the log's `at_ms`). Anchors tie room-clock
//! moments to sample positions in the file, so a player seeks to the audio of any moment of the room.

use serde::{Deserialize, Serialize};

use crate::role::Role;

/// Samples per second of every Opus stream, whatever rate it was encoded at (RFC 7845 §4): the unit of
/// the files' granule positions and of [`Anchor::sample`].
pub const OPUS_SAMPLE_RATE: u64 = 48_000;

/// A room-clock moment and the position in the recording that was heard then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Anchor {
    /// Ms since the Unix epoch (the room clock).
    pub at_ms: u64,
    /// The sample (48 kHz) of the file that plays at `at_ms`: 0 is the file's first sample.
    pub sample: u64,
}

/// One recording in the export (`recordings` of `GET /api/v1/rooms/{id}/export`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordingEntry {
    pub id: String,
    /// The speaker's display name.
    pub participant: String,
    pub role: Role,
    /// When the file's first sample was heard, ms since the Unix epoch (the room clock).
    pub started_at_ms: u64,
    pub duration_ms: u64,
    /// `GET` it with the API key, or with the interviewer's token as `?token=`; it answers HTTP ranges.
    pub url: String,
    /// Room clock ↔ file position, oldest first; the first is (`started_at_ms`, 0). Between two anchors
    /// the file runs at the room clock's pace; a later anchor absorbs a gap (mute, silence) or drift.
    #[serde(default)]
    pub anchors: Vec<Anchor>,
}

/// The position in a recording, in ms from its first sample, of the room-clock moment `at_ms`: the
/// anchor at or before `at_ms` plus the time since it (before the first anchor: `None`). A moment past
/// the file's end maps past it too; the caller compares with the duration.
pub fn offset_ms(anchors: &[Anchor], at_ms: u64) -> Option<u64> {
    let anchor = anchors.iter().rev().find(|a| a.at_ms <= at_ms)?;
    Some(anchor.sample * 1000 / OPUS_SAMPLE_RATE + (at_ms - anchor.at_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_follow_the_latest_anchor() {
        let anchors = [
            Anchor { at_ms: 1_000, sample: 0 },
            // A 2 s mute: the file jumped 2 s of silence at 4 s into the room.
            Anchor { at_ms: 5_000, sample: 4 * 48_000 },
        ];
        assert_eq!(offset_ms(&anchors, 999), None, "before the recording");
        assert_eq!(offset_ms(&anchors, 1_000), Some(0));
        assert_eq!(offset_ms(&anchors, 3_500), Some(2_500));
        assert_eq!(offset_ms(&anchors, 5_000), Some(4_000));
        assert_eq!(offset_ms(&anchors, 6_250), Some(5_250));
        assert_eq!(offset_ms(&[], 6_250), None);
    }
}
