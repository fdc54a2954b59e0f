//! Voice recording, driven through the hook the SFU calls (no WebRTC needed): a speaker's packets
//! become an Ogg/Opus file that parses, lasts what was sent, starts on the room clock where the first
//! packet arrived, is listed in the export, downloads with ranges by the interviewer only, survives a
//! server stop finished, and goes with the submission's DELETE.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{PATIENCE, TestServer, sample_files};
use handoff_protocol::Role;
use handoff_protocol::api::PromoteResponse;
use handoff_server::test_support::recording::{RECORDINGS_DIR, Recorders, RtpAudio, Speaker};
use handoff_server::test_support::store::{Recordings, SqliteStore};
use reqwest::Method;
use serde_json::{Value, json};

/// The Opus fixture the voice tests share (a 440 Hz tone, 3 s), when it is in the repository.
const FIXTURE: &str = "tests/fixtures/voice/tone-440hz-3s.opus";
/// 20 ms of audio at 48 kHz.
const FRAME: u32 = 960;

/// Opus packets to send, 20 ms each: the fixture's audio packets, or else 150 crafted CELT packets
/// (3 s; the recorder reads only their TOC byte, so any frame bytes do).
fn packets() -> Vec<Vec<u8>> {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    if let Ok(bytes) = std::fs::read(&fixture) {
        let all: Vec<Vec<u8>> = pages(&bytes).into_iter().flat_map(|p| p.packets).collect();
        return all.into_iter().skip(2).collect();
    }
    (0..150u32).map(|n| vec![0xF8, 0x80 | (n % 64) as u8, n as u8, 0x55, 0xAA]).collect()
}

#[derive(Debug)]
struct Page {
    flags: u8,
    granule: u64,
    serial: u32,
    packets: Vec<Vec<u8>>,
}

/// Ogg's CRC-32 (polynomial 0x04C11DB7, initial 0, no reflection, no final xor), bit by bit.
fn ogg_crc(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ 0x04C1_1DB7 } else { crc << 1 };
        }
    }
    crc
}

/// Parses an Ogg stream into pages, checking each page's capture pattern, sequence number and CRC.
fn pages(mut data: &[u8]) -> Vec<Page> {
    let mut out: Vec<Page> = Vec::new();
    let mut partial = Vec::new();
    while !data.is_empty() {
        assert!(data.len() >= 27 && &data[..4] == b"OggS", "a page starts with OggS");
        let segments = data[26] as usize;
        let lacing = &data[27..27 + segments];
        let len = 27 + segments + lacing.iter().map(|&l| l as usize).sum::<usize>();
        assert!(data.len() >= len, "the last page is whole");
        let mut header = data[..len].to_vec();
        let crc = u32::from_le_bytes(header[22..26].try_into().unwrap());
        header[22..26].fill(0);
        assert_eq!(ogg_crc(&header), crc, "page {} CRC", out.len());
        let seq = u32::from_le_bytes(data[18..22].try_into().unwrap());
        assert_eq!(seq as usize, out.len(), "pages are numbered in order");
        let mut body = &data[27 + segments..len];
        let mut packets = Vec::new();
        for &l in lacing {
            partial.extend_from_slice(&body[..l as usize]);
            body = &body[l as usize..];
            if l < 255 {
                packets.push(std::mem::take(&mut partial));
            }
        }
        out.push(Page {
            flags: data[5],
            granule: u64::from_le_bytes(data[6..14].try_into().unwrap()),
            serial: u32::from_le_bytes(data[14..18].try_into().unwrap()),
            packets,
        });
        data = &data[len..];
    }
    out
}

/// Checks the file is one Ogg/Opus stream and returns (channels, pre-skip, duration in ms, audio
/// packets).
fn parse_opus(bytes: &[u8]) -> (u8, u16, u64, usize) {
    let pages = pages(bytes);
    assert!(pages.len() >= 3, "headers and audio: {} pages", pages.len());
    assert_eq!(pages[0].flags & 0x02, 0x02, "the first page begins the stream");
    assert_eq!(pages.last().unwrap().flags & 0x04, 0x04, "the last page ends it");
    assert!(pages.iter().all(|p| p.serial == pages[0].serial), "one logical stream");
    let head = &pages[0].packets[0];
    assert_eq!(&head[..8], b"OpusHead");
    assert_eq!(head[8], 1, "OpusHead version");
    assert_eq!(u32::from_le_bytes(head[12..16].try_into().unwrap()), 48_000);
    assert!(pages[1].packets[0].starts_with(b"OpusTags"));
    let mut last = 0;
    for p in &pages[2..] {
        assert!(p.granule >= last, "granules never go back");
        last = p.granule;
    }
    let pre_skip = u16::from_le_bytes(head[10..12].try_into().unwrap());
    let audio = pages[2..].iter().map(|p| p.packets.len()).sum();
    (head[9], pre_skip, (last - u64::from(pre_skip)) / 48, audio)
}

async fn promote_with_voice(server: &TestServer, body: Value) -> (String, PromoteResponse) {
    let sub = server.submit(&sample_files()).await;
    let (status, resp) =
        server.call(Method::POST, &format!("/api/v1/submissions/{sub}/promote"), Some(&body)).await;
    assert_eq!(status, 200, "{resp}");
    (sub, serde_json::from_value(resp).unwrap())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Feeds `packets` to a recorder of the room as `name`, one every 20 ms of room clock from `t0` (no
/// real waiting), with a reorder and a duplicate thrown in and the timestamp wrapping on the way.
fn speak(server: &TestServer, room: &str, name: &str, t0: u64, packets: &[Vec<u8>], finish: bool) {
    let speaker = Speaker { room: room.into(), member: 7, name: name.into(), role: Role::Candidate };
    let mut rec = server.running.state.recordings.start(speaker).expect("a room with voice records");
    let ts0 = u32::MAX - 20 * FRAME;
    let mut order: Vec<usize> = (0..packets.len()).collect();
    order.swap(10, 12);
    order.insert(30, 29);
    for n in order {
        rec.packet(RtpAudio {
            sequence: 65_500u16.wrapping_add(n as u16),
            timestamp: ts0.wrapping_add(n as u32 * FRAME),
            payload: &packets[n],
            arrived_at_ms: t0 + n as u64 * 20,
        });
    }
    if finish {
        rec.finish();
    }
}

/// The export's recordings once `n` are listed with a duration (the recorder thread saves the row when
/// the file is finished).
async fn wait_for_recordings(server: &TestServer, room: &str, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (status, export) = server.call(Method::GET, &format!("/api/v1/rooms/{room}/export"), None).await;
        assert_eq!(status, 200, "{export}");
        let recs = export["recordings"].as_array().cloned().unwrap_or_default();
        if recs.len() == n && recs.iter().all(|r| r["duration_ms"].as_u64() > Some(0)) {
            return recs;
        }
        assert!(tokio::time::Instant::now() < deadline, "recordings never listed: {export}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn recording_file(dir: &Path, room: &str) -> PathBuf {
    let room_dir = dir.join(RECORDINGS_DIR).join(room);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&room_dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.pop().unwrap()
}

#[tokio::test]
async fn a_speaker_is_recorded_on_the_room_clock_listed_downloaded_and_purged() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let (sub, room) =
        promote_with_voice(&server, json!({"interviewer": {"name": "Ivy"}, "voice": true})).await;
    let id = room.room.id.clone();
    let (_, view) = server.call(Method::GET, &format!("/api/v1/rooms/{id}"), None).await;
    assert_eq!((view["voice"].as_bool(), view["record_voice"].as_bool()), (Some(true), Some(true)), "{view}");
    let (_, session) = server
        .call_as(Method::GET, &format!("/api/v1/rooms/{id}/session"), &room.tokens.candidate, None)
        .await;
    assert_eq!(session["record_voice"], true, "the candidate's page is told: {session}");

    let packets = packets();
    let sent_ms = packets.len() as u64 * 20;
    let t0 = now_ms();
    speak(&server, &id, "Cam Candidate", t0, &packets, true);

    let recs = wait_for_recordings(&server, &id, 1).await;
    let rec = &recs[0];
    assert_eq!(rec["participant"], "Cam Candidate");
    assert_eq!(rec["role"], "candidate");
    assert_eq!(rec["started_at_ms"].as_u64(), Some(t0), "the first sample is where the first packet arrived");
    let listed = rec["duration_ms"].as_u64().unwrap();
    assert!(listed.abs_diff(sent_ms) * 10 <= sent_ms, "listed {listed} ms for {sent_ms} ms sent");
    assert_eq!(rec["anchors"][0], json!({"at_ms": t0, "sample": 0}));
    let url = rec["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&server.base) && url.ends_with(rec["id"].as_str().unwrap()), "{url}");

    // The interviewer's download: the whole file, with the API key.
    let whole = server.http.get(&url).bearer_auth(&server.api_key).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["content-type"], "audio/ogg");
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    let bytes = whole.bytes().await.unwrap();
    let (channels, pre_skip, duration_ms, audio) = parse_opus(&bytes);
    assert_eq!((channels, pre_skip), (1, 0));
    assert!(
        duration_ms.abs_diff(sent_ms) * 10 <= sent_ms,
        "file lasts {duration_ms} ms for {sent_ms} ms sent"
    );
    assert_eq!(audio, packets.len(), "every packet once: the duplicate dropped, the reorder undone");

    // A range, as <audio> seeks, with the interviewer's token in the query.
    let ranged = server
        .http
        .get(format!("{url}?token={}", room.tokens.interviewer))
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.headers()["content-range"], format!("bytes 100-199/{}", bytes.len()));
    assert_eq!(ranged.bytes().await.unwrap(), bytes[100..200]);

    for token in [&room.tokens.candidate, &room.tokens.observer] {
        let by_query = server.http.get(format!("{url}?token={token}")).send().await.unwrap();
        assert_eq!(by_query.status(), 403, "only the interviewer listens");
        let by_header = server.http.get(&url).bearer_auth(token).send().await.unwrap();
        assert_eq!(by_header.status(), 403);
    }
    assert_eq!(server.http.get(&url).send().await.unwrap().status(), 401);

    // A live score citing a moment while the candidate spoke links the audio there.
    let scores = json!({"scores": [{"dimension": "communication", "score": 3, "max": 4,
        "evidence": [{"at_ms": t0 + 1_500, "note": "explains the eviction"}]}]});
    let (status, _) = server.call(Method::PUT, &format!("/api/v1/rooms/{id}/scores"), Some(&scores)).await;
    assert_eq!(status, 204);
    let report = server
        .http
        .get(server.url(&format!("/api/v1/rooms/{id}/report")))
        .bearer_auth(&server.api_key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(report.contains(&format!("href=\"{url}\"")), "the report lists the recording");
    assert!(report.contains(&format!("href=\"{url}#t=1.500\"")), "and links the cited moment's audio");

    let file = recording_file(dir.path(), &id);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let (status, _) = server.call(Method::DELETE, &format!("/api/v1/submissions/{sub}"), None).await;
    assert_eq!(status, 204);
    assert!(!file.exists(), "DELETE of the submission deletes the recording");
    assert!(!dir.path().join(RECORDINGS_DIR).join(&id).exists());
    let gone = server.http.get(&url).bearer_auth(&server.api_key).send().await.unwrap();
    assert_eq!(gone.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn a_room_without_recording_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let body = json!({"interviewer": {"name": "Ivy"}, "voice": true, "record_voice": false});
    let (_, room) = promote_with_voice(&server, body).await;
    let id = room.room.id.clone();
    let (_, view) = server.call(Method::GET, &format!("/api/v1/rooms/{id}"), None).await;
    assert_eq!((view["voice"].as_bool(), view["record_voice"].as_bool()), (Some(true), Some(false)));
    speak(&server, &id, "Cam", now_ms(), &packets(), true);
    // A recording in another room, started after, is listed once this one's packets were let go: the
    // recorder thread takes jobs in order.
    let (_, other) =
        promote_with_voice(&server, json!({"interviewer": {"name": "Ivy"}, "voice": true})).await;
    speak(&server, &other.room.id, "Cam", now_ms(), &packets(), true);
    wait_for_recordings(&server, &other.room.id, 1).await;
    let (_, export) = server.call(Method::GET, &format!("/api/v1/rooms/{id}/export"), None).await;
    assert_eq!(export["recordings"], json!([]), "{export}");
    assert_eq!((export["voice"].as_bool(), export["record_voice"].as_bool()), (Some(true), Some(false)));
    assert!(!dir.path().join(RECORDINGS_DIR).join(&id).exists());
    server.stop().await;
}

#[tokio::test]
async fn stopping_the_server_finishes_open_recordings() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let (_, room) = promote_with_voice(&server, json!({"interviewer": {"name": "Ivy"}, "voice": true})).await;
    let id = room.room.id.clone();
    let packets = packets();
    let t0 = now_ms();
    speak(&server, &id, "Cam", t0, &packets, false);
    server.stop().await;

    let file = recording_file(dir.path(), &id);
    let (_, _, duration_ms, _) = parse_opus(&std::fs::read(&file).unwrap());
    let sent_ms = packets.len() as u64 * 20;
    assert!(duration_ms.abs_diff(sent_ms) * 10 <= sent_ms, "{duration_ms} ms");
    let store = SqliteStore::open(&dir.path().join("handoff.db")).await.unwrap();
    let rows = store.recordings(&id).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].started_at_ms, rows[0].duration_ms), (t0, duration_ms), "the row is final too");
}

#[tokio::test]
async fn the_retention_purge_deletes_the_recordings() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.retention_s = 1;
    let server = TestServer::start_with(config).await;
    let (_, room) = promote_with_voice(&server, json!({"interviewer": {"name": "Ivy"}, "voice": true})).await;
    let id = room.room.id.clone();
    speak(&server, &id, "Cam", now_ms(), &packets(), true);
    wait_for_recordings(&server, &id, 1).await;
    let file = recording_file(dir.path(), &id);
    let (status, _) = server.call(Method::POST, &format!("/api/v1/rooms/{id}/end"), None).await;
    assert_eq!(status, 200);

    // The writer removes the file, then the room's directory: wait until both are gone.
    let room_dir = dir.path().join(RECORDINGS_DIR).join(&id);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while server.call(Method::GET, &format!("/api/v1/rooms/{id}"), None).await.0 != 404
        || file.exists()
        || room_dir.exists()
    {
        assert!(tokio::time::Instant::now() < deadline, "the expired room's recording was not purged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}
