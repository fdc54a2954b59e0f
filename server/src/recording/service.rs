//! [`RecordingService`]: the [`Recorders`] the voice SFU is handed. Each speaker's recorder queues its
//! packets to the recorder thread (`writer.rs`) and returns at once; the thread writes the files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;

use tokio::sync::oneshot;

use super::hook::{Recorders, RtpAudio, Speaker, SpeakerRecorder};
use super::timeline::Arrived;
use super::writer::{Job, Writer};
use crate::metrics::METRICS;
use crate::store::{RecordingRecord, Store};

/// The recordings' directory, inside the data dir: one directory per room, one file per recording.
pub const RECORDINGS_DIR: &str = "recordings";

/// Packets queued to the recorder thread, all recordings together (about 5 s of 60 speakers at 50
/// packets a second). At the bound a packet is dropped, never waited for: the SFU's task must not
/// block. The drop is counted (`handoff_recording_packets_dropped_total{reason="queue_full"}`) and the
/// recording goes on: the gap it leaves becomes silence, the timestamps keeping the rest in place.
pub const MAX_QUEUED_PACKETS: usize = 16_384;

/// Packets a speaker's recorder gathers before handing them to the recorder thread in one job (200 ms
/// of 20 ms packets): one hand-off per packet woke that thread 50 times a second per speaker, which cost
/// the SFU more than the recording itself. What a crash loses grows by at most this much audio.
pub(super) const RECORDER_BATCH: usize = 10;

/// Records each speaker of the rooms that record voice, to Ogg/Opus files in the data dir.
#[derive(Debug)]
pub struct RecordingService {
    dir: PathBuf,
    jobs: mpsc::Sender<Job>,
    queued: Arc<AtomicUsize>,
    next_key: AtomicU64,
    stopped: AtomicBool,
}

impl RecordingService {
    /// Starts the recorder thread, writing under `data_dir`/[`RECORDINGS_DIR`]; it saves rows in `store`
    /// through the current runtime.
    pub(crate) fn spawn(data_dir: &Path, store: Arc<dyn Store>) -> std::io::Result<Arc<RecordingService>> {
        let dir = data_dir.join(RECORDINGS_DIR);
        let (jobs, rx) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let writer = Writer::new(dir.clone(), store, tokio::runtime::Handle::current(), queued.clone());
        std::thread::Builder::new().name("handoff-recorder".into()).spawn(move || writer.run(rx))?;
        Ok(Arc::new(RecordingService {
            dir,
            jobs,
            queued,
            next_key: AtomicU64::new(1),
            stopped: AtomicBool::new(false),
        }))
    }

    /// Where a recording's file is.
    pub(crate) fn file(&self, rec: &RecordingRecord) -> PathBuf {
        self.dir.join(&rec.path)
    }

    /// Stops recording in these rooms and deletes their files; returns once they are gone.
    pub(crate) async fn purge_rooms(&self, rooms: Vec<String>) {
        let (done, wait) = oneshot::channel();
        let purged = self.jobs.send(Job::Purge { rooms: rooms.clone(), done }).is_ok() && wait.await.is_ok();
        if !purged {
            // Only after a stop (or a crash of the thread): the files stay for the operator to delete.
            tracing::error!(?rooms, dir = %self.dir.display(), "the recorder thread is gone; recordings not deleted");
        }
    }

    /// Finishes every open recording (last page written, file synced, row saved) and stops the thread;
    /// later tracks are not recorded. Returns once the files are finished.
    pub async fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let (done, wait) = oneshot::channel();
        if self.jobs.send(Job::Stop { done }).is_ok() {
            let _ = wait.await;
        }
    }
}

impl Recorders for RecordingService {
    fn start(&self, speaker: Speaker) -> Option<Box<dyn SpeakerRecorder>> {
        if self.stopped.load(Ordering::SeqCst) {
            return None;
        }
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        self.jobs.send(Job::Start { key, speaker }).ok()?;
        Some(Box::new(Recorder {
            key,
            jobs: self.jobs.clone(),
            queued: self.queued.clone(),
            batch: Vec::with_capacity(RECORDER_BATCH),
            finished: false,
        }))
    }
}

/// One speaker's recorder: queues, never writes.
struct Recorder {
    key: u64,
    jobs: mpsc::Sender<Job>,
    queued: Arc<AtomicUsize>,
    /// Packets not yet handed to the thread (counted in `queued` already).
    batch: Vec<Arrived>,
    finished: bool,
}

impl Recorder {
    /// Hands the gathered packets to the recorder thread.
    fn hand_off(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let packets = std::mem::replace(&mut self.batch, Vec::with_capacity(RECORDER_BATCH));
        let count = packets.len();
        if self.jobs.send(Job::Packets { key: self.key, packets }).is_err() {
            // The recorder thread has stopped (server shutting down): nothing records any more.
            self.queued.fetch_sub(count, Ordering::Relaxed);
        }
    }
}

impl SpeakerRecorder for Recorder {
    fn packet(&mut self, packet: RtpAudio<'_>) {
        if self.queued.fetch_add(1, Ordering::Relaxed) >= MAX_QUEUED_PACKETS {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            METRICS.recording_packets_dropped.with_label_values(&["queue_full"]).inc();
            return;
        }
        self.batch.push(Arrived {
            seq: packet.sequence,
            timestamp: packet.timestamp,
            arrived_at_ms: packet.arrived_at_ms,
            payload: packet.payload.to_vec(),
        });
        if self.batch.len() >= RECORDER_BATCH {
            self.hand_off();
        }
    }

    fn finish(mut self: Box<Self>) {
        self.finished = true;
        self.hand_off();
        let _ = self.jobs.send(Job::Finish { key: self.key });
    }
}

impl Drop for Recorder {
    /// A recorder dropped without `finish` (its task ended early) still finishes its file.
    fn drop(&mut self) {
        if !self.finished {
            self.hand_off();
            let _ = self.jobs.send(Job::Finish { key: self.key });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_bound_a_packet_is_dropped_and_counted_never_waited_for() {
        let (jobs, rx) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(MAX_QUEUED_PACKETS - 1));
        let mut rec =
            Box::new(Recorder { key: 1, jobs, queued: queued.clone(), batch: Vec::new(), finished: false });
        let dropped = || METRICS.recording_packets_dropped.with_label_values(&["queue_full"]).get();
        let before = dropped();
        for seq in 0..3 {
            rec.packet(RtpAudio { sequence: seq, timestamp: 0, payload: &[0xF8], arrived_at_ms: 1 });
        }
        assert_eq!(queued.load(Ordering::Relaxed), MAX_QUEUED_PACKETS, "one more fit");
        assert_eq!(dropped() - before, 2, "the other two were dropped and counted");
        rec.finish();
        let got: Vec<&str> = rx
            .try_iter()
            .map(|j| match j {
                Job::Packets { packets, .. } if packets.len() == 1 => "packet",
                Job::Finish { .. } => "finish",
                _ => "other",
            })
            .collect();
        assert_eq!(got, ["packet", "finish"], "finish is never dropped");
    }

    #[test]
    fn packets_reach_the_thread_in_batches_in_order_and_the_rest_before_the_finish() {
        let (jobs, rx) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let mut rec =
            Box::new(Recorder { key: 3, jobs, queued: queued.clone(), batch: Vec::new(), finished: false });
        let total = RECORDER_BATCH * 2 + 3;
        for seq in 0..total as u16 {
            rec.packet(RtpAudio { sequence: seq, timestamp: 0, payload: &[0xF8], arrived_at_ms: 1 });
        }
        assert_eq!(queued.load(Ordering::Relaxed), total, "held packets count against the bound");
        let handed: Vec<usize> = rx
            .try_iter()
            .map(|j| match j {
                Job::Packets { packets, .. } => packets.len(),
                _ => 0,
            })
            .collect();
        assert_eq!(handed, [RECORDER_BATCH, RECORDER_BATCH], "whole batches only, until the finish");
        rec.finish();
        let rest: Vec<Job> = rx.try_iter().collect();
        let [Job::Packets { key: 3, packets }, Job::Finish { key: 3 }] = &rest[..] else {
            panic!("the rest, then the finish");
        };
        let seqs: Vec<u16> = packets.iter().map(|p| p.seq).collect();
        let expected: Vec<u16> = (RECORDER_BATCH * 2..total).map(|s| s as u16).collect();
        assert_eq!(seqs, expected);
    }

    #[test]
    fn a_recorder_dropped_without_finish_still_finishes() {
        let (jobs, rx) = mpsc::channel();
        drop(Recorder {
            key: 9,
            jobs,
            queued: Arc::new(AtomicUsize::new(0)),
            batch: Vec::new(),
            finished: false,
        });
        assert!(matches!(rx.try_recv(), Ok(Job::Finish { key: 9 })));
    }
}
