//! An update that breaks a room's document once applied, shared by the room core's unit tests
//! (`server/src/room/core/tests.rs`, through `#[path]`) and the registry's integration tests.

use handoff_protocol::{frame, schema};
use yrs::{Doc, Out, Transact};

/// A string item right of `main.py`'s text in the `files` map of the room preloaded with `preload`,
/// which makes the string `main.py`'s value. Its bytes cannot show that its neighbour is a file, so only
/// the applied document shows it (`server/src/room/core/schema.rs`).
pub(crate) fn breaking(preload: &[u8]) -> Vec<u8> {
    let base = Doc::new();
    let base_root = schema::files_root(&base);
    base.transact_mut().apply_update(frame::decode_update(preload).expect("decodes")).expect("applies");
    let txn = base.transact();
    let Some(Out::YText(t)) = yrs::Map::get(&base_root, &txn, "main.py") else { panic!("main.py is text") };
    let branch: &yrs::branch::Branch = t.as_ref();
    let yrs::branch::BranchID::Nested(id) = branch.id() else { panic!("a nested type") };
    // One client (7), one struct at clock 0, with an origin (0x80) and string content (4), then the
    // origin id, the string "x" and an empty delete set.
    let mut u = vec![1, 1, 7, 0, 0x84];
    for mut n in [id.client.get(), u64::from(id.clock)] {
        while n >= 0x80 {
            u.push((n as u8) | 0x80);
            n >>= 7;
        }
        u.push(n as u8);
    }
    u.extend_from_slice(&[1, b'x', 0]);
    u
}
