//! Session tokens: HS256 JWTs compatible with the Node backend's (`sub` = user id, `iat`, `exp`).

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// Sessions last 14 days, as in the Node backend.
pub const SESSION_DAYS: i64 = 14;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    /// Informational only: admin rights are always read from the database.
    #[serde(rename = "isAdmin", default, skip_serializing_if = "Option::is_none")]
    pub is_admin: Option<bool>,
    pub iat: i64,
    pub exp: i64,
    /// Unique per token, so two logins in the same second get different tokens and a logout
    /// (which revokes by the token's hash) ends only its own session. Node's tokens have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

pub fn issue(user_id: Uuid, is_admin: bool, secret: &str, now: DateTime<Utc>) -> AppResult<String> {
    let claims = Claims {
        sub: user_id.to_string(),
        is_admin: Some(is_admin),
        iat: now.timestamp(),
        exp: (now + Duration::days(SESSION_DAYS)).timestamp(),
        jti: Some(Uuid::new_v4().simple().to_string()),
    };
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| AppError::internal(format!("signing session token failed: {e}")))
}

/// What a valid token says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// A valid, unexpired (and already valid: `nbf`) HS256 token signed with `secret`; `None` for
/// anything else, `alg: none` and other algorithms included.
pub fn verify(token: &str, secret: &str) -> Option<Verified> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "sub"]);
    let data = decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .ok()?;
    Some(Verified {
        user_id: Uuid::parse_str(&data.claims.sub).ok()?,
        expires_at: DateTime::from_timestamp(data.claims.exp, 0)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_tokens_issued_in_the_same_second_differ() {
        let (id, now) = (Uuid::new_v4(), Utc::now());
        let first = issue(id, false, "secret", now).unwrap();
        let second = issue(id, false, "secret", now).unwrap();
        assert_ne!(first, second);
        assert_eq!(verify(&second, "secret").map(|v| v.user_id), Some(id));
    }

    #[test]
    fn round_trip() {
        let id = Uuid::new_v4();
        let token = issue(id, true, "secret", Utc::now()).unwrap();
        assert_eq!(verify(&token, "secret").map(|v| v.user_id), Some(id));
    }

    #[test]
    fn rejects_forged_expired_and_garbage_tokens() {
        let id = Uuid::new_v4();
        let token = issue(id, false, "secret", Utc::now()).unwrap();
        assert_eq!(verify(&token, "another secret"), None);
        let old = issue(id, false, "secret", Utc::now() - Duration::days(15)).unwrap();
        assert_eq!(verify(&old, "secret"), None);
        assert_eq!(verify("garbage", "secret"), None);
        assert_eq!(verify("", "secret"), None);
    }

    #[test]
    fn rejects_tokens_that_are_not_yet_valid_or_unsigned() {
        #[derive(Serialize)]
        struct WithNbf {
            sub: String,
            exp: i64,
            nbf: i64,
        }
        let now = Utc::now().timestamp();
        let early = encode(
            &Header::new(Algorithm::HS256),
            &WithNbf {
                sub: Uuid::new_v4().to_string(),
                exp: now + 3600,
                nbf: now + 600,
            },
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap();
        assert_eq!(verify(&early, "secret"), None);
        // {"alg":"none"} with the same claims and an empty signature.
        let body = early.split('.').nth(1).unwrap();
        assert_eq!(
            verify(&format!("eyJhbGciOiJub25lIn0.{body}."), "secret"),
            None
        );
    }

    #[test]
    fn accepts_a_node_style_token_without_is_admin() {
        // jsonwebtoken (Node) signs {sub, iat, exp} with HS256 for `jwt.sign({sub}, secret, {expiresIn: "2w"})`.
        #[derive(Serialize)]
        struct NodeClaims {
            sub: String,
            iat: i64,
            exp: i64,
        }
        let id = Uuid::new_v4();
        let now = Utc::now().timestamp();
        let token = encode(
            &Header::new(Algorithm::HS256),
            &NodeClaims {
                sub: id.to_string(),
                iat: now,
                exp: now + 14 * 24 * 3600,
            },
            &EncodingKey::from_secret(b"shared"),
        )
        .unwrap();
        assert_eq!(verify(&token, "shared").map(|v| v.user_id), Some(id));
    }
}
