//! Room roles and the claims of a room token (DESIGN §4.3).

use serde::{Deserialize, Serialize};

/// Who a room participant is. Decides what the server lets the connection do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Edits, sees the private panel, ends the room.
    Interviewer,
    /// Edits; never receives interviewer-private data.
    Candidate,
    /// Read-only: the server drops its writes and tells it so.
    Observer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Interviewer, Role::Candidate, Role::Observer];

    /// Whether the server applies this role's document updates.
    pub fn can_edit(self) -> bool {
        matches!(self, Role::Interviewer | Role::Candidate)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Interviewer => "interviewer",
            Role::Candidate => "candidate",
            Role::Observer => "observer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Claims of a room token (JWT HS256). A token opens exactly one room in one role until `exp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Room id the token opens.
    pub room: String,
    pub role: Role,
    /// Display name shown on the cursor and recorded as the author of edits.
    pub name: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_observer_is_read_only() {
        assert!(Role::Interviewer.can_edit());
        assert!(Role::Candidate.can_edit());
        assert!(!Role::Observer.can_edit());
    }

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
        }
        assert_eq!(Role::parse("admin"), None);
    }
}
