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
}

pub fn issue(user_id: Uuid, is_admin: bool, secret: &str, now: DateTime<Utc>) -> AppResult<String> {
    let claims = Claims {
        sub: user_id.to_string(),
        is_admin: Some(is_admin),
        iat: now.timestamp(),
        exp: (now + Duration::days(SESSION_DAYS)).timestamp(),
    };
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| AppError::internal(format!("signing session token failed: {e}")))
}

/// The user id of a valid, unexpired token signed with `secret`; `None` for anything else.
pub fn verify(token: &str, secret: &str) -> Option<Uuid> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "sub"]);
    let data = decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .ok()?;
    Uuid::parse_str(&data.claims.sub).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let id = Uuid::new_v4();
        let token = issue(id, true, "secret", Utc::now()).unwrap();
        assert_eq!(verify(&token, "secret"), Some(id));
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
        assert_eq!(verify(&token, "shared"), Some(id));
    }
}
