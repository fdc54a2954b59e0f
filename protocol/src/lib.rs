//! handoff-protocol: the contracts shared by the server, the load tool and (through mirrored constants)
//! the web client. Pure data and codecs: no sockets, no files, no clocks, no async runtime.
//!
//! # Layout
//! Listed from the top down: each module imports only modules listed after it
//! (`server/tests/module_graph.rs` checks that no modules import each other in a circle).
//! - [`voice`]: voice signalling (extension message 101): the messages, their framing and limits.
//! - [`record`]: replays a room log into the attributed timeline, files at a moment, authorship.
//! - [`frame`]: y-sync wire framing (on `yrs::sync`): splitting inbound frames into messages without
//!   copying, encoding outbound messages, reserved extension message numbers and close codes.
//! - [`update_check`]: which client updates are accepted (every Yjs client reads them as yrs does, and
//!   they keep the schema), checked over the bytes before yrs decodes them.
//! - [`validate`]: checks a submission before anything is stored.
//! - [`export`]: the session record's bodies (export, timeline, replay, presence, the room-ended
//!   webhook), carrying what [`record`] computes.
//! - [`api`]: REST request/response bodies (DESIGN §4.2), carrying the results of the modules below.
//! - [`async_replay`]: replays the async session from its edit events (and checks it).
//! - [`interview`]: room options set at promote, pushed questions, the candidate's integrity notes.
//! - [`integrity`]: the integrity summary computed from the async event stream.
//! - [`attribution`]: who wrote what (attributed edits, authored ranges), as the record reports it.
//! - [`schema`]: the collaborative document's schema (`files`: path → `Y.Text`) and its helpers.
//! - [`submission`]: the async session a submission carries (its files and events).
//! - [`recording`]: voice recordings as the export lists them, and their anchors on the room clock.
//! - [`role`]: room roles and the claims a room token carries.
//! - [`limits`]: every size and count limit, each a named constant saying what happens at the limit.
//! - [`utf16`]: UTF-16 offsets in UTF-8 strings.

#![warn(unreachable_pub, missing_debug_implementations)]

pub mod api;
pub mod async_replay;
pub mod attribution;
pub mod export;
pub mod frame;
pub mod integrity;
pub mod interview;
pub mod limits;
pub mod record;
pub mod recording;
pub mod role;
pub mod schema;
pub mod submission;
pub mod update_check;
pub mod utf16;
pub mod validate;
pub mod voice;

pub use role::{Claims, Role};
