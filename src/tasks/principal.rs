//! Who calls the task API, and what they may do. Three kinds of callers: an API token
//! (`mbt_…`, scoped), a Koalati client's HS256 JWT whose `access_token` claim matches the
//! configured one, or a user's session (admins may do everything; other users follow their own
//! jobs). How a request presents them is the surfaces' (`http::principal`).

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};

use super::tokens::{self, Action, ApiToken, Rejected};
use mintbean_core::{
    config::Config,
    error::{AppError, AppResult},
    users::entity::Model as User,
};

#[derive(Clone, Debug)]
pub enum Principal {
    Token(ApiToken),
    /// A Koalati client (one shared access token: every public kind, every action).
    Koalati,
    Admin(User),
    /// A logged-in user who is not an admin (may follow their own jobs, nothing else).
    User(User),
}

impl Principal {
    /// `FORBIDDEN` unless allowed to do `action` on jobs of `kind`.
    pub fn require(&self, kind: &str, action: Action) -> AppResult<()> {
        let allowed = match self {
            Principal::Token(token) => tokens::allows(&token.scopes, kind, action),
            Principal::Koalati | Principal::Admin(_) => true,
            Principal::User(_) => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(AppError::forbidden(format!(
                "this token may not {} `{kind}` tasks",
                match action {
                    Action::Create => "create",
                    Action::Read => "read",
                    Action::Cancel => "cancel",
                    Action::Admin => "administer",
                }
            )))
        }
    }

    /// What jobs it creates record as their creator.
    pub fn created_by(&self) -> String {
        match self {
            Principal::Token(token) => format!("token:{}", token.id),
            Principal::Koalati => "koalati".into(),
            Principal::Admin(user) | Principal::User(user) => format!("user:{}", user.id),
        }
    }

    /// Whose tasks of `kind` it reads, searches and cancels: `None` for every client's (admins,
    /// the Koalati client, tokens holding `KIND:admin`), else only those it created.
    pub fn owner_filter(&self, kind: &str) -> Option<String> {
        let all = match self {
            Principal::Admin(_) | Principal::Koalati => true,
            Principal::Token(token) => tokens::allows(&token.scopes, kind, Action::Admin),
            Principal::User(_) => false,
        };
        (!all).then(|| self.created_by())
    }

    /// Admins follow any job; everyone else the jobs they created.
    pub fn may_follow(&self, created_by: Option<&str>) -> bool {
        matches!(self, Principal::Admin(_)) || created_by == Some(self.created_by().as_str())
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Principal::Admin(_))
    }
}

/// The principal an `Authorization: Bearer` credential names: an API token or a Koalati JWT.
pub async fn from_bearer(
    db: &DatabaseConnection,
    config: &Config,
    credential: &str,
) -> AppResult<Principal> {
    if credential.starts_with(tokens::PREFIX) {
        return match tokens::verify(db, credential).await? {
            Ok(token) => Ok(Principal::Token(token)),
            Err(Rejected::Unknown) => Err(AppError::Unauthenticated("unknown token".into())),
            Err(Rejected::Revoked) => {
                Err(AppError::Unauthenticated("the token was revoked".into()))
            }
            Err(Rejected::Expired) => Err(AppError::Unauthenticated("the token expired".into())),
        };
    }
    let tasks = &config.jobs.tasks;
    if let (Some(secret), Some(expected)) = (&tasks.koalati_jwt_secret, &tasks.koalati_access_token)
        && koalati_token_matches(credential, secret.expose(), expected.expose())
    {
        return Ok(Principal::Koalati);
    }
    Err(AppError::Unauthenticated("unknown token".into()))
}

#[derive(serde::Deserialize)]
struct KoalatiClaims {
    access_token: String,
}

/// An HS256 JWT signed with `secret` whose `access_token` equals `expected` (compared by hash,
/// so the time taken says nothing about the token).
fn koalati_token_matches(jwt: &str, secret: &str, expected: &str) -> bool {
    let mut validation = Validation::new(Algorithm::HS256);
    // Koalati's tokens carry no expiry; when one is given it is enforced.
    validation.required_spec_claims.clear();
    validation.validate_exp = true;
    validation.leeway = 0;
    let Ok(data) = decode::<KoalatiClaims>(
        jwt,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    ) else {
        return false;
    };
    Sha256::digest(data.claims.access_token.as_bytes()) == Sha256::digest(expected.as_bytes())
}
