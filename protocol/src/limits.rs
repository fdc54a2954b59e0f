//! Every limit handoff enforces, in one place. Each constant says what happens when it is reached, so an
//! integrator reading an error can find the rule here.

/// Largest request body the REST API reads. Bigger bodies are refused with 413 before parsing.
/// Sized to hold [`MAX_SUBMISSION_BYTES`] of file content plus events and JSON escaping overhead.
pub const MAX_REQUEST_BYTES: usize = 24 * 1024 * 1024;

/// Total bytes of file content in one submission. Over it: 413 `submission_too_large`.
pub const MAX_SUBMISSION_BYTES: usize = 8 * 1024 * 1024;

/// Bytes of one file's content. Over it: 413 `file_too_large`, naming the file.
pub const MAX_FILE_BYTES: usize = 2 * 1024 * 1024;

/// Files in one submission. Over it: 413 `too_many_files`.
pub const MAX_FILES: usize = 1000;

/// Bytes of one file path. Over it: 400 `invalid_path`.
pub const MAX_PATH_BYTES: usize = 512;

/// Events in one submission's async event stream. Over it: 413 `too_many_events`.
pub const MAX_EVENTS: usize = 200_000;

/// Characters of a display name (candidate, interviewer). Over it: 400 `invalid_field`.
pub const MAX_NAME_CHARS: usize = 200;

/// Bytes of one WebSocket message from a client. A larger message closes that connection with
/// close code 1009 (message too big); the room and its other clients are unaffected. Generous enough for
/// a multi-hundred-KiB paste, which a y-websocket client sends as one update.
pub const MAX_CLIENT_FRAME_BYTES: usize = 4 * 1024 * 1024;

/// Largest client id or integer an update may carry: JavaScript's largest safe integer (2^53 - 1). Every
/// browser reads Yjs numbers as doubles, so a larger one names another client (or value) to yjs than to
/// yrs, and the room would diverge for good. An update carrying one is refused with close code 1007
/// before it reaches the document (`update_check`).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Largest clock (and clock plus length) an update may carry: yrs keeps clocks in 32 bits. Over it the
/// update is refused with close code 1007. A client reaches it after four billion characters typed.
pub const MAX_UPDATE_CLOCK: u64 = u32::MAX as u64;

/// Nesting depth of embedded values (arrays and objects) in an update. Deeper: refused with close code
/// 1007 before yrs, whose decoder recurses once per level, reads it.
pub const MAX_UPDATE_ANY_DEPTH: usize = 16;

/// Messages a connection may send per second, sustained. Above it the connection is closed with 1008.
/// A fast typist sends ~2 messages per key (update + cursor); this leaves room for bursts and pastes.
pub const CLIENT_MESSAGES_PER_SECOND: u32 = 200;

/// Burst allowance on top of [`CLIENT_MESSAGES_PER_SECOND`] (token-bucket depth), covering a reconnect
/// that flushes queued offline edits in one go.
pub const CLIENT_MESSAGE_BURST: u32 = 2000;

/// Frames queued for one client. When a client's outbox is full the client is too slow to keep up: it
/// is disconnected with close code [`crate::frame::CLOSE_SLOW_CONSUMER`] (a y-websocket client
/// reconnects and resyncs); frames are never silently dropped.
pub const OUTBOX_FRAMES: usize = 1024;

/// Commands queued for one room actor. Connections wait (backpressure) when it is full.
pub const ROOM_COMMAND_QUEUE: usize = 4096;

/// Clients connected to one room at once. The next one is refused with close code 1013 (try later).
pub const MAX_CLIENTS_PER_ROOM: usize = 64;

/// Awareness client ids one connection may introduce: a stock y-websocket provider announces exactly
/// one (its document's client id); the second covers a client that starts over under a new id without
/// reconnecting. An entry for a further new id is dropped (not stored, not relayed); the connection stays.
pub const MAX_AWARENESS_IDS_PER_CONNECTION: usize = 2;

/// Awareness states one room holds at once: every member at its full allowance of ids, so an honest
/// member's own state always finds room. An entry that would introduce a state beyond it is dropped (not
/// stored, not relayed); the sender stays connected. With [`MAX_AWARENESS_STATE_BYTES`] it bounds the
/// presence a room keeps and sends to a late joiner (about 700 KiB at most).
pub const MAX_AWARENESS_STATES_PER_ROOM: usize = MAX_CLIENTS_PER_ROOM * MAX_AWARENESS_IDS_PER_CONNECTION;

/// Entries in one awareness message. A stock client sends its own state, or re-sends the states it
/// heard from the room (never more than [`MAX_AWARENESS_STATES_PER_ROOM`]). A message declaring more
/// closes the connection with close code 1008 (policy) before its entries are read.
pub const MAX_AWARENESS_ENTRIES_PER_MESSAGE: usize = 2 * MAX_AWARENESS_STATES_PER_ROOM;

/// Bytes of one client's awareness state (its JSON: name, role, colour, cursor). A cursor state is a
/// few hundred bytes; a message carrying a larger state closes the connection with close code 1009
/// (too big), and nothing of that message is stored or relayed.
pub const MAX_AWARENESS_STATE_BYTES: usize = 4096;

/// Seconds a room with no client stays in memory before it is flushed and evicted. Default of the
/// server's `--room-idle-evict-s` option.
pub const ROOM_IDLE_EVICT_SECS: u64 = 30;

/// Bytes of messages a cluster node may hold for Redis while it cannot reach it (`--redis-queue-bytes`).
/// Past it, every room that publishes more is held off: its clients on that node are closed with 1013
/// and joins refused, rather than the queue growing without bound; their clients keep their edits and
/// send them again after reconnecting. Typing at 1000 rooms queues about 1.5 MB a second, so this is
/// tens of seconds cut off.
pub const REDIS_QUEUE_BYTES: usize = 32 * 1024 * 1024;

/// Accepted updates between two snapshots of a room. A snapshot makes the next load read one blob plus
/// at most this many log rows; the log itself is kept as the session record.
pub const SNAPSHOT_EVERY_UPDATES: u64 = 512;

/// Longest time an accepted update may wait before its group commit starts (default of the server's
/// `--commit-window-ms`). Together with the commit's own duration this bounds what `kill -9` can lose: an
/// edit older than this window plus one commit is on disk (the embedded store may start a commit a few
/// milliseconds later still, to gather more writes into it: `server/src/store/sqlite/tuning.rs`). Half a
/// second lets a typist's keys share one commit (and one B-tree page) instead of costing one each: at 300
/// typing rooms the durable server's CPU per update was 1.42× the in-memory store's with a 50 ms window,
/// 1.07× with 500 ms (docs/PERFORMANCE.md). Clients keep the edits too, and re-send whatever the server
/// lacks when they reconnect.
pub const GROUP_COMMIT_WINDOW_MS: u64 = 500;

/// Upper bound for `--commit-window-ms`: larger values are refused at startup, so the durability promise
/// (an accepted edit is on disk within a second plus one commit) holds whatever the configuration.
pub const MAX_GROUP_COMMIT_WINDOW_MS: u64 = 1000;

/// Default lifetime of room links (tokens) minted by promote, when the request names none.
pub const DEFAULT_ROOM_TOKEN_TTL_SECS: u64 = 24 * 3600;

/// Longest lifetime a promote request may ask for its links. Longer: 400 `invalid_field`.
pub const MAX_ROOM_TOKEN_TTL_SECS: u64 = 30 * 24 * 3600;

/// Seconds without any frame sent to a client before the server sends a keepalive (an empty awareness
/// update that every y-websocket client accepts, plus a WebSocket ping). A stock y-websocket client
/// reconnects when it hears nothing for 30 s, so this must stay well below that.
pub const KEEPALIVE_SECS: u64 = 15;

/// Seconds without any frame (message, pong) from a client before the server closes the connection as
/// dead with close code 1001. Stock clients renew awareness every 15 s and answer pings.
pub const CLIENT_IDLE_TIMEOUT_SECS: u64 = 60;

/// Milliseconds a connection has to send a request's complete headers, counted from its accept or from
/// the end of its previous response (an idle keep-alive connection included). Past it the server closes
/// the connection without an answer. Default of `--header-read-timeout-ms`.
pub const HEADER_READ_TIMEOUT_MS: u64 = 10_000;

/// Bytes of a request's line and headers (and of each connection's read buffer). Over it: 431 and the
/// connection closed. A room link's handshake needs well under 2 KiB; this bounds what a connection that
/// trickles headers until the header timeout holds: 16 KiB × [`MAX_HTTP_CONNECTIONS`] = 64 MiB at most,
/// where hyper's default (~400 KiB) allowed 1.6 GiB. hyper refuses less than 8 KiB.
pub const MAX_REQUEST_HEAD_BYTES: usize = 16 * 1024;

/// Seconds an HTTP connection (one that is not, or not yet, a WebSocket) is served. Past it the request in
/// flight is answered with `connection: close` and the connection closed; an idle one is closed at once.
/// This bounds how long an accepted connection may take to become an authenticated WebSocket or finish
/// its request, however slowly its body arrives.
pub const HTTP_CONNECTION_SECS: u64 = 60;

/// Seconds an HTTP connection past [`HTTP_CONNECTION_SECS`] may take to finish the request in flight;
/// then it is dropped unanswered.
pub const HTTP_CONNECTION_GRACE_SECS: u64 = 30;

/// HTTP connections (not, or not yet, WebSockets) open at once. Over it a newly accepted connection is
/// closed at once, before anything is read from it, and counted in `/metrics`
/// (`handoff_connections_refused_total`). Sized well below the file-descriptor budget
/// (docs/security/connections.md), so a flood of slow connections cannot take the descriptors that
/// WebSockets, the store and `/healthz` need.
pub const MAX_HTTP_CONNECTIONS: usize = 4096;

/// HTTP connections open at once from one client address (an IPv4 address, or an IPv6 /64). Over it a
/// new connection from that address is closed at once, like one over [`MAX_HTTP_CONNECTIONS`]. Default of
/// `--max-http-connections-per-addr`: behind a reverse proxy every connection comes from the proxy, which
/// must then enforce its own per-client cap while this one is raised.
pub const MAX_HTTP_CONNECTIONS_PER_ADDR: usize = 256;

/// First pause of the accept loop after an accept error such as running out of file descriptors
/// (EMFILE, ENFILE, ENOBUFS); each further consecutive error doubles it up to [`ACCEPT_BACKOFF_MAX_MS`].
/// New connections wait in the listen backlog meanwhile.
pub const ACCEPT_BACKOFF_MIN_MS: u64 = 10;

/// Longest pause of the accept loop after consecutive accept errors.
pub const ACCEPT_BACKOFF_MAX_MS: u64 = 1_000;

/// Seconds between two log lines about the same streak of accept errors or refused connections: the
/// first is logged at once, the rest counted into the next line.
pub const ACCEPT_LOG_EVERY_SECS: u64 = 60;

/// Bytes the server reads and discards after it sent a close frame (a message over
/// [`MAX_CLIENT_FRAME_BYTES`] included), so the client's kernel is not reset before the client reads the
/// close code. Past it the connection is dropped, and the client may see 1006 instead.
pub const CLOSE_DRAIN_BYTES: usize = 2 * MAX_CLIENT_FRAME_BYTES;

/// Milliseconds the server keeps draining after it sent a close frame, waiting for the client to close
/// its side; then the connection is dropped.
pub const CLOSE_DRAIN_MS: u64 = 5_000;

/// Bytes of an interviewer's private notes for one room. Over it: 413 `notes_too_large`.
pub const MAX_NOTES_BYTES: usize = 256 * 1024;

/// Characters of a configured `--api-key` (or `HANDOFF_API_KEY`). A shorter key refuses to start the
/// server, with a message naming this minimum: the key reads every candidate's data, so it must be a
/// secret no one guesses (a generated development key has 64).
pub const MIN_API_KEY_CHARS: usize = 16;

/// Lifetime of the dashboard link `handoff serve` prints at startup.
pub const DASHBOARD_TOKEN_TTL_SECS: u64 = 7 * 24 * 3600;

/// First retry delay of a failed webhook delivery; each further retry doubles it (default of
/// `--webhook-retry-ms`).
pub const WEBHOOK_RETRY_BASE_MS: u64 = 2_000;

/// Longest delay between two webhook attempts.
pub const WEBHOOK_RETRY_MAX_MS: u64 = 10 * 60 * 1000;

/// Attempts before a webhook delivery is marked failed (visible through `GET /api/v1/rooms/{id}`).
pub const WEBHOOK_MAX_ATTEMPTS: u32 = 15;

/// How long one webhook POST may take before it counts as a failed attempt.
pub const WEBHOOK_TIMEOUT_SECS: u64 = 10;

/// Live rubric scores per room. Over it: 413 `too_many_scores`.
pub const MAX_LIVE_SCORES: usize = 50;

/// Seconds without an edit, join or leave after which a live room nobody is connected to ends by itself
/// (default of `--room-idle-end-s`).
pub const ROOM_IDLE_END_SECS: u64 = 60 * 60;

/// Seconds after a room ended during which the interviewer may reopen it (default of
/// `--reopen-window-s`). Later: 409 `reopen_window_passed`.
pub const REOPEN_WINDOW_SECS: u64 = 24 * 60 * 60;

/// Bytes of an exercise's Markdown brief (`exercise.brief`). Over it: 413 `brief_too_large`.
pub const MAX_BRIEF_BYTES: usize = 64 * 1024;

/// Largest magnitude of a scorecard's `score` or `max` (`scorecard.rubric[]`). Beyond it: 400
/// `invalid_score`. It keeps the totals the submissions list sums finite (a sum near `f64::MAX`
/// overflows to infinity, which JSON cannot carry).
pub const MAX_RUBRIC_SCORE: f64 = 1e9;

/// Minutes a promote may give the interview (`duration_min`). Over it: 400 `invalid_field`.
pub const MAX_DURATION_MIN: u32 = 8 * 60;

/// Characters of one question the interviewer pushes to the room. Over it: 413 `question_too_large`.
pub const MAX_QUESTION_CHARS: usize = 2_000;

/// Questions one room holds. Over it: 413 `too_many_questions`.
pub const MAX_QUESTIONS_PER_ROOM: usize = 200;

/// Characters of the candidate's note on one integrity signal. Over it: 413 `integrity_note_too_large`.
pub const MAX_INTEGRITY_NOTE_CHARS: usize = 500;
