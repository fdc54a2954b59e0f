//! The room registry in-process: concurrent first joiners share one load, and an idle room is flushed
//! and evicted, then loads again with everything it had.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use common::PATIENCE;
use handoff_protocol::api::{FileEntry, RoomStatus, SubmissionRequest};
use handoff_protocol::export::PresenceEvent;
use handoff_protocol::limits::SNAPSHOT_EVERY_UPDATES;
use handoff_protocol::{Role, frame, schema};
use handoff_server::test_support::LocalBus;
use handoff_server::test_support::room::{
    ChannelSink, ClientMessage, Command, Extensions, Identity, Joiner, Registry, RoomHandle, RoomSettings,
};
use handoff_server::test_support::store::{
    Catalog, LogEntry, LogRow, RoomLog, RoomRecord, RoomState, Snapshot, SqliteStore, StoreError,
    StoreResult, SubmissionRecord,
};
use tokio::sync::{mpsc, oneshot};
use yrs::{Doc, GetString, Out, Text, Transact};
#[path = "common/breaking.rs"]
mod breaking;
use breaking::breaking;

/// The room's log in SQLite, counting room loads and failing or holding appends on demand. The room
/// needs the room log alone, so this is all a test store has to be.
struct Counting {
    inner: Arc<SqliteStore>,
    loads: AtomicUsize,
    /// While set, loading a room fails as a store outage would.
    fail_loads: AtomicBool,
    /// While set, appending to a room's log fails.
    fail_appends: AtomicBool,
    /// Whether to tell rooms that commits complete without polling, as SQLite's do.
    unwatched: AtomicBool,
    /// Appends wait here for a permit, on a task of their own: they complete without polling.
    gate: Arc<tokio::sync::Semaphore>,
    /// Told each time an append reaches the gate.
    append_started: tokio::sync::Notify,
    /// Told each time an append has been written, by the task that wrote it.
    append_landed: Arc<tokio::sync::Notify>,
}

#[async_trait]
impl RoomLog for Counting {
    async fn append(&self, entries: Vec<LogEntry>, snapshot: Option<Snapshot>) -> StoreResult<()> {
        if self.fail_appends.load(Ordering::SeqCst) {
            return Err(StoreError::backend("the disk is full"));
        }
        self.append_started.notify_one();
        let (gate, inner, landed) = (self.gate.clone(), self.inner.clone(), self.append_landed.clone());
        let task = tokio::spawn(async move {
            let _permit = gate.acquire().await.expect("the gate stays open");
            let written = inner.append(entries, snapshot).await;
            landed.notify_one();
            written
        });
        task.await.unwrap_or_else(|e| Err(StoreError::backend(e)))
    }
    fn commits_complete_without_polling(&self) -> bool {
        self.unwatched.load(Ordering::SeqCst)
    }
    async fn load_room(&self, room_id: &str) -> StoreResult<RoomState> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        // Make the load slow enough that every joiner arrives while it is in progress.
        tokio::time::sleep(Duration::from_millis(50)).await;
        if self.fail_loads.load(Ordering::SeqCst) {
            return Err(StoreError::backend("the store is unreachable"));
        }
        self.inner.load_room(room_id).await
    }
    async fn room_log(&self, room_id: &str) -> StoreResult<Vec<LogRow>> {
        self.inner.room_log(room_id).await
    }
    async fn record_presence(&self, room_id: &str, event: PresenceEvent) -> StoreResult<()> {
        self.inner.record_presence(room_id, event).await
    }
    async fn presence(&self, room_id: &str) -> StoreResult<Vec<PresenceEvent>> {
        self.inner.presence(room_id).await
    }
}

/// A store holding submission `s` promoted to room `r`, and the room's preload update.
async fn setup(dir: &std::path::Path) -> (Arc<Counting>, Vec<u8>) {
    let store = Arc::new(Counting {
        inner: Arc::new(SqliteStore::open(&dir.join("t.db")).await.unwrap()),
        loads: AtomicUsize::new(0),
        fail_loads: AtomicBool::new(false),
        fail_appends: AtomicBool::new(false),
        unwatched: AtomicBool::new(false),
        gate: Arc::new(tokio::sync::Semaphore::new(tokio::sync::Semaphore::MAX_PERMITS)),
        append_started: tokio::sync::Notify::new(),
        append_landed: Arc::new(tokio::sync::Notify::new()),
    });
    let files = vec![FileEntry { path: "main.py".into(), content: "hello".into() }];
    let body = SubmissionRequest {
        candidate: handoff_protocol::api::Candidate { name: "Cam".into(), email: None },
        exercise: handoff_protocol::api::Exercise { title: "t".into(), language: None, brief: None },
        files: files.clone(),
        events: vec![],
        integrity: None,
        scorecard: None,
    };
    store.inner.insert_submission(SubmissionRecord { id: "s".into(), created_at_ms: 0, body }).await.unwrap();
    let room = RoomRecord {
        id: "r".into(),
        submission_id: "s".into(),
        status: RoomStatus::Live,
        interviewer: "Ivy".into(),
        voice: false,
        record_voice: false,
        created_at_ms: 0,
        ended_at_ms: None,
        options: Default::default(),
    };
    let initial = schema::initial_update(&files);
    let preload = LogEntry {
        room_id: Arc::from("r"),
        seq: 1,
        at_ms: 0,
        author: Arc::from("submission"),
        role: None,
        conn_id: 0,
        update: Bytes::from(initial.clone()),
    };
    store.inner.create_room(room, preload).await.unwrap();
    (store, initial)
}

/// The update that appends `suffix` to main.py of the room preloaded with `preload`.
fn appended(preload: &[u8], suffix: &str) -> Vec<u8> {
    let base = Doc::new();
    let base_root = schema::files_root(&base);
    base.transact_mut().apply_update(frame::decode_update(preload).unwrap()).unwrap();
    let sv = yrs::ReadTxn::state_vector(&base.transact());
    {
        let mut txn = base.transact_mut();
        if let Some(Out::YText(t)) = yrs::Map::get(&base_root, &txn, "main.py") {
            t.push(&mut txn, suffix);
        }
    }
    yrs::ReadTxn::encode_diff_v1(&base.transact(), &sv)
}

/// `update` as the member's connection hands it to the room.
fn update_message(update: &[u8]) -> ClientMessage {
    ClientMessage::Update {
        update: frame::decode_update(update).unwrap(),
        payload: Bytes::copy_from_slice(update),
        message: Bytes::from(frame::encode_update(update)),
        step2: false,
    }
}

fn joiner(
    conn_id: u64,
) -> (Joiner, mpsc::Receiver<Bytes>, oneshot::Receiver<handoff_server::test_support::room::CloseReason>) {
    let (outbox, rx) = mpsc::channel(64);
    let (kick, kicked) = oneshot::channel();
    let who = Identity { conn_id, name: Arc::from("Cam"), role: Role::Candidate };
    let sink = Box::new(ChannelSink::new(outbox, kick));
    (Joiner { who, extensions: Extensions::default(), sink }, rx, kicked)
}

/// Asks the room for its whole state (sync step 1 with an empty state vector) and returns the text.
async fn text_of(room: &RoomHandle, conn_id: u64, outbox: &mut mpsc::Receiver<Bytes>) -> String {
    room.send(Command::Messages {
        conn_id,
        msgs: vec![ClientMessage::SyncStep1(yrs::StateVector::default())],
    })
    .await
    .ok()
    .unwrap();
    loop {
        let f = outbox.recv().await.unwrap();
        let parts = frame::split_frame(&f).unwrap();
        if let frame::MessageKind::SyncStep2 { update } = &parts[0].kind {
            let doc = Doc::new();
            let root = schema::files_root(&doc);
            doc.transact_mut().apply_update(frame::decode_update(&f[update.clone()]).unwrap()).unwrap();
            let txn = doc.transact();
            return match yrs::Map::get(&root, &txn, "main.py") {
                Some(Out::YText(t)) => t.get_string(&txn),
                _ => String::new(),
            };
        }
    }
}

/// A registry over `store` whose rooms commit within 50 ms and leave after `idle_evict` without clients.
fn registry_over(store: &Arc<Counting>, idle_evict: Duration) -> Arc<Registry> {
    let settings = RoomSettings {
        idle_evict,
        commit_window: Duration::from_millis(50),
        snapshot_every: SNAPSHOT_EVERY_UPDATES,
    };
    Registry::new(store.clone(), Arc::new(LocalBus), settings)
}

#[tokio::test]
async fn concurrent_first_joiners_share_one_load() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = setup(dir.path()).await;
    let registry = registry_over(&store, Duration::from_secs(60));
    let mut joins = Vec::new();
    let mut outboxes = Vec::new();
    for i in 0..20 {
        let (j, rx, kicked) = joiner(i + 1);
        outboxes.push((rx, kicked));
        let registry = registry.clone();
        joins.push(tokio::spawn(async move { registry.join("r", j).await.map(|_| ()) }));
    }
    for j in joins {
        assert!(j.await.unwrap().is_ok());
    }
    assert_eq!(store.loads.load(Ordering::SeqCst), 1, "one load for twenty joiners");
    assert_eq!(registry.connected("r"), 20);
}

/// The WebSocket edge skips the store's status read for a room this answers true for, so it must turn
/// false as soon as the interview ends, before the end is answered, and only for a loaded room.
#[tokio::test]
async fn a_loaded_room_is_open_until_it_ends_and_again_once_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = setup(dir.path()).await;
    let registry = registry_over(&store, Duration::from_secs(60));
    assert!(!registry.holds_open("r"), "not loaded: the store must be asked");
    let (j, _outbox, kicked) = joiner(1);
    registry.join("r", j).await.ok().unwrap();
    assert!(registry.holds_open("r"));
    assert!(!registry.holds_open("elsewhere"));

    registry.end("r").await;
    assert!(!registry.holds_open("r"), "ended: the store answers (410 or 403) from now on");
    assert_eq!(kicked.await.unwrap().code, handoff_protocol::frame::CLOSE_ROOM_ENDED);
    let (j, _outbox, _kicked) = joiner(2);
    assert!(registry.join("r", j).await.is_err(), "an ended room refuses joins");

    // A reopen is queued to the room, so the join behind it finds the room open.
    registry.reopen("r").await;
    let (j, _outbox, _kicked) = joiner(3);
    assert!(registry.join("r", j).await.is_ok());
    assert!(registry.holds_open("r"));
}

#[tokio::test]
async fn an_idle_room_is_flushed_evicted_and_reloads_complete() {
    let dir = tempfile::tempdir().unwrap();
    let (store, preload) = setup(dir.path()).await;
    let registry = registry_over(&store, Duration::from_millis(200));
    let (j, mut outbox, _kicked) = joiner(7);
    let room = registry.join("r", j).await.ok().unwrap();

    // An edit made by this member, as its connection would hand it over.
    let msg = update_message(&appended(&preload, " world"));
    room.send(Command::Messages { conn_id: 7, msgs: vec![msg] }).await.ok().unwrap();
    assert_eq!(text_of(&room, 7, &mut outbox).await, "hello world");
    room.send(Command::Leave { conn_id: 7 }).await.ok().unwrap();

    // The idle period is 200 ms.
    until_unloaded(&registry, "idle room was not evicted").await;
    let state = store.inner.load_room("r").await.unwrap();
    let snap = state.snapshot.expect("eviction writes a snapshot");
    assert_eq!(snap.upto_seq, 2, "the snapshot covers the preload and the edit");
    assert!(state.tail.is_empty());

    let (j, mut outbox, _kicked) = joiner(8);
    let room = registry.join("r", j).await.ok().unwrap();
    assert_eq!(store.loads.load(Ordering::SeqCst), 2, "the evicted room was loaded again");
    assert_eq!(text_of(&room, 8, &mut outbox).await, "hello world");
}

/// A commit the store completes unwatched wakes nobody, so an edit that arrived while it was in the air
/// must still commit on its own tick, with no further message to wake the room.
#[tokio::test]
async fn an_edit_queued_behind_an_unwatched_commit_still_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (store, preload) = setup(dir.path()).await;
    store.unwatched.store(true, Ordering::SeqCst);
    let registry = registry_over(&store, Duration::from_secs(60));
    let (j, _outbox, _kicked) = joiner(7);
    let room = registry.join("r", j).await.ok().unwrap();

    // Hold the store: the first edit's commit takes off and waits at the gate.
    let permits = store.gate.forget_permits(tokio::sync::Semaphore::MAX_PERMITS);
    let first = update_message(&appended(&preload, " world"));
    room.send(Command::Messages { conn_id: 7, msgs: vec![first] }).await.ok().unwrap();
    let took_off = tokio::time::timeout(PATIENCE, store.append_started.notified()).await;
    took_off.expect("the first commit never took off");
    // The second edit waits for the first commit; then the store lands it without a word to the room.
    let second = update_message(&appended(&preload, "!"));
    room.send(Command::Messages { conn_id: 7, msgs: vec![second] }).await.ok().unwrap();
    store.gate.add_permits(permits);

    // Each landed append is announced (a permit is kept if nobody waits yet), so none is missed.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let seqs: Vec<u64> = store.inner.room_log("r").await.unwrap().iter().map(|r| r.seq).collect();
        if seqs == [1, 2, 3] {
            break;
        }
        let landed = tokio::time::timeout_at(deadline, store.append_landed.notified()).await;
        assert!(landed.is_ok(), "the second edit was never committed: {seqs:?}");
    }
}

/// The close code a member was kicked with, failing rather than waiting forever.
async fn kicked(kick: Kick) -> u16 {
    let reason = tokio::time::timeout(PATIENCE, kick).await.expect("the member was closed");
    reason.expect("the room kept the kick channel").code
}

/// The next frame in `outbox`, failing rather than waiting forever.
async fn next_frame(outbox: &mut mpsc::Receiver<Bytes>) -> Bytes {
    tokio::time::timeout(PATIENCE, outbox.recv()).await.expect("a frame").expect("open")
}

#[tokio::test]
async fn one_command_reaches_every_other_member_in_order_and_not_its_sender() {
    let dir = tempfile::tempdir().unwrap();
    let (store, preload) = setup(dir.path()).await;
    let TwoMembers { room, outboxes: [mut out_a, mut out_b], .. } =
        two_members(&store, Duration::from_millis(50)).await;
    // Past each member's join frames: a sync answer comes after them.
    assert_eq!(text_of(&room, 1, &mut out_a).await, "hello");
    assert_eq!(text_of(&room, 2, &mut out_b).await, "hello");

    // A typist's key and cursor, read from its socket at once and handed over as one command. The cursor
    // already carries the member's token identity, so it too is forwarded as sent.
    let update = update_message(&appended(&preload, "!"));
    let ClientMessage::Update { message: update_msg, .. } = &update else { unreachable!("an update") };
    let update_msg = update_msg.clone();
    let cursor = yrs::sync::AwarenessUpdate {
        clients: [(
            yrs::ClientID::new(42),
            yrs::sync::awareness::AwarenessUpdateEntry {
                clock: 1,
                json: Arc::from(r#"{"user":{"name":"Cam","role":"candidate"}}"#),
            },
        )]
        .into(),
    };
    let cursor_msg = Bytes::from(frame::encode_awareness(&cursor));
    let msgs = vec![
        update,
        ClientMessage::Awareness { update: cursor, message: cursor_msg.clone(), conforming: false },
    ];
    room.send(Command::Messages { conn_id: 1, msgs }).await.ok().unwrap();

    assert_eq!(next_frame(&mut out_b).await, update_msg, "the update first, forwarded byte for byte");
    assert_eq!(next_frame(&mut out_b).await, cursor_msg, "then the cursor");
    // The sender's next frame is the answer to its own question: nothing of its own came back.
    room.send(Command::Messages {
        conn_id: 1,
        msgs: vec![ClientMessage::SyncStep1(yrs::StateVector::default())],
    })
    .await
    .ok()
    .unwrap();
    let answer = next_frame(&mut out_a).await;
    let parts = frame::split_frame(&answer).unwrap();
    assert!(matches!(parts[0].kind, frame::MessageKind::SyncStep2 { .. }), "sender got its own frames back");
    assert_eq!(text_of(&room, 2, &mut out_b).await, "hello!");
}

/// Waits (bounded) until this node holds no room.
async fn until_unloaded(registry: &Registry, what: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while registry.loaded() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

type Kick = oneshot::Receiver<handoff_server::test_support::room::CloseReason>;

/// A registry whose room "r" has members 1 and 2.
struct TwoMembers {
    registry: Arc<Registry>,
    room: RoomHandle,
    kicked_a: Kick,
    kicked_b: Kick,
    /// Kept open even when unread: a member whose outbox is gone is removed without being kicked.
    outboxes: [mpsc::Receiver<Bytes>; 2],
}

async fn two_members(store: &Arc<Counting>, commit_window: Duration) -> TwoMembers {
    let settings = RoomSettings {
        idle_evict: Duration::from_secs(60),
        commit_window,
        snapshot_every: SNAPSHOT_EVERY_UPDATES,
    };
    let registry = Registry::new(store.clone(), Arc::new(LocalBus), settings);
    let (a, out_a, kicked_a) = joiner(1);
    let (b, out_b, kicked_b) = joiner(2);
    let room = registry.join("r", a).await.ok().unwrap();
    registry.join("r", b).await.ok().unwrap();
    TwoMembers { registry, room, kicked_a, kicked_b, outboxes: [out_a, out_b] }
}

/// Member 1 of `two` sends `msgs`, the last of which breaks the document: the sender is refused, member
/// 2 is told to come back, and the room leaves this node (`stayed` says what it means if it does not).
async fn break_the_room(two: TwoMembers, msgs: Vec<ClientMessage>, stayed: &str) -> Arc<Registry> {
    let TwoMembers { registry, room, kicked_a, kicked_b, outboxes: _outboxes } = two;
    room.send(Command::Messages { conn_id: 1, msgs }).await.ok().unwrap();
    assert_eq!(kicked(kicked_a).await, frame::CLOSE_INVALID_PAYLOAD, "the sender is refused");
    assert_eq!(kicked(kicked_b).await, frame::CLOSE_TRY_AGAIN, "the others are told to come back");
    until_unloaded(&registry, stayed).await;
    registry
}

#[tokio::test]
async fn a_room_that_cannot_be_rebuilt_after_a_bad_update_is_retired_and_loads_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let (store, preload) = setup(dir.path()).await;
    let two = two_members(&store, Duration::from_millis(50)).await;

    // Member 1 sends an update that breaks the document, and the store cannot give the room back. The
    // broken document must not serve anyone: the room leaves this node.
    store.fail_loads.store(true, Ordering::SeqCst);
    let msgs = vec![update_message(&breaking(&preload))];
    let registry = break_the_room(two, msgs, "the room that could not be rebuilt stayed loaded").await;

    store.fail_loads.store(false, Ordering::SeqCst);
    let loads = store.loads.load(Ordering::SeqCst);
    let (c, mut out_c, _kc) = joiner(3);
    let room = registry.join("r", c).await.ok().unwrap();
    assert_eq!(store.loads.load(Ordering::SeqCst), loads + 1, "the next joiner loads the room afresh");
    assert_eq!(text_of(&room, 3, &mut out_c).await, "hello", "with what was logged, and no more");
}

#[tokio::test]
async fn a_room_whose_log_cannot_take_the_accepted_edits_is_retired_rather_than_rebuilt_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let (store, preload) = setup(dir.path()).await;
    let two = two_members(&store, Duration::from_secs(60)).await;

    // An edit member 2 now holds is still waiting for its commit when a bad update forces a rebuild,
    // and the log refuses it: a room rebuilt from the log would silently lack it. Member 2, the holder
    // of the edit, is told to resync.
    store.fail_appends.store(true, Ordering::SeqCst);
    let msgs = vec![update_message(&appended(&preload, " world")), update_message(&breaking(&preload))];
    break_the_room(two, msgs, "a room rebuilt without an accepted edit stayed loaded").await;
}
