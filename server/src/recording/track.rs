//! One speaker's recording as it is written: the timeline placing its packets, the Ogg file (created
//! 0600 at the first packet, its channel count read from that packet), and the row describing it.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::PathBuf;

use super::ogg::OggOpusWriter;
use super::opus;
use super::timeline::{Arrived, Refused, Timeline};
use crate::store::RecordingRecord;

/// What a packet did to the recording.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Pushed {
    /// The file was created with this packet: the row now exists to be saved.
    Opened,
    Written,
    Refused(Refused),
}

#[derive(Debug)]
pub(super) struct Track {
    /// The row as it stands; `started_at_ms`, `duration_ms` and `anchors` follow the timeline.
    record: RecordingRecord,
    /// The file's full path.
    path: PathBuf,
    timeline: Timeline,
    ogg: Option<OggOpusWriter<BufWriter<File>>>,
    /// Packets written; counted into the metrics by the writer.
    pub(super) written: u64,
    /// The duration the row was last saved with.
    saved_ms: u64,
}

impl Track {
    pub(super) fn new(record: RecordingRecord, path: PathBuf) -> Track {
        Track { record, path, timeline: Timeline::default(), ogg: None, written: 0, saved_ms: 0 }
    }

    pub(super) fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub(super) fn room(&self) -> &str {
        &self.record.room_id
    }

    pub(super) fn reanchors(&self) -> u64 {
        self.timeline.reanchors
    }

    /// The row as the file now stands.
    pub(super) fn record(&self) -> RecordingRecord {
        let mut rec = self.record.clone();
        if let Some(at) = self.timeline.started_at_ms() {
            rec.started_at_ms = at;
        }
        rec.duration_ms = self.timeline.duration_ms();
        rec.anchors = self.timeline.anchors().to_vec();
        rec
    }

    /// The row to save when the file grew by `every_ms` since the last save.
    pub(super) fn save_due(&mut self, every_ms: u64) -> Option<RecordingRecord> {
        let now = self.timeline.duration_ms();
        (now >= self.saved_ms + every_ms).then(|| {
            self.saved_ms = now;
            self.record()
        })
    }

    pub(super) fn push(&mut self, packet: Arrived) -> io::Result<Pushed> {
        let stereo = opus::is_stereo(&packet.payload);
        let placed = match self.timeline.push(packet) {
            Ok(placed) => placed,
            Err(refused) => return Ok(Pushed::Refused(refused)),
        };
        let opened = self.ogg.is_none();
        if opened {
            let started = self.timeline.started_at_ms().unwrap_or_default();
            let file =
                crate::private_fs::private_file_options().write(true).create_new(true).open(&self.path)?;
            let tags = [
                format!("HANDOFF_ROOM={}", self.record.room_id),
                format!("HANDOFF_SPEAKER={}", self.record.name),
                format!("HANDOFF_ROLE={}", self.record.role.as_str()),
                format!("HANDOFF_STARTED_AT_MS={started}"),
            ];
            // Any serial will do for a file of one stream; this one differs between files.
            let serial = (started as u32) ^ (self.record.member as u32).rotate_left(16);
            let channels = if stereo { 2 } else { 1 };
            self.ogg = Some(OggOpusWriter::new(BufWriter::new(file), serial, channels, &tags)?);
        }
        self.write(placed)?;
        Ok(if opened { Pushed::Opened } else { Pushed::Written })
    }

    fn write(&mut self, placed: Vec<super::timeline::Placed>) -> io::Result<()> {
        let Some(ogg) = self.ogg.as_mut() else { return Ok(()) };
        for p in placed {
            ogg.packet(p.payload.bytes(), p.end)?;
            self.written += 1;
        }
        Ok(())
    }

    /// Writes what waits for a full page and flushes the file.
    pub(super) fn flush(&mut self) -> io::Result<()> {
        match self.ogg.as_mut() {
            Some(ogg) => ogg.flush(),
            None => Ok(()),
        }
    }

    /// Writes the held packets and the last page, and syncs the file. `None` when no packet was ever
    /// accepted (no file, no row).
    pub(super) fn finish(mut self) -> io::Result<Option<RecordingRecord>> {
        let rest = self.timeline.drain();
        self.write(rest)?;
        let Some(ogg) = self.ogg.take() else { return Ok(None) };
        let file = ogg.finish()?.into_inner().map_err(|e| e.into_error())?;
        file.sync_data()?;
        Ok(Some(self.record()))
    }
}
