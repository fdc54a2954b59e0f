//! Secrets never reach the logs: with every server-side log at TRACE (spans included), a WebSocket upgrade carrying a room
//! token and API calls carrying the API key leave neither in the output.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{TestServer, YClient, sample_files};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

// One thread: the server's tasks run where the thread-local subscriber below is installed.
#[tokio::test(flavor = "current_thread")]
async fn tokens_and_keys_stay_out_of_trace_logs() {
    let logs = Captured::default();
    // Everything at TRACE except the test's own client side, which logs the URL it dials by design.
    let filter =
        "trace,tungstenite::handshake::client=off,tokio_tungstenite=off,reqwest=off,hyper_util::client=off";
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::NEW)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room = server.room_with(&sample_files()).await;
    let mut cand = YClient::connect(&TestServer::ws(&room, &room.tokens.candidate)).await;
    cand.wait_synced().await;
    drop(cand);
    server.stop().await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains(&format!("/ws/{}", room.room.id)),
        "the upgrade was logged (capture works):\n{text}"
    );
    let leaks: Vec<&str> = text.lines().filter(|l| l.contains(&room.tokens.candidate)).collect();
    assert!(leaks.is_empty(), "a room token reached the logs:\n{}", leaks.join("\n"));
    assert!(!text.contains("test-api-key"), "the API key reached the logs");
    assert!(!text.contains(common::TOKEN_SECRET), "the token secret reached the logs");
}
