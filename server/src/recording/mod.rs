//! Voice recording: each speaker's Opus uplink written to an Ogg file stamped on the room clock.
//! [`hook`] is the seam the voice SFU records through.

#![allow(dead_code)] // The SFU that calls the hook lands separately.

mod hook;

#[allow(unused_imports)]
pub(crate) use hook::{NoRecording, Recorders, RtpAudio, Speaker, SpeakerRecorder};
