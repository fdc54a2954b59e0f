//! Voice recording: each speaker's Opus uplink written, without transcoding, to an Ogg file stamped on
//! the room clock (ms since the Unix epoch, the clock of the log's `at_ms`).
//!
//! - [`hook`]: the seam the voice SFU records through (`Recorders`, `SpeakerRecorder`).
//! - `service`: [`RecordingService`], the `Recorders` of a server: recorders queue packets (bounded)
//!   to one recorder thread.
//! - `writer`: that thread; `track`: one recording being written; `timeline`: where each packet goes
//!   on the room clock (reorder, duplicates, wraps, gaps, drift; the anchors); `ogg`: the Ogg page
//!   writer; `opus`: packet durations and silent packets.

mod hook;
mod ogg;
mod opus;
mod service;
mod timeline;
mod track;
mod writer;

pub use hook::{NoRecording, Recorders, RtpAudio, Speaker, SpeakerRecorder};
pub use service::RecordingService;
pub use service::{MAX_QUEUED_PACKETS, RECORDINGS_DIR};
