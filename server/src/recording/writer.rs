//! The recorder thread: every recording's file is written here, never on the SFU's tasks nor on the
//! async runtime's threads. It takes jobs from the recorders (start, packet, finish) and from the
//! service (purge, stop) in order, writes each packet where the track's timeline places it, flushes
//! every open file at least every [`FLUSH_EVERY`], and saves each recording's row when its file opens
//! and when it is finished (through the async store, from this thread, with the runtime's handle).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

use super::hook::Speaker;
use super::timeline::Arrived;
use super::track::{Pushed, Track};
use crate::ids::new_id;
use crate::metrics::METRICS;
use crate::store::{RecordingRecord, Store, StoreError};

/// How long written audio may wait in memory before it is flushed to its file: what a crash of the
/// server loses at most (besides the rows' final duration, saved when a file is finished).
pub(super) const FLUSH_EVERY: Duration = Duration::from_secs(1);

pub(super) enum Job {
    Start {
        key: u64,
        speaker: Speaker,
    },
    Packet {
        key: u64,
        packet: Arrived,
    },
    Finish {
        key: u64,
    },
    /// Closes the rooms' open recordings without a row and deletes their files.
    Purge {
        rooms: Vec<String>,
        done: oneshot::Sender<()>,
    },
    /// Finishes every open recording, then the thread ends.
    Stop {
        done: oneshot::Sender<()>,
    },
}

enum Slot {
    /// The room does not record voice, was purged, or its file failed: packets are let go.
    Ignored,
    /// Records; the file is created at the first packet.
    Ready(Speaker),
    Open(Box<Track>),
}

pub(super) struct Writer {
    /// The recordings directory in the data dir.
    pub(super) dir: PathBuf,
    pub(super) store: Arc<dyn Store>,
    pub(super) runtime: Handle,
    /// Packets sent to this thread and not yet taken: the recorders' bound.
    pub(super) queued: Arc<AtomicUsize>,
    slots: HashMap<u64, Slot>,
}

impl Writer {
    pub(super) fn new(
        dir: PathBuf,
        store: Arc<dyn Store>,
        runtime: Handle,
        queued: Arc<AtomicUsize>,
    ) -> Self {
        Writer { dir, store, runtime, queued, slots: HashMap::new() }
    }

    pub(super) fn run(mut self, jobs: Receiver<Job>) {
        if let Err(error) = crate::private_fs::create_dirs(&self.dir) {
            tracing::error!(dir = %self.dir.display(), %error, "cannot create the recordings directory");
        }
        let mut flushed = Instant::now();
        loop {
            match jobs.recv_timeout(FLUSH_EVERY) {
                Ok(Job::Stop { done }) => {
                    self.finish_all();
                    let _ = done.send(());
                    return;
                }
                Ok(job) => self.handle(job),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if flushed.elapsed() >= FLUSH_EVERY {
                self.flush_all();
                flushed = Instant::now();
            }
        }
        self.finish_all();
    }

    fn handle(&mut self, job: Job) {
        match job {
            Job::Start { key, speaker } => {
                let slot = if self.records(&speaker) { Slot::Ready(speaker) } else { Slot::Ignored };
                self.slots.insert(key, slot);
            }
            Job::Packet { key, packet } => {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                self.packet(key, packet);
            }
            Job::Finish { key } => {
                if let Some(Slot::Open(track)) = self.slots.remove(&key) {
                    self.finish(*track);
                }
            }
            Job::Purge { rooms, done } => {
                self.purge(rooms);
                let _ = done.send(());
            }
            Job::Stop { .. } => unreachable!("handled by run"),
        }
    }

    /// Whether the speaker's room records voice. A room id is a file name here, so one that is not a
    /// plain id (the server mints them) is never recorded.
    fn records(&self, speaker: &Speaker) -> bool {
        if !plain(&speaker.room) {
            return false;
        }
        match self.runtime.block_on(self.store.get_room(&speaker.room)) {
            Ok(room) => room.is_some_and(|r| r.record_voice),
            Err(error) => {
                tracing::error!(room = %speaker.room, %error, "cannot tell whether the room records voice");
                false
            }
        }
    }

    fn packet(&mut self, key: u64, packet: Arrived) {
        let Some(slot) = self.slots.get_mut(&key) else { return };
        let track = match slot {
            Slot::Ignored => return,
            Slot::Open(track) => track,
            Slot::Ready(speaker) => {
                let id = new_id("rec");
                let room_dir = self.dir.join(&speaker.room);
                if let Err(error) = crate::private_fs::create_dirs(&room_dir) {
                    tracing::error!(room = %speaker.room, %error, "cannot create the room's recordings directory");
                    METRICS.recording_failures.inc();
                    *slot = Slot::Ignored;
                    return;
                }
                let record = RecordingRecord {
                    path: format!("{}/{id}.ogg", speaker.room),
                    id,
                    room_id: speaker.room.clone(),
                    member: speaker.member,
                    name: speaker.name.clone(),
                    role: speaker.role,
                    started_at_ms: packet.arrived_at_ms,
                    duration_ms: 0,
                    anchors: Vec::new(),
                };
                let path = self.dir.join(&record.path);
                *slot = Slot::Open(Box::new(Track::new(record, path)));
                let Slot::Open(track) = slot else { unreachable!("just set") };
                track
            }
        };
        match track.push(packet) {
            Ok(Pushed::Written) => {}
            Ok(Pushed::Opened) => {
                METRICS.recordings_open.inc();
                let record = track.record();
                tracing::info!(room = %record.room_id, recording = %record.id, "recording started");
                if !self.save(record) {
                    self.abandon(key);
                }
            }
            Ok(Pushed::Refused(refused)) => {
                METRICS.recording_packets_dropped.with_label_values(&[refused.reason()]).inc();
            }
            Err(error) => {
                tracing::error!(room = %track.room(), %error, "cannot write the recording; it stops here");
                METRICS.recording_failures.inc();
                self.close(key);
            }
        }
    }

    /// Saves a recording's row; `false` when its room is gone (purged while recorded).
    fn save(&self, record: RecordingRecord) -> bool {
        let id = record.id.clone();
        match self.runtime.block_on(self.store.save_recording(record)) {
            Ok(()) => true,
            Err(StoreError::NotFound { .. }) => false,
            Err(error) => {
                // The file is kept: only its row's latest duration is missing.
                tracing::error!(recording = %id, %error, "cannot save the recording's row");
                METRICS.recording_failures.inc();
                true
            }
        }
    }

    /// Closes a recording whose file cannot go on; what was written stays.
    fn close(&mut self, key: u64) {
        if let Some(Slot::Open(track)) = self.slots.insert(key, Slot::Ignored) {
            METRICS.recordings_open.dec();
            METRICS.recording_packets.inc_by(track.written);
        }
    }

    /// Closes a recording of a purged room and deletes its file.
    fn abandon(&mut self, key: u64) {
        if let Some(Slot::Open(track)) = self.slots.insert(key, Slot::Ignored) {
            METRICS.recordings_open.dec();
            remove_file(track.path());
        }
    }

    fn finish(&self, track: Track) {
        METRICS.recordings_open.dec();
        METRICS.recording_packets.inc_by(track.written);
        METRICS.recording_reanchors.inc_by(track.reanchors());
        let path = track.path().to_owned();
        match track.finish() {
            Ok(Some(record)) => {
                tracing::info!(
                    room = %record.room_id, recording = %record.id, duration_ms = record.duration_ms,
                    "recording finished"
                );
                if !self.save(record) {
                    remove_file(&path);
                }
            }
            Ok(None) => {}
            Err(error) => {
                tracing::error!(file = %path.display(), %error, "cannot finish the recording");
                METRICS.recording_failures.inc();
            }
        }
    }

    fn finish_all(&mut self) {
        for (_, slot) in self.slots.drain().collect::<Vec<_>>() {
            if let Slot::Open(track) = slot {
                self.finish(*track);
            }
        }
    }

    fn flush_all(&mut self) {
        let mut failed = Vec::new();
        for (key, slot) in &mut self.slots {
            if let Slot::Open(track) = slot
                && let Err(error) = track.flush()
            {
                tracing::error!(room = %track.room(), %error, "cannot flush the recording; it stops here");
                METRICS.recording_failures.inc();
                failed.push(*key);
            }
        }
        for key in failed {
            self.close(key);
        }
    }

    fn purge(&mut self, rooms: Vec<String>) {
        let rooms: HashSet<String> = rooms.into_iter().collect();
        for slot in self.slots.values_mut() {
            let purged = match slot {
                Slot::Ready(speaker) => rooms.contains(&speaker.room),
                Slot::Open(track) => rooms.contains(track.room()),
                Slot::Ignored => false,
            };
            if purged {
                if matches!(slot, Slot::Open(_)) {
                    METRICS.recordings_open.dec();
                }
                *slot = Slot::Ignored;
            }
        }
        for room in rooms.into_iter().filter(|r| plain(r)) {
            let dir = self.dir.join(&room);
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => tracing::info!(%room, "recordings deleted"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => tracing::error!(dir = %dir.display(), %error, "cannot delete recordings"),
            }
        }
    }
}

/// Whether a room id can name a directory: only ASCII letters, digits, `_` and `-` (as minted ids are).
fn plain(room: &str) -> bool {
    !room.is_empty() && room.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn remove_file(path: &std::path::Path) {
    if let Err(error) = std::fs::remove_file(path)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::error!(file = %path.display(), %error, "cannot delete a recording");
    }
}
