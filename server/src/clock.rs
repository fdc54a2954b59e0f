//! The wall clock, in the units the server records: milliseconds since the Unix epoch for stored times
//! (submissions, rooms, the log, webhooks) and seconds for token claims. A clock set before 1970 reads 0.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Seconds since the Unix epoch, as JWT claims count them.
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
