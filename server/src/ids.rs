//! Identifiers the server mints for what it stores: a prefix naming the kind (`sub`, `room`) and a
//! random UUID, so an id says what it is and cannot be guessed from another.

/// A fresh id, `{prefix}_{32 hex digits}`.
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}
