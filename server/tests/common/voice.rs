//! Helpers of the voice tests: a server with voice on loopback, a room promoted with or without voice,
//! voice clients, the voice gauges.

use std::sync::Arc;
use std::time::Duration;

use handoff_protocol::api::PromoteResponse;
use handoff_server::test_support::voice::{VoiceClient, opus_packets};
use serde_json::json;

use super::{PATIENCE, TestServer, metric, sample_files};

/// The voice gauges are process-wide, so the tests that read them run one at a time.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Packets a listener must receive from each speaker before the test believes it hears them.
pub const HEARD: u64 = 25;

pub fn fixture() -> Arc<Vec<Vec<u8>>> {
    let file = include_bytes!("../fixtures/voice/tone-440hz-3s.opus");
    Arc::new(opus_packets(file).expect("the fixture is Ogg Opus"))
}

pub async fn start(
    dir: &std::path::Path,
    configure: impl FnOnce(&mut handoff_server::config::Config),
) -> TestServer {
    let mut config = super::config(dir);
    config.voice_bind_ip = std::net::IpAddr::from([127, 0, 0, 1]);
    configure(&mut config);
    TestServer::start_with(config).await
}

pub async fn room(server: &TestServer, voice: bool) -> PromoteResponse {
    let id = server.submit(&sample_files()).await;
    let body = json!({"interviewer": {"name": "Ivy Interviewer"}, "voice": voice});
    let (status, body) =
        server.call(reqwest::Method::POST, &format!("/api/v1/submissions/{id}/promote"), Some(&body)).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

/// Connects a client and waits for its first `state` (which names it).
pub async fn client(room: &PromoteResponse, token: &str, speaks: bool) -> (VoiceClient, String) {
    let client = VoiceClient::connect(&TestServer::ws(room, token), speaks).await.expect("connects");
    assert!(client.wait_for(PATIENCE, |s| s.me.is_some()).await, "no state on connect: {client:?}");
    let me = client.seen().me.unwrap();
    (client, me)
}

pub async fn joined(client: &VoiceClient, n: usize) {
    client.join().await.expect("joins");
    assert!(client.wait_for(PATIENCE, |s| s.participants.len() >= n).await, "not in voice: {client:?}");
}

pub async fn gauge(server: &TestServer, name: &str) -> f64 {
    metric(&server.metrics_page().await, name)
}

pub async fn wait_gauge(server: &TestServer, name: &str, want: f64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let now = gauge(server, name).await;
        if now == want {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{name} is {now}, expected {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
