//! Which extension messages (numbers `EXT_FIRST..=EXT_LAST`, never used by y-protocols) a member
//! understands. A client announces them when it joins, in the `ext` query parameter of the WebSocket
//! URL (`ext=events,voice`); the room sends an extension message only to members that announced it. A
//! stock y-websocket client sends no `ext` and so never receives one: it would log every such message as
//! one it cannot read.

use handoff_protocol::frame::{EXT_FIRST, EXT_LAST, EXT_ROOM_EVENT, EXT_VOICE_SIGNAL};

/// Most names of an `ext` list that are read; the rest are ignored (there are only a few extensions).
const MAX_ANNOUNCED: usize = 16;

/// One extension message a client may announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extension {
    /// Room events (participants, room ended, …): message [`EXT_ROOM_EVENT`], announced as `events`.
    RoomEvents,
    /// Voice channel signalling: message [`EXT_VOICE_SIGNAL`], announced as `voice`.
    VoiceSignal,
}

impl Extension {
    const ALL: [Extension; 2] = [Extension::RoomEvents, Extension::VoiceSignal];

    /// The message number its frames start with.
    pub fn message_type(self) -> u8 {
        match self {
            Extension::RoomEvents => EXT_ROOM_EVENT,
            Extension::VoiceSignal => EXT_VOICE_SIGNAL,
        }
    }

    /// Its name in the `ext` query parameter.
    pub fn name(self) -> &'static str {
        match self {
            Extension::RoomEvents => "events",
            Extension::VoiceSignal => "voice",
        }
    }

    fn bit(self) -> u32 {
        1 << (self.message_type() - EXT_FIRST)
    }
}

// Every extension's number is in the reserved range, so its bit fits.
const _: () = assert!(EXT_LAST - EXT_FIRST < u32::BITS as u8);

/// The set of extensions one member announced; empty for a stock Yjs client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extensions(u32);

impl Extensions {
    /// Reads a comma-separated `ext` list. Names this server does not know are ignored, so a newer
    /// client still joins an older server.
    pub fn parse(list: &str) -> Extensions {
        let mut set = Extensions::default();
        for name in list.split(',').take(MAX_ANNOUNCED).map(str::trim) {
            if let Some(ext) = Extension::ALL.into_iter().find(|e| e.name() == name) {
                set = set.with(ext);
            }
        }
        set
    }

    pub fn with(self, ext: Extension) -> Extensions {
        Extensions(self.0 | ext.bit())
    }

    pub fn contains(self, ext: Extension) -> bool {
        self.0 & ext.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_are_read_and_others_ignored() {
        let set = Extensions::parse("events, later-thing,,voice");
        assert!(set.contains(Extension::RoomEvents) && set.contains(Extension::VoiceSignal));
        let set = Extensions::parse("voice");
        assert!(set.contains(Extension::VoiceSignal) && !set.contains(Extension::RoomEvents));
        assert!(Extensions::parse("").is_empty());
        assert!(Extensions::parse("EVENTS,sync").is_empty());
    }

    #[test]
    fn every_extension_is_in_the_reserved_range() {
        for ext in Extension::ALL {
            assert!((EXT_FIRST..=EXT_LAST).contains(&ext.message_type()), "{ext:?}");
        }
    }
}
