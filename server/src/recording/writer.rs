//! The recorder thread: every recording's file is written here, never on the SFU's tasks nor on the
//! async runtime's threads. It takes jobs from the recorders (start, packet, finish) and from the
//! service (purge, stop) in order, writes each packet where the track's timeline places it, and flushes
//! every open file at least every [`FLUSH_EVERY`]. Each recording's row is saved when its file opens,
//! every [`SAVE_EVERY_MS`] of audio and when it is finished, by a task on the runtime, so the thread never
//! waits for a commit; the store keeps the longest of saves that land out of order, and stop waits for
//! every save.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::hook::Speaker;
use super::timeline::Arrived;
use super::track::{Pushed, Track};
use crate::ids::new_id;
use crate::metrics::METRICS;
use crate::store::{RecordingRecord, Store, StoreError};

/// How long written audio may wait in memory before it is flushed to its file: what a crash of the
/// server loses of the audio at most.
pub(super) const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// A growing recording's row is saved again after this much more audio (ms): what a crash of the
/// server leaves out of the row's duration and anchors at most (the file itself has it).
pub(super) const SAVE_EVERY_MS: u64 = 10_000;

pub(super) enum Job {
    Start {
        key: u64,
        speaker: Speaker,
    },
    /// A speaker's packets, in arrival order.
    Packets {
        key: u64,
        packets: Vec<Arrived>,
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
    /// Row saves under way; stop waits for them.
    saves: Vec<JoinHandle<()>>,
}

impl Writer {
    pub(super) fn new(
        dir: PathBuf,
        store: Arc<dyn Store>,
        runtime: Handle,
        queued: Arc<AtomicUsize>,
    ) -> Self {
        Writer { dir, store, runtime, queued, slots: HashMap::new(), saves: Vec::new() }
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
                    self.wait_for_saves();
                    let _ = done.send(());
                    return;
                }
                Ok(job) => self.handle(job),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if flushed.elapsed() >= FLUSH_EVERY {
                self.flush_all();
                self.saves.retain(|save| !save.is_finished());
                flushed = Instant::now();
            }
        }
        self.finish_all();
        self.wait_for_saves();
    }

    fn wait_for_saves(&mut self) {
        for save in self.saves.drain(..) {
            if let Err(error) = self.runtime.block_on(save) {
                tracing::error!(%error, "a recording's row save failed");
            }
        }
    }

    fn handle(&mut self, job: Job) {
        match job {
            Job::Start { key, speaker } => {
                let slot = if self.records(&speaker) { Slot::Ready(speaker) } else { Slot::Ignored };
                self.slots.insert(key, slot);
            }
            Job::Packets { key, packets } => {
                self.queued.fetch_sub(packets.len(), Ordering::Relaxed);
                for packet in packets {
                    self.packet(key, packet);
                }
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
            Ok(Pushed::Written) => {
                if let Some(record) = track.save_due(SAVE_EVERY_MS) {
                    let path = track.path().to_owned();
                    self.save(record, path);
                }
            }
            Ok(Pushed::Opened) => {
                METRICS.recordings_open.inc();
                let record = track.record();
                let path = track.path().to_owned();
                tracing::info!(room = %record.room_id, recording = %record.id, "recording started");
                self.save(record, path);
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

    /// Saves a recording's row in a task. A room gone meanwhile (purged while recorded) keeps no row and
    /// no file: the task deletes the file.
    fn save(&mut self, record: RecordingRecord, path: PathBuf) {
        let store = self.store.clone();
        let save = self.runtime.spawn(async move {
            let id = record.id.clone();
            match store.save_recording(record).await {
                Ok(()) => {}
                Err(StoreError::NotFound { .. }) => {
                    if let Err(error) = tokio::fs::remove_file(&path).await
                        && error.kind() != std::io::ErrorKind::NotFound
                    {
                        tracing::error!(file = %path.display(), %error, "cannot delete a purged recording");
                    }
                }
                Err(error) => {
                    // The file is kept: only its row's latest duration is missing.
                    tracing::error!(recording = %id, %error, "cannot save the recording's row");
                    METRICS.recording_failures.inc();
                }
            }
        });
        self.saves.push(save);
    }

    /// Closes a recording whose file cannot go on; what was written stays.
    fn close(&mut self, key: u64) {
        if let Some(Slot::Open(track)) = self.slots.insert(key, Slot::Ignored) {
            METRICS.recordings_open.dec();
            METRICS.recording_packets.inc_by(track.written);
        }
    }

    fn finish(&mut self, track: Track) {
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
                self.save(record, path);
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
