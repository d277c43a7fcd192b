//! Who is calling a service operation. Built once per request from the session (or by a tool
//! acting as a user) and passed to every service operation, which enforces its own rules with
//! it: resolvers and REST handlers hold no authorization checks of their own.

use uuid::Uuid;

use crate::{
    error::{AppError, AppResult},
    users::entity::Model as User,
};

#[derive(Clone, Debug)]
pub enum Caller {
    Anonymous,
    User(User),
    Admin(User),
}

impl From<Option<User>> for Caller {
    fn from(user: Option<User>) -> Self {
        match user {
            None => Caller::Anonymous,
            Some(user) if user.is_admin => Caller::Admin(user),
            Some(user) => Caller::User(user),
        }
    }
}

impl Caller {
    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&User> {
        match self {
            Caller::Anonymous => None,
            Caller::User(user) | Caller::Admin(user) => Some(user),
        }
    }

    /// The caller as Hasura's session variables: the actor of the changes it makes
    /// (`engine::events::set_session`).
    pub fn session_variables(&self) -> serde_json::Value {
        let role = match self {
            Caller::Anonymous => "anonymous",
            Caller::User(_) => "user",
            Caller::Admin(_) => "admin",
        };
        match self.user() {
            Some(user) => serde_json::json!({ "x-hasura-role": role, "x-hasura-user-id": user.id }),
            None => serde_json::json!({ "x-hasura-role": role }),
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Caller::Admin(_))
    }

    /// `UNAUTHENTICATED` unless logged in.
    pub fn require_user(&self) -> AppResult<&User> {
        self.user().ok_or_else(AppError::unauthenticated)
    }

    /// `UNAUTHENTICATED` when logged out, `FORBIDDEN` for users who are not admins.
    pub fn require_admin(&self) -> AppResult<&User> {
        match self {
            Caller::Admin(user) => Ok(user),
            Caller::User(_) => Err(AppError::forbidden("Only admins can do this")),
            Caller::Anonymous => Err(AppError::unauthenticated()),
        }
    }

    /// The owner of a record, or an admin: `FORBIDDEN` with `message` for anyone else.
    pub fn require_owner_or_admin(&self, owner_id: Uuid, message: &str) -> AppResult<&User> {
        let user = self.require_user()?;
        if user.id == owner_id || self.is_admin() {
            Ok(user)
        } else {
            Err(AppError::forbidden(message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn user(is_admin: bool) -> User {
        User {
            id: Uuid::new_v4(),
            email: "a@example.com".into(),
            first_name: "A".into(),
            last_name: "B".into(),
            password_hash: String::new(),
            is_admin,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            deleted: false,
        }
    }

    fn code<T: std::fmt::Debug>(result: AppResult<T>) -> &'static str {
        result.map(|_| "OK").unwrap_or_else(|e| e.code())
    }

    #[test]
    fn rules_answer_with_the_right_code() {
        let plain = Caller::from(Some(user(false)));
        let admin = Caller::from(Some(user(true)));
        let anonymous = Caller::from(None);
        assert_eq!(code(anonymous.require_user()), "UNAUTHENTICATED");
        assert_eq!(code(anonymous.require_admin()), "UNAUTHENTICATED");
        assert_eq!(code(plain.require_admin()), "FORBIDDEN");
        assert_eq!(code(admin.require_admin()), "OK");
        let owner = plain.user().unwrap().id;
        assert_eq!(code(plain.require_owner_or_admin(owner, "no")), "OK");
        assert_eq!(
            code(plain.require_owner_or_admin(Uuid::new_v4(), "no")),
            "FORBIDDEN"
        );
        assert_eq!(code(admin.require_owner_or_admin(owner, "no")), "OK");
        assert_eq!(
            code(anonymous.require_owner_or_admin(owner, "no")),
            "UNAUTHENTICATED"
        );
    }
}
