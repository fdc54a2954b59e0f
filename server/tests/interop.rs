//! Interop with the real `y-websocket` npm client under Node: two stock `WebsocketProvider`s (plus an
//! observer and a late joiner) on a promoted room. The Node side is `interop/interop.mjs` (driven by
//! `common/interop.rs`); its npm dependencies are pinned in `interop/package-lock.json` and installed on
//! first use.

mod common;

use common::{TestServer, interop};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_y_websocket_clients_collaborate() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path()).await;
    let files = interop::files();
    let room = server.room_with(&files).await;
    let checks = interop::run(&room, &files, &room.ws_url, &[]).await;
    assert_eq!(checks, interop::CHECKS, "every interop check ran and passed");
    server.stop().await;
}
