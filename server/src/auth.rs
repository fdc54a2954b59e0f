//! Who may do what: the integrator API key for the REST API, and signed room tokens (JWT HS256) for
//! room connections (DESIGN §4.3).

use handoff_protocol::{Claims, Role};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use subtle::ConstantTimeEq;

use crate::clock::now_secs;

/// Why a room token was refused. Maps to 401 (no valid token) or 403 (valid, but not for this room).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("missing room token")]
    Missing,
    #[error("room token expired")]
    Expired,
    #[error("invalid room token")]
    Invalid,
    #[error("room token is for another room")]
    WrongRoom,
}

/// Signs and verifies room tokens with one HS256 secret.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> TokenKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is exact: a link is dead the second it expires.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp"]);
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Mints a token for `room` in `role`, valid for `ttl_secs`.
    pub fn mint(&self, room: &str, role: Role, name: &str, ttl_secs: u64) -> String {
        let iat = now_secs();
        let claims = Claims { room: room.to_owned(), role, name: name.to_owned(), iat, exp: iat + ttl_secs };
        // Encoding HS256 over our own serializable struct cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).unwrap_or_default()
    }

    /// Verifies signature and expiry, and that the token opens `room`.
    pub fn verify(&self, token: Option<&str>, room: &str) -> Result<Claims, TokenError> {
        let token = token.filter(|t| !t.is_empty()).ok_or(TokenError::Missing)?;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
            match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            }
        })?;
        if data.claims.room != room {
            return Err(TokenError::WrongRoom);
        }
        Ok(data.claims)
    }
}

/// Claims of a dashboard token: the signed link `handoff serve` prints, which opens the dashboard without
/// typing the API key. It grants what the API key grants, until it expires.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct DashboardClaims {
    sub: String,
    iat: u64,
    exp: u64,
}

/// The `sub` of every dashboard token; room tokens have none, so neither kind passes for the other.
const DASHBOARD_SUBJECT: &str = "dashboard";

impl TokenKeys {
    /// Mints a dashboard token valid for `ttl_secs`.
    pub fn mint_dashboard(&self, ttl_secs: u64) -> String {
        let iat = now_secs();
        let claims = DashboardClaims { sub: DASHBOARD_SUBJECT.into(), iat, exp: iat + ttl_secs };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).unwrap_or_default()
    }

    /// Whether `token` is a valid, unexpired dashboard token.
    pub fn verify_dashboard(&self, token: &str) -> bool {
        jsonwebtoken::decode::<DashboardClaims>(token, &self.decoding, &self.validation)
            .is_ok_and(|d| d.claims.sub == DASHBOARD_SUBJECT)
    }
}

/// Compares a presented API key with the configured one in constant time.
pub(crate) fn api_key_matches(presented: &str, expected: &str) -> bool {
    presented.as_bytes().ct_eq(expected.as_bytes()).into()
}

impl std::fmt::Debug for TokenKeys {
    /// Opaque: it holds the token secret, which never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_token_verifies_for_its_room_only() {
        let keys = TokenKeys::new(b"secret-one");
        let t = keys.mint("room-a", Role::Candidate, "Cam", 60);
        let claims = keys.verify(Some(&t), "room-a").unwrap();
        assert_eq!((claims.role, claims.name.as_str()), (Role::Candidate, "Cam"));
        assert_eq!(claims.exp - claims.iat, 60);
        assert_eq!(keys.verify(Some(&t), "room-b"), Err(TokenError::WrongRoom));
    }

    #[test]
    fn forged_missing_and_garbage_tokens_are_refused() {
        let keys = TokenKeys::new(b"secret-one");
        let forged = TokenKeys::new(b"other-secret").mint("room-a", Role::Interviewer, "Eve", 60);
        assert_eq!(keys.verify(Some(&forged), "room-a"), Err(TokenError::Invalid));
        assert_eq!(keys.verify(None, "room-a"), Err(TokenError::Missing));
        assert_eq!(keys.verify(Some(""), "room-a"), Err(TokenError::Missing));
        assert_eq!(keys.verify(Some("not.a.jwt"), "room-a"), Err(TokenError::Invalid));
    }

    #[test]
    fn tampered_role_is_refused() {
        let keys = TokenKeys::new(b"secret-one");
        let t = keys.mint("room-a", Role::Observer, "Obi", 60);
        let parts: Vec<&str> = t.split('.').collect();
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = String::from_utf8(engine.decode(parts[1]).unwrap()).unwrap();
        let promoted = engine.encode(payload.replace("observer", "interviewer"));
        let tampered = format!("{}.{}.{}", parts[0], promoted, parts[2]);
        assert_eq!(keys.verify(Some(&tampered), "room-a"), Err(TokenError::Invalid));
    }

    #[test]
    fn expired_token_is_refused() {
        let keys = TokenKeys::new(b"secret-one");
        let claims =
            Claims { room: "r".into(), role: Role::Candidate, name: "C".into(), iat: 1, exp: now_secs() - 1 };
        let t = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"secret-one"),
        )
        .unwrap();
        assert_eq!(keys.verify(Some(&t), "r"), Err(TokenError::Expired));
    }

    #[test]
    fn dashboard_and_room_tokens_do_not_pass_for_each_other() {
        let keys = TokenKeys::new(b"secret-one");
        let dash = keys.mint_dashboard(60);
        assert!(keys.verify_dashboard(&dash));
        assert_eq!(keys.verify(Some(&dash), "room-a"), Err(TokenError::Invalid));
        let room = keys.mint("room-a", Role::Interviewer, "Ivy", 60);
        assert!(!keys.verify_dashboard(&room));
        assert!(!TokenKeys::new(b"other").verify_dashboard(&dash));
    }

    #[test]
    fn api_key_comparison() {
        assert!(api_key_matches("abc", "abc"));
        assert!(!api_key_matches("abd", "abc"));
        assert!(!api_key_matches("ab", "abc"));
    }
}
